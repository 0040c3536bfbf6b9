"""Writing and reading the audit log (``storage.csm_models.AuditEntry``).

Every manual change calls ``record`` in the same transaction as the change, so a change
and its audit entry land together or not at all. Nothing here updates or deletes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from healthscore.storage.csm_models import AuditEntry

SYSTEM = "system"
"""The actor of changes the service makes itself (a new scorecard seen by a run)."""


def record(
    session: Session,
    *,
    actor: str,
    kind: str,
    customer_id: str | None = None,
    subject: str = "",
    old: Any = None,
    new: Any = None,
    reason: str = "",
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry: ``old`` and ``new`` are JSON values (None for "nothing")."""
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        actor=actor,
        customer_id=customer_id,
        kind=kind,
        subject=subject,
        change={"old": old, "new": new},
        reason=reason,
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session,
    *,
    customer_id: str | None = None,
    kinds: Sequence[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    """Newest first, with the total count (for paging)."""
    query = select(AuditEntry)
    if customer_id is not None:
        query = query.where(AuditEntry.customer_id == customer_id)
    if kinds:
        query = query.where(AuditEntry.kind.in_(kinds))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def record_if_changed(
    session: Session, *, kind: str, subject: str, new: Any, actor: str, reason: str
) -> bool:
    """Append an entry for a value the service watches (the scorecard in use) when it
    differs from the one the last entry of ``kind`` recorded; True if it did."""
    last = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.kind == kind, AuditEntry.customer_id.is_(None))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(1)
    ).first()
    old = None if last is None else last.new
    if old == new:
        return False
    record(session, actor=actor, kind=kind, subject=subject, old=old, new=new, reason=reason)
    return True
