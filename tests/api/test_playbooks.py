"""Playbooks over HTTP: rules listed, dry run, refresh opens one case, outreach entries
updated with the log's old statuses as aliases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from healthscore.storage import case_models
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
        assert (seed000["severity"], seed000["minConfidence"]) == ("high", 0.6)
        assert seed000["escalate"] == {"score_drop": 15, "tier_worsened": True}  # as in YAML

        api.put(
            "/api/v1/customers/quiet",
            json={
                "name": "Quiet Corp",
                "segment": "enterprise",
                "createdAt": (NOW - timedelta(days=100)).isoformat(),
            },
        ).raise_for_status()
        dry = api.post("/api/v1/playbooks/dry-run").json()
        fired = {(f["playbook"], f["customerId"]): f for f in dry["firings"]}
        # Never logged in: the onboarding playbook's case, not "stopped logging in"; and
        # its score rests on no data, so no score or tier playbook fires.
        assert list(fired) == [("onboarding_not_started", "quiet")]
        firing = fired["onboarding_not_started", "quiet"]
        assert (firing["outcome"], firing["caseId"], firing["inCooldown"]) == ("open", None, False)
        assert dry["wouldLog"] == 1 and dry["outcomes"]["open"] == 1
    with live_server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(case_models.OutreachEntry)) == 0
        assert session.scalar(select(func.count()).select_from(m.HealthScore)) == 0


def test_a_failed_payment_then_refresh_opens_a_case_that_cs_can_work_on(live_server):
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
        assert updated.json()["status"] == "acknowledged", "in_progress is an alias"
        bad = api.patch(f"/api/v1/outreach/{entry['id']}", json={"status": "lost"})
        assert bad.status_code == 422
        assert api.patch("/api/v1/outreach/999999", json={"status": "done"}).status_code == 404
        again = api.get("/api/v1/outreach", params={"status": "in_progress"}).json()
        assert [(e["owner"], e["notes"]) for e in again["items"]] == [("dana@cs", "called AP")]
