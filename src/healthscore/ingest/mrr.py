"""MRR history: an account's monthly recurring revenue over time, whoever reports it.

Each change is one ``mrr_changes`` row: from ``at`` on, one revenue *stream* of the
account brings in ``mrr`` a month. A stream is a Stripe subscription (``sub_…``,
``ingest.stripe_subscriptions``) or the account's total (``ACCOUNT``), as the CSV
(``mrr_history.csv``) and ``POST /api/v1/mrr-changes`` send it; the account's MRR at a
moment is the sum of its streams' rows in force then. Feed one account from one of the
two kinds (Stripe, or totals), or its revenue counts twice.

``record_changes`` writes rows inside the caller's transaction (the accounts' rows locked,
so concurrent writers take turns) and then, for the accounts it touched, sets every row's
``until`` to the time of its stream's next row (ties: the later id), so a late or
backdated row slots into the history instead of overriding it, and scoring reads "the MRR
in force at t" as one range condition (``in_force_at``). The account's ``customers.mrr``
follows its newest rows: it is set to their sum whenever a write is the newest of its
stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from healthscore.storage import models as m
from healthscore.storage.dialect import upsert
from healthscore.timeutc import utc

ACCOUNT = ""
"""The stream of an account's total MRR (CSV, API), as opposed to one subscription's."""

SOURCES = ("stripe", "csv", "api")
CHUNK = 500
"""Accounts per relinking statement (bound parameters stay far below SQLite's limit)."""

TABLE: Table = m.MrrChange.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class MrrPoint:
    """One row of an account's MRR history, as the dashboard and the API show it."""

    at: datetime
    mrr: Decimal
    seats: int | None
    stream: str
    source: str


def account_total_key(customer_id: str, at: datetime) -> str:
    """The ``external_id`` of an account total: one row per account and moment, so a
    CSV re-import or an API retry replaces it instead of adding a second."""
    return f"account:{customer_id}:{utc(at).isoformat()}"


def in_force_at(moment: datetime) -> ColumnElement[bool]:
    """The row is its stream's MRR at ``moment``: set before it, not replaced by then."""
    change = m.MrrChange
    return and_(change.at < moment, or_(change.until.is_(None), change.until >= moment))


def record_changes(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write MRR changes (``customer_id, stream, at, mrr, seats, source, external_id``;
    accounts must exist) and keep ``until`` and ``customers.mrr`` right. A row whose
    ``external_id`` is stored already replaces that row (its id, so its place, is kept)."""
    if not rows:
        return
    customer_ids = sorted({row["customer_id"] for row in rows})
    for start in range(0, len(customer_ids), CHUNK):
        lock_accounts(session, customer_ids[start : start + CHUNK])
    upsert(session, TABLE, list(rows), key=["external_id"])
    for start in range(0, len(customer_ids), CHUNK):
        _relink(session, customer_ids[start : start + CHUNK])
    keys = [row["external_id"] for row in rows]
    newest: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        newest |= set(
            session.scalars(
                select(m.MrrChange.customer_id).where(
                    m.MrrChange.external_id.in_(keys[start : start + CHUNK]),
                    m.MrrChange.until.is_(None),
                )
            )
        )
    ordered = sorted(newest)
    for start in range(0, len(ordered), CHUNK):
        _follow_newest(session, ordered[start : start + CHUNK])


def lock_accounts(session: Session, customer_ids: Sequence[str]) -> None:
    """One writer of these accounts' MRR history at a time (PostgreSQL row locks, in id
    order; SQLite has one writer anyway): two changes committed side by side would each
    relink without seeing the other, and leave two rows of a stream in force.

    ``FOR NO KEY UPDATE``, which such writers still take one at a time, not ``FOR
    UPDATE``: that would also block every insert referencing the account (a foreign key
    check takes ``KEY SHARE``), and a rescore that holds the account's rescore mark and
    writes its score then waited for this transaction while this one waited to mark the
    account: a deadlock, answered 503."""
    query = select(m.Customer.id).where(m.Customer.id.in_(customer_ids)).order_by(m.Customer.id)
    session.execute(query.with_for_update(key_share=True))


def _relink(session: Session, customer_ids: Sequence[str]) -> None:
    """``until`` of every row of these accounts: the ``at`` of its stream's next row."""
    later = TABLE.alias("later")
    next_at = (
        select(func.min(later.c.at))
        .where(
            later.c.customer_id == TABLE.c.customer_id,
            later.c.stream == TABLE.c.stream,
            or_(later.c.at > TABLE.c.at, and_(later.c.at == TABLE.c.at, later.c.id > TABLE.c.id)),
        )
        .scalar_subquery()
    )
    session.execute(
        update(TABLE).where(TABLE.c.customer_id.in_(customer_ids)).values(until=next_at)
    )


def _follow_newest(session: Session, customer_ids: Sequence[str]) -> None:
    """``customers.mrr`` = the sum of each stream's newest row."""
    change = m.MrrChange
    total = (
        select(func.coalesce(func.sum(change.mrr), 0))
        .where(change.customer_id == m.Customer.id, change.until.is_(None))
        .scalar_subquery()
    )
    session.execute(
        update(m.Customer).where(m.Customer.id.in_(customer_ids)).values(mrr=total),
        execution_options={"synchronize_session": "fetch"},
    )


def in_force_after(
    session: Session, customer_id: str, moment: datetime, *, stream: str | None = None
) -> list[m.MrrChange]:
    """The rows in force just after ``moment``, changes at ``moment`` included: what a
    new row at ``moment`` would follow (one per stream; only ``stream``'s if given)."""
    change = m.MrrChange
    moment = utc(moment)
    query = select(change).where(
        change.customer_id == customer_id,
        change.at <= moment,
        or_(change.until.is_(None), change.until > moment),
    )
    if stream is not None:
        query = query.where(m.MrrChange.stream == stream)
    return list(session.scalars(query.order_by(m.MrrChange.stream)))


def change_id(session: Session, external_id: str) -> int:
    """The id of the row stored under ``external_id``."""
    found = session.scalar(select(m.MrrChange.id).where(m.MrrChange.external_id == external_id))
    assert found is not None, external_id
    return found


def latest_change(session: Session, customer_id: str, stream: str) -> datetime | None:
    """When the stream last changed (``None``: never)."""
    change = m.MrrChange
    query = select(func.max(change.at)).where(
        change.customer_id == customer_id, change.stream == stream
    )
    return session.scalar(query)


def newest(session: Session, customer_id: str) -> list[m.MrrChange]:
    """Each stream's newest row (the account's MRR now is their sum)."""
    query = select(m.MrrChange).where(
        m.MrrChange.customer_id == customer_id, m.MrrChange.until.is_(None)
    )
    return list(session.scalars(query.order_by(m.MrrChange.stream)))


def history(session: Session, customer_id: str, *, limit: int = 100) -> list[MrrPoint]:
    """The account's MRR after each of its newest ``limit`` changes, oldest first: one
    point per change, the sum of every stream in force just after it."""
    change = m.MrrChange
    rows = session.execute(
        select(change.at, change.mrr, change.seats, change.stream, change.source)
        .where(change.customer_id == customer_id)
        .order_by(change.at, change.id)
    ).all()
    points: list[MrrPoint] = []
    current: dict[str, tuple[Decimal, int | None]] = {}
    for at, mrr, seats, stream, source in rows:
        current[stream] = (Decimal(mrr), seats)
        total = sum((value for value, _ in current.values()), Decimal(0))
        known = [s for _, s in current.values() if s is not None]
        points.append(MrrPoint(at, total, sum(known) if known else None, stream, source))
    return points[-limit:]
