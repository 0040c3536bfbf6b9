"""The cases' SQL: reading and listing cases, their events, and writing new ones.

``playbooks.service`` (the rules' runs) and ``playbooks.cases`` (people's changes) call
these; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from healthscore.playbooks.case_rules import LEGACY_STATUSES
from healthscore.scoring.selection import Accounts, IdRange, selected
from healthscore.storage import case_models
from healthscore.storage.dialect import insert_many, insert_new_keys


@dataclass(frozen=True)
class CaseFilter:
    """Which cases to list. ``status`` is a case state or an old outreach status
    (``in_progress``, ``done``, ``dismissed``: ``case_rules.LEGACY_STATUSES``)."""

    customer_id: str | None = None
    status: str | None = None
    states: tuple[str, ...] = ()
    playbook: str | None = None
    owner: str | None = None
    severity: str | None = None
    since: datetime | None = None
    opened_before: datetime | None = None
    """Only cases opened before this moment (``olderThanDays``)."""

    def conditions(self) -> list[ColumnElement[bool]]:
        o = case_models.OutreachEntry
        conditions: list[ColumnElement[bool]] = []
        if self.customer_id:
            conditions.append(o.customer_id == self.customer_id)
        if self.status in LEGACY_STATUSES:
            state, resolution = LEGACY_STATUSES[self.status]
            conditions.append(o.status == state)
            if resolution:
                conditions.append(o.resolution == resolution)
        elif self.status:
            conditions.append(o.status == self.status)
        if self.states:
            conditions.append(o.status.in_(self.states))
        if self.playbook:
            conditions.append(o.playbook == self.playbook)
        if self.owner:
            conditions.append(o.owner == self.owner)
        if self.severity:
            conditions.append(o.severity == self.severity)
        if self.since:
            conditions.append(o.created_at >= self.since)
        if self.opened_before:
            conditions.append(o.created_at < self.opened_before)
        return conditions


def _order(sort: str) -> list[Any]:
    o = case_models.OutreachEntry
    if sort == "oldest":
        return [o.created_at.asc(), o.id.asc()]
    if sort == "severity":
        rank = case((o.severity == "urgent", 2), (o.severity == "high", 1), else_=0)
        return [rank.desc(), o.created_at.asc(), o.id.asc()]
    if sort == "last_seen":
        return [func.coalesce(o.last_seen_at, o.created_at).desc(), o.id.desc()]
    return [o.created_at.desc(), o.id.desc()]


def list_cases(
    session: Session, f: CaseFilter, *, sort: str = "newest", offset: int = 0, limit: int = 50
) -> tuple[list[case_models.OutreachEntry], int]:
    """One page of cases in ``sort`` order (``newest``, ``oldest``, ``severity``,
    ``last_seen``), and how many match in all."""
    o = case_models.OutreachEntry
    where = f.conditions()
    rows = session.scalars(
        select(o).where(*where).order_by(*_order(sort)).offset(offset).limit(limit)
    )
    total = session.scalar(select(func.count()).select_from(o).where(*where)) or 0
    return list(rows), int(total)


def get_case(
    session: Session, case_id: int, *, lock: bool = False
) -> case_models.OutreachEntry | None:
    """The case; with ``lock``, its row is locked until the transaction ends (PostgreSQL;
    SQLite's writer lock already serialises)."""
    query = select(case_models.OutreachEntry).where(case_models.OutreachEntry.id == case_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def cases_by_id(session: Session, ids: Collection[int]) -> list[case_models.OutreachEntry]:
    if not ids:
        return []
    o = case_models.OutreachEntry
    return list(session.scalars(select(o).where(o.id.in_(ids)).order_by(o.id)))


def events_of(
    session: Session, case_ids: Collection[int]
) -> dict[int, list[case_models.CaseEvent]]:
    """Each case's events, oldest first."""
    if not case_ids:
        return {}
    e = case_models.CaseEvent
    found: dict[int, list[case_models.CaseEvent]] = {i: [] for i in case_ids}
    for event in session.scalars(select(e).where(e.case_id.in_(case_ids)).order_by(e.id)):
        found[event.case_id].append(event)
    return found


def made_by_request(session: Session, case_id: int, request_key: str) -> bool:
    """Whether a change of this case was made by a request with this Idempotency-Key."""
    e = case_models.CaseEvent
    hit = session.scalar(
        select(e.id).where(e.case_id == case_id, e.request_key == request_key).limit(1)
    )
    return hit is not None


def other_unresolved(session: Session, case: case_models.OutreachEntry) -> int | None:
    """Another unresolved case of the same account and playbook, if any."""
    o = case_models.OutreachEntry
    return session.scalar(
        select(o.id).where(
            o.customer_id == case.customer_id,
            o.playbook == case.playbook,
            o.status != "resolved",
            o.id != case.id,
        )
    )


def latest_cases(
    session: Session, accounts: Accounts, playbooks: Collection[str]
) -> dict[tuple[str, str], case_models.OutreachEntry]:
    """Per (account, playbook): the unresolved case, else the newest one, for a list of
    accounts or an id range (``playbooks.repository.account_scope``).

    A list is one bound parameter (``ids_in``): a full rescore asks for every account,
    and 20,000 ids expanded into the statement, twice, cost more than the query."""
    if not isinstance(accounts, IdRange):
        accounts = list(accounts)
    if not accounts or not playbooks:
        return {}
    o = case_models.OutreachEntry
    scope = and_(selected(o.customer_id, accounts), o.playbook.in_(playbooks))
    newest = select(func.max(o.id)).where(scope).group_by(o.customer_id, o.playbook)
    rows = session.scalars(
        select(o).where(scope, or_(o.status != "resolved", o.id.in_(newest))).order_by(o.id)
    )
    found: dict[tuple[str, str], case_models.OutreachEntry] = {}
    for row in rows:
        pair = (row.customer_id, row.playbook)
        held = found.get(pair)
        if held is None or held.status == "resolved":
            found[pair] = row
    return found


def insert_cases(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert new cases whose idempotency key is new; key → id of those inserted."""
    inserted = insert_new_keys(
        session,
        case_models.OutreachEntry.__table__,  # type: ignore[arg-type]
        rows,
        key=["idempotency_key"],
    )
    keys = [key for (key,) in inserted]
    if not keys:
        return {}
    o = case_models.OutreachEntry
    query = select(o.idempotency_key, o.id).where(o.idempotency_key.in_(keys))
    return {key: case_id for key, case_id in session.execute(query)}


def add_events(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_many(session, case_models.CaseEvent.__table__, rows)  # type: ignore[arg-type]


def state_counts(session: Session, f: CaseFilter | None = None) -> dict[str, int]:
    o = case_models.OutreachEntry
    query = select(o.status, func.count()).group_by(o.status)
    if f is not None:
        query = query.where(*f.conditions())
    return {state: int(count) for state, count in session.execute(query)}


def owners(session: Session) -> list[str]:
    """Everyone who owns a case, for the list's filter."""
    o = case_models.OutreachEntry
    return list(
        session.scalars(select(o.owner).where(o.owner.is_not(None)).distinct().order_by(o.owner))
    )
