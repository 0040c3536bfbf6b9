"""Accounts waiting for a near-real-time rescore (``pending_rescores``).

Ingest marks an account in the same transaction as the fact it recorded, so a fact that
commits is never left unscored; the worker's ``rescore_touched`` task takes the marks.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from healthscore.storage import job_models as jm
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
