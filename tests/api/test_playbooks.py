"""Playbooks over HTTP: rules listed, dry run, refresh fires them, outreach entries updated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from healthscore.storage import models as m

NOW = datetime.now(UTC)


def test_playbooks_are_listed_and_a_dry_run_writes_nothing(live_server):
    with live_server.client("admin") as api:
        rules = api.get("/api/v1/playbooks").json()
        names = [r["name"] for r in rules]
        assert "seed000_alert" in names and "enterprise_no_login" in names
        seed000 = rules[names.index("seed000_alert")]
        assert seed000["match"] == "any"
        assert {"kind": "tier", "tiers": ["critical"]} in seed000["when"]

        api.put(
            "/api/v1/customers/quiet",
            json={
                "name": "Quiet Corp",
                "segment": "enterprise",
                "createdAt": (NOW - timedelta(days=100)).isoformat(),
            },
        ).raise_for_status()
        dry = api.post("/api/v1/playbooks/dry-run").json()
        fired = {(f["playbook"], f["customerId"]) for f in dry["firings"]}
        assert ("enterprise_no_login", "quiet") in fired
        assert dry["wouldLog"] == len(dry["firings"])
    with live_server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.OutreachEntry)) == 0
        assert session.scalar(select(func.count()).select_from(m.HealthScore)) == 0


def test_a_failed_payment_then_refresh_logs_outreach_that_cs_can_work_on(live_server):
    with live_server.client("admin") as api:
        api.put(
            "/api/v1/customers/acme",
            json={"name": "Acme", "createdAt": (NOW - timedelta(days=100)).isoformat()},
        ).raise_for_status()
        api.post(
            "/api/v1/payments",
            json={"customerId": "acme", "amount": "50.00", "status": "failed"},
        ).raise_for_status()
        api.post("/api/v1/health-scores/acme/refresh").raise_for_status()
        api.post("/api/v1/health-scores/acme/refresh").raise_for_status()  # same day: no repeat
        log = api.get("/api/v1/outreach", params={"customerId": "acme"}).json()
        playbooks = sorted(e["playbook"] for e in log["items"])
        assert playbooks.count("payment_failed") == 1
        entry = next(e for e in log["items"] if e["playbook"] == "payment_failed")
        assert entry["status"] == "open" and entry["owner"] == "billing"
        assert entry["snapshot"]["score"] is not None

        updated = api.patch(
            f"/api/v1/outreach/{entry['id']}",
            json={"status": "in_progress", "owner": "dana@cs", "notes": "called AP"},
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["status"] == "in_progress"
        bad = api.patch(f"/api/v1/outreach/{entry['id']}", json={"status": "lost"})
        assert bad.status_code == 422
        assert api.patch("/api/v1/outreach/999999", json={"status": "done"}).status_code == 404
        again = api.get("/api/v1/outreach", params={"status": "in_progress"}).json()
        assert [(e["owner"], e["notes"]) for e in again["items"]] == [("dana@cs", "called AP")]
