"""Claims with a lease: a worker takes a row for a while with one conditional UPDATE.

Rescore shards and outbox deliveries are both worked on this way. The UPDATE only
matches a row that is free (``ready``), so two workers never hold the same row; the
claim runs out at ``claimed_until``, so a row whose worker died is taken again later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from healthscore.storage.job_models import Delivery, RescoreShard

Leased = type[Delivery] | type[RescoreShard]
"""A table whose rows are claimed: ``status``, ``attempts`` and ``claimed_until``."""


def lease_expired(table: Leased, status: str, now: datetime) -> ColumnElement[bool]:
    """Held in ``status`` by a worker whose claim ran out before ``now``."""
    return (table.status == status) & (table.claimed_until < now)


def claim_with_lease(
    session: Session,
    table: Leased,
    *where: ColumnElement[bool],
    status: str,
    now: datetime,
    lease_seconds: int,
) -> bool:
    """Take the row ``where`` matches into ``status`` until ``lease_seconds`` from ``now``,
    counting the attempt, and commit so other workers see the claim at once; False when
    no row matched (someone else holds it, or it is not ready)."""
    claimed = session.execute(
        update(table)
        .where(*where)
        .values(
            status=status,
            attempts=table.attempts + 1,
            claimed_until=now + timedelta(seconds=lease_seconds),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
