"""``healthscore import FOLDER``: the CSV contract other tools export to.

Pass one reads and checks every row of every file. Each row is *accepted*, *rejected*
(with its ``file:line: column: reason``, line 1 being the header) or *a duplicate*: the
same line, every cell equal, as an earlier line of the same file (an export that sent a
page twice); a duplicate adds nothing and is skipped. A keyed row (a customer, seat or
ticket) whose key is on an earlier line with other values is rejected.

If more than ``max_bad_rows`` rows are rejected (default 0: all or nothing), or a file
itself is unusable (a missing column, not CSV), nothing is written. Otherwise pass two
re-reads the files (memory stays flat however large they are) and writes the accepted
rows, all files in one transaction. Every rejected row can be written to a CSV file.

Rows that need a rejected row are rejected too: the seats, events, payments, tickets and
NPS answers of a customer whose ``customers.csv`` row was rejected (and who is not stored
yet) are rejected with a reason naming that line, and count towards ``max_bad_rows``.
A customer's optional ``parent_id`` may name a stored customer or one anywhere in the
file: the links are checked once ``customers.csv`` has been read, and a row naming an
unknown parent or closing a cycle is rejected (``accounts.hierarchy``), as are the rows
naming a rejected new customer as their parent.

Re-importing is safe for things with identities: customers are upserted by ``id``, seats
by ``(customer_id, user_id)``, tickets by ``(customer_id, ticket_id)`` (a later export
may carry a resolution or rating) and MRR history by ``(customer_id, at)``. Events,
payments and NPS answers have no natural key and are appended: importing the same
``events.csv`` twice stores its events twice.
"""

from __future__ import annotations

import csv
import io
from array import array
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from healthscore.accounts.hierarchy import refused_links, unknown_parent
from healthscore.accounts.repository import parent_links
from healthscore.errors import validation_message
from healthscore.ingest import anomalies
from healthscore.ingest.bulk import BATCH_ROWS
from healthscore.ingest.csv_report import (
    MAX_REPORTED,
    REJECTS_COLUMNS,
    FileResult,
    ImportFailed,
    ImportReport,
    RowError,
)
from healthscore.ingest.csv_rows import FILES, CsvFile, CsvRow, CustomerRow, row_problem
from healthscore.ingest.csv_tables import write_rows
from healthscore.storage import models as m
from healthscore.storage.database import transaction

