"""Accounts and the facts about them that are not product events: seats, payments, tickets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic.alias_generators import to_camel
from sqlalchemy import func, select

from healthscore.api.dependencies import Cache, DbSession, JobQueue, PageParams
from healthscore.api.errors import ApiError, ErrorDetail, ErrorResponse
from healthscore.api.schemas import (
    Accepted,
    ApiModel,
    Created,
    CustomerInput,
    CustomerOut,
    Page,
    PaymentInput,
    TicketInput,
    UserInput,
)
from healthscore.api.security import AdminKey, IngestKey, ReadKey
from healthscore.ingest import records
from healthscore.jobs.queue import touch
from healthscore.observability.metrics import INGESTED
from healthscore.storage import lifecycle
from healthscore.storage import models as m

router = APIRouter(prefix="/api/v1", tags=["customers"])
PathId = Annotated[str, Path(min_length=1, max_length=64)]
PathName = Annotated[str, Path(min_length=1, max_length=255)]


NOT_NULL = ("name", "plan", "segment", "mrr", "created_at", "traits")
"""Customer fields a client may leave out of an update but not set to null."""


class DeletedCustomer(ApiModel):
    id: str
    deleted_rows: dict[str, int]


UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "unknown customer"}
}


def customer_out(c: m.Customer) -> CustomerOut:
    return CustomerOut(
        id=c.id,
        name=c.name,
        plan=c.plan,
        segment=c.segment,
        mrr=c.mrr,
        created_at=c.created_at,
        churned_at=c.churned_at,
        stripe_customer_id=c.stripe_customer_id,
        traits=c.traits or {},
    )


def _existing(session: DbSession, customer_id: str) -> m.Customer:
    customer = session.get(m.Customer, customer_id)
    if customer is None:
        raise ApiError(404, f"unknown customer {customer_id!r}")
    return customer


@router.put(
    "/customers/{customer_id}",
    operation_id="upsertCustomer",
    response_model=CustomerOut,
    responses={422: {"model": ErrorResponse}},
)
def upsert_customer(
    customer_id: PathId, body: CustomerInput, _key: IngestKey, session: DbSession
) -> CustomerOut:
    """Create the account or update the fields given (others stay as they are)."""
    values = {"id": customer_id, **body.model_dump(exclude_unset=True)}
    nulls = [field for field in NOT_NULL if field in values and values[field] is None]
    if nulls:
        raise ApiError(
            422,
            f"{to_camel(nulls[0])}: may be omitted but not null",
            details=[ErrorDetail(field=to_camel(f), message="may not be null") for f in nulls],
        )
    with session.begin():
        stripe_id = values.get("stripe_customer_id")
        if stripe_id:
            owner = session.scalar(
                select(m.Customer.id).where(m.Customer.stripe_customer_id == stripe_id)
            )
            if owner is not None and owner != customer_id:
                raise ApiError(409, f"stripeCustomerId {stripe_id!r} belongs to {owner!r}")
        records.upsert_customer(session, values)
        customer = _existing(session, customer_id)
        if customer.churned_at and customer.churned_at < customer.created_at:
            raise ApiError(422, "churnedAt: is before createdAt")
        out = customer_out(customer)
    return out


@router.get("/customers", operation_id="listCustomers", response_model=Page[CustomerOut])
def list_customers(
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    search: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[CustomerOut]:
    query = select(m.Customer)
    if segment:
        query = query.where(m.Customer.segment == segment)
    if search:
        query = query.where(func.lower(m.Customer.name).contains(search.lower(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(m.Customer.id).offset(paging.offset).limit(paging.page_size)
    )
    return Page(
        items=[customer_out(c) for c in rows],
        total=int(total),
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
    return customer_out(_existing(session, customer_id))


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
    """Add or update a seat (``removedAt`` frees it)."""
    with session.begin():
        _existing(session, customer_id)
        records.upsert_user(
            session,
            customer_id=customer_id,
            user_id=user_id,
            created_at=body.created_at,
            removed_at=body.removed_at,
            traits=body.traits,
        )
        touch(session, {customer_id})
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
    with session.begin():
        _existing(session, customer_id)
        records.upsert_ticket(
            session,
            {"customer_id": customer_id, "ticket_id": ticket_id, **body.model_dump()},
        )
        touch(session, {customer_id})
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
    with session.begin():
        records.require_customer(session, body.customer_id)
        if body.external_id:
            existing = session.scalar(
                select(m.Payment.id).where(m.Payment.external_id == body.external_id)
            )
            if existing is not None:
                return Created(id=existing)
        row = m.Payment(
            customer_id=body.customer_id,
            ts=body.timestamp or datetime.now(UTC),
            amount=body.amount,
            currency=body.currency.lower(),
            status=body.status,
            external_id=body.external_id,
        )
        session.add(row)
        session.flush()
        created = Created(id=row.id)
        touch(session, {body.customer_id})
    jobs.request_rescore()
    INGESTED.labels("api").inc()
    return created


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
        try:
            counts = lifecycle.delete_customer(session, customer_id)
        except lifecycle.UnknownAccountError as error:
            raise ApiError(404, str(error)) from None
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
    try:
        return lifecycle.export_customer(session, customer_id)
    except lifecycle.UnknownAccountError as error:
        raise ApiError(404, str(error)) from None
