"""``children_mrr_at_risk``: a playbook on parent accounts, fired by the share of their
active children's MRR at risk (the children's tiers from the run, else as stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from healthscore.playbooks.rules import AccountState, ChildrenMrrAtRisk, PlaybookSet, evaluate
from healthscore.playbooks.service import account_states
from healthscore.scoring.engine import HealthScore
from healthscore.scoring.labels import Tier, Trend
from healthscore.storage import models as m

NOW = datetime(2026, 11, 20, tzinfo=UTC)
RULES = PlaybookSet.model_validate(
    {
        "version": 1,
        "playbooks": [
            {
                "name": "group_at_risk",
                "when": [{"kind": "children_mrr_at_risk", "share": 0.4}],
                "actions": [{"kind": "outreach", "owner": "account_director"}],
            }
        ],
    }
)


def scored(customer_id: str, tier: Tier, score: int = 50) -> HealthScore:
    return HealthScore(customer_id, NOW, score, tier, Trend.stable, None, {}, [])


def test_a_parent_with_40_percent_of_its_childrens_mrr_at_risk_fires_it(session):
    created = NOW - timedelta(days=100)
    accounts = [  # (id, parent, MRR, stored tier, churned)
        ("group", None, 0, "healthy", None),
        ("east", "group", 400, "healthy", None),  # at_risk in this run
        ("west", "group", 500, "critical", None),  # healthy in this run
        ("north", "group", 100, "monitor", None),
        ("old", "group", 9000, "critical", NOW - timedelta(days=3)),  # churned: left out
        ("loner", None, 100, "critical", None),
    ]
    for cid, _, mrr, _, churned in accounts:
        session.add(
            m.Customer(id=cid, name=cid, mrr=Decimal(mrr), created_at=created, churned_at=churned)
        )
    session.flush()
    for cid, parent, _, tier, _ in accounts:
        session.get(m.Customer, cid).parent_id = parent
        session.add(
            m.HealthScore(
                customer_id=cid,
                as_of=NOW - timedelta(days=1),
                score=50,
                tier=tier,
                trend="stable",
                components={},
                signals={},
                drivers={},
                scorecard="default@v1",
                calculated_at=NOW,
            )
        )
    session.flush()

    run = [
        scored("group", Tier.healthy, 90),
        scored("east", Tier.at_risk),
        scored("west", Tier.healthy),
    ]
    run.append(scored("loner", Tier.healthy))
    states = {s.customer_id: s for s in account_states(session, RULES, run, as_of=NOW)}
    assert states["group"].children == ((400.0, "at_risk"), (100.0, "monitor"), (500.0, "healthy"))
    assert states["loner"].children == ()

    firings = evaluate(RULES, list(states.values()))
    assert [(f.state.customer_id, f.reason) for f in firings] == [
        ("group", "40% of the children's MRR is at_risk or critical (1 of 3 children)")
    ]


@pytest.mark.parametrize(
    ("children", "fires"),
    [
        (((399.0, "at_risk"), (601.0, "healthy")), False),
        (((0.0, "critical"), (0.0, "healthy")), True),  # all at MRR 0: by count, 50%
        ((), False),  # not a parent
    ],
)
def test_the_share_is_of_mrr_or_of_children_when_every_child_is_at_0(children, fires):
    state = AccountState("p", "P", "", "", 80, "healthy", "stable", None, children=children)
    condition = ChildrenMrrAtRisk(kind="children_mrr_at_risk", share=0.4)
    assert (condition.holds(state) is not None) is fires
