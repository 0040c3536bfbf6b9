"""Which accounts a query covers: all of them, a list of ids, or one shard's id range."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

Condition = ColumnElement[bool]


@dataclass(frozen=True, slots=True)
class IdRange:
    """Accounts whose id sorts between ``first`` and ``last`` (inclusive): one shard."""

    first: str
    last: str


Selection = Collection[str] | IdRange | None
"""Which accounts a query covers: all (None), a list of ids, or an id range."""


def restrict(query: Any, column: Any, selection: Selection) -> Any:
    if selection is None:
        return query
    if isinstance(selection, IdRange):
        return query.where(column >= selection.first, column <= selection.last)
    return query.where(column.in_(list(selection)))
