"""Bulk writes of raw facts, shared by the CSV import and the demo generator."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session

from healthscore.storage.dialect import insert_many
from healthscore.storage.models import Base
from healthscore.storage.rollups import add_to_rollups

BATCH_ROWS = 10_000


def batched(
    rows: Iterable[dict[str, Any]], size: int = BATCH_ROWS
) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def insert_rows(session: Session, model: type[Base], rows: Iterable[dict[str, Any]]) -> int:
    """Insert ``rows`` into ``model``'s table in batches, roll-ups included; returns the count."""
    count = 0
    for batch in batched(rows):
        insert_many(session, model.__table__, batch)  # type: ignore[arg-type]
        add_to_rollups(session, model, batch)
        count += len(batch)
    return count
