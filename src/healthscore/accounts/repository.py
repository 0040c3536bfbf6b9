"""Every query about accounts and their users (seats); the rules are in ``service``.

Functions write inside the caller's transaction and ``flush``; the caller commits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from healthscore.storage import models as m
from healthscore.storage import schema


def get_customer(session: Session, customer_id: str) -> m.Customer | None:
    return session.get(m.Customer, customer_id)


def known_customers(session: Session, customer_ids: set[str]) -> set[str]:
    """Those of ``customer_ids`` that are accounts."""
    if not customer_ids:
        return set()
    return set(session.scalars(select(m.Customer.id).where(m.Customer.id.in_(customer_ids))))


def customer_with_stripe_id(session: Session, stripe_customer_id: str) -> m.Customer | None:
    return session.scalars(
        select(m.Customer).where(m.Customer.stripe_customer_id == stripe_customer_id)
    ).first()


def customers_page(
    session: Session,
    *,
    segment: str | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[m.Customer], int]:
    """A page of accounts by id (``search`` matches names, case-insensitively) and how
    many match in all."""
    query = select(m.Customer)
    if segment:
        query = query.where(m.Customer.segment == segment)
    if search:
        query = query.where(func.lower(m.Customer.name).contains(search.lower(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(m.Customer.id).offset(offset).limit(limit))
    return list(rows), int(total)


def upsert_customer(session: Session, values: Mapping[str, Any]) -> None:
    """Create or update an account; only the given fields change on update.

    Two requests creating the same new account at once both succeed, as if one had come
    after the other: the second one's INSERT (in a savepoint) meets the first one's row
    once that commits, and it updates that row instead of failing.
    """
    existing = session.get(m.Customer, values["id"])
    if existing is None:
        try:
            with session.begin_nested():
                session.add(m.Customer(**{**_new_customer(values["id"]), **values}))
            return
        except IntegrityError:
            existing = session.get(m.Customer, values["id"], populate_existing=True)
            if existing is None:  # another constraint, not a concurrent create
                raise
    for key, value in values.items():
        setattr(existing, key, value)
    session.flush()


def _new_customer(customer_id: str) -> dict[str, Any]:
    """What a new account has for the fields its creator did not give."""
    return {
        "name": customer_id,
        "plan": "",
        "segment": "",
        "mrr": Decimal(0),
        "created_at": datetime.now(UTC),
        "traits": {},
    }


def upsert_user(
    session: Session,
    *,
    customer_id: str,
    user_id: str,
    created_at: datetime | None = None,
    removed_at: datetime | None = None,
    traits: dict[str, Any] | None = None,
    restore: bool = False,
) -> m.User:
    """Add a seat or update the fields given (``removed_at`` frees it, ``restore`` takes
    it back); a new seat is created now unless ``created_at`` says when."""
    row: dict[str, Any] = {"customer_id": customer_id, "user_id": user_id}
    if created_at is not None:
        row["created_at"] = created_at
    if removed_at is not None or restore:
        row["removed_at"] = removed_at
    if traits is not None:
        row["traits"] = traits
    existing = get_user(session, customer_id, user_id)
    if existing is None:
        row.setdefault("created_at", datetime.now(UTC))
        existing = m.User(**row)
        session.add(existing)
    else:
        for key, value in row.items():
            setattr(existing, key, value)
    session.flush()
    return existing


def get_user(session: Session, customer_id: str, user_id: str) -> m.User | None:
    """The seat of ``user_id`` on the account, removed or not."""
    return session.scalars(
        select(m.User).where(m.User.customer_id == customer_id, m.User.user_id == user_id)
    ).first()


def customer_tables() -> list[Table]:
    """Every table holding rows about one account, children before the account itself."""
    return [
        t
        for t in reversed(schema.metadata.sorted_tables)
        if "customer_id" in t.c and t.name != "customers"
    ]


def delete_account_rows(session: Session, customer_id: str) -> dict[str, int]:
    """Delete the account's rows in every table, explicitly rather than trusting
    foreign-key cascades (SQLite only cascades with ``foreign_keys=ON``); rows deleted per
    table. Its child accounts stay, without a parent."""
    counts: dict[str, int] = {}
    session.execute(
        update(m.Customer).where(m.Customer.parent_id == customer_id).values(parent_id=None)
    )
    for table in customer_tables():
        result = session.execute(delete(table).where(table.c.customer_id == customer_id))
        counts[table.name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    result = session.execute(delete(m.Customer).where(m.Customer.id == customer_id))
    counts["customers"] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    session.expunge_all()
    return counts


def account_rows(session: Session, customer_id: str) -> dict[str, list[dict[str, Any]]] | None:
    """The account's row and its rows in every other table, as column → value; None for
    an unknown account."""
    customers = m.Customer.__table__
    account = session.execute(select(customers).where(customers.c.id == customer_id)).first()
    if account is None:
        return None
    found: dict[str, list[dict[str, Any]]] = {"customers": [dict(account._mapping)]}
    for table in reversed(customer_tables()):
        rows = session.execute(select(table).where(table.c.customer_id == customer_id))
        found[table.name] = [dict(row._mapping) for row in rows]
    return found


# --- hierarchy ------------------------------------------------------------------------


def parent_of(session: Session, customer_id: str) -> str | None:
    """The stored parent of an account (None: a root, or no such account)."""
    return session.scalar(select(m.Customer.parent_id).where(m.Customer.id == customer_id))


def parent_links(session: Session) -> dict[str, str]:
    """Every stored child → parent link."""
    c = m.Customer
    rows = session.execute(select(c.id, c.parent_id).where(c.parent_id.is_not(None)))
    return {child: parent for child, parent in rows if parent is not None}


@dataclass(frozen=True)
class HierarchyNode:
    """An account in a hierarchy, with its latest score (None: not scored yet)."""

    id: str
    name: str
    mrr: Decimal
    parent_id: str | None
    churned_at: datetime | None
    score: int | None
    tier: str | None


def _nodes(session: Session, condition: Any) -> list[HierarchyNode]:
    c, h = m.Customer, m.HealthScore
    query = (
        select(c.id, c.name, c.mrr, c.parent_id, c.churned_at, h.score, h.tier)
        .outerjoin(h, h.customer_id == c.id)
        .where(condition)
        .order_by(c.id)
    )
    return [HierarchyNode(*row) for row in session.execute(query)]


def hierarchy_nodes(session: Session, customer_ids: Collection[str]) -> list[HierarchyNode]:
    """These accounts, each with its latest score."""
    if not customer_ids:
        return []
    return _nodes(session, m.Customer.id.in_(customer_ids))


def child_nodes(session: Session, parent_ids: Collection[str]) -> list[HierarchyNode]:
    """The children of these accounts, each with its latest score, by id."""
    if not parent_ids:
        return []
    return _nodes(session, m.Customer.parent_id.in_(parent_ids))


def score_adjustment(session: Session, customer_id: str, step: str) -> dict[str, Any] | None:
    """What ``step`` (``rollup``…) did to the account's latest score, as stored with it."""
    signals = session.scalar(
        select(m.HealthScore.signals).where(m.HealthScore.customer_id == customer_id)
    )
    detail = (signals or {}).get("adjusted", {}).get(step)
    return detail if isinstance(detail, dict) else None
