"""Every bulk write stores the same rows just below, at and just above the size where
PostgreSQL switches to COPY (and where SQLite splits statements), on both backends.

Row contents come from hypothesis (text with tabs, quotes, backslashes and newlines, NULLs,
timestamps to the microsecond); each example starts from empty tables and is checked
against what a plain Python model of the write says must be stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from healthscore.ingest.records import Event, first_copies, record_events
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.dialect import (
    BATCH_ROWS,
    COPY_INSERT_THRESHOLD,
    COPY_THRESHOLD,
    SQLITE_ROWS_PER_STATEMENT,
    add_or_insert,
    insert_ignoring_duplicates,
    insert_many,
    insert_new_keys,
    upsert,
)

T0 = datetime(2026, 5, 1, tzinfo=UTC)
USERS: Table = m.User.__table__  # type: ignore[assignment]
TICKETS: Table = m.SupportTicket.__table__  # type: ignore[assignment]
CUSTOMERS: Table = m.Customer.__table__  # type: ignore[assignment]
EXAMPLES = settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking 1,000-row lists takes hours
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
        HealthCheck.data_too_large,
    ],
)


def around(threshold: int) -> list[int]:
    return [threshold - 1, threshold, threshold + 1]


text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2026, 10, 1), timezones=st.just(UTC)
)


def _fresh(session: Session, *models: type[m.Base]) -> None:
    """Each hypothesis example starts from empty tables (children before customers)."""
    for model in (*models, m.Customer):
        session.execute(delete(model))
    session.commit()


def _customers(session: Session, n: int) -> list[str]:
    ids = [f"c{i:05d}" for i in range(n)]
    upsert(
        session,
        CUSTOMERS,
        [{"id": c, "name": c, "created_at": T0, "churned_at": None} for c in ids],
        key=["id"],
    )
    return ids


@pytest.mark.parametrize("n", around(COPY_THRESHOLD))
@EXAMPLES
@given(data=st.data())
def test_seats_upsert_then_reimport_keeps_each_row_and_its_id(session, n, data):
    _fresh(session, m.User)
    [cid] = _customers(session, 1)
    names = data.draw(st.lists(text, min_size=n, max_size=n))
    joined = data.draw(st.lists(moments, min_size=n, max_size=n))
    first = [
        {"customer_id": cid, "user_id": f"{i}:{name}", "created_at": joined[i]}
        for i, name in enumerate(names)
    ]
    upsert(session, USERS, first, key=["customer_id", "user_id"])
    session.commit()
    ids = dict(session.execute(select(m.User.user_id, m.User.id)).all())
    assert len(ids) == n and None not in ids.values()

    # A later export: every seat again (one in three with a new join date) plus new seats.
    later = [
        {
            **row,
            "created_at": row["created_at"] + timedelta(days=1)
            if i % 3 == 0
            else row["created_at"],
        }
        for i, row in enumerate(first)
    ] + [{"customer_id": cid, "user_id": f"new-{i}", "created_at": T0} for i in range(n // 10)]
    upsert(session, USERS, later, key=["customer_id", "user_id"])
    session.commit()
    stored = {
        row.user_id: (row.id, row.created_at, row.removed_at, row.traits)
        for row in session.scalars(select(m.User))
    }
    assert len(stored) == len(later)
    for row in later:
        seat_id, created_at, removed_at, traits = stored[row["user_id"]]
        assert created_at == row["created_at"] and removed_at is None and traits is None
        if row["user_id"] in ids:
            assert seat_id == ids[row["user_id"]]  # a re-import keeps the seat's id


@pytest.mark.parametrize("n", around(COPY_THRESHOLD))
@EXAMPLES
@given(data=st.data())
def test_tickets_upsert_fills_model_defaults_and_updates_in_place(session, n, data):
    _fresh(session, m.SupportTicket)
    [cid] = _customers(session, 1)
    opened = data.draw(st.lists(moments, min_size=n, max_size=n))
    ratings = data.draw(st.lists(st.none() | st.integers(1, 5), min_size=n, max_size=n))
    rows = [
        {"customer_id": cid, "ticket_id": f"T-{i}", "opened_at": opened[i], "rating": None}
        for i in range(n)
    ]
    upsert(session, TICKETS, rows, key=["customer_id", "ticket_id"])
    resolved = [
        {**row, "resolved_at": row["opened_at"] + timedelta(hours=1), "rating": ratings[i]}
        for i, row in enumerate(rows)
    ]
    upsert(session, TICKETS, resolved, key=["customer_id", "ticket_id"])
    session.commit()
    stored = {
        t.ticket_id: (t.opened_at, t.resolved_at, t.rating, t.severity, t.subject)
        for t in session.scalars(select(m.SupportTicket))
    }
    assert stored == {
        r["ticket_id"]: (r["opened_at"], r["resolved_at"], r["rating"], "normal", "")
        for r in resolved
    }


@pytest.mark.parametrize("n", around(COPY_THRESHOLD))
@EXAMPLES
@given(data=st.data())
def test_customers_upsert_stores_every_value(session, n, data):
    _fresh(session)
    names = data.draw(st.lists(text.filter(bool), min_size=n, max_size=n))
    rows = [
        {"id": f"c{i}", "name": name, "created_at": T0, "churned_at": None, "traits": {"n": name}}
        for i, name in enumerate(names)
    ]
    upsert(session, CUSTOMERS, rows, key=["id"])
    session.commit()
    stored = {
        c.id: (c.name, c.plan, c.segment, c.traits) for c in session.scalars(select(m.Customer))
    }
    assert stored == {r["id"]: (r["name"], "", "", {"n": r["name"]}) for r in rows}


@pytest.mark.parametrize("n", around(COPY_INSERT_THRESHOLD))
@EXAMPLES
@given(data=st.data())
def test_raw_events_and_their_rollups_at_any_size(session, n, data):
    _fresh(session, m.Session, m.DailySessions, m.UserActivity, m.EngagementEvent)
    [cid] = _customers(session, 1)
    users = data.draw(st.lists(st.none() | text, min_size=n, max_size=n))
    stamps = data.draw(st.lists(moments, min_size=n, max_size=n))
    events = [Event(cid, "login", stamps[i], users[i]) for i in range(n)] + [
        Event(cid, "report_exported", stamps[i], users[i], {"note": users[i]}) for i in range(n)
    ]
    assert record_events(session, events) == 2 * n
    session.commit()
    logins = session.execute(select(m.Session.user_id, m.Session.ts)).all()
    assert sorted(logins, key=repr) == sorted(zip(users, stamps, strict=True), key=repr)
    exported = session.execute(select(m.EngagementEvent.properties)).scalars().all()
    assert sorted(map(repr, exported)) == sorted(repr({"note": u}) for u in users)
    daily = dict(session.execute(select(m.DailySessions.day, m.DailySessions.logins)).all())
    expected: dict[Any, int] = {}
    for ts in stamps:
        expected[ts.date()] = expected.get(ts.date(), 0) + 1
    assert daily == expected


@pytest.mark.parametrize("n", around(COPY_INSERT_THRESHOLD) + around(SQLITE_ROWS_PER_STATEMENT))
def test_message_claims_are_exact_around_every_statement_size(session, n):
    _fresh(session, jm.ProcessedMessage)
    ids: list[str | None] = [f"m{i}" for i in range(n)]
    ids[::7] = [None] * len(ids[::7])  # messages without an id are always applied
    firsts = first_copies(session, "test", [*ids, *ids[: n // 2]])
    assert firsts == [True] * n + [mid is None for mid in ids[: n // 2]]
    again = first_copies(session, "test", ids)
    assert again == [mid is None for mid in ids]
    session.commit()
    claimed = session.scalar(select(func.count()).select_from(jm.ProcessedMessage))
    assert claimed == sum(mid is not None for mid in ids)


@pytest.mark.parametrize("n", around(COPY_INSERT_THRESHOLD) + around(BATCH_ROWS))
def test_rescore_marks_ignore_duplicates_at_any_size(session, n):
    _fresh(session, jm.PendingRescore)
    ids = _customers(session, n)
    table: Table = jm.PendingRescore.__table__  # type: ignore[assignment]
    rows = [{"customer_id": c, "touched_at": T0} for c in ids]
    insert_ignoring_duplicates(session, table, rows[: n // 2], key=["customer_id"])
    later = [{**row, "touched_at": T0 + timedelta(hours=1)} for row in rows]
    insert_ignoring_duplicates(session, table, later, key=["customer_id"])
    session.commit()
    stored = dict(
        session.execute(select(jm.PendingRescore.customer_id, jm.PendingRescore.touched_at)).all()
    )
    assert stored == {c: T0 if i < n // 2 else T0 + timedelta(hours=1) for i, c in enumerate(ids)}


Writer = Callable[[Session, Table, list[dict[str, Any]]], Any]


@pytest.mark.parametrize("n", around(COPY_INSERT_THRESHOLD))
@pytest.mark.parametrize(
    "write",
    [
        lambda s, t, rows: insert_many(s, t, rows),
        lambda s, t, rows: insert_new_keys(s, t, rows, key=["customer_id", "day"]),
        lambda s, t, rows: add_or_insert(s, t, rows, key=["customer_id", "day"], add=["logins"]),
    ],
    ids=["insert_many", "insert_new_keys", "add_or_insert"],
)
def test_roll_up_rows_are_stored_alike_by_every_bulk_insert(session, n, write: Writer):
    _fresh(session, m.DailySessions)
    ids = _customers(session, n)
    table: Table = m.DailySessions.__table__  # type: ignore[assignment]
    rows = [
        {
            "customer_id": c,
            "day": (T0 + timedelta(days=i % 40)).date(),
            "logins": i,
            "last_at": T0 + timedelta(microseconds=i),
        }
        for i, c in enumerate(ids)
    ]
    write(session, table, rows)
    session.commit()
    stored = session.execute(
        select(
            m.DailySessions.customer_id,
            m.DailySessions.day,
            m.DailySessions.logins,
            m.DailySessions.last_at,
        )
    ).all()
    assert sorted(stored) == sorted(
        (r["customer_id"], r["day"], r["logins"], r["last_at"]) for r in rows
    )
