"""``healthscore doctor``: the data-quality report in the terminal (or as JSON), with an
exit code a cron job or CI step can act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from healthscore import quality
from healthscore.cli.context import JsonOption, console, open_database

if TYPE_CHECKING:
    from healthscore.quality.findings import DataQualityReport, Finding

LEVEL_STYLE = {"action": "bold red", "notice": "yellow"}
"""By ``Level`` (a ``StrEnum``: its members are these strings)."""


def doctor(
    days: Annotated[
        int,
        typer.Option(
            "--days", min=1, max=quality.MAX_DAYS, help="Look-back of the activity-based checks."
        ),
    ] = quality.DEFAULT_DAYS,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, max=quality.MAX_LIMIT, help="Items listed per finding."),
    ] = quality.DEFAULT_LIMIT,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on notices too, not only on actions.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Check the data the scores rest on: activity from users who are not seats, accounts
    with no seats or no activity, events refused for unknown accounts or future timestamps,
    clock skew, impossible dates. Exit code 0 when no finding needs action, 1 when one
    does (with --strict, when any finding has a count)."""
    from pydantic_core import to_jsonable_python

    from healthscore.quality.service import data_quality

    _, sessions = open_database()
    with sessions() as session:
        report = data_quality(session, now=datetime.now(UTC), days=days, limit=limit)
    if json_output:
        print(json.dumps(_camel(to_jsonable_python(report)), indent=2, ensure_ascii=False))
    else:
        _print(console, report)
    failing = not report.clean or (strict and any(f.count for f in report.findings))
    raise typer.Exit(1 if failing else 0)


def _camel(value: Any) -> Any:
    """The API's JSON shape (camelCase keys), so scripts can read either."""
    from pydantic.alias_generators import to_camel

    if isinstance(value, dict):
        return {to_camel(key): _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _print(out: Console, report: DataQualityReport) -> None:
    from healthscore import formats

    out.print(
        f"[bold]Data quality[/] as of {formats.timestamp(report.as_of)} "
        f"(activity checks: the last {report.window_days} days)"
    )
    out.print(_summary(report.findings))
    for finding in report.findings:
        if finding.count:
            out.print(_detail(report, finding))
            out.print(f"  [bold]Why it matters:[/] {escape(finding.why)}", soft_wrap=True)
            out.print(f"  [bold]What to do:[/] {escape(finding.fix)}\n", soft_wrap=True)
    actions = sum(1 for f in report.findings if f.count and f.level == "action")
    if report.clean:
        out.print("[green]No finding needs action.[/]")
    else:
        out.print(f"[bold red]{actions} finding(s) need action.[/]")


def _summary(findings: list[Finding]) -> Table:
    table = Table(title="Findings")
    table.add_column("check")
    table.add_column("level")
    table.add_column("count", justify="right")
    table.add_column("unit")
    for f in findings:
        style = LEVEL_STYLE[f.level] if f.count else "green"
        shown = f.level.value if f.count else "ok"
        table.add_row(escape(f.title), f"[{style}]{shown}[/]", f"{f.count:,}", f.unit)
    return table


def _when(value: datetime | None) -> str:
    from healthscore import formats

    return formats.timestamp(value) if value else "—"


def _detail(report: DataQualityReport, finding: Finding) -> Table:
    """The evidence behind one finding (its first ``limit`` items)."""
    from healthscore import formats

    table = Table(title=f"{finding.title} ({finding.count:,} {finding.unit})")
    rows: list[tuple[str, ...]] = []
    columns: tuple[str, ...]
    if finding.code == "unseated_users":
        columns = ("account", "name", "users", "events", "first seen", "last seen", "top user ids")
        for a in report.unseated_accounts:
            top = ", ".join(f"{u.user_id} ({u.events:,})" for u in a.top_users)
            rows.append(
                (
                    a.customer_id,
                    a.name,
                    f"{a.users:,}",
                    f"{a.events:,}",
                    _when(a.first_seen),
                    _when(a.last_seen),
                    top,
                )
            )
    elif finding.code in ("accounts_without_seats", "accounts_without_activity"):
        columns = ("account", "name", "created")
        accounts = (
            report.accounts_without_seats
            if finding.code == "accounts_without_seats"
            else report.accounts_without_activity
        )
        rows = [(a.customer_id, a.name, _when(a.created_at)) for a in accounts]
    elif finding.code == "unknown_account_events":
        columns = ("source", "account key", "events", "first seen", "last seen")
        rows = [
            (
                k.source,
                k.account_key or "(none named)",
                f"{k.events:,}",
                _when(k.first_seen),
                _when(k.last_seen),
            )
            for k in report.unknown_accounts
        ]
    elif finding.code in ("future_timestamps", "sent_at_skew"):
        kind = "future" if finding.code == "future_timestamps" else "sent_at"
        columns = ("source", "events", "worst skew", "last seen")
        rows = [
            (s.source, f"{s.events:,}", formats.duration(s.worst_seconds), _when(s.last_seen))
            for s in report.clock_skew
            if s.kind == kind
        ]
    elif finding.code == "seats_removed_before_created":
        columns = ("account", "user id", "created", "removed")
        rows = [
            (s.customer_id, s.user_id, _when(s.created_at), _when(s.removed_at))
            for s in report.seats_removed_before_created
        ]
    else:
        columns = ("account", "ticket", "opened", "resolved")
        rows = [
            (t.customer_id, t.ticket_id, _when(t.opened_at), _when(t.resolved_at))
            for t in report.tickets_resolved_before_opened
        ]
    for column in columns:
        table.add_column(column, justify="right" if column in ("users", "events") else "left")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
