"""The rules' reads for a group of scored accounts go through the group's id range when
the group is nearly every account in it (a full rescore's group of 10,000, in id order),
else through the list of its ids — with the same account states, cases and steps either
way, on both databases, above and below the size where the range starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthscore.ingest.bulk import insert_rows
from healthscore.playbooks import repository
from healthscore.playbooks.rules import load_playbooks
from healthscore.playbooks.service import account_states, plan
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.selection import IdRange
from healthscore.scoring.service import score_accounts
from healthscore.storage import case_models
from healthscore.storage import models as m

ACCOUNTS = 1_200
START = datetime(2026, 3, 1, tzinfo=UTC)
AS_OF = START + timedelta(days=40)
OUTSIDER = "a0500"
"""An account inside the others' id range that the group leaves out, with an open case."""


def ids(numbers: range | list[int]) -> list[str]:
    return [f"a{n:04d}" for n in numbers]


def base(session) -> list:
    """ACCOUNTS accounts with something in every read the rules make (profile, history a
    day and a week back, logins on earlier days and on the day itself, failed payments,
    detractors, open cases); returns the scores of a run at ``AS_OF``."""
    every = ids(range(ACCOUNTS))
    insert_rows(
        session,
        m.Customer,
        [
            {
                "id": cid,
                "name": f"Account {n}",
                "segment": ("smb", "mid_market", "enterprise")[n % 3],
                "plan": "pro",
                "created_at": START - timedelta(days=60 + n % 90),
                "traits": {},
            }
            for n, cid in enumerate(every)
        ],
    )
    insert_rows(
        session,
        m.User,
        [
            {"customer_id": cid, "user_id": f"u{u}", "created_at": START - timedelta(days=50)}
            for cid in every
            for u in range(3)
        ],
    )
    insert_rows(
        session,
        m.Session,
        [
            {"customer_id": cid, "user_id": f"u{d % 3}", "ts": START + timedelta(days=d, hours=9)}
            for n, cid in enumerate(every)
            if n % 4
            for d in range(0, 40 - n % 30, 1 + n % 5)
        ]
        + [  # the day of AS_OF itself (read from raw sessions)
            {"customer_id": cid, "user_id": "u0", "ts": AS_OF - timedelta(hours=2)}
            for n, cid in enumerate(every)
            if n % 5 == 0
        ],
    )
    insert_rows(
        session,
        m.Payment,
        [
            {
                "customer_id": cid,
                "amount": 100,
                "status": "failed",
                "ts": AS_OF - timedelta(hours=1 + n % 30),  # most within the rules' day
            }
            for n, cid in enumerate(every)
            if n % 7 == 0
        ],
    )
    insert_rows(
        session,
        m.NpsResponse,
        [
            {"customer_id": cid, "user_id": "u1", "score": n % 7, "ts": AS_OF - timedelta(hours=5)}
            for n, cid in enumerate(every)
            if n % 11 == 0
        ],
    )
    card = load_scorecard("default")
    for days_back in (7, 1):  # history the rules read: the tier before, the score a week ago
        score_accounts(session, card, as_of=AS_OF - timedelta(days=days_back))
    for n, cid in enumerate(every):
        if n % 50 == 0:
            session.add(
                case_models.OutreachEntry(
                    customer_id=cid,
                    playbook="payment_failed",
                    reason="a failed payment",
                    snapshot={"score": 40, "tier": "at_risk"},
                    status="open",
                    severity="high",
                    idempotency_key=f"{cid}:payment_failed",
                    created_at=AS_OF - timedelta(days=5),
                    updated_at=AS_OF - timedelta(days=5),
                )
            )
    session.flush()
    return score_accounts(session, card, as_of=AS_OF).scores


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (range(repository.RANGE_FROM - 1), "ids"),  # below the size: the list
        (range(repository.RANGE_FROM), IdRange("a0000", "a0999")),
        (range(repository.RANGE_FROM + 1), IdRange("a0000", "a1000")),
        # 1,000 ids spread over the 1,199 accounts of their range (83%): the list
        ([n for n in range(ACCOUNTS) if n % 6], "ids"),
        # 1,080 ids of 1,199 (90.1%): the range, holding 119 accounts not asked for
        ([n for n in range(ACCOUNTS) if n % 10], IdRange("a0001", "a1199")),
    ],
)
def test_a_group_is_read_through_its_id_range_only_when_it_fills_it(session, group, expected):
    insert_rows(
        session,
        m.Customer,
        [
            {"id": cid, "name": cid, "traits": {}, "created_at": START}
            for cid in ids(range(ACCOUNTS))
        ],
    )
    asked = ids(group)
    scope = repository.account_scope(session, asked)
    assert scope == (asked if expected == "ids" else expected)


def test_ids_that_are_no_accounts_are_read_as_a_list(session):
    asked = [f"nobody-{n}" for n in range(repository.RANGE_FROM + 5)]
    assert repository.account_scope(session, asked) == asked


def test_the_range_and_the_list_give_the_same_states_cases_and_steps(session, monkeypatch):
    scores = [s for s in base(session) if s.customer_id != OUTSIDER]
    asked = [s.customer_id for s in scores]
    assert repository.account_scope(session, asked) == IdRange("a0000", "a1199")

    through_range = account_states(session, load_playbooks(), scores, as_of=AS_OF)
    through_list = account_states(session, load_playbooks(), scores, as_of=AS_OF, accounts=asked)
    assert through_range == through_list
    # The reads found something for many accounts: equal states are not equally empty.
    assert sum(1 for s in through_list if s.previous_tier) == len(asked)
    assert sum(1 for s in through_list if 7 in s.scores_ago) == len(asked)
    assert sum(1 for s in through_list if s.days_since_login is not None) > 600
    assert sum(1 for s in through_list if s.failed_payments[1]) > 120
    assert sum(1 for s in through_list if s.detractors[1]) > 50
    assert {s.segment for s in through_list} == {"smb", "mid_market", "enterprise"}

    planned = plan(session, load_playbooks(), scores, as_of=AS_OF)
    monkeypatch.setattr(repository, "RANGE_FROM", 10**9)  # every group read as a list
    as_list = plan(session, load_playbooks(), scores, as_of=AS_OF)
    assert planned.steps == as_list.steps and planned.firings == as_list.firings
    assert planned.cases.keys() == as_list.cases.keys()
    # The range read the outsider's open case; the plan keeps only the group's.
    cased = {c.customer_id for c in planned.cases.values()}
    assert OUTSIDER not in cased and len(cased) == ACCOUNTS // 50 - 1
    assert all(step.judgement.state.customer_id != OUTSIDER for step in planned.steps)
