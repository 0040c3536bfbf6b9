"""Each account's newest row of a daily table, looked up, not grouped.

Score history and the daily roll-ups grow by a row per account per day. "The newest row
before D" as a grouped MAX reads every row of every account; as a correlated subquery
ordered by ``day`` descending with ``LIMIT 1`` it is one probe of the table's
(customer_id, day) primary key, read backwards, per account — the same cost whatever
history is kept, on PostgreSQL and on SQLite.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, select


def newest_value(
    table: Any, column: Any, account: Any, *window: ColumnElement[bool]
) -> ScalarSelect[Any]:
    """``column`` of the newest row (by ``day``) of ``table`` (a model with ``customer_id``
    and ``day``, or an alias of one) among those of ``account`` (the outer query's account
    id column) in ``window``; NULL when it has none."""
    return (
        select(column)
        .where(table.customer_id == account, *window)
        .order_by(table.day.desc())
        .limit(1)
        .scalar_subquery()
    )
