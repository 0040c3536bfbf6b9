"""One event history per account, whichever table each kind of event is stored in.

Logins, feature uses and API calls live in their own tables (scoring aggregates them);
everything else is an engagement event. Listing merges the four, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Integer,
    Select,
    String,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from healthscore.storage import models as m


@dataclass(frozen=True)
class EventRow:
    customer_id: str
    user_id: str | None
    event_type: str
    metadata: dict[str, Any]
    timestamp: datetime


@dataclass(frozen=True)
class EventFilter:
    customer_id: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _branch(
    f: EventFilter,
    model: Any,
    event_type: str | None,
    columns: dict[str, Any],
    limit: int,
) -> Select[Any] | None:
    """One table's events in the merged shape; None when the filter excludes the table."""
    if f.event_type and event_type is not None and f.event_type != event_type:
        return None
    kind = model.event_type if event_type is None else literal(event_type)
    shape: dict[str, Any] = {
        "user_id": cast(null(), String(255)),
        "feature": cast(null(), String(255)),
        "calls": cast(null(), Integer()),
        "properties": cast(null(), JSON()),
        **columns,
    }
    query = select(
        model.customer_id.label("customer_id"),
        kind.label("event_type"),
        *(column.label(name) for name, column in shape.items()),
        model.ts.label("ts"),
    )
    if f.customer_id:
        query = query.where(model.customer_id == f.customer_id)
    if f.event_type and event_type is None:
        query = query.where(model.event_type == f.event_type)
    if f.since:
        query = query.where(model.ts >= f.since)
    if f.until:
        query = query.where(model.ts < f.until)
    # Each branch only needs its newest `limit` rows: keeps the merge cheap on big tables.
    return query.order_by(model.ts.desc()).limit(limit)


def _branches(f: EventFilter, limit: int) -> list[Select[Any]]:
    candidates = [
        _branch(f, m.Session, "login", {"user_id": m.Session.user_id}, limit),
        _branch(
            f,
            m.FeatureUsage,
            "feature_used",
            {"user_id": m.FeatureUsage.user_id, "feature": m.FeatureUsage.feature},
            limit,
        ),
        _branch(f, m.ApiUsage, "api_call", {"calls": m.ApiUsage.calls}, limit),
        _branch(
            f,
            m.EngagementEvent,
            None,
            {"user_id": m.EngagementEvent.user_id, "properties": m.EngagementEvent.properties},
            limit,
        ),
    ]
    return [c for c in candidates if c is not None]


def _metadata(row: Any) -> dict[str, Any]:
    if row.feature is not None:
        return {"feature": row.feature}
    if row.calls is not None:
        return {"calls": row.calls}
    value = row.properties
    if isinstance(value, str):  # a JSON column read back through a UNION may be text
        value = orjson.loads(value)
    return value if isinstance(value, dict) else {}


def list_events(
    session: Session, f: EventFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[EventRow], int]:
    """A page of events, newest first, and how many match in all."""
    branches = _branches(f, offset + limit)
    if not branches:
        return [], 0
    merged = union_all(*(b.subquery().select() for b in branches)).subquery()
    rows = session.execute(
        select(merged).order_by(merged.c.ts.desc()).offset(offset).limit(limit)
    ).all()
    total = 0
    for branch in _branches(f, 0):
        counted = branch.limit(None).order_by(None).subquery()
        total += int(session.scalar(select(func.count()).select_from(counted)) or 0)
    return [
        EventRow(r.customer_id, r.user_id, r.event_type, _metadata(r), r.ts) for r in rows
    ], total
