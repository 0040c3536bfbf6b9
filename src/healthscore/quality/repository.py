"""Every query of the data-quality report; the rules and words are in ``service`` and
``findings``. Read-only: the counters it reads are written by ``ingest.anomalies``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Row, Select, and_, cast, exists, func, or_, select, union_all
from sqlalchemy.orm import Session

from healthscore.storage import models as m

Query = Select[*tuple[Any, ...]]
Rows = Row[*tuple[Any, ...]]
USER_EVENT_TABLES = (m.Session, m.FeatureUsage, m.EngagementEvent)
"""Product events that carry the user who did them (API usage is per account)."""


def _page(session: Session, query: Query, limit: int) -> tuple[list[Rows], int]:
    """The first ``limit`` rows of ``query`` (already ordered) and how many in all."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return list(session.execute(query.limit(limit))), int(total or 0)


def unseated_activity(
    session: Session, *, since: datetime
) -> list[Row[str, str, int, datetime, datetime]]:
    """``(customer_id, user_id, events, first_seen, last_seen)`` for every user id with
    events since ``since`` on an account it is not a seat of: no seat at all, or events
    from after its seat was removed."""
    parts = [
        select(t.customer_id, t.user_id, t.ts).where(t.ts >= since, t.user_id.is_not(None))
        for t in USER_EVENT_TABLES
    ]
    events = union_all(*parts).subquery("e")
    seats = m.User.__table__
    joined = events.outerjoin(
        seats,
        and_(seats.c.customer_id == events.c.customer_id, seats.c.user_id == events.c.user_id),
    )
    query = (
        select(
            events.c.customer_id,
            events.c.user_id,
            func.count().label("events"),
            func.min(events.c.ts).label("first_seen"),
            func.max(events.c.ts).label("last_seen"),
        )
        .select_from(joined)
        .where(
            or_(
                seats.c.id.is_(None),
                and_(seats.c.removed_at.is_not(None), events.c.ts >= seats.c.removed_at),
            )
        )
        .group_by(events.c.customer_id, events.c.user_id)
    )
    return list(session.execute(query))


def names(session: Session, customer_ids: Sequence[str]) -> dict[str, str]:
    if not customer_ids:
        return {}
    rows = session.execute(
        select(m.Customer.id, m.Customer.name).where(m.Customer.id.in_(set(customer_ids)))
    )
    return {customer_id: name for customer_id, name in rows}


def _live(now: datetime) -> Any:
    """Accounts not churned as of ``now``."""
    return or_(m.Customer.churned_at.is_(None), m.Customer.churned_at > now)


def accounts_without_seats(
    session: Session, *, now: datetime, limit: int
) -> tuple[list[Rows], int]:
    """Live accounts with no seat in use at ``now`` (none, or all removed)."""
    u = m.User
    seated = exists().where(
        u.customer_id == m.Customer.id, or_(u.removed_at.is_(None), u.removed_at > now)
    )
    query: Query = (
        select(m.Customer.id, m.Customer.name, m.Customer.created_at)
        .where(_live(now), ~seated)
        .order_by(m.Customer.id)
    )
    return _page(session, query, limit)


def accounts_without_activity(
    session: Session, *, now: datetime, created_before: datetime, limit: int
) -> tuple[list[Rows], int]:
    """Live accounts created before ``created_before`` with no product event ever (read
    from the daily roll-ups, which outlive raw-event retention, and engagement events)."""
    tables = (m.DailySessions, m.DailyFeatures, m.DailyApiUsage, m.EngagementEvent)
    active = or_(*(exists().where(t.customer_id == m.Customer.id) for t in tables))
    query: Query = (
        select(m.Customer.id, m.Customer.name, m.Customer.created_at)
        .where(_live(now), m.Customer.created_at < created_before, ~active)
        .order_by(m.Customer.id)
    )
    return _page(session, query, limit)


def unknown_accounts(
    session: Session, *, since: datetime, limit: int
) -> tuple[list[Rows], int, int]:
    """Account keys refused at ingest, seen since ``since`` and still not accounts, most
    events first; and how many keys and events in all."""
    k = m.UnknownAccountEvents
    still_unknown = ~exists().where(m.Customer.id == k.account_key)
    where = (k.last_seen >= since, still_unknown)
    query = (
        select(k.source, k.account_key, k.events, k.first_seen, k.last_seen)
        .where(*where)
        .order_by(k.events.desc(), k.source, k.account_key)
    )
    keys, events = session.execute(
        select(func.count(), func.coalesce(func.sum(k.events), 0)).where(*where)
    ).one()
    return list(session.execute(query.limit(limit))), int(keys), int(events)


def clock_skew(session: Session, *, since: date) -> list[Rows]:
    """``(source, kind, events, worst_seconds, last_seen)`` over the days since ``since``."""
    s = m.ClockSkew
    query = (
        select(
            s.source,
            s.kind,
            cast(func.sum(s.events), BigInteger).label("events"),  # not NUMERIC
            func.max(s.worst_seconds).label("worst_seconds"),
            func.max(s.last_seen).label("last_seen"),
        )
        .where(s.day >= since)
        .group_by(s.source, s.kind)
        .order_by(s.kind, s.source)
    )
    return list(session.execute(query))


def seats_removed_before_created(session: Session, *, limit: int) -> tuple[list[Rows], int]:
    u = m.User
    query: Query = (
        select(u.customer_id, u.user_id, u.created_at, u.removed_at)
        .where(u.removed_at < u.created_at)
        .order_by(u.customer_id, u.user_id)
    )
    return _page(session, query, limit)


def tickets_resolved_before_opened(session: Session, *, limit: int) -> tuple[list[Rows], int]:
    t = m.SupportTicket
    query: Query = (
        select(t.customer_id, t.ticket_id, t.opened_at, t.resolved_at)
        .where(t.resolved_at < t.opened_at)
        .order_by(t.customer_id, t.ticket_id)
    )
    return _page(session, query, limit)
