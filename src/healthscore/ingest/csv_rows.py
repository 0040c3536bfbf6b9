"""The CSV contract of ``healthscore import``: one pydantic model per file, and what
identifies a row of each (customers by ``id``, seats by ``(customer_id, user_id)``, tickets
by ``(customer_id, ticket_id)``, MRR history by ``(customer_id, at)``; events, payments and
NPS answers have no identity)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from healthscore import timeutc

MAX_COUNT = 10**9
"""The largest ``value`` of an event line (the HTTP and Segment ``calls`` bound too)."""


def _timestamp(value: Any) -> Any:
    """ISO 8601 (date, date-time, ``Z`` or offset); naive means UTC."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            utc = timeutc.utc(parsed)
        except (ValueError, OverflowError):
            raise ValueError(f"not an ISO 8601 timestamp in range: {value!r}") from None
        if utc.year < 1970:
            raise ValueError(f"before 1970: {value!r}")
        return utc
    return value


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
Identifier = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(max_length=255)]


class CsvRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)
    optional_columns: ClassVar[tuple[str, ...]] = ()
    """Columns a file may leave out; a re-import without them keeps the stored values."""

    def stored(self) -> dict[str, Any]:
        """The row as table columns: an optional column the file does not have is left
        out, so the upsert does not overwrite what an earlier import stored."""
        values = self.model_dump()
        for column in self.optional_columns:
            if column not in self.model_fields_set:
                values.pop(column)
        return values


class CustomerRow(CsvRow):
    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=255)]
    plan: Annotated[str, Field(max_length=64)] = ""
    segment: Annotated[str, Field(max_length=64)] = ""
    mrr: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] = Decimal(0)
    created_at: Timestamp
    churned_at: Timestamp | None = None
    renews_at: Timestamp | None = None
    """The next contract renewal (may be in the future)."""
    parent_id: Identifier | None = None
    """The parent account (``docs/hierarchy.md``): stored or anywhere in the same file."""

    optional_columns: ClassVar[tuple[str, ...]] = ("renews_at", "parent_id")


class UserRow(CsvRow):
    customer_id: Identifier
    user_id: Name = Field(min_length=1)
    created_at: Timestamp


class EventRow(CsvRow):
    customer_id: Identifier
    user_id: Name | None = None
    ts: Timestamp
    type: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$")]
    name: Name | None = None
    value: Annotated[int, Field(ge=0, le=MAX_COUNT)] | None = None
    """A count: 0 is a day with zero API calls, not a missing value."""
    product: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """Optional column: the product a login, feature use or API call is about."""


class PaymentRow(CsvRow):
    customer_id: Identifier
    ts: Timestamp
    amount: Annotated[Decimal, Field(max_digits=14, decimal_places=2)]
    status: Literal["succeeded", "failed", "refunded"]


class TicketRow(CsvRow):
    customer_id: Identifier
    ticket_id: Name = Field(min_length=1)
    opened_at: Timestamp
    resolved_at: Timestamp | None = None
    severity: Literal["low", "normal", "high", "urgent"] = "normal"
    rating: Annotated[int, Field(ge=1, le=5)] | None = None


class NpsRow(CsvRow):
    customer_id: Identifier
    user_id: Name | None = None
    ts: Timestamp
    score: Annotated[int, Field(ge=0, le=10)]
    comment: Annotated[str, Field(max_length=10_000)] = ""


class MrrRow(CsvRow):
    """The account's total MRR from ``at`` on (``ingest.mrr``); ``seats`` if known."""

    customer_id: Identifier
    at: Timestamp
    mrr: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
    seats: Annotated[int, Field(ge=0, le=MAX_COUNT)] | None = None


@dataclass(frozen=True)
class CsvFile:
    name: str
    row: type[CsvRow]
    required: tuple[str, ...]
    key: tuple[str, ...] = ()  # a second row with the same key and other values is an error
    timestamps: tuple[str, ...] = ()


FILES = [
    CsvFile(
        "customers.csv",
        CustomerRow,
        ("id", "name", "plan", "segment", "mrr", "created_at", "churned_at"),
        ("id",),
        ("created_at", "churned_at"),
    ),
    CsvFile(
        "users.csv",
        UserRow,
        ("customer_id", "user_id", "created_at"),
        ("customer_id", "user_id"),
        ("created_at",),
    ),
    CsvFile(
        "events.csv",
        EventRow,
        ("customer_id", "user_id", "ts", "type", "name", "value"),
        timestamps=("ts",),
    ),
    CsvFile(
        "payments.csv", PaymentRow, ("customer_id", "ts", "amount", "status"), timestamps=("ts",)
    ),
    CsvFile(
        "tickets.csv",
        TicketRow,
        ("customer_id", "ticket_id", "opened_at", "resolved_at", "severity", "rating"),
        ("customer_id", "ticket_id"),
        ("opened_at", "resolved_at"),
    ),
    CsvFile(
        "nps.csv", NpsRow, ("customer_id", "user_id", "ts", "score", "comment"), timestamps=("ts",)
    ),
    CsvFile(
        "mrr_history.csv",
        MrrRow,
        ("customer_id", "at", "mrr"),
        ("customer_id", "at"),
        ("at",),
    ),
]
"""In import order: customers first, so every later file can be checked against them."""


def row_problem(row: CsvRow) -> str | None:
    """Rules within one row that its model cannot state field by field."""
    if isinstance(row, TicketRow) and row.resolved_at and row.resolved_at < row.opened_at:
        return "resolved_at: is before opened_at"
    if isinstance(row, CustomerRow) and row.churned_at and row.churned_at < row.created_at:
        return "churned_at: is before created_at"
    if isinstance(row, EventRow) and row.type == "feature_used" and not row.name:
        return "name: feature_used events need the feature's name"
    return None
