"""CSM sentiment: record an entry, read an account's history, import many from a CSV.

An entry is a 1-5 rating (red 1, yellow 3, green 5) with a note, its author and the
moment it was recorded. It counts in the score (metric ``csm_sentiment``) until it expires
or a newer entry replaces it; ``superseded_at`` is kept in step here so that "the
sentiment in force at a moment" is one condition on the row (``scoring.aggregate_sources``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.audit import repository as audit
from healthscore.errors import Invalid, NotFound
from healthscore.storage.csm_models import CsmSentiment
from healthscore.storage.models import Customer

COLOURS = {"red": 1, "yellow": 3, "green": 5}
"""Traffic-light sentiment, as most CS tools record it, on the 1-5 scale."""


EntryState = Literal["in_force", "stale", "superseded"]


def state_of(entry: CsmSentiment, now: datetime) -> EntryState:
    """``in_force`` (counts in the score now), ``superseded`` (a newer entry replaced it)
    or ``stale`` (expired)."""
    if entry.superseded_at is not None and entry.superseded_at <= now:
        return "superseded"
    return "stale" if entry.valid_until <= now else "in_force"


def colour_of(value: int) -> str:
    return "red" if value <= 2 else "yellow" if value == 3 else "green"


@dataclass(frozen=True)
class NewSentiment:
    customer_id: str
    value: int
    note: str
    author: str
    recorded_at: datetime
    valid_days: int


def record(session: Session, entry: NewSentiment) -> CsmSentiment:
    """Record one entry (its audit entry with it) and re-link the account's entries."""
    if session.get(Customer, entry.customer_id) is None:
        raise NotFound(f"customer {entry.customer_id!r} not found")
    before = in_force(session, entry.customer_id, entry.recorded_at)
    row = _row(entry)
    session.add(row)
    session.flush()
    _relink(session, [entry.customer_id])
    audit.record(
        session,
        actor=entry.author,
        kind="sentiment",
        customer_id=entry.customer_id,
        subject="csm_sentiment",
        old=None if before is None else before.value,
        new=entry.value,
        reason=entry.note,
        at=entry.recorded_at,
    )
    return row


def record_many(session: Session, entries: Sequence[NewSentiment], *, actor: str) -> int:
    """Import: every entry, then one re-link per account; one audit entry per entry."""
    known = set(
        session.scalars(
            select(Customer.id).where(Customer.id.in_({e.customer_id for e in entries}))
        )
    )
    unknown = sorted({e.customer_id for e in entries} - known)
    if unknown:
        raise Invalid(f"unknown customer id(s): {', '.join(unknown[:10])}")
    session.add_all(_row(entry) for entry in entries)
    session.flush()
    _relink(session, sorted(known))
    for entry in entries:
        audit.record(
            session,
            actor=actor,
            kind="sentiment",
            customer_id=entry.customer_id,
            subject="csm_sentiment",
            new=entry.value,
            reason=entry.note or f"imported (recorded by {entry.author})",
            at=entry.recorded_at,
        )
    return len(entries)


def _row(entry: NewSentiment) -> CsmSentiment:
    return CsmSentiment(
        customer_id=entry.customer_id,
        value=entry.value,
        note=entry.note,
        author=entry.author,
        recorded_at=entry.recorded_at,
        valid_until=entry.recorded_at + timedelta(days=entry.valid_days),
    )


def _relink(session: Session, customer_ids: Iterable[str]) -> None:
    """Each entry is superseded by the account's next one (entries may arrive out of
    order from an import): a handful of rows per account."""
    for customer_id in customer_ids:
        rows = history(session, customer_id, newest_first=False)
        for row, following in zip(rows, [*rows[1:], None], strict=True):
            row.superseded_at = None if following is None else following.recorded_at
    session.flush()


def history(session: Session, customer_id: str, *, newest_first: bool = True) -> list[CsmSentiment]:
    order = (CsmSentiment.recorded_at, CsmSentiment.id)
    query = select(CsmSentiment).where(CsmSentiment.customer_id == customer_id)
    query = query.order_by(*(c.desc() for c in order) if newest_first else order)
    return list(session.scalars(query))


def in_force(session: Session, customer_id: str, moment: datetime) -> CsmSentiment | None:
    """The entry that counts at ``moment``: the newest recorded before it, if not expired."""
    newest = session.scalars(
        select(CsmSentiment)
        .where(CsmSentiment.customer_id == customer_id, CsmSentiment.recorded_at <= moment)
        .order_by(CsmSentiment.recorded_at.desc(), CsmSentiment.id.desc())
        .limit(1)
    ).first()
    return newest if newest is not None and newest.valid_until > moment else None
