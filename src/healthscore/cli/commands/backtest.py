"""``healthscore backtest``: does a low score come before churn on this data?"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from healthscore.backtest.defaults import DEFAULT_LOOKBACK_DAYS
from healthscore.cli.context import (
    MOMENT_FORMATS,
    HorizonOption,
    HtmlOption,
    JsonOption,
    ResamplesOption,
    ScorecardOption,
    StepOption,
    console,
    errors,
    fail,
    open_database,
    playbooks_from,
    progress_bar,
    scorecard_from,
)

if TYPE_CHECKING:
    from rich.progress import TaskID

    from healthscore.backtest.alert_rules import AlertRule


@contextmanager
def _progress(cutoffs: int) -> Iterator[tuple[Callable[[str], None], Callable[[int, int], None]]]:
    """Step and day callbacks driving progress bars on stderr (stdout stays clean for JSON)."""
    with progress_bar() as bar:
        steps = bar.add_task("backtest", total=cutoffs)
        days: list[TaskID] = []

        def step(message: str) -> None:
            bar.update(
                steps, description=message, advance=1 if message.startswith("scoring") else 0
            )

        def day(done: int, total: int) -> None:
            if not days:
                days.append(bar.add_task("replaying days", total=total))
            bar.update(days[0], completed=done)

        yield step, day


def backtest(
    as_of: Annotated[
        list[datetime],
        typer.Option(
            "--as-of",
            formats=MOMENT_FORMATS,
            help="Cut-off (UTC): score with data before it, label churn after it. Repeatable.",
        ),
    ],
    until: Annotated[
        datetime | None,
        typer.Option(
            formats=MOMENT_FORMATS,
            help="With --as-of: a cut-off every --step-days from the first to this.",
        ),
    ] = None,
    step_days: StepOption = 7,
    horizon_days: HorizonOption = 30,
    scorecard: ScorecardOption = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare", help="Also score the cut-offs with this scorecard (e.g. a tuned YAML)."
        ),
    ] = None,
    lead_time: Annotated[
        bool,
        typer.Option(
            "--lead-time/--no-lead-time", help="Replay daily alerts to measure lead time."
        ),
    ] = True,
    alert_rule: Annotated[
        str,
        typer.Option(
            "--alert-rule",
            help="Lead time: playbooks (a case opened by the configured playbooks' score, "
            "tier, tier-change and score-drop conditions) or seed000 (every day an account "
            "is critical, or at_risk and declining).",
        ),
    ] = "playbooks",
    lookback_days: Annotated[
        int,
        typer.Option(min=1, max=730, help="Lead time: how far before a churn an alert counts."),
    ] = DEFAULT_LOOKBACK_DAYS,
    resamples: ResamplesOption = 1000,
    json_output: JsonOption = False,
    html: HtmlOption = None,
    save: Annotated[
        bool,
        typer.Option("--save/--no-save", help="Keep the result for the API and dashboard."),
    ] = True,
) -> None:
    """Does a low score come before churn? AUC, churn by tier and decile, lead time.

    Every account active at each cut-off is scored from earlier data only (nothing is
    written) and labelled by whether it churned within the horizon after it.
    """
    from healthscore.backtest.dataset import cutoff_days
    from healthscore.backtest.service import run_backtest
    from healthscore.cli.render import print_backtest
    from healthscore.timeutc import utc

    card = scorecard_from(scorecard)
    others = [scorecard_from(c) for c in compare or []]
    cutoffs = {utc(moment) for moment in as_of}
    if until is not None:
        cutoffs.update(cutoff_days(min(cutoffs).date(), utc(until).date(), step_days))
    if not cutoffs:
        raise fail("give at least one --as-of", code=2)
    _, sessions = open_database()
    ordered = sorted(cutoffs)
    with sessions() as session, _progress(len(ordered) * (1 + len(others))) as (step, day):
        result = run_backtest(
            session,
            card,
            ordered,
            horizon_days=horizon_days,
            with_lead_time=lead_time,
            lookback_days=lookback_days,
            rule=alert_rule_from(alert_rule),
            compare=others,
            resamples=resamples,
            progress=step,
            day_progress=day,
        )
    if save:
        from healthscore.backtest.history import save_backtest
        from healthscore.storage.database import transaction

        with transaction(sessions) as session:
            save_backtest(session, result)
    if html:
        from healthscore.backtest.report import write_report

        write_report(html, result)
        errors.print(f"wrote report to {html}")
    if json_output:
        print(json.dumps(result.to_dict(), indent=2))
        return
    print_backtest(console, result)


def alert_rule_from(name: str) -> AlertRule:
    from healthscore.backtest.alert_rules import SEED000_ALERT, PlaybookCases

    if name == "seed000":
        return SEED000_ALERT
    if name == "playbooks":
        return PlaybookCases(playbooks_from(None))
    raise fail(f"--alert-rule must be playbooks or seed000, not {name!r}", code=2)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
