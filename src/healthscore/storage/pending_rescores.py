"""Accounts waiting for a near-real-time rescore (``pending_rescores``).

Ingest marks an account in the same transaction as the fact it recorded, so a fact that
commits is never left unscored; the worker's ``rescore_touched`` task takes the marks.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.dialect import insert_ignoring_duplicates


def mark_for_rescore(session: Session, customer_ids: Collection[str]) -> None:
    """Mark accounts for near-real-time rescoring, durably, in the ingest transaction."""
    now = datetime.now(UTC)
    insert_ignoring_duplicates(
        session,
        jm.PendingRescore.__table__,  # type: ignore[arg-type]
        [{"customer_id": cid, "touched_at": now} for cid in sorted(customer_ids)],
        key=["customer_id"],
    )


def marked(session: Session, limit: int) -> list[str]:
    """Up to ``limit`` marked accounts (a rescore's batch)."""
    return list(session.scalars(select(jm.PendingRescore.customer_id).limit(limit)))


def claim_marked(session: Session, customer_ids: Collection[str]) -> set[str]:
    """Take the marks of ``customer_ids``, deleting them in this transaction (a mark an
    ingest adds meanwhile waits for its commit and schedules the next round); the taken
    accounts that still exist.

    Locked in id order, skipping marks another transaction holds: a rescore never waits
    for a lock with marks of its own held, so it cannot close a deadlock cycle with ingest
    transactions or another worker's rescore."""
    marks = jm.PendingRescore
    query = select(marks.customer_id).where(marks.customer_id.in_(customer_ids))
    if session.get_bind().dialect.name == "postgresql":
        query = query.order_by(marks.customer_id).with_for_update(skip_locked=True)
    claimed = list(session.scalars(query))
    session.execute(delete(marks).where(marks.customer_id.in_(claimed)))
    return set(session.scalars(select(m.Customer.id).where(m.Customer.id.in_(claimed))))