FUTURE_SKEW = timedelta(minutes=5)

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, rows done, rows in all)``: stage is ``checking``/``loading`` + file."""


def import_folder(
    sessions: sessionmaker[Session],
    folder: Path,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    max_bad_rows: int = 0,
    rejects: Path | None = None,
) -> ImportReport:
    """Check every CSV in ``folder``; unless more than ``max_bad_rows`` rows are bad, write
    the good ones in one transaction. ``rejects`` receives every rejected row, either way."""
    now = now or datetime.now(UTC)
    present = [spec for spec in FILES if (folder / spec.name).is_file()]
    if not present:
        names = ", ".join(spec.name for spec in FILES)
        raise ImportFailed([RowError(str(folder), 0, f"no CSV files found; expected {names}")])
    with sessions() as session:
        stored = set(session.scalars(select(m.Customer.id)))
        customers = _Customers(set(stored), stored=frozenset(stored))
        customers.stored_parents = parent_links(session)
    with ExitStack() as files:
        problems = _Problems()
        if rejects is not None:
            problems.out = csv.writer(
                files.enter_context(rejects.open("w", newline="", encoding="utf-8"))
            )
            problems.out.writerow(REJECTS_COLUMNS)
        plans = {}
        for spec in present:  # customers first: the other files are checked against them
            plans[spec.name] = _check(folder, spec, now, customers, problems, progress)
            if spec.name == "customers.csv":
                plans[spec.name].rejected += _check_parents(customers, problems)
    if problems.unusable or problems.total > max_bad_rows:
        with sessions() as session:  # the data-quality counters alone
            anomalies.record_refusal(session, "csv", problems.seen, now=now)
        raise ImportFailed(
            problems.reported,
            problems.total,
            max_bad_rows=max_bad_rows,
            unusable=problems.unusable,
        )

    report = ImportReport(errors=problems.reported)
    with transaction(sessions) as session:
        anomalies.record(session, "csv", problems.seen, now=now)
        for spec in present:
            plan = plans[spec.name]
            report.files[spec.name] = _load(session, folder, spec, now, customers, plan, progress)
    return report


@dataclass
class _Customers:
    """The customer ids rows may name (stored or accepted), and why a missing one is."""

    known: set[str]
    rejected: dict[str, int] = field(default_factory=dict)  # id → line of its rejected row
    stored: frozenset[str] = frozenset()
    stored_parents: dict[str, str] = field(default_factory=dict)
    links: dict[str, tuple[int, str | None, tuple[str, ...]]] = field(default_factory=dict)
    """Accepted rows of a file with ``parent_id``: id → (line, parent, cells if any)."""
    refused_links: dict[int, str] = field(default_factory=dict)
    """Lines whose parent link was refused (``_check_parents``) → why."""

    def unknown(self, customer_id: str) -> bool:
        """Neither stored nor in this import's customers.csv (not even a rejected row)."""
        return customer_id not in self.known and customer_id not in self.rejected

    def problem(self, customer_id: str) -> str | None:
        if customer_id in self.known:
            return None
        line = self.rejected.get(customer_id)
        why = f": its row, customers.csv:{line}, was rejected" if line is not None else ""
        return f"customer_id: unknown customer {customer_id!r}{why}"


class _Problems:
    """Rejected rows: counted, the first ``MAX_REPORTED`` kept, all written to ``out``."""

    def __init__(self, out: Any = None) -> None:
        self.out = out  # a csv.writer, or None
        self.reported: list[RowError] = []
        self.total = 0
        self.unusable = False
        self.seen = anomalies.Anomalies()
        """Rows refused for an unknown account or a future timestamp: counted for the
        data-quality view (``ingest.anomalies``)."""

    def add(self, error: RowError, *, unusable: bool = False) -> None:
        self.total += 1
        self.unusable = self.unusable or unusable
        if len(self.reported) < MAX_REPORTED:
            self.reported.append(error)
        if self.out is not None:
            self.out.writerow([error.file, error.line, error.reason, _as_csv(error.cells)])


def _as_csv(cells: tuple[str, ...]) -> str:
    if not cells:
        return ""
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow(cells)
    return text.getvalue()


class _Repeats:
    """Exact repeats of a file's lines, found without holding the lines in memory: pass
    one notes a hash per accepted line; pass two compares, cell by cell, only the lines
    whose hash occurred more than once."""

    def __init__(self) -> None:
        self._hashes = array("q")
        self._repeated: set[int] = set()
        self._seen: dict[int, list[tuple[str, ...]]] = {}

    def note(self, cells: tuple[str, ...]) -> None:
        self._hashes.append(hash(cells))

    def settle(self) -> None:
        import numpy as np

        values, counts = np.unique(np.frombuffer(self._hashes, dtype=np.int64), return_counts=True)
        self._repeated = set(values[counts > 1].tolist())
        self._hashes = array("q")

    def is_repeat(self, cells: tuple[str, ...]) -> bool:
        digest = hash(cells)
        if digest not in self._repeated:
            return False
        earlier = self._seen.setdefault(digest, [])
        if cells in earlier:
            return True
        earlier.append(cells)
        return False


@dataclass
class _Plan:
    """What pass one found in a file, for pass two to do (and to check it found the same)."""

    rows: int = 0
    rejected: int = 0
    repeats: _Repeats | None = None


