"""``healthscore backtest`` and ``healthscore tune``: does the score predict churn here?

The commands are plain functions attached by ``register(app)``; the helpers they share
with the rest of the CLI (``open_database``, ``scorecard_from``, ``progress_bar``) are
imported when a command runs, so ``healthscore.cli.main`` can import this module at its end
without an import cycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID
from rich.table import Table

from healthscore.backtest.dataset import (
    LABEL_SLACK,
    WARMUP_DAYS,
    cutoff_days,
    data_span,
)
from healthscore.backtest.evaluate import AucResult
from healthscore.backtest.lead_time import (
    DEFAULT_LOOKBACK_DAYS,
    SEED000_ALERT,
    AlertRule,
    PlaybookAlert,
)
from healthscore.backtest.service import BacktestResult, jsonable, run_backtest
from healthscore.backtest.tune import TuningError, TuningResult, tune, write_scorecard
from healthscore.scoring.service import utc
from healthscore.storage.rollups import midnight

console = Console()

ScorecardOption = Annotated[
    str | None,
    typer.Option(
        "--scorecard",
        help="Bundled scorecard name (default, seed000) or a YAML path. "
        "Env: HEALTHSCORE_SCORECARD.",
        show_default=False,
    ),
]
HorizonOption = Annotated[
    int,
    typer.Option(
        "--horizon-days", min=1, max=365, help="Churn counts if it happens this many days after."
    ),
]
StepOption = Annotated[
    int, typer.Option("--step-days", min=1, max=365, help="Days between cut-offs in a range.")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON instead of tables.")
]
ResamplesOption = Annotated[
    int,
    typer.Option(
        "--resamples",
        min=0,
        max=100_000,
        help="Bootstrap resamples for the AUC interval (0: none).",
    ),
]
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", help="Also write a self-contained HTML report to this file."),
]


def _auc_text(result: AucResult) -> str:
    if result.auc is None:
        return f"n/a: {result.reason}" if result.reason else "n/a"
    if result.ci_low is None or result.ci_high is None:
        return f"{result.auc:.3f}"
    return f"{result.auc:.3f} [{result.ci_low:.3f}-{result.ci_high:.3f}]"


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}%}"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


@contextmanager
def _progress(cutoffs: int) -> Iterator[tuple[Callable[[str], None], Callable[[int, int], None]]]:
    """Step and day callbacks driving progress bars on stderr (stdout stays clean for JSON)."""
    from healthscore.cli.main import progress_bar

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
            help="Cut-off (UTC): score with data before it, label churn after it. Repeatable.",
        ),
    ],
    until: Annotated[
        datetime | None,
        typer.Option(help="With --as-of: a cut-off every --step-days from the first to this."),
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
            help="Lead time: seed000 (critical, or at_risk and declining) or playbooks "
            "(the configured playbooks' score and tier conditions).",
        ),
    ] = "seed000",
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
    from healthscore.cli.main import errors, fail, open_database, scorecard_from

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


def print_backtest(out: Console, result: BacktestResult) -> None:
    """The backtest as Rich tables, most important first."""
    ev = result.evaluation
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    headline = Table(title=f"Backtest of {result.scorecard}, horizon {result.horizon_days} days")
    headline.add_column("measure")
    headline.add_column("value", justify="right")
    headline.add_column("what it means")
    headline.add_row(
        "cut-offs",
        str(len(result.cutoffs)),
        ", ".join(f"{c.as_of:%Y-%m-%d}" for c in result.cutoffs),
    )
    headline.add_row(
        "account snapshots", str(ev.accounts), f"{ev.churned} churned ({_pct(ev.churn_rate)})"
    )
    headline.add_row(
        "ROC AUC [95% CI]",
        _auc_text(ev.roc_auc),
        "chance a churner scored below a retained account (0.5 = coin flip)",
    )
    headline.add_row("PR AUC", _num(ev.pr_auc, 3), f"vs {_pct(ev.churn_rate)} for a random list")
    lead = result.lead_time
    if lead:
        headline.add_row(
            "median lead time",
            "n/a" if lead.median_lead_days is None else f"{lead.median_lead_days:.0f} days",
            f"first alert → churn, alerted churners ({lead.rule}: {lead.rule_description})",
        )
        headline.add_row(
            "churners alerted", _pct(lead.share_alerted), f"of {len(lead.churners)} churners"
        )
        headline.add_row(
            f"alerted ≥ {lead.early_days} days early",
            _pct(lead.share_early),
            f"of {lead.churners_observed_early} churners watched ≥ {lead.early_days} days",
        )
        headline.add_row(
            "alert precision",
            _pct(lead.precision),
            f"{lead.alerted_then_churned} of {lead.alerted_accounts} alerted accounts churned "
            f"within {lead.horizon_days} days (base rate {_pct(lead.base_rate)})",
        )
    headline.add_row("run time", f"{result.seconds:.1f}s", "")
    out.print(headline)

    tiers = Table(title="Churn by tier at the cut-off")
    for column in ("tier", "accounts", "churned", "churn rate", "lift"):
        tiers.add_column(column, justify="left" if column == "tier" else "right")
    for t in ev.by_tier:
        tiers.add_row(t.tier, str(t.accounts), str(t.churned), _pct(t.rate), _num(t.lift) + "x")
    out.print(tiers)

    cuts = Table(title="Flagging a tier or worse")
    for column in ("flag", "flagged", "precision", "recall"):
        cuts.add_column(column, justify="left" if column == "flag" else "right")
    for cut in ev.tier_cutoffs:
        cuts.add_row(cut.label, str(cut.flagged), _pct(cut.precision), _pct(cut.recall))
    out.print(cuts)

    deciles = Table(title="Churn by score decile (1 = lowest scores)")
    for column in ("decile", "scores", "accounts", "churned", "churn rate", "lift"):
        deciles.add_column(column, justify="right")
    for d in ev.by_decile:
        deciles.add_row(
            str(d.decile),
            f"{d.min_score:.0f}-{d.max_score:.0f}",
            str(d.accounts),
            str(d.churned),
            _pct(d.rate),
            _num(d.lift) + "x",
        )
    out.print(deciles)

    signals = Table(title="Each signal on its own (low value ⇒ churn)")
    for column in ("signal", "AUC", "accounts with data"):
        signals.add_column(column, justify="left" if column == "signal" else "right")
    for s in ev.signals:
        signals.add_row(s.name, _num(s.auc, 3), _pct(s.coverage, 0))
    out.print(signals)

    if len(result.cutoffs) > 1:
        per_cutoff = Table(title="Each cut-off")
        for column in ("as of", "accounts", "churned", "ROC AUC", "horizon observed"):
            per_cutoff.add_column(column, justify="left" if column == "as of" else "right")
        for c in result.cutoffs:
            per_cutoff.add_row(
                f"{c.as_of:%Y-%m-%d}",
                str(c.accounts),
                str(c.churned),
                _num(c.auc, 3),
                "yes" if c.labels_complete else "no",
            )
        out.print(per_cutoff)

    if result.comparisons:
        compared = Table(title="Scorecards on the same cut-offs")
        for column in ("scorecard", "ROC AUC [95% CI]", "PR AUC"):
            compared.add_column(column, justify="left" if column == "scorecard" else "right")
        for comparison in result.comparisons:
            compared.add_row(
                comparison.scorecard, _auc_text(comparison.roc_auc), _num(comparison.pr_auc, 3)
            )
        out.print(compared)
    if lead:
        for note in lead.notes:
            out.print(f"[yellow]note:[/] {note}")


def _first_full_day(moment: datetime) -> datetime:
    """Midnight at or after ``moment``."""
    day = midnight(moment.date())
    return day if day >= moment else day + timedelta(days=1)


def tune_command(
    train_until: Annotated[
        datetime, typer.Option("--train-until", help="Last training cut-off (UTC).")
    ],
    validate_from: Annotated[
        datetime,
        typer.Option(
            "--validate-from",
            help="First validation cut-off; at least one horizon after --train-until.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the tuned scorecard YAML.")],
    train_from: Annotated[
        datetime | None,
        typer.Option(
            "--train-from",
            help=f"First training cut-off (default: {WARMUP_DAYS} days into the data).",
        ),
    ] = None,
    validate_until: Annotated[
        datetime | None,
        typer.Option(
            "--validate-until",
            help="Last validation cut-off (default: the last one whose horizon is observed).",
        ),
    ] = None,
    horizon_days: HorizonOption = 30,
    step_days: StepOption = 7,
    scorecard: ScorecardOption = None,
    resamples: ResamplesOption = 1000,
    json_output: JsonOption = False,
    html: HtmlOption = None,
) -> None:
    """Fit signal weights to this data's churn; compare with the scorecard on later cut-offs.

    Weights are fitted on the training cut-offs only and judged on the validation ones.
    The tuned YAML keeps every signal, threshold and tier: only weights change.
    """
    from healthscore.cli.main import errors, fail, open_database, progress_bar, scorecard_from

    card = scorecard_from(scorecard)
    _, sessions = open_database()
    with sessions() as session:
        span = data_span(session)
        if span.first is None or span.last is None:
            raise fail("the database has no activity, payment, ticket or NPS data to tune on")
        first = (
            utc(train_from)
            if train_from
            else _first_full_day(span.first + timedelta(days=WARMUP_DAYS))
        )
        last_validation = (
            utc(validate_until)
            if validate_until
            else (span.last + LABEL_SLACK - timedelta(days=horizon_days))
        )
        train_at = cutoff_days(first.date(), utc(train_until).date(), step_days)
        validate_at = cutoff_days(utc(validate_from).date(), last_validation.date(), step_days)
        if not train_at:
            raise fail(f"no training cut-off between {first:%Y-%m-%d} and --train-until", code=2)
        if not validate_at:
            raise fail(
                f"no validation cut-off between --validate-from and {last_validation:%Y-%m-%d} "
                f"(the newest data is {span.last:%Y-%m-%d}; each cut-off needs "
                f"{horizon_days} days after it)",
                code=2,
            )
        with progress_bar() as bar:
            task = bar.add_task("tuning", total=len(train_at) + len(validate_at) + 1)
            try:
                result = tune(
                    session,
                    card,
                    train_cutoffs=train_at,
                    validate_cutoffs=validate_at,
                    horizon_days=horizon_days,
                    resamples=resamples,
                    progress=lambda message: bar.update(task, advance=1, description=message),
                )
            except TuningError as error:
                raise fail(str(error)) from error
    header = (
        f"Tuned by `healthscore tune` on {datetime.now().astimezone():%Y-%m-%d} from "
        f"{card.identity}.\nOnly the weights differ from {card.identity}; review them before use."
    )
    write_scorecard(result.tuned, out, header=header)
    errors.print(f"wrote {result.tuned.identity} to {out}")
    if html:
        from healthscore.backtest.report import write_report

        write_report(html, tuning=result, title="Tuning the health score's weights")
        errors.print(f"wrote report to {html}")
    if json_output:
        print(json.dumps(jsonable(result.summary()), indent=2))
        return
    print_tuning(console, result)


def print_tuning(out: Console, result: TuningResult) -> None:
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    table = Table(title=f"ROC AUC: {result.base.identity} vs {result.tuned.identity}")
    for column in ("cut-offs", "snapshots", "churned", result.base.identity, result.tuned.identity):
        table.add_column(column, justify="left" if column == "cut-offs" else "right")
    table.add_row(
        f"training ({_dates(result.train_cutoffs)})",
        str(result.train_accounts),
        str(result.train_churned),
        _auc_text(result.train_default),
        _auc_text(result.train_tuned),
    )
    table.add_row(
        f"validation ({_dates(result.validate_cutoffs)})",
        str(result.validate_accounts),
        str(result.validate_churned),
        _auc_text(result.validate_default),
        _auc_text(result.validate_tuned),
    )
    out.print(table)
    weights = Table(title="Weights")
    for column in ("signal", "group", "before", "after"):
        weights.add_column(column, justify="right" if column in {"before", "after"} else "left")
    for w in result.weights:
        weights.add_row(w.name, w.group, f"{w.default:.4f}", f"{w.tuned:.4f}")
    out.print(weights)
    out.print(f"method: {result.method}")


def _dates(cutoffs: Sequence[datetime]) -> str:
    if len(cutoffs) == 1:
        return f"{cutoffs[0]:%Y-%m-%d}"
    return f"{len(cutoffs)} from {min(cutoffs):%Y-%m-%d} to {max(cutoffs):%Y-%m-%d}"


def alert_rule_from(name: str) -> AlertRule:
    from healthscore.cli.main import fail, playbooks_from

    if name == "seed000":
        return SEED000_ALERT
    if name == "playbooks":
        return PlaybookAlert(playbooks_from(None))
    raise fail(f"--alert-rule must be seed000 or playbooks, not {name!r}", code=2)


def register(app: typer.Typer) -> None:
    """Attach ``backtest`` and ``tune`` to the main CLI."""
    app.command("backtest")(backtest)
    app.command("tune")(tune_command)
