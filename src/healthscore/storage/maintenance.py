"""Whole-database housekeeping used by the demo and tests."""

from __future__ import annotations

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from healthscore.storage import schema
from healthscore.storage.models import Customer


def has_customers(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(Customer.id.is_not(None)))))


def delete_all_data(session: Session) -> None:
    """Empty every table (children first), inside the caller's transaction."""
    for table in reversed(schema.metadata.sorted_tables):
        session.execute(delete(table))
