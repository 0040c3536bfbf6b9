"""What clients send about accounts through the JSON API: customers, seats, payments,
tickets, NPS answers and engagement events, and how they are echoed back. The shared
types and conventions (camelCase, unknown fields refused, timestamps not in the future)
are in ``api.schemas``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from healthscore.activity import engagement
from healthscore.api.schemas import (
    API_CONFIG,
    CLOCK,
    ApiModel,
    ClientId,
    CustomerId,
    EventType,
    InputModel,
    Metadata,
    PastTimestamp,
    not_null,
)
from healthscore.jsontypes import (
    NOT_BLANK,
    WHOLE_NUMBER,
    Amount,
    Instant,
    NonNegativeAmount,
)

# --- NPS ----------------------------------------------------------------------------


KNOWN_ACCOUNT = "an existing account (422 `unknown customer` otherwise)"


class NpsInput(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"customerId": "cust_abc123", "score": 9, "comment": "Great product, fast support."}
            ]
        }
    )

    customer_id: Annotated[CustomerId, Field(description=KNOWN_ACCOUNT)]
    score: Annotated[int, Field(ge=0, le=10), WHOLE_NUMBER]
    comment: Annotated[str, Field(max_length=10_000)] = ""
    user_id: ClientId | None = None
    timestamp: Annotated[
        PastTimestamp | None, Field(description=f"when it was answered (default: now); {CLOCK}")
    ] = None


class NpsResponseOut(ApiModel):
    id: int
    customer_id: str
    user_id: str | None
    score: int
    comment: str
    category: Literal["promoter", "passive", "detractor"]
    timestamp: datetime


class NpsPeriod(ApiModel):
    period_start: date
    responses: int
    average: float
    nps: float
    promoters: int
    passives: int
    detractors: int


class NpsSummary(ApiModel):
    responses: int
    average: float | None
    nps: float | None = Field(description="% promoters - % detractors, -100..100")
    promoters: int
    passives: int
    detractors: int
    periods: list[NpsPeriod]


# --- engagement -----------------------------------------------------------------------


def _typed_events(schema: dict[str, Any]) -> None:
    """What ``feature_used`` and ``api_call`` need in ``metadata`` (``records.event_rows``),
    in JSON Schema's words; seed 001's example."""
    schema["examples"] = [
        {
            "customerId": "cust_abc123",
            "eventType": "feature_used",
            "metadata": {"feature": "analytics_dashboard"},
        }
    ]
    schema["allOf"] = [
        {
            "if": {
                "required": ["eventType"],
                "properties": {"eventType": {"const": "feature_used"}},
            },
            "then": {
                "required": ["metadata"],
                "properties": {
                    "metadata": {
                        "required": ["feature"],
                        "properties": {
                            "feature": {"type": "string", "maxLength": 255, "pattern": NOT_BLANK}
                        },
                    }
                },
            },
        },
        {
            "if": {"required": ["eventType"], "properties": {"eventType": {"const": "api_call"}}},
            "then": {
                "properties": {
                    "metadata": {
                        "properties": {"calls": {"type": "integer", "minimum": 0, "maximum": 10**9}}
                    }
                }
            },
        },
    ]


class EngagementInput(InputModel):
    """``login``, ``feature_used`` (``metadata.feature``: the feature's name) and
    ``api_call`` (``metadata.calls``: how many, default 1) feed scoring signals; any other
    type is kept with its metadata."""

    model_config = ConfigDict(json_schema_extra=_typed_events)

    customer_id: Annotated[CustomerId, Field(description=KNOWN_ACCOUNT)]
    event_type: EventType
    metadata: Metadata = Field(default_factory=dict)
    user_id: ClientId | None = None
    product: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            description="the product a login, feature_used or api_call is about "
            "(per-product scores, docs/products.md)",
        ),
    ] = None
    timestamp: Annotated[
        Instant | None,
        Field(description=f"when it happened (default: now); {CLOCK}"),
    ] = None
    """Checked by ``ingest.facts.record_event``, which counts a client clock running ahead."""


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class EngagementEventOut(engagement.EventRow):
    pass


# --- customers and facts -------------------------------------------------------------


class CustomerInput(InputModel):
    """The fields to set; those left out keep their value. ``name``, ``plan``,
    ``segment``, ``mrr``, ``createdAt`` and ``traits`` may be left out but not null."""

    model_config = ConfigDict(
        json_schema_extra=not_null(
            "name",
            "plan",
            "segment",
            "mrr",
            "createdAt",
            "traits",
            example={"name": "ABC Corp", "segment": "enterprise", "mrr": "4200"},
        )
    )

    name: Annotated[str, Field(min_length=1, max_length=255, pattern=NOT_BLANK)] | None = None
    plan: Annotated[str, Field(max_length=64)] | None = None
    segment: Annotated[str, Field(max_length=64)] | None = None
    mrr: Annotated[NonNegativeAmount | None, Field(description="monthly recurring revenue")] = None
    created_at: Annotated[
        PastTimestamp | None, Field(description=f"default for a new account: now; {CLOCK}")
    ] = None
    churned_at: Annotated[
        PastTimestamp | None,
        Field(description=f"not before createdAt (422); {CLOCK}; null: not churned"),
    ] = None
    renews_at: Annotated[
        Instant | None, Field(description="next contract renewal; may be in the future")
    ] = None
    stripe_customer_id: Annotated[
        ClientId | None,
        Field(description="the account's Stripe customer (409 if another account has it)"),
    ] = None
    traits: Metadata | None = None
    parent_id: Annotated[
        CustomerId | None,
        Field(
            description="the parent account (its score rolls up this one's): an existing "
            "account, neither this one nor one below it (422 otherwise); null: none"
        ),
    ] = None


class CustomerOut(ApiModel):
    id: str
    name: str
    plan: str
    segment: str
    mrr: Decimal
    created_at: datetime
    churned_at: datetime | None
    renews_at: datetime | None
    stripe_customer_id: str | None
    traits: Annotated[dict[str, Any], BeforeValidator(lambda traits: traits or {})]
    parent_id: str | None = None


class UserInput(InputModel):
    created_at: Annotated[
        PastTimestamp | None,
        Field(description=f"when the seat was given (a new seat: now); {CLOCK}"),
    ] = None
    removed_at: Annotated[
        PastTimestamp | None,
        Field(
            description=f"frees the seat; not before createdAt (422); {CLOCK}; null takes "
            "the seat back"
        ),
    ] = None
    traits: Metadata | None = None


class PaymentInput(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customerId": "cust_abc123",
                    "amount": "49.00",
                    "currency": "usd",
                    "status": "succeeded",
                    "externalId": "in_1QxY2z",
                }
            ]
        }
    )

    customer_id: Annotated[CustomerId, Field(description=KNOWN_ACCOUNT)]
    amount: Amount
    currency: Annotated[str, Field(pattern=r"^[a-zA-Z]{3}$")] = "usd"
    status: Literal["succeeded", "failed", "refunded"]
    timestamp: Annotated[
        PastTimestamp | None, Field(description=f"when it was charged (default: now); {CLOCK}")
    ] = None
    external_id: Annotated[
        ClientId | None,
        Field(
            description="your id for the charge (1-255 characters; an empty one is 422): "
            "a payment with a known externalId is a retry and answers the first one's id"
        ),
    ] = None


class TicketInput(InputModel):
    """The whole ticket: fields left out are reset to their defaults."""

    opened_at: Annotated[PastTimestamp, Field(description=CLOCK)]
    resolved_at: Annotated[
        PastTimestamp | None, Field(description=f"not before openedAt (422); {CLOCK}")
    ] = None
    severity: Literal["low", "normal", "high", "urgent"] = "normal"
    rating: Annotated[int, Field(ge=1, le=5), WHOLE_NUMBER] | None = None
    subject: Annotated[str, Field(max_length=1000)] = ""
