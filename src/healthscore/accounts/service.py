"""The rules about accounts and their seats, and their lifecycle (erasure, export).

Functions work inside the caller's transaction (they ``flush``, never commit) and raise
``DomainError`` subclasses that carry their HTTP status. Field names in errors are the
API's (``stripeCustomerId``), as clients send them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy.orm import Session

from healthscore.accounts import repository
from healthscore.errors import Conflict, Invalid, NotFound, Problem
from healthscore.storage import models as m
from healthscore.storage.pending_rescores import mark_for_rescore

NOT_NULL = ("name", "plan", "segment", "mrr", "created_at", "traits")
"""Customer fields a client may leave out of an update but not set to null."""


class UnknownAccountError(NotFound):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"unknown customer {customer_id!r}")
        self.customer_id = customer_id


class StripeCustomerTaken(Conflict):
    """Another account is already mapped to this Stripe customer."""


def require_account(session: Session, customer_id: str) -> m.Customer:
    """The account, or ``UnknownAccountError`` (404)."""
    customer = repository.get_customer(session, customer_id)
    if customer is None:
        raise UnknownAccountError(customer_id)
    return customer


def list_customers(
    session: Session,
    *,
    segment: str | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[m.Customer], int]:
    """A page of accounts by id and how many match in all."""
    return repository.customers_page(
        session, segment=segment, search=search, offset=offset, limit=limit
    )


def save_customer(session: Session, customer_id: str, changes: Mapping[str, Any]) -> m.Customer:
    """Create the account or update the fields given (others stay as they are).

    Refused: a null for a field that has a value (422), a Stripe customer id another
    account has (409), a churn date before the account was created (422).
    """
    nulls = [field for field in NOT_NULL if field in changes and changes[field] is None]
    if nulls:
        raise Invalid(
            f"{to_camel(nulls[0])}: may be omitted but not null",
            problems=[Problem(field=to_camel(f), message="may not be null") for f in nulls],
        )
    stripe_id = changes.get("stripe_customer_id")
    if stripe_id:
        owner = repository.customer_with_stripe_id(session, stripe_id)
        if owner is not None and owner.id != customer_id:
            raise StripeCustomerTaken(f"stripeCustomerId {stripe_id!r} belongs to {owner.id!r}")
    repository.upsert_customer(session, {"id": customer_id, **changes})
    customer = require_account(session, customer_id)
    if customer.churned_at and customer.churned_at < customer.created_at:
        raise Invalid("churnedAt: is before createdAt")
    return customer


def save_user(
    session: Session,
    *,
    customer_id: str,
    user_id: str,
    created_at: datetime | None = None,
    removed_at: datetime | None = None,
    traits: dict[str, Any] | None = None,
    restore: bool = False,
) -> m.User:
    """Add or update a seat of a known account (``removed_at`` frees it, ``restore``
    takes a freed one back), and have the account rescored (seats are a scoring signal).

    A user is a seat of an account only once something says so: this call, the users
    import, or a Segment ``group``/``identify`` (``docs/identity.md``). Refused: a removal
    before the seat was created (422).
    """
    require_account(session, customer_id)
    seat = repository.upsert_user(
        session,
        customer_id=customer_id,
        user_id=user_id,
        created_at=created_at,
        removed_at=removed_at,
        traits=traits,
        restore=restore,
    )
    if seat.removed_at is not None and seat.removed_at < seat.created_at:
        raise Invalid(
            "removedAt: is before createdAt",
            problems=[Problem(field="removedAt", message="is before createdAt")],
        )
    mark_for_rescore(session, {customer_id})
    return seat


def delete_customer(session: Session, customer_id: str) -> dict[str, int]:
    """Erase the account and everything about it (right to erasure); rows deleted per
    table. A test checks that every table with a ``customer_id`` column is covered."""
    require_account(session, customer_id)
    return repository.delete_account_rows(session, customer_id)


def export_customer(session: Session, customer_id: str) -> dict[str, Any]:
    """Everything stored about one account, table by table, as JSON-ready data (data
    access requests)."""
    found = repository.account_rows(session, customer_id)
    if found is None:
        raise UnknownAccountError(customer_id)
    account = found.pop("customers")[0]
    export: dict[str, Any] = {"customer": _plain_row(account)}
    for table, rows in found.items():
        export[table] = [_plain_row(row) for row in rows]
    return export


def _plain_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _plain(value) for key, value in row.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
