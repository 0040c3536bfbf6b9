"""``healthscore export scores``: every account's latest score as CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from healthscore.cli.context import errors, fail, open_database


def export_scores(
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Export every account's latest score with its components."""
    from healthscore.scoring import reports

    if format not in {"csv", "json"}:
        raise fail(f"--format must be csv or json, not {format!r}", code=2)
    _, sessions = open_database()
    with sessions() as session:
        rows = reports.all_score_rows(session)
    records = [
        {
            "customer_id": r.customer_id,
            "name": r.name,
            "segment": r.segment,
            "plan": r.plan,
            "mrr": str(r.mrr),
            "score": r.score,
            "tier": r.tier,
            "trend": r.trend,
            "previous_score": r.previous_score,
            "as_of": r.as_of.isoformat(),
            **{f"component_{g}": v for g, v in sorted(r.components.items())},
        }
        for r in rows
    ]
    stream = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if format == "json":
            json.dump(records, stream, indent=2)
            stream.write("\n")
        else:
            fields = sorted({key for record in records for key in record}, key=_field_order)
            writer = csv.DictWriter(stream, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)
    finally:
        if output:
            stream.close()
    if output:
        errors.print(f"wrote {len(records)} scores to {output}")


FIELD_ORDER = [
    "customer_id",
    "name",
    "segment",
    "plan",
    "mrr",
    "score",
    "tier",
    "trend",
    "previous_score",
    "as_of",
]


def _field_order(name: str) -> tuple[int, str]:
    return (FIELD_ORDER.index(name), "") if name in FIELD_ORDER else (len(FIELD_ORDER), name)


def register(app: typer.Typer) -> None:
    export_app = typer.Typer(help="Export data.", no_args_is_help=True)
    export_app.command("scores")(export_scores)
    app.add_typer(export_app, name="export")
