"""Sentiment from a CSV file: ``customer_id, sentiment[, note, author, recorded_at,
valid_days]`` (sentiment 1-5 or red / yellow / green). Every row is checked first; any bad
row refuses the whole file with every problem as ``file:line: reason``."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from healthscore.csm import sentiment
from healthscore.errors import DomainError, validation_message
from healthscore.timeutc import utc

NO_AUTHOR = "cli"
"""The author of a row that names none: whoever ran the import."""


class SentimentRow(BaseModel):
    """One CSV row; ``sentiment`` is 1-5 or a colour."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: str = Field(min_length=1, max_length=64)
    sentiment: int = Field(ge=1, le=5)
    note: str = Field(default="", max_length=4000)
    author: str = Field(default=NO_AUTHOR, max_length=255)
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
        return NO_AUTHOR if value == "" else value


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
                    f"{field}: {validation_message(field, e)}"
                    for e in error.errors()
                    for field in [".".join(str(p) for p in e["loc"])]
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
