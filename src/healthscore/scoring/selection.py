"""Which accounts a query covers: all of them, a list of ids, or one shard's id range."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, overload

from sqlalchemy import ColumnElement, and_

from healthscore.storage.id_lists import ids_in

Condition = ColumnElement[bool]


@dataclass(frozen=True, slots=True)
class IdRange:
    """Accounts whose id sorts between ``first`` and ``last`` (inclusive): one shard."""

    first: str
    last: str


Accounts = Collection[str] | IdRange
"""Some accounts: a list of ids, or an id range."""

Selection = Accounts | None
"""Which accounts a query covers: all (None), a list of ids, or an id range."""


@overload
def selected(column: Any, selection: None) -> None: ...
@overload
def selected(column: Any, selection: Accounts) -> Condition: ...
def selected(column: Any, selection: Selection) -> Condition | None:
    """``column`` (an account id) is in ``selection``; None for all accounts."""
    if selection is None:
        return None
    if isinstance(selection, IdRange):
        return and_(column >= selection.first, column <= selection.last)
    return ids_in(column, selection)


def restrict(query: Any, column: Any, selection: Selection) -> Any:
    condition = selected(column, selection)
    return query if condition is None else query.where(condition)
