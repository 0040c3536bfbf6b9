"""The rules about accounts and their seats, and their lifecycle (erasure, export).

Functions work inside the caller's transaction (they ``flush``, never commit) and raise
``DomainError`` subclasses that carry their HTTP status. Field names in errors are the
API's (``stripeCustomerId``), as clients send them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy.orm import Session

from healthscore.accounts import hierarchy, repository
from healthscore.audit import repository as audit
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


def save_customer(
    session: Session,
    customer_id: str,
    changes: Mapping[str, Any],
    *,
    actor: str | None = None,
    reason: str = "",
) -> m.Customer:
    """Create the account or update the fields given (others stay as they are).

    Refused: a null for a field that has a value (422), a Stripe customer id another
    account has (409), a churn date before the account was created (422), a parent that
    does not exist or would make a cycle (422, ``accounts.hierarchy``). A changed parent
    is written to the audit log under ``actor`` (when given) and has the old and new
    parents rescored.
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
    old_parent = repository.parent_of(session, customer_id)
    if "parent_id" in changes:
        check_parent(session, customer_id, changes["parent_id"])
    repository.upsert_customer(session, {"id": customer_id, **changes})
    customer = require_account(session, customer_id)
    if customer.churned_at and customer.churned_at < customer.created_at:
        raise Invalid("churnedAt: is before createdAt")
    if customer.parent_id != old_parent:
        parent_changed(session, customer_id, old_parent, customer.parent_id, actor, reason)
    return customer


def parent_of(session: Session, customer_id: str) -> str | None:
    """The account's parent (None: none, or no such account)."""
    return repository.parent_of(session, customer_id)


def check_parent(
    session: Session, customer_id: str, parent_id: str | None, *, field: str = "parentId"
) -> None:
    """Refuse ``parent_id`` as the parent of ``customer_id``: unknown, or a cycle (422)."""
    hierarchy.check_link(
        customer_id,
        parent_id,
        exists=lambda account: repository.get_customer(session, account) is not None,
        parent_of=lambda account: repository.parent_of(session, account),
        field=field,
    )


def refused_parents(
    session: Session, links: Mapping[str, str | None], *, created: Collection[str] = ()
) -> dict[str, str]:
    """Why each refused link of a batch (child → parent, None to clear) is refused: an
    unknown parent or a cycle (``hierarchy.refused_links``). ``created``: accounts the
    batch itself creates or updates, which exist for it."""
    named = {p for p in links.values() if p is not None} | set(links)
    stored = repository.known_customers(session, named)
    made = set(created)
    return hierarchy.refused_links(
        links,
        exists=lambda account: account in stored or account in made,
        parent_of=lambda account: repository.parent_of(session, account),
        new=made - stored,
    )


def set_parents(
    session: Session, links: Mapping[str, str | None], *, actor: str | None = None
) -> set[str]:
    """Apply checked links (``refused_parents``) to existing accounts; the parents whose
    children changed, which are marked for rescore (``parent_changed``)."""
    touched: set[str] = set()
    for child, parent in links.items():
        customer = require_account(session, child)
        old = customer.parent_id
        if old == parent:
            continue
        customer.parent_id = parent
        session.flush()
        parent_changed(session, child, old, parent, actor)
        touched |= {p for p in (old, parent) if p is not None}
    return touched


def parent_changed(
    session: Session,
    customer_id: str,
    old: str | None,
    new: str | None,
    actor: str | None,
    reason: str = "",
) -> None:
    """After a parent link changed: the audit entry (for a person's change) and a rescore
    of both parents, whose roll-ups it changes."""
    if actor is not None:
        audit.record(
            session,
            actor=actor,
            kind="hierarchy",
            customer_id=customer_id,
            subject="parent",
            old=old,
            new=new,
            reason=reason,
        )
    mark_for_rescore(session, {p for p in (old, new) if p is not None})


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


@dataclass(frozen=True)
class HierarchyAccount:
    """One account of a hierarchy as people see it, with its children (a tree)."""

    id: str
    name: str
    mrr: Decimal
    score: int | None
    tier: str | None
    children: list[HierarchyAccount] = field(default_factory=list)


@dataclass(frozen=True)
class AccountHierarchy:
    """An account, its parents from the nearest up to the root, its children's tree, and
    how its latest score rolled its children up (``signals.adjusted.rollup``), if it did."""

    account: HierarchyAccount
    parents: list[HierarchyAccount]
    rollup: dict[str, Any] | None


def account_hierarchy(session: Session, customer_id: str) -> AccountHierarchy:
    """The account's place in its hierarchy (``UnknownAccountError`` for no account)."""
    found = repository.hierarchy_nodes(session, [customer_id])
    if not found:
        raise UnknownAccountError(customer_id)
    node = found[0]
    parents: list[repository.HierarchyNode] = []
    seen = {customer_id}
    while node.parent_id is not None and node.parent_id not in seen:
        above = repository.hierarchy_nodes(session, [node.parent_id])
        if not above:
            break
        node = above[0]
        seen.add(node.id)
        parents.append(node)
    return AccountHierarchy(
        account=_tree(session, found[0]),
        parents=[_account(p) for p in parents],
        rollup=repository.score_adjustment(session, customer_id, "rollup"),
    )


def _account(
    node: repository.HierarchyNode, children: list[HierarchyAccount] | None = None
) -> HierarchyAccount:
    return HierarchyAccount(node.id, node.name, node.mrr, node.score, node.tier, children or [])


def _tree(session: Session, root: repository.HierarchyNode) -> HierarchyAccount:
    """``root`` with its descendants, read one level at a time."""
    levels: list[list[repository.HierarchyNode]] = []
    seen = {root.id}
    frontier = [root.id]
    while frontier:
        level = [n for n in repository.child_nodes(session, frontier) if n.id not in seen]
        seen.update(n.id for n in level)
        levels.append(level)
        frontier = [n.id for n in level]
    built: dict[str, list[HierarchyAccount]] = {}
    for level in reversed(levels):  # deepest first: each node's children are built
        for n in level:
            built.setdefault(n.parent_id or "", []).append(_account(n, built.get(n.id)))
    return _account(root, built.get(root.id))


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
