"""The reads a playbook dry run needs beyond scoring's and the playbooks' own."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.storage import models as m


def logged_keys(session: Session, keys: Collection[str]) -> set[str]:
    """Which of these outreach idempotency keys already have an entry (a real run would
    skip them: the same playbook has logged for that account that day)."""
    if not keys:
        return set()
    key = m.OutreachEntry.idempotency_key
    return set(session.scalars(select(key).where(key.in_(keys))))
