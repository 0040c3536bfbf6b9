"""``healthscore import FOLDER``: the CSV contract other tools export to.

All or nothing: every row of every file is validated first (pass one); only when there is
not a single problem is anything written, all files in one transaction (pass two, which
re-reads the files so memory stays flat however large they are). Problems are reported as
``file:line: column: reason``, line 1 being the header.

Re-importing is safe for things with identities: customers are upserted by ``id``, seats
by ``(customer_id, user_id)`` and tickets by ``(customer_id, ticket_id)`` (a later export
may carry a resolution or rating). Events, payments and NPS answers have no natural key
and are appended.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from healthscore import timeutc
from healthscore.ingest.bulk import batched, insert_rows
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from healthscore.storage.dialect import upsert

MAX_REPORTED = 1000
FUTURE_SKEW = timedelta(minutes=5)


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


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)


class CustomerRow(_Row):
    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=255)]
    plan: Annotated[str, Field(max_length=64)] = ""
    segment: Annotated[str, Field(max_length=64)] = ""
    mrr: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] = Decimal(0)
    created_at: Timestamp
    churned_at: Timestamp | None = None


class UserRow(_Row):
    customer_id: Identifier
    user_id: Name = Field(min_length=1)
    created_at: Timestamp


class EventRow(_Row):
    customer_id: Identifier
    user_id: Name | None = None
    ts: Timestamp
    type: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$")]
    name: Name | None = None
    value: Annotated[int, Field(ge=1)] | None = None


class PaymentRow(_Row):
    customer_id: Identifier
    ts: Timestamp
    amount: Annotated[Decimal, Field(max_digits=14, decimal_places=2)]
    status: Literal["succeeded", "failed", "refunded"]


class TicketRow(_Row):
    customer_id: Identifier
    ticket_id: Name = Field(min_length=1)
    opened_at: Timestamp
    resolved_at: Timestamp | None = None
    severity: Literal["low", "normal", "high", "urgent"] = "normal"
    rating: Annotated[int, Field(ge=1, le=5)] | None = None


class NpsRow(_Row):
    customer_id: Identifier
    user_id: Name | None = None
    ts: Timestamp
    score: Annotated[int, Field(ge=0, le=10)]
    comment: Annotated[str, Field(max_length=10_000)] = ""


@dataclass(frozen=True)
class CsvFile:
    name: str
    row: type[_Row]
    required: tuple[str, ...]
    key: tuple[str, ...] = ()  # duplicate rows within the file are errors
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
]


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class ImportFailed(Exception):
    """The import was rejected; nothing was written."""

    def __init__(self, errors: list[RowError], total: int | None = None) -> None:
        self.errors = errors
        self.total = total if total is not None else len(errors)
        listing = "\n".join(str(e) for e in errors[:20])
        extra = f"\n… and {self.total - 20} more" if self.total > 20 else ""
        super().__init__(f"import rejected, nothing written:\n{listing}{extra}")


@dataclass
class ImportReport:
    counts: dict[str, int] = field(default_factory=dict)


Progress = Callable[[str, int], None]


def import_folder(
    sessions: sessionmaker[Session],
    folder: Path,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate every CSV in ``folder``, then write them all in one transaction."""
    now = now or datetime.now(UTC)
    present = [spec for spec in FILES if (folder / spec.name).is_file()]
    if not present:
        names = ", ".join(spec.name for spec in FILES)
        raise ImportFailed([RowError(str(folder), 0, f"no CSV files found; expected {names}")])
    with sessions() as session:
        known = set(session.scalars(select(m.Customer.id)))
    errors: list[RowError] = []
    total = 0
    customers_spec = next((s for s in present if s.name == "customers.csv"), None)
    if customers_spec:
        for _, row, error in _read(folder, customers_spec, now):
            if error is None and isinstance(row, CustomerRow):
                known.add(row.id)
    for spec in present:
        for _, _, error in _checked(folder, spec, now, known):
            if error:
                total += 1
                if len(errors) < MAX_REPORTED:
                    errors.append(error)
    if total:
        raise ImportFailed(errors, total)

    report = ImportReport()
    with transaction(sessions) as session:
        for spec in present:
            rows = (row for _, row, _ in _checked(folder, spec, now, known))
            report.counts[spec.name] = _write(session, spec, rows, progress)
    return report


