"""``healthscore sentiment record|history|import``: a CSM's read of an account.

``import`` takes a CSV (``customer_id, sentiment[, note, author, recorded_at,
valid_days]``; sentiment 1-5 or red / yellow / green), checks every row first and writes
nothing if one is bad. Imported and recorded entries mark their accounts for rescoring.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.table import Table

from healthscore.cli.context import console, errors, fail, open_database
from healthscore.csm import sentiment
from healthscore.errors import DomainError
from healthscore.settings import Settings
from healthscore.storage.database import transaction
from healthscore.storage.pending_rescores import mark_for_rescore
from healthscore.timeutc import utc

CLI_ACTOR = "cli"


class SentimentRow(BaseModel):
    """One CSV row; ``sentiment`` is 1-5 or a colour."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: str = Field(min_length=1, max_length=64)
    sentiment: int = Field(ge=1, le=5)
    note: str = Field(default="", max_length=4000)
    author: str = Field(default=CLI_ACTOR, max_length=255)
    recorded_at: datetime | None = None
    valid_days: int | None = Field(default=None, ge=1, le=365)

    @field_validator("sentiment", mode="before")
    @classmethod
    def _colour(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in sentiment.COLOURS:
            return sentiment.COLOURS[value.strip().lower()]
        return value

    @field_validator("recorded_at", "valid_days", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("author", mode="before")
    @classmethod
    def _blank_author(cls, value: object) -> object:
        return CLI_ACTOR if value == "" else value


def parse_rows(path: Path, *, now: datetime, default_days: int) -> list[sentiment.NewSentiment]:
    """Every row checked; all problems raised together as ``file:line: reason``."""
    entries: list[sentiment.NewSentiment] = []
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"customer_id", "sentiment"} - set(reader.fieldnames or [])
        if missing:
            raise DomainError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
        for line, raw in enumerate(reader, start=2):
            try:
                row = SentimentRow.model_validate({k: v for k, v in raw.items() if k})
            except ValidationError as error:
                reasons = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
                )
                problems.append(f"{path.name}:{line}: {reasons}")
                continue
            recorded = utc(row.recorded_at) if row.recorded_at else now
            if recorded > now:
                problems.append(f"{path.name}:{line}: recorded_at: is in the future")
                continue
            entries.append(
                sentiment.NewSentiment(
                    row.customer_id,
                    row.sentiment,
                    row.note,
                    row.author,
                    recorded,
                    row.valid_days or default_days,
                )
            )
    if problems:
        raise DomainError("\n".join(problems))
    return entries


def sentiment_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file.")],
) -> None:
    """Import sentiment entries from a CSV, all or nothing (each audited)."""
    now = datetime.now(UTC)
    _, sessions = open_database()
    try:
        entries = parse_rows(file, now=now, default_days=Settings().sentiment_valid_days)
        with transaction(sessions) as session:
            count = sentiment.record_many(session, entries, actor=CLI_ACTOR)
            mark_for_rescore(session, {e.customer_id for e in entries})
    except DomainError as error:
        for line in str(error).splitlines():
            errors.print(line, markup=False, highlight=False, soft_wrap=True)
        raise fail(f"nothing imported from {file.name}") from error
    accounts = len({e.customer_id for e in entries})
    console.print(f"imported {count} sentiment entries for {accounts} accounts")


def sentiment_record(
    customer_id: Annotated[str, typer.Argument(help="Account id.")],
    value: Annotated[str, typer.Argument(help="1-5, or red / yellow / green.")],
    note: Annotated[str, typer.Option(help="Why.")] = "",
    author: Annotated[str, typer.Option(help="Who (kept in the audit log).")] = CLI_ACTOR,
    valid_days: Annotated[
        int | None, typer.Option(min=1, max=365, help="Days it counts (default: settings).")
    ] = None,
) -> None:
    """Record one sentiment entry for an account (audited)."""
    try:
        row = SentimentRow(customer_id=customer_id, sentiment=value, note=note, author=author)
    except ValidationError as error:
        raise fail("; ".join(e["msg"] for e in error.errors())) from error
    now = datetime.now(UTC)
    entry = sentiment.NewSentiment(
        row.customer_id,
        row.sentiment,
        row.note,
        row.author,
        now,
        valid_days or Settings().sentiment_valid_days,
    )
    _, sessions = open_database()
    try:
        with transaction(sessions) as session:
            sentiment.record(session, entry)
            mark_for_rescore(session, [customer_id])
    except DomainError as error:
        raise fail(str(error)) from error
    console.print(
        f"recorded {sentiment.colour_of(row.sentiment)} ({row.sentiment}) for {customer_id}"
    )


def sentiment_history(customer_id: Annotated[str, typer.Argument(help="Account id.")]) -> None:
    """Every sentiment entry of an account, newest first, with whether it still counts."""
    _, sessions = open_database()
    now = datetime.now(UTC)
    with sessions() as session:
        rows = sentiment.history(session, customer_id)
    table = Table("recorded", "sentiment", "state", "valid until", "author", "note")
    for row in rows:
        state = (
            "superseded"
            if row.superseded_at is not None and row.superseded_at <= now
            else "stale"
            if row.valid_until <= now
            else "in force"
        )
        table.add_row(
            row.recorded_at.strftime("%Y-%m-%d %H:%M"),
            f"{sentiment.colour_of(row.value)} ({row.value})",
            state,
            row.valid_until.strftime("%Y-%m-%d"),
            row.author,
            row.note,
        )
    console.print(table if rows else f"no sentiment recorded for {customer_id}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="CSM sentiment: record, history, CSV import.", no_args_is_help=True)
    group.command("record")(sentiment_record)
    group.command("history")(sentiment_history)
    group.command("import")(sentiment_import)
    app.add_typer(group, name="sentiment")
