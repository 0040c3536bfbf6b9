"""Request and response bodies of the HTTP API.

JSON is camelCase, as in seed 001's examples (``customerId``, ``eventType``); snake_case
input is accepted too. Inputs forbid unknown fields so a typo is an error, not silence,
and are read as the OpenAPI document declares them (``healthscore.jsontypes``): text as
sent (no trimming), date-times as RFC 3339 strings, amounts with at most 2 decimals.
Rules JSON Schema cannot express (a timestamp not in the future, an account that must
exist) are in the fields' descriptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass as pydantic_dataclass

from healthscore.ingest.records import FUTURE_SKEW, check_not_future
from healthscore.jsontypes import (
    ACCOUNT_ID,
    Instant,
)
from healthscore.quality import findings
from healthscore.scoring import product_reports, reports

API_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True)
"""camelCase out, either spelling in. Response schemas decorated
``@pydantic_dataclass(frozen=True, config=API_CONFIG)`` are built on a domain dataclass:
its fields (names, types, descriptions) are declared once, there."""


class ApiModel(BaseModel):
    model_config = API_CONFIG


class InputModel(ApiModel):
    """A request body: unknown fields refused, and strict types: a number where the
    document says a number (not ``"5"``, not ``true``), text where it says text."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


def not_null(*names: str, example: dict[str, Any] | None = None) -> Any:
    """A ``json_schema_extra`` for fields a client may leave out but not set to null (the
    model types them ``X | None`` so that "left out" reads as None): documented as ``X``."""

    def extra(schema: dict[str, Any]) -> None:
        if example is not None:
            schema["examples"] = [example]
        for name in names:
            prop = schema["properties"][name]
            prop.pop("default", None)
            branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
            if len(branches) == 1:
                prop.update(branches[0])
            elif branches:
                prop["anyOf"] = branches

    return extra


CustomerId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=ACCOUNT_ID,
        description="a customer id: 1-64 characters, no whitespace, control characters, "
        "'/', '?' or '#'",
    ),
]
ClientId = Annotated[str, Field(min_length=1, max_length=255)]
"""An id the client chooses (a user, a payment, a Stripe customer): 1-255 characters."""
CLOCK = (
    f"not in the future (up to {int(FUTURE_SKEW.total_seconds() // 60)} minutes of clock skew "
    "allowed) nor before 1970 (422 otherwise); without an offset, UTC"
)
"""The rule of a timestamp of something that happened, as the document states it."""
FROM_1970 = "^(19[7-9][0-9]|[2-9][0-9]{3})-"
"""The year of a timestamp of something that happened, as a pattern: 1970 or later."""
PastTimestamp = Annotated[
    Instant,
    Field(json_schema_extra={"pattern": FROM_1970}),
    AfterValidator(lambda ts: check_not_future("timestamp", ts)),
]
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


class Accepted(ApiModel):
    accepted: int = 1
    duplicate: bool = Field(
        default=False, description="the Idempotency-Key was seen before: nothing re-applied"
    )


class Created(ApiModel):
    id: int


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