def _read(
    folder: Path, spec: CsvFile, now: datetime
) -> Iterator[tuple[int, _Row | None, RowError | None]]:
    """Parse and validate each row of one file: (line, row or None, error or None)."""
    path = folder / spec.name
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in spec.required if c not in (reader.fieldnames or [])]
        if missing:
            yield 1, None, RowError(spec.name, 1, f"missing column(s): {', '.join(missing)}")
            return
        for record in reader:
            line = reader.line_num
            values = {k: (v if v != "" else None) for k, v in record.items() if k is not None}
            try:
                row = spec.row.model_validate({k: v for k, v in values.items() if v is not None})
            except ValidationError as error:
                problem = error.errors()[0]
                column = ".".join(str(p) for p in problem["loc"]) or "row"
                yield line, None, RowError(spec.name, line, f"{column}: {problem['msg']}")
                continue
            late = [c for c in spec.timestamps if (t := getattr(row, c)) and t > now + FUTURE_SKEW]
            if late:
                yield line, None, RowError(spec.name, line, f"{late[0]}: is in the future")
                continue
            yield line, row, None


def _checked(
    folder: Path, spec: CsvFile, now: datetime, known: set[str]
) -> Iterator[tuple[int, _Row | None, RowError | None]]:
    """``_read`` plus the rules that span rows: known customers, unique keys, ordering."""
    seen: set[tuple[Any, ...]] = set()
    for line, row, error in _read(folder, spec, now):
        if row is None:
            yield line, row, error
            continue
        problem = _row_problem(spec, row, known)
        key = tuple(getattr(row, k) for k in spec.key)
        if problem is None and spec.key:
            if key in seen:
                problem = f"{', '.join(spec.key)}: duplicate {key if len(key) > 1 else key[0]!r}"
            seen.add(key)
        yield line, row, RowError(spec.name, line, problem) if problem else None


def _row_problem(spec: CsvFile, row: _Row, known: set[str]) -> str | None:
    customer_id = getattr(row, "customer_id", None)
    if customer_id is not None and customer_id not in known:
        return f"customer_id: unknown customer {customer_id!r}"
    if isinstance(row, TicketRow) and row.resolved_at and row.resolved_at < row.opened_at:
        return "resolved_at: is before opened_at"
    if isinstance(row, CustomerRow) and row.churned_at and row.churned_at < row.created_at:
        return "churned_at: is before created_at"
    if isinstance(row, EventRow) and row.type == "feature_used" and not row.name:
        return "name: feature_used events need the feature's name"
    return None


def _table(model: type[m.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _write(
    session: Session, spec: CsvFile, rows: Iterator[_Row | None], progress: Progress | None
) -> int:
    written = 0
    for batch in batched((r.model_dump() for r in rows if r is not None), 10_000):
        if spec.name == "customers.csv":
            upsert(session, _table(m.Customer), [{**r, "traits": {}} for r in batch], key=["id"])
        elif spec.name == "users.csv":
            upsert(session, _table(m.User), batch, key=["customer_id", "user_id"])
        elif spec.name == "tickets.csv":
            upsert(session, _table(m.SupportTicket), batch, key=["customer_id", "ticket_id"])
        elif spec.name == "payments.csv":
            insert_rows(session, m.Payment, batch)
        elif spec.name == "nps.csv":
            insert_rows(
                session, m.NpsResponse, [{**r, "comment": r["comment"] or ""} for r in batch]
            )
        else:
            _write_events(session, batch)
        written += len(batch)
        if progress:
            progress(spec.name, written)
    return written


def _write_events(session: Session, batch: list[dict[str, Any]]) -> None:
    """Route events to their typed tables; unknown types stay engagement events."""
    sessions, features, api, other = [], [], [], []
    for e in batch:
        base = {"customer_id": e["customer_id"], "ts": e["ts"]}
        if e["type"] == "login":
            sessions.append({**base, "user_id": e["user_id"]})
        elif e["type"] == "feature_used":
            features.append({**base, "user_id": e["user_id"], "feature": e["name"]})
        elif e["type"] == "api_call":
            api.append({**base, "calls": e["value"] or 1})
        else:
            properties = {k: e[k] for k in ("name", "value") if e[k] is not None}
            other.append(
                {**base, "user_id": e["user_id"], "event_type": e["type"], "properties": properties}
            )
    insert_rows(session, m.Session, sessions)
    insert_rows(session, m.FeatureUsage, features)
    insert_rows(session, m.ApiUsage, api)
    insert_rows(session, m.EngagementEvent, other)
