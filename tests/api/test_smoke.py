def test_liveness_needs_no_key_and_scores_need_one(live_server):
    with live_server.client(scope=None) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/api/v1/health-scores").status_code == 401
    with live_server.client("read") as reader:
        page = reader.get("/api/v1/health-scores").json()
        assert page == {"items": [], "total": 0, "page": 1, "pageSize": 50}
