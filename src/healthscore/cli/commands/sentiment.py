"""``healthscore sentiment record|history|import``: a CSM's read of an account.

``import`` takes a CSV (``customer_id, sentiment[, note, author, recorded_at,
valid_days]``; sentiment 1-5 or red / yellow / green), checks every row first and writes
nothing if one is bad. Imported and recorded entries mark their accounts for rescoring.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from healthscore.cli.context import console, errors, fail, open_database

CLI_ACTOR = "cli"
"""Who the audit log says made a change from the command line (unless ``--author``)."""


def sentiment_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file.")],
) -> None:
    """Import sentiment entries from a CSV, all or nothing (each audited)."""
    from healthscore.csm import sentiment
    from healthscore.csm.sentiment_csv import parse_rows
    from healthscore.errors import DomainError
    from healthscore.settings import Settings
    from healthscore.storage.database import transaction
    from healthscore.storage.pending_rescores import mark_for_rescore

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
    from pydantic import ValidationError

    from healthscore.csm import sentiment
    from healthscore.csm.sentiment_csv import SentimentRow
    from healthscore.errors import DomainError
    from healthscore.settings import Settings
    from healthscore.storage.database import transaction
    from healthscore.storage.pending_rescores import mark_for_rescore

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
    from healthscore.csm import sentiment

    _, sessions = open_database()
    now = datetime.now(UTC)
    with sessions() as session:
        rows = sentiment.history(session, customer_id)
    table = Table("recorded", "sentiment", "state", "valid until", "author", "note")
    for row in rows:
        state = sentiment.state_of(row, now).replace("_", " ")
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
