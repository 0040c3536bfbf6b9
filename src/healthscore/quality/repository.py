"""Every query of the data-quality report; the rules and words are in ``service`` and
``findings``. Read-only: the counters it reads are written by ``ingest.anomalies``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Row, Select, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.rollups import period_of, utc_day

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
) -> list[tuple[str, str, int, datetime, datetime]]:
    """``(customer_id, user_id, events, first_seen, last_seen)`` for every user id with
    events since ``since`` on an account it is not a seat of: no seat at all, or events
    from after its seat was removed.

    Logins, the largest table, are only read for the accounts whose login roll-up
    (``user_activity``) names a user without a seat in use; feature uses and other events
    are grouped per account and user before their seats are looked up."""
    found: dict[tuple[str, str], tuple[int, datetime, datetime]] = {}
    suspects = _login_suspects(session, since=since)
    for table in USER_EVENT_TABLES:
        if table is m.Session and not suspects:
            continue
        accounts = suspects if table is m.Session else None
        for query in _unseated_queries(table, since=since, accounts=accounts):
            for customer_id, user_id, events, first, last in session.execute(query):
                n, earliest, latest = found.get((customer_id, user_id), (0, first, last))
                found[customer_id, user_id] = (n + events, min(earliest, first), max(latest, last))
    return [(c, u, n, first, last) for (c, u), (n, first, last) in found.items()]


def _login_suspects(session: Session, *, since: datetime) -> list[str]:
    """Accounts with a user who logged in since about ``since`` (whole roll-up periods, so
    a little earlier too) and has no seat in use on it."""
    activity, seats = m.UserActivity.__table__, m.User.__table__
    seated = exists().where(
        seats.c.customer_id == activity.c.customer_id,
        seats.c.user_id == activity.c.user_id,
        seats.c.removed_at.is_(None),
    )
    query = (
        select(activity.c.customer_id)
        .where(activity.c.period >= period_of(utc_day(since)), ~seated)
        .distinct()
    )
    return list(session.scalars(query))


def _unseated_queries(
    table: type[m.Session] | type[m.FeatureUsage] | type[m.EngagementEvent],
    *,
    since: datetime,
    accounts: list[str] | None,
) -> list[Query]:
    """Events of user ids with no seat on the account (grouped per user first, then the
    seat looked up once), and events after a seat's removal."""
    seats = m.User.__table__
    scope = [table.ts >= since, table.user_id.is_not(None)]
    if accounts is not None:
        scope.append(table.customer_id.in_(accounts))
    per_user = (
        select(
            table.customer_id,
            table.user_id,
            func.count().label("events"),
            func.min(table.ts).label("first_seen"),
            func.max(table.ts).label("last_seen"),
        )
        .where(*scope)
        .group_by(table.customer_id, table.user_id)
        .subquery("per_user")
    )
    seated = exists().where(
        seats.c.customer_id == per_user.c.customer_id, seats.c.user_id == per_user.c.user_id
    )
    never_seated: Query = select(per_user).where(~seated)
    after_removal: Query = (
        select(
            table.customer_id,
            table.user_id,
            func.count().label("events"),
            func.min(table.ts).label("first_seen"),
            func.max(table.ts).label("last_seen"),
        )
        .join(
            seats, and_(seats.c.customer_id == table.customer_id, seats.c.user_id == table.user_id)
        )
        .where(*scope, seats.c.removed_at.is_not(None), table.ts >= seats.c.removed_at)
        .group_by(table.customer_id, table.user_id)
    )
    return [never_seated, after_removal]


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
    k = jm.UnknownAccountEvents
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
    s = jm.ClockSkew
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
