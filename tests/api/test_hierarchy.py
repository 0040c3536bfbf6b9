"""Account hierarchies over HTTP, on SQLite and PostgreSQL: parents set with
``upsertCustomer``, unknown parents and cycles refused without a change, a parent's score
rolled up from its children's by a rescore, and the tree ``getCustomerHierarchy`` answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from healthscore.scoring.engine import round_half_up
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage import models as m
from healthscore.storage.csm_models import AuditEntry

CREATED = (datetime.now(UTC) - timedelta(days=400)).isoformat()
MRR = {"a": 100, "b": 100, "c": 800}


def audit(live_server) -> list[tuple[str, str | None, str | None, str]]:
    with live_server.sessions() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.kind == "hierarchy").order_by(AuditEntry.id)
        )
        return [(e.customer_id, e.old, e.new, e.actor) for e in rows]


def parents(live_server) -> dict[str, str | None]:
    with live_server.sessions() as session:
        return dict(session.execute(select(m.Customer.id, m.Customer.parent_id)).all())


def test_a_parent_scores_the_mrr_weighted_mean_of_its_children_and_shows_its_tree(live_server):
    with live_server.client("admin") as api:
        put = lambda cid, **body: api.put(f"/api/v1/customers/{cid}", json=body)  # noqa: E731
        assert put("holding", name="Holding", mrr="0", createdAt=CREATED).status_code == 200
        for cid, mrr in MRR.items():
            made = put(cid, name=cid.upper(), mrr=str(mrr), createdAt=CREATED, parentId="holding")
            assert made.status_code == 200 and made.json()["parentId"] == "holding"
        # A churned grandchild: shown in the tree, left out of c's roll-up.
        gone = put("c_eu", name="C EU", mrr="50", createdAt=CREATED, parentId="c")
        assert gone.status_code == 200
        assert put("c_eu", churnedAt=datetime.now(UTC).isoformat()).status_code == 200
        assert api.get("/api/v1/customers/a").json()["parentId"] == "holding"

        # Children that differ: a's users love it, c fails to pay and hates it.
        for score in (10, 10):
            api.post("/api/v1/nps-responses", json={"customerId": "a", "score": score})
        api.post("/api/v1/nps-responses", json={"customerId": "c", "score": 0})
        for _ in range(3):
            api.post(
                "/api/v1/payments",
                json={"customerId": "c", "amount": "800", "status": "failed"},
            ).raise_for_status()

        # Refused, naming the culprit, and nothing changes.
        before = (parents(live_server), audit(live_server))
        unknown = api.put("/api/v1/customers/a", json={"parentId": "ghost", "name": "Renamed"})
        assert unknown.status_code == 422
        assert unknown.json()["error"]["details"] == [
            {"field": "parentId", "message": "unknown parent account 'ghost'"}
        ]
        cycle = put("holding", parentId="c_eu")
        assert cycle.status_code == 422
        assert (
            "would make a cycle: holding → c_eu → c → holding" in cycle.json()["error"]["message"]
        )
        assert "own parent" in put("b", parentId="b").json()["error"]["message"]
        assert (parents(live_server), audit(live_server)) == before
        assert api.get("/api/v1/customers/a").json()["name"] == "A"

        # Rescoring a child rescores the parents above it too.
        for cid in ("a", "b", "c"):
            api.post(f"/api/v1/health-scores/{cid}/refresh").raise_for_status()
        scores = {cid: api.get(f"/api/v1/health-scores/{cid}").json() for cid in [*MRR, "holding"]}
        tree = api.get("/api/v1/customers/holding/hierarchy").json()
        below_a = live_server.client("read").get("/api/v1/customers/a/hierarchy").json()
        missing = api.get("/api/v1/customers/nobody/hierarchy")

        detached = put("c_eu", parentId=None)
        assert detached.status_code == 200 and detached.json()["parentId"] is None

    child_scores = {cid: scores[cid]["score"] for cid in MRR}
    assert len(set(child_scores.values())) > 1, (
        "the children must differ for the test to mean anything"
    )
    expected = round_half_up(sum(child_scores[c] * MRR[c] for c in MRR) / sum(MRR.values()))
    assert expected != round_half_up(sum(child_scores.values()) / 3)
    holding = scores["holding"]
    assert holding["score"] == expected
    assert holding["tier"] == load_scorecard("default").tiers.classify(expected).value

    assert tree["account"] == {
        "id": "holding",
        "name": "Holding",
        "mrr": "0.00",
        "score": expected,
        "tier": holding["tier"],
    }
    assert tree["parents"] == []
    assert [(c["id"], c["score"], c["tier"]) for c in tree["children"]] == [
        (cid, scores[cid]["score"], scores[cid]["tier"]) for cid in MRR
    ]
    assert [g["id"] for g in tree["children"][2]["children"]] == ["c_eu"]
    assert tree["rollup"]["rule"] == "mrr_weighted_mean"
    assert [(c["id"], c["score"], c["weight"]) for c in tree["rollup"]["children"]] == [
        ("a", child_scores["a"], 0.1),
        ("b", child_scores["b"], 0.1),
        ("c", child_scores["c"], 0.8),
    ]
    assert [p["id"] for p in below_a["parents"]] == ["holding"]
    assert below_a["rollup"] is None and below_a["children"] == []
    assert missing.status_code == 404

    actor = "api:test admin"
    assert audit(live_server) == [
        ("a", None, "holding", actor),
        ("b", None, "holding", actor),
        ("c", None, "holding", actor),
        ("c_eu", None, "c", actor),
        ("c_eu", "c", None, actor),
    ]
