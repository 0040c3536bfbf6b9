"""The playbooks' SQL: what the rules read about accounts, and the outreach log itself.

``playbooks.service`` and ``playbooks.outreach`` hold the rules and call these; nothing
here commits (the caller's transaction decides).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from healthscore.storage import models as m
from healthscore.storage.dialect import insert_new_keys
from healthscore.storage.rollups import midnight
from healthscore.timeutc import naive_utc, utc


@dataclass(frozen=True)
class OutreachFilter:
    customer_id: str | None = None
    status: str | None = None
    playbook: str | None = None
    since: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        o = m.OutreachEntry
        conditions: list[ColumnElement[bool]] = []
        if self.customer_id:
            conditions.append(o.customer_id == self.customer_id)
        if self.status:
            conditions.append(o.status == self.status)
        if self.playbook:
            conditions.append(o.playbook == self.playbook)
        if self.since:
            conditions.append(o.created_at >= self.since)
        return conditions


# --- the outreach log --------------------------------------------------------------------


def list_entries(
    session: Session, f: OutreachFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[m.OutreachEntry], int]:
    """One page of entries, newest first, and how many match in all."""
    o = m.OutreachEntry
    where = f.conditions()
    rows = session.scalars(
        select(o)
        .where(*where)
        .order_by(o.created_at.desc(), o.id.desc())
        .offset(offset)
        .limit(limit)
    )
    total = session.scalar(select(func.count()).select_from(o).where(*where)) or 0
    return list(rows), int(total)


def get_entry(session: Session, entry_id: int) -> m.OutreachEntry | None:
    return session.get(m.OutreachEntry, entry_id)


def playbook_names(session: Session) -> list[str]:
    """Every playbook that has logged an entry, for the log's filter."""
    o = m.OutreachEntry
    return list(session.scalars(select(o.playbook).distinct().order_by(o.playbook)))


def status_counts(session: Session) -> dict[str, int]:
    o = m.OutreachEntry
    return {
        status: int(count)
        for status, count in session.execute(select(o.status, func.count()).group_by(o.status))
    }


def customer_names(session: Session, ids: Collection[str]) -> dict[str, str]:
    if not ids:
        return {}
    c = m.Customer
    return {cid: name for cid, name in session.execute(select(c.id, c.name).where(c.id.in_(ids)))}


def logged_keys(session: Session, keys: Collection[str]) -> set[str]:
    """Which of these outreach idempotency keys already have an entry (a run would skip
    them: the same playbook has logged for that account that day)."""
    if not keys:
        return set()
    key = m.OutreachEntry.idempotency_key
    return set(session.scalars(select(key).where(key.in_(keys))))


def last_logged(
    session: Session, customer_ids: Collection[str], *, after: datetime, until: datetime
) -> list[tuple[str, str, datetime]]:
    """(customer, playbook, newest entry's creation) for entries in ``(after, until]``."""
    o = m.OutreachEntry
    rows = session.execute(
        select(o.customer_id, o.playbook, func.max(o.created_at))
        .where(o.customer_id.in_(customer_ids), o.created_at > after, o.created_at <= until)
        .group_by(o.customer_id, o.playbook)
    )
    return [(cid, playbook, last) for cid, playbook, last in rows]


def insert_entries(session: Session, entries: list[dict[str, Any]]) -> set[str]:
    """Insert entries whose idempotency key is new; the keys actually inserted."""
    inserted = insert_new_keys(
        session,
        m.OutreachEntry.__table__,  # type: ignore[arg-type]
        entries,
        key=["idempotency_key"],
    )
    return {key for (key,) in inserted}


# --- what the rules read about accounts ----------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Who an account is, as the rules see it."""

    name: str
    segment: str
    plan: str
    created_at: datetime


def customer_profiles(session: Session, ids: Collection[str]) -> dict[str, Profile]:
    c = m.Customer
    rows = session.execute(
        select(c.id, c.name, c.segment, c.plan, c.created_at).where(c.id.in_(ids))
    )
    return {
        cid: Profile(name, segment, plan, created) for cid, name, segment, plan, created in rows
    }


def _newest_history(
    session: Session, ids: Collection[str], column: Any, *window: ColumnElement[bool]
) -> dict[str, Any]:
    """``column`` of each account's newest history row among the days in ``window``."""
    h = m.HealthScoreHistory
    newest = (
        select(h.customer_id, func.max(h.day).label("day"))
        .where(*window, h.customer_id.in_(ids))
        .group_by(h.customer_id)
        .subquery()
    )
    query = select(h.customer_id, column).join(
        newest, and_(h.customer_id == newest.c.customer_id, h.day == newest.c.day)
    )
    return {key: value for key, value in session.execute(query)}


def tier_before(session: Session, ids: Collection[str], day: date) -> dict[str, str]:
    """Each account's tier in its newest history row before ``day``."""
    h = m.HealthScoreHistory
    return _newest_history(session, ids, h.tier, h.day < day)


def score_on_or_before(session: Session, ids: Collection[str], day: date) -> dict[str, int]:
    """Each account's score on ``day`` or the closest earlier day within 3 days."""
    h = m.HealthScoreHistory
    return _newest_history(session, ids, h.score, h.day <= day, h.day >= day - timedelta(days=3))


def last_login(session: Session, ids: Collection[str], as_of: datetime) -> dict[str, datetime]:
    """Last login before ``as_of``: earlier days from the daily roll-up (raw sessions may
    have expired), the day of ``as_of`` itself from raw sessions."""
    as_of = utc(as_of)
    daily = m.DailySessions
    day_start = midnight(as_of.date())
    earlier_days = (
        select(daily.customer_id, func.max(daily.last_at))
        .where(daily.customer_id.in_(ids), daily.day < as_of.date())
        .group_by(daily.customer_id)
    )
    same_day = (
        select(m.Session.customer_id, func.max(m.Session.ts))
        .where(
            m.Session.customer_id.in_(ids),
            m.Session.ts >= naive_utc(day_start),
            m.Session.ts < naive_utc(as_of),
        )
        .group_by(m.Session.customer_id)
    )
    result: dict[str, datetime] = {}
    for query in (earlier_days, same_day):
        for cid, ts in session.execute(query):
            if ts is not None:
                ts = utc(ts)
                result[cid] = max(ts, result.get(cid, ts))
    return result


def _count_since(
    session: Session,
    ts: InstrumentedAttribute[datetime],
    ids: Collection[str],
    as_of: datetime,
    days: int,
    condition: ColumnElement[bool],
) -> dict[str, int]:
    model: Any = ts.class_
    end = naive_utc(as_of)
    query = (
        select(model.customer_id, func.count())
        .where(model.customer_id.in_(ids), ts >= end - timedelta(days=days), ts < end, condition)
        .group_by(model.customer_id)
    )
    return {key: value for key, value in session.execute(query)}


def failed_payments(
    session: Session, ids: Collection[str], as_of: datetime, days: int
) -> dict[str, int]:
    """Failed payments per account in the ``days`` before ``as_of``."""
    p = m.Payment
    return _count_since(session, p.ts, ids, as_of, days, p.status == "failed")


def detractor_answers(
    session: Session, ids: Collection[str], as_of: datetime, days: int
) -> dict[str, int]:
    """NPS answers of 0-6 per account in the ``days`` before ``as_of``."""
    r = m.NpsResponse
    return _count_since(session, r.ts, ids, as_of, days, r.score <= 6)
