"""Erasing an account and exporting everything stored about it (accounts.service)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from healthscore.accounts.repository import customer_tables
from healthscore.accounts.service import UnknownAccountError, delete_customer, export_customer
from healthscore.ingest.demo import generate_demo
from healthscore.playbooks.rules import load_playbooks
from healthscore.playbooks.service import run_playbooks
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage import schema

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def scored(session):
    generate_demo(session, customers=12, days=40, seed=4, now=NOW)
    run = score_accounts(session, load_scorecard("default"), as_of=NOW)
    run_playbooks(session, load_playbooks(), run.scores, as_of=NOW)
    session.commit()
    return session


def rows_about(session, customer_id: str) -> dict[str, int]:
    counts = {}
    for table in customer_tables():
        counts[table.name] = session.scalar(
            select(func.count()).select_from(table).where(table.c.customer_id == customer_id)
        )
    return counts


def test_every_table_with_account_data_is_covered_by_erasure():
    covered = {t.name for t in customer_tables()}
    with_customer_id = {t.name for t in schema.metadata.sorted_tables if "customer_id" in t.c}
    assert covered == with_customer_id
    assert {"sessions", "nps_responses", "outreach_log", "health_score_history"} <= covered


def test_deleting_an_account_erases_all_its_data_and_nothing_else(scored):
    ids = sorted(scored.scalars(select(m.Customer.id)))
    victim, other = ids[0], ids[1]
    before_other = rows_about(scored, other)
    assert sum(rows_about(scored, victim).values()) > 10
    counts = delete_customer(scored, victim)
    scored.commit()
    assert counts["customers"] == 1 and counts["sessions"] > 0
    assert sum(rows_about(scored, victim).values()) == 0
    assert scored.get(m.Customer, victim) is None
    assert rows_about(scored, other) == before_other
    with pytest.raises(UnknownAccountError):
        delete_customer(scored, victim)


def test_an_export_holds_everything_stored_about_the_account(scored):
    cid = sorted(scored.scalars(select(m.Customer.id)))[0]
    export = export_customer(scored, cid)
    assert export["customer"]["id"] == cid
    for table, count in rows_about(scored, cid).items():
        assert len(export[table]) == count, table
    assert export["health_scores"][0]["customer_id"] == cid