class _Unusable(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class _Record(NamedTuple):
    line: int
    cells: tuple[str, ...]
    values: dict[str, str]
    row: CsvRow | None  # None when rejected
    problem: str | None
    duplicate: bool = False
    unknown: str | None = None  # the customer id, when refused for naming no account
    ahead: float | None = None  # seconds, when refused for a timestamp in the future


def _check_parents(customers: _Customers, problems: _Problems) -> int:
    """After pass one over customers.csv (a parent may come after its children): refuse
    the rows naming an unknown parent or closing a cycle (``accounts.hierarchy``), and the
    rows naming as parent a new customer whose row is rejected. How many were refused."""
    links = {cid: parent for cid, (_, parent, _) in customers.links.items()}
    refused = refused_links(
        links,
        exists=lambda account: account in customers.known,
        parent_of=customers.stored_parents.get,
        new=customers.known - customers.stored,
    )
    for cid, why in sorted(refused.items(), key=lambda item: customers.links[item[0]][0]):
        line, parent, cells = customers.links[cid]
        if parent is not None and why == unknown_parent(parent):
            rejected_at = customers.rejected.get(parent)
            if parent in refused:
                rejected_at = customers.links[parent][0]
            if rejected_at is not None:
                why += f": its row, customers.csv:{rejected_at}, was rejected"
        reason = f"parent_id: {why}"
        customers.refused_links[line] = reason
        problems.add(RowError("customers.csv", line, reason, cells))
    for cid in refused:
        if cid not in customers.stored:
            customers.known.discard(cid)
            customers.rejected.setdefault(cid, customers.links[cid][0])
    return len(refused)


def _check(
    folder: Path,
    spec: CsvFile,
    now: datetime,
    customers: _Customers,
    problems: _Problems,
    progress: Progress | None,
) -> _Plan:
    """Pass one over a file: count, report rejected rows, learn customers and repeats."""
    plan = _Plan(repeats=None if spec.key else _Repeats())
    stage = f"checking {spec.name}"
    estimate = _data_lines(folder / spec.name)
    try:
        for record in _checked(folder, spec, now, customers):
            plan.rows += 1
            if record.problem is not None:
                plan.rejected += 1
                problems.add(RowError(spec.name, record.line, record.problem, record.cells))
                if record.unknown is not None:
                    problems.seen.unknown[record.unknown] += 1
                if record.ahead is not None:
                    problems.seen.future.append(record.ahead)
                if spec.name == "customers.csv" and (cid := record.values.get("id", "").strip()):
                    customers.rejected.setdefault(cid, record.line)
            elif isinstance(record.row, CustomerRow):
                customers.known.add(record.row.id)
                if "parent_id" in record.row.model_fields_set:
                    parent = record.row.parent_id
                    cells = record.cells if parent is not None else ()
                    customers.links[record.row.id] = (record.line, parent, cells)
            elif plan.repeats is not None:
                plan.repeats.note(record.cells)
            if progress and plan.rows % BATCH_ROWS == 0:
                progress(stage, plan.rows, max(estimate, plan.rows + 1))
    except _Unusable as error:
        problems.add(RowError(spec.name, error.line, error.reason), unusable=True)
    if plan.repeats is not None:
        plan.repeats.settle()
    if progress:
        progress(stage, plan.rows, plan.rows)
    return plan


def _load(
    session: Session,
    folder: Path,
    spec: CsvFile,
    now: datetime,
    customers: _Customers,
    plan: _Plan,
    progress: Progress | None,
) -> FileResult:
    """Pass two over a file: write its accepted rows, skipping duplicates."""
    stage = f"loading {spec.name}"
    tally = {"rows": 0, "rejected": 0, "duplicates": 0}

    def accepted() -> Iterator[CsvRow]:
        for record in _checked(folder, spec, now, customers):
            tally["rows"] += 1
            if record.row is None:
                tally["rejected"] += 1
            elif record.duplicate or (plan.repeats and plan.repeats.is_repeat(record.cells)):
                tally["duplicates"] += 1
            else:
                yield record.row

    def show(_: int) -> None:
        if progress:
            progress(stage, tally["rows"], plan.rows)

    try:
        loaded = write_rows(session, spec, accepted(), show)
    except _Unusable as error:
        raise ImportFailed([RowError(spec.name, error.line, error.reason)]) from None
    if (tally["rows"], tally["rejected"]) != (plan.rows, plan.rejected):
        raise ImportFailed([RowError(spec.name, 0, "the file changed during the import")])
    show(loaded)
    return FileResult(loaded, tally["duplicates"], plan.rejected)


def _data_lines(path: Path) -> int:
    """Lines after the header: the row count, unless quoted cells span lines (a guess for
    the progress bar, read at disk speed)."""
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(lines - 1, 0)


def _checked(
    folder: Path, spec: CsvFile, now: datetime, customers: _Customers
) -> Iterator[_Record]:
    """``_read`` plus the rules that span rows: known customers, keys, duplicates."""
    seen: dict[tuple[Any, ...], tuple[int, tuple[str, ...]]] = {}
    for record in _read(folder / spec.name, spec, now):
        row = record.row
        if row is None:
            yield record
            continue
        customer_id = getattr(row, "customer_id", None)
        problem = (customers.problem(customer_id) if customer_id is not None else None) or (
            row_problem(row)
        )
        duplicate = False
        if problem is None and spec.key:
            key = tuple(getattr(row, k) for k in spec.key)
            first = seen.setdefault(key, (record.line, record.cells))
            if first[0] != record.line and first[1] == record.cells:
                duplicate = True
            elif first[0] != record.line:
                shown = key if len(key) > 1 else key[0]
                problem = f"{', '.join(spec.key)}: duplicate {shown!r}, unlike line {first[0]}"
        if problem is None and not duplicate and isinstance(row, CustomerRow):
            problem = customers.refused_links.get(record.line)  # pass two: ``_check_parents``
        unknown = None
        if customer_id is not None and customers.unknown(customer_id):
            unknown = customer_id
        if problem is not None:
            yield record._replace(row=None, problem=problem, unknown=unknown)
        elif duplicate:
            yield record._replace(duplicate=True)
        else:
            yield record


def _read(path: Path, spec: CsvFile, now: datetime) -> Iterator[_Record]:
    """Parse and validate each row of one file; ``_Unusable`` if the file is not CSV
    with the contract's columns."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, [])
            missing = [c for c in spec.required if c not in header]
            if missing:
                raise _Unusable(1, f"missing column(s): {', '.join(missing)}")
            for cells in reader:
                if cells:
                    yield _validated(spec, reader.line_num, tuple(cells), header, now)
        except csv.Error as error:
            raise _Unusable(reader.line_num, f"not valid CSV: {error}") from None
        except UnicodeDecodeError as error:
            raise _Unusable(reader.line_num + 1, f"not UTF-8 text: {error.reason}") from None


def _validated(
    spec: CsvFile, line: int, cells: tuple[str, ...], header: list[str], now: datetime
) -> _Record:
    values = {k: v for k, v in zip(header, cells, strict=False) if v != ""}
    # An optional column the file has but this row leaves empty is cleared, not kept.
    empty = {c: None for c in spec.row.optional_columns if c in header and c not in values}
    try:
        row = spec.row.model_validate(values | empty)
    except ValidationError as error:
        problem = error.errors()[0]
        column = ".".join(str(p) for p in problem["loc"]) or "row"
        message = validation_message(column, problem)
        return _Record(line, cells, values, None, f"{column}: {message}")
    late = [c for c in spec.timestamps if (t := getattr(row, c)) and t > now + FUTURE_SKEW]
    if late:
        ahead = (getattr(row, late[0]) - now).total_seconds()
        return _Record(line, cells, values, None, f"{late[0]}: is in the future", ahead=ahead)
    return _Record(line, cells, values, row, None)
