"""Request and response bodies of the HTTP API.

JSON is camelCase, as in seed 001's examples (``customerId``, ``eventType``); snake_case
input is accepted too. Inputs forbid unknown fields so a typo is an error, not silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass as pydantic_dataclass

from healthscore.activity import engagement
from healthscore.ingest.records import check_not_future
from healthscore.quality import findings
from healthscore.scoring import product_reports, reports

API_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True)
"""camelCase out, either spelling in. Response schemas decorated
``@pydantic_dataclass(frozen=True, config=API_CONFIG)`` are built on a domain dataclass:
its fields (names, types, descriptions) are declared once, there."""


class ApiModel(BaseModel):
    model_config = API_CONFIG


class InputModel(ApiModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )


CustomerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s/?#]+$")]
Text = Annotated[str, Field(max_length=255)]
PastTimestamp = Annotated[datetime, AfterValidator(lambda ts: check_not_future("timestamp", ts))]
EventType = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$")]
Metadata = Annotated[dict[str, Any], Field(max_length=100)]

T = TypeVar("T")


class Page(ApiModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


# --- health scores ---------------------------------------------------------------------


class Driver(ApiModel):
    signal: str
    delta: float = Field(description="points gained (+) or lost (-) since the reference score")


class ChurnProbability(ApiModel):
    """The score as a probability of churn, from a validated calibration of the scorecard
    that produced it (``healthscore tune --calibrate``)."""

    days30: float | None = Field(
        description="probability (0-1) that the account churns within 30 days; null without "
        "a validated 30-day calibration"
    )
    days90: float | None = Field(
        description="probability (0-1) that the account churns within 90 days; null without "
        "a validated 90-day calibration"
    )
    months_of_history: float = Field(description="months of history the calibration rests on")
    calibration_ids: list[int] = Field(description="the calibrations used")


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class HealthScoreSummary(reports.AccountScore):
    change: Annotated[int | None, Field(description="score - previous_score over the trend window")]
    components: dict[str, float]
    as_of: datetime
    churn_probability: Annotated[
        ChurnProbability | None,
        Field(
            description="only when a validated calibration of the scorecard that produced "
            "this score exists; null otherwise"
        ),
    ]


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class SignalDetail(reports.SignalDetail):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class ProductSignalDetail(product_reports.ProductSignalDetail):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class ProductScoreDetail(product_reports.ProductScoreDetail):
    signals: Sequence[ProductSignalDetail]


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class ProductCombination(product_reports.ProductCombination):
    products: Sequence[ProductScoreDetail]


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class HealthScoreDetail(HealthScoreSummary):
    scorecard: str
    signals: list[SignalDetail]
    drivers: list[Driver]
    products: Annotated[
        ProductCombination | None,
        Field(
            description="per-product scores and how they made this (global) score; null when "
            "the scorecard scores no products or the account had no product events"
        ),
    ] = None
    adjusted: Annotated[
        dict[str, Any],
        Field(
            description="what changed the score after its signals, each with the value "
            "computed beside it: `products` (per-product scores combined), `override` (an "
            "admin's manual value: `score` and/or `measures`), `rollup` (a parent's "
            "children); empty when the score is the signals' alone"
        ),
    ] = field(default_factory=dict)


class HistoryPoint(ApiModel):
    day: date
    score: int
    tier: str
    trend: str
    components: dict[str, float]
    contributions: dict[str, float]
    scorecard: str
    stage: str | None
    confidence: float | None


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class HealthSummary(reports.Summary):
    pass


# --- NPS ----------------------------------------------------------------------------


class NpsInput(InputModel):
    customer_id: CustomerId
    score: Annotated[int, Field(ge=0, le=10)]
    comment: Annotated[str, Field(max_length=10_000)] = ""
    user_id: Text | None = None
    timestamp: PastTimestamp | None = None


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


class EngagementInput(InputModel):
    customer_id: CustomerId
    event_type: EventType
    metadata: Metadata = Field(default_factory=dict)
    user_id: Text | None = None
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
        datetime | None,
        Field(description="when it happened (default: now); refused if in the future"),
    ] = None
    """Checked by ``ingest.facts.record_event``, which counts a client clock running ahead."""


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class EngagementEventOut(engagement.EventRow):
    pass


class Accepted(ApiModel):
    accepted: int = 1
    duplicate: bool = Field(
        default=False, description="the Idempotency-Key was seen before: nothing re-applied"
    )


class Created(ApiModel):
    id: int


# --- customers and facts -------------------------------------------------------------


class CustomerInput(InputModel):
    name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    plan: Annotated[str, Field(max_length=64)] | None = None
    segment: Annotated[str, Field(max_length=64)] | None = None
    mrr: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = None
    created_at: PastTimestamp | None = None
    churned_at: PastTimestamp | None = None
    renews_at: Annotated[
        datetime | None, Field(description="next contract renewal; may be in the future")
    ] = None
    stripe_customer_id: Text | None = None
    traits: Metadata | None = None
    parent_id: Annotated[
        CustomerId | None,
        Field(description="the parent account (its score rolls up this one's); null: none"),
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
    created_at: PastTimestamp | None = None
    removed_at: PastTimestamp | None = None
    traits: Metadata | None = None


class PaymentInput(InputModel):
    customer_id: CustomerId
    amount: Annotated[Decimal, Field(max_digits=14, decimal_places=2)]
    currency: Annotated[str, Field(pattern=r"^[a-zA-Z]{3}$")] = "usd"
    status: Literal["succeeded", "failed", "refunded"]
    timestamp: PastTimestamp | None = None
    external_id: Text | None = None


class TicketInput(InputModel):
    opened_at: PastTimestamp
    resolved_at: PastTimestamp | None = None
    severity: Literal["low", "normal", "high", "urgent"] = "normal"
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    subject: Annotated[str, Field(max_length=1000)] = ""


# --- outreach --------------------------------------------------------------------------


class OutreachEntryOut(ApiModel):
    """An outreach entry is a case (``/api/v1/cases``): ``status`` is its state."""

    id: int
    customer_id: str
    playbook: str
    reason: str
    snapshot: dict[str, Any]
    owner: str | None
    next_step: str
    status: str = Field(description="open, acknowledged, snoozed or resolved")
    notes: str
    created_at: datetime
    updated_at: datetime
    severity: str = Field(description="normal, high or urgent")
    resolution: str | None = Field(description="done, dismissed, cleared or merged")
    last_seen_at: datetime | None
    snoozed_until: datetime | None
    resolved_at: datetime | None


# --- data quality ----------------------------------------------------------------------


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class FindingOut(findings.Finding):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class UnseatedUserOut(findings.UnseatedUser):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class UnseatedAccountOut(findings.UnseatedAccount):
    top_users: list[UnseatedUserOut]  # type: ignore[assignment]


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class AccountRefOut(findings.AccountRef):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class UnknownAccountKeyOut(findings.UnknownAccountKey):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class SkewSummaryOut(findings.SkewSummary):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class SeatRefOut(findings.SeatRef):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class TicketRefOut(findings.TicketRef):
    pass


@pydantic_dataclass(frozen=True, config=API_CONFIG)
class DataQualityOut(findings.DataQualityReport):
    findings: list[FindingOut]  # type: ignore[assignment]
    unseated_accounts: list[UnseatedAccountOut]  # type: ignore[assignment]
    accounts_without_seats: list[AccountRefOut]  # type: ignore[assignment]
    accounts_without_activity: list[AccountRefOut]  # type: ignore[assignment]
    unknown_accounts: list[UnknownAccountKeyOut]  # type: ignore[assignment]
    clock_skew: list[SkewSummaryOut]  # type: ignore[assignment]
    seats_removed_before_created: list[SeatRefOut]  # type: ignore[assignment]
    tickets_resolved_before_opened: list[TicketRefOut]  # type: ignore[assignment]
