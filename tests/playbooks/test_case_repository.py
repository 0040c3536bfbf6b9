"""The cases' reads on a real database: each account's latest case per playbook, for a
few accounts and for a full rescore's worth of ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthscore.accounts.repository import upsert_customer
from healthscore.playbooks import case_repository
from healthscore.storage import case_models

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def cases(session, accounts: int) -> dict[tuple[str, str], int]:
    """Per account: an old resolved case and a newer resolved one of ``a``; of ``b`` an
    unresolved case older than a resolved one (reopened by hand). The expected pick."""
    expected = {}
    for n in range(accounts):
        cid = f"c{n}"
        upsert_customer(session, {"id": cid, "name": cid, "created_at": NOW})
        rows = [("a", "resolved"), ("a", "resolved"), ("b", "acknowledged"), ("b", "resolved")]
        made = []
        for i, (playbook, status) in enumerate(rows):
            case = case_models.OutreachEntry(
                customer_id=cid,
                playbook=playbook,
                reason="r",
                snapshot={},
                status=status,
                idempotency_key=f"{cid}:{i}",
                created_at=NOW - timedelta(days=10 - i),
                updated_at=NOW,
            )
            session.add(case)
            session.flush()
            made.append(case.id)
        expected[(cid, "a")] = made[1]
        expected[(cid, "b")] = made[2]
    return expected


@pytest.mark.parametrize("accounts", [1, 4])
def test_the_latest_case_prefers_the_unresolved_one(session, accounts):
    expected = cases(session, accounts)
    found = case_repository.latest_cases(session, [f"c{n}" for n in range(accounts)], ["a", "b"])
    assert {pair: case.id for pair, case in found.items()} == expected
    assert case_repository.latest_cases(session, ["c0"], ["nope"]) == {}
    assert case_repository.latest_cases(session, [], ["a"]) == {}


def test_a_full_rescore_asks_for_every_account_in_one_statement(session):
    """A full rescore's ids (40,000, nearly all without a case) as one bound list: the
    same picks as for the few accounts that have cases."""
    expected = cases(session, 3)
    asked = [f"c{n}" for n in range(40_000)]
    found = case_repository.latest_cases(session, asked, ["a", "b"])
    assert {pair: case.id for pair, case in found.items()} == expected
