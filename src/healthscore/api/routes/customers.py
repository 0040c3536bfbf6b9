"""Accounts and the facts about them that are not product events: seats, payments, tickets."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field

from healthscore.accounts import service as accounts
from healthscore.api.dependencies import Cache, DbSession, JobQueue, PageParams
from healthscore.api.errors import ErrorResponse
from healthscore.api.fact_schemas import (
    CustomerInput,
    CustomerOut,
    PaymentInput,
    TicketInput,
    UserInput,
)
from healthscore.api.routes.cases import actor
from healthscore.api.schemas import Accepted, ApiModel, Created, Page
from healthscore.api.security import AdminKey, IngestKey, ReadKey
from healthscore.ingest import facts
from healthscore.jsontypes import ACCOUNT_ID
from healthscore.observability.metrics import INGESTED
from healthscore.scoring.labels import Tier
from healthscore.storage import models as m

router = APIRouter(prefix="/api/v1", tags=["customers"])
PathId = Annotated[str, Path(min_length=1, max_length=64)]
PathName = Annotated[str, Path(min_length=1, max_length=255)]
NewAccountId = Annotated[
    str,
    Path(
        pattern=ACCOUNT_ID,
        description="1-64 characters, no whitespace, control characters, '/', '?' or '#'",
    ),
]


class DeletedCustomer(ApiModel):
    id: str
    deleted_rows: dict[str, int]


class HierarchyAccountOut(ApiModel):
    id: str
    name: str
    mrr: Decimal
    score: int | None
    tier: Tier | None


class HierarchyChildOut(HierarchyAccountOut):
    children: list[HierarchyChildOut]


class CustomerHierarchy(ApiModel):
    account: HierarchyAccountOut
    parents: list[HierarchyAccountOut] = Field(
        description="the parent first, then its parent, up to the root"
    )
    children: list[HierarchyChildOut] = Field(description="the tree below, each level by id")
    rollup: dict[str, Any] | None = Field(
        description="how the account's latest score rolled up its children's (rule, each "
        "child's score, MRR and weight, the account's own score); null: it did not"
    )


UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "unknown customer"}
}


def customer_out(c: m.Customer) -> CustomerOut:
    return CustomerOut.model_validate(c, from_attributes=True)


@router.put(
    "/customers/{customer_id}",
    operation_id="upsertCustomer",
    response_model=CustomerOut,
    responses={422: {"model": ErrorResponse}},
)
def upsert_customer(
    customer_id: NewAccountId,
    body: CustomerInput,
    key: IngestKey,
    session: DbSession,
    jobs: JobQueue,
) -> CustomerOut:
    """Create the account or update the fields given (others stay as they are).
    ``parentId`` places it under a parent account (``null`` detaches it): an unknown
    parent or a cycle is a 422 and changes nothing; a change is audited and both parents
    are rescored."""
    changes = body.model_dump(exclude_unset=True)
    with session.begin():
        before = accounts.parent_of(session, customer_id)
        out = customer_out(accounts.save_customer(session, customer_id, changes, actor=actor(key)))
    if out.parent_id != before:
        jobs.request_rescore()
    return out


@router.get("/customers", operation_id="listCustomers", response_model=Page[CustomerOut])
def list_customers(
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    search: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[CustomerOut]:
    rows, total = accounts.list_customers(
        session, segment=segment, search=search, offset=paging.offset, limit=paging.page_size
    )
    return Page(
        items=[customer_out(c) for c in rows],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.get(
    "/customers/{customer_id}",
    operation_id="getCustomer",
    response_model=CustomerOut,
    responses=UNKNOWN,
)
def get_customer(customer_id: PathId, _key: ReadKey, session: DbSession) -> CustomerOut:
    return customer_out(accounts.require_account(session, customer_id))


@router.get(
    "/customers/{customer_id}/hierarchy",
    operation_id="getCustomerHierarchy",
    response_model=CustomerHierarchy,
    responses=UNKNOWN,
)
def get_customer_hierarchy(
    customer_id: PathId, _key: ReadKey, session: DbSession
) -> CustomerHierarchy:
    """The account, its parents up to the root and its children's tree, each with its
    MRR and latest score and tier; and how its own score rolled its children up."""
    found = accounts.account_hierarchy(session, customer_id)
    tree = HierarchyChildOut.model_validate(found.account, from_attributes=True)
    return CustomerHierarchy(
        account=HierarchyAccountOut.model_validate(found.account, from_attributes=True),
        parents=[
            HierarchyAccountOut.model_validate(p, from_attributes=True) for p in found.parents
        ],
        children=tree.children,
        rollup=found.rollup,
    )


@router.put(
    "/customers/{customer_id}/users/{user_id}",
    operation_id="upsertUser",
    response_model=Accepted,
    responses=UNKNOWN,
)
def upsert_user(
    customer_id: PathId,
    user_id: PathName,
    body: UserInput,
    _key: IngestKey,
    session: DbSession,
    jobs: JobQueue,
) -> Accepted:
    """Add or update a seat: only a seat counts in seat-based signals (active users,
    seat-days; ``docs/identity.md``). ``removedAt`` frees it, ``"removedAt": null`` takes
    it back; ``createdAt`` of a new seat defaults to now."""
    with session.begin():
        accounts.save_user(
            session,
            customer_id=customer_id,
            user_id=user_id,
            created_at=body.created_at,
            removed_at=body.removed_at,
            traits=body.traits,
            restore="removed_at" in body.model_fields_set and body.removed_at is None,
        )
    jobs.request_rescore()
    return Accepted()


@router.put(
    "/customers/{customer_id}/tickets/{ticket_id}",
    operation_id="upsertSupportTicket",
    response_model=Accepted,
    responses=UNKNOWN,
)
def upsert_ticket(
    customer_id: PathId,
    ticket_id: PathName,
    body: TicketInput,
    _key: IngestKey,
    session: DbSession,
    jobs: JobQueue,
) -> Accepted:
    """Create or update a support ticket (resolution and 1-5 rating may come later)."""
    with facts.transaction(session):
        facts.record_ticket(
            session, customer_id=customer_id, ticket_id=ticket_id, fields=body.model_dump()
        )
    jobs.request_rescore()
    return Accepted()


@router.post(
    "/payments",
    operation_id="recordPayment",
    status_code=201,
    response_model=Created,
    responses={422: {"model": ErrorResponse}},
)
def record_payment(
    body: PaymentInput, _key: IngestKey, session: DbSession, jobs: JobQueue
) -> Created:
    """Record a charge attempt; ``externalId`` makes retries idempotent."""
    with facts.transaction(session):
        payment = facts.record_payment(
            session,
            customer_id=body.customer_id,
            amount=body.amount,
            currency=body.currency,
            status=body.status,
            ts=body.timestamp,
            external_id=body.external_id,
        )
    if payment.new:
        jobs.request_rescore()
        INGESTED.labels("api").inc()
    return Created(id=payment.id)


@router.delete(
    "/customers/{customer_id}",
    operation_id="deleteCustomer",
    response_model=DeletedCustomer,
    responses=UNKNOWN,
)
def delete_customer(
    customer_id: PathId, _key: AdminKey, session: DbSession, cache: Cache
) -> DeletedCustomer:
    """Erase the account and all its data (events, seats, payments, tickets, NPS, scores,
    outreach): for erasure requests. Irreversible."""
    with session.begin():
        counts = accounts.delete_customer(session, customer_id)
    cache.invalidate()
    return DeletedCustomer(id=customer_id, deleted_rows=counts)


@router.get(
    "/customers/{customer_id}/export",
    operation_id="exportCustomer",
    response_model=dict[str, Any],
    responses=UNKNOWN,
)
def export_customer(customer_id: PathId, _key: AdminKey, session: DbSession) -> dict[str, Any]:
    """Everything stored about the account, table by table (data access requests)."""
    return accounts.export_customer(session, customer_id)
