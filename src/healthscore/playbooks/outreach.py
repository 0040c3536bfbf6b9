"""The outreach log: proactive actions taken (or to take) for an account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from healthscore.storage import models as m

STATUSES = ("open", "in_progress", "done", "dismissed")


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


def list_entries(
    session: Session, f: OutreachFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[m.OutreachEntry], int]:
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
