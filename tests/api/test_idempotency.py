"""Idempotency-Key on the JSON API's writes, with Stripe's semantics, on both databases.

A retry gets the first answer again (``Idempotent-Replayed: true``) and runs nothing; the
same key with another body or path is 422 ``idempotency_key_reused``; keys belong to an
API key; answers of requests refused before they ran are not kept; a request still
running holds its key (409), a dead one's claim lapses; rows expire after 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from healthscore.api.app import create_app
from healthscore.auth.keys import Scope, authenticate, create_key
from healthscore.settings import Settings
from healthscore.storage import idempotent_requests as repo
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.fixtures.server import LiveServer, free_port, run_server

REPLAYED = "Idempotent-Replayed"
CLAIM = timedelta(seconds=Settings.model_fields["idempotency_claim_seconds"].default)


def nps_count(server: LiveServer) -> int:
    with server.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(m.NpsResponse)) or 0)


def test_retries_replay_the_first_answer_and_other_requests_are_refused(live_server):
    nps = "/api/v1/nps-responses"
    first_body = {"customerId": "acme", "score": 9, "comment": "fast"}
    with live_server.client("admin") as api, live_server.client("ingest") as other:
        api.put("/api/v1/customers/acme", json={"name": "Acme"}).raise_for_status()
        once = {"Idempotency-Key": "nps-1"}
        first = api.post(nps, json=first_body, headers=once)
        assert first.status_code == 201 and REPLAYED not in first.headers
        again = api.post(nps, json=first_body, headers=once)
        assert (again.status_code, again.content, again.headers[REPLAYED]) == (
            201,
            first.content,
            "true",
        )
        assert again.headers["Content-Type"] == first.headers["Content-Type"]
        assert nps_count(live_server) == 1

        # The same key for another body, or another path: refused, nothing applied.
        changed = api.post(nps, json={**first_body, "score": 3}, headers=once)
        assert changed.status_code == 422
        assert changed.json()["error"]["code"] == "idempotency_key_reused"
        assert changed.json()["error"]["details"][0]["field"] == "Idempotency-Key"
        elsewhere = api.post(
            "/api/v1/engagement-events",
            json={"customerId": "acme", "eventType": "login"},
            headers=once,
        )
        assert elsewhere.status_code == 422
        assert elsewhere.json()["error"]["code"] == "idempotency_key_reused"
        assert nps_count(live_server) == 1

        # Another API key may use the same key string: its own request, run.
        theirs = other.post(nps, json=first_body, headers=once)
        assert theirs.status_code == 201 and REPLAYED not in theirs.headers
        assert nps_count(live_server) == 2

        # Refused by validation before it ran: not kept, so it can be fixed and resent.
        fix = {"Idempotency-Key": "nps-2"}
        assert api.post(nps, json={**first_body, "score": 11}, headers=fix).status_code == 422
        fixed = api.post(nps, json=first_body, headers=fix)
        assert fixed.status_code == 201 and REPLAYED not in fixed.headers
        assert nps_count(live_server) == 3

        # A rule the operation found broken is its answer: replayed too.
        unknown = {"Idempotency-Key": "nps-3"}
        refused = api.post(nps, json={**first_body, "customerId": "nope"}, headers=unknown)
        assert refused.status_code == 422 and REPLAYED not in refused.headers
        replayed = api.post(nps, json={**first_body, "customerId": "nope"}, headers=unknown)
        assert (replayed.status_code, replayed.content) == (422, refused.content)
        assert replayed.headers[REPLAYED] == "true"

        # PUT and DELETE alike; without a key nothing is replayed.
        rename = {"Idempotency-Key": "rename-1"}
        renamed = api.put("/api/v1/customers/acme", json={"name": "Acme 2"}, headers=rename)
        api.put("/api/v1/customers/acme", json={"name": "Acme 3"}).raise_for_status()
        repeat = api.put("/api/v1/customers/acme", json={"name": "Acme 2"}, headers=rename)
        assert (repeat.status_code, repeat.content) == (200, renamed.content)
        assert repeat.headers[REPLAYED] == "true"
        assert api.get("/api/v1/customers/acme").json()["name"] == "Acme 3"
        plain = api.post(nps, json=first_body)
        assert plain.status_code == 201 and REPLAYED not in plain.headers

        # Published on every write of the JSON API, with the answers it may bring.
        paths = api.get("/openapi.json").json()["paths"]
        for path, method in ((nps, "post"), ("/api/v1/customers/{customer_id}", "delete")):
            operation = paths[path][method]
            headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
            assert headers.count("Idempotency-Key") == 1, path
            assert {"409", "415", "422"} <= set(operation["responses"]), path
        resolve = paths["/api/v1/cases/{case_id}/resolve"]["post"]["parameters"]
        assert [p["name"] for p in resolve].count("Idempotency-Key") == 1
        reads = paths["/api/v1/nps-responses"]["get"]["parameters"]
        assert "Idempotency-Key" not in [p["name"] for p in reads]


def test_a_request_still_running_holds_its_key_until_its_claim_lapses(live_server):
    nps = "/api/v1/nps-responses"
    body = json.dumps({"customerId": "acme", "score": 7}).encode()
    with live_server.sessions() as session:
        info = authenticate(session, live_server.keys["ingest"])  # commits its own touch
    assert info is not None
    fingerprint = repo.Fingerprint(info.id, "busy", "POST", nps, hashlib.sha256(body).hexdigest())
    with transaction(live_server.sessions) as session:
        session.add(m.Customer(id="acme", name="Acme", created_at=datetime.now(UTC), traits={}))
        assert isinstance(
            repo.claim(session, fingerprint, datetime.now(UTC), lease=CLAIM), repo.Claimed
        )
    headers = {"Idempotency-Key": "busy", "Content-Type": "application/json"}
    with live_server.client("ingest") as api:
        busy = api.post(nps, content=body, headers=headers)
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "idempotency_key_in_use"
        assert 1 <= int(busy.headers["Retry-After"]) <= CLAIM.total_seconds()
        assert nps_count(live_server) == 0
        # The claimant died: once its claim lapses, a retry takes the key over and runs.
        with transaction(live_server.sessions) as session:
            row = session.get(jm.IdempotentRequest, (info.id, "busy"))
            assert row is not None
            row.claimed_until = datetime.now(UTC) - timedelta(seconds=1)
        taken = api.post(nps, content=body, headers=headers)
        assert taken.status_code == 201 and REPLAYED not in taken.headers
        assert api.post(nps, content=body, headers=headers).headers[REPLAYED] == "true"
    assert nps_count(live_server) == 1


def test_claims_answers_and_expiry_in_the_table(session):
    key = m.ApiKey(prefix="idem", key_hash="0" * 64, scope="ingest", created_at=datetime.now(UTC))
    session.add(key)
    session.commit()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    fp = repo.Fingerprint(key.id, "k", "POST", "/api/v1/x?a=1", "0" * 64)
    assert isinstance(repo.claim(session, fp, now, lease=CLAIM), repo.Claimed)
    session.commit()
    assert repo.claim(session, fp, now + timedelta(seconds=5), lease=CLAIM) == repo.InFlight(25.0)
    later = now + CLAIM + timedelta(seconds=1)
    assert isinstance(
        repo.claim(session, fp, later, lease=CLAIM), repo.Claimed
    )  # lapsed: taken over
    repo.store(session, fp, repo.Answer(201, "application/json", b'{"id": 1}'))
    session.commit()
    assert repo.claim(session, fp, later, lease=CLAIM) == repo.Answer(
        201, "application/json", b'{"id": 1}'
    )
    other_body = repo.Fingerprint(key.id, "k", "POST", "/api/v1/x?a=1", "1" * 64)
    assert repo.claim(session, other_body, later, lease=CLAIM) == repo.Reused(
        "POST", "/api/v1/x?a=1"
    )
    other_query = repo.Fingerprint(key.id, "k", "POST", "/api/v1/x?a=2", "0" * 64)
    assert isinstance(repo.claim(session, other_query, later, lease=CLAIM), repo.Reused)
    # A released claim frees the key for any request.
    fresh = repo.Fingerprint(key.id, "k2", "POST", "/api/v1/x", "0" * 64)
    assert isinstance(repo.claim(session, fresh, later, lease=CLAIM), repo.Claimed)
    repo.release(session, fresh)
    assert isinstance(
        repo.claim(session, replace(other_body, key="k2"), later, lease=CLAIM), repo.Claimed
    )
    session.commit()
    # 24 hours on, claiming anything purges what expired: "k" runs afresh, with any body.
    expired = now + repo.KEEP + timedelta(seconds=1)
    assert repo.purge_expired(session, expired - timedelta(hours=1)) == 0
    assert isinstance(repo.claim(session, other_body, expired, lease=CLAIM), repo.Claimed)
    session.commit()
    rows = session.execute(
        select(jm.IdempotentRequest.key, jm.IdempotentRequest.created_at).order_by(
            jm.IdempotentRequest.key
        )
    ).all()
    assert rows == [("k", expired), ("k2", later)]


def test_a_claim_lasts_as_long_as_the_setting_says(server_settings: Settings, sessions):
    settings = server_settings.model_copy(update={"idempotency_claim_seconds": 7})
    with transaction(sessions) as session:
        key = create_key(session, scope=Scope.ingest).secret
        session.add(m.Customer(id="acme", name="Acme", created_at=datetime.now(UTC), traits={}))
    app = create_app(settings)
    port = free_port()
    server, thread = run_server(app, port)
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/nps-responses",
            json={"customerId": "acme", "score": 7},
            headers={"X-API-Key": key, "Idempotency-Key": "seven"},
        )
        assert answer.status_code == 201
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()
    with sessions() as session:
        row = session.scalars(select(jm.IdempotentRequest)).one()
        assert row.claimed_until - row.created_at == timedelta(seconds=7)
