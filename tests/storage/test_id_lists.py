"""``ids_in``: a list of ids as one bound parameter selects exactly those rows on both
databases, whatever the list's length, and SQLite looks them up by the column's index
(one account's refresh must not read every account's rows)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from healthscore.ingest.bulk import insert_rows
from healthscore.storage import models as m
from healthscore.storage.id_lists import ids_in

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def customers(session) -> list[str]:
    ids = [f"c{i:05d}" for i in range(3000)]
    rows = [{"id": cid, "name": cid, "created_at": T0, "traits": {}} for cid in ids]
    insert_rows(session, m.Customer, rows)
    session.commit()
    return ids


@pytest.mark.parametrize("wanted", [0, 1, 7, 2999, 3000])
def test_the_listed_ids_and_only_they_are_selected(session, customers, wanted):
    ids = [*customers[1 : 1 + wanted], "not-an-account", "c'; DROP TABLE customers; --"]
    found = session.scalars(select(m.Customer.id).where(ids_in(m.Customer.id, ids)))
    assert sorted(found) == customers[1 : 1 + wanted]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_looks_the_ids_up_in_the_index_rather_than_scanning_the_table(session, customers):
    query = select(m.Customer.name).where(ids_in(m.Customer.id, customers[:2]))
    compiled = query.compile(dialect=session.get_bind().dialect)
    assert "= 1" not in str(compiled)  # a bare IN: the planner can drive the index with it
    plan = session.connection().exec_driver_sql(
        f"EXPLAIN QUERY PLAN {compiled}", ('["c00000", "c00001"]',)
    )
    steps = [row[-1] for row in plan]
    assert any(step.startswith("SEARCH customers") for step in steps), steps
    assert not any(step.startswith("SCAN customers") for step in steps), steps
