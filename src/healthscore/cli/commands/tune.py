"""``healthscore tune``: fit signal weights to this data's churn, judged on later cut-offs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from healthscore.backtest.defaults import LABEL_SLACK, METHODS, WARMUP_DAYS, Method
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
    invalidate_cache,
    open_database,
    progress_bar,
    scorecard_from,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from healthscore.backtest.tune import TuningResult


def _first_full_day(moment: datetime) -> datetime:
    """Midnight at or after ``moment``."""
    from healthscore.storage.rollups import midnight

    day = midnight(moment.date())
    return day if day >= moment else day + timedelta(days=1)


def tune_command(
    train_until: Annotated[
        datetime,
        typer.Option("--train-until", formats=MOMENT_FORMATS, help="Last training cut-off (UTC)."),
    ],
    validate_from: Annotated[
        datetime,
        typer.Option(
            "--validate-from",
            formats=MOMENT_FORMATS,
            help="First validation cut-off; at least one horizon after --train-until.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the tuned scorecard YAML.")],
    train_from: Annotated[
        datetime | None,
        typer.Option(
            "--train-from",
            formats=MOMENT_FORMATS,
            help=f"First training cut-off (default: {WARMUP_DAYS} days into the data).",
        ),
    ] = None,
    validate_until: Annotated[
        datetime | None,
        typer.Option(
            "--validate-until",
            formats=MOMENT_FORMATS,
            help="Last validation cut-off (default: the last one whose horizon is observed).",
        ),
    ] = None,
    horizon_days: HorizonOption = 30,
    step_days: StepOption = 7,
    scorecard: ScorecardOption = None,
    resamples: ResamplesOption = 1000,
    json_output: JsonOption = False,
    html: HtmlOption = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="Save the churn-probability calibrations (30 and 90 days) of both scorecards "
            "to the database; validated ones are shown beside scores of their scorecard.",
        ),
    ] = False,
    calibration_method: Annotated[
        str,
        typer.Option(
            "--calibration-method",
            help="sigmoid (Platt scaling: two parameters, robust with few churners) or "
            "isotonic (any non-increasing shape; needs many churners).",
        ),
    ] = "sigmoid",
) -> None:
    """Fit signal weights and tier cut-offs to this data's churn, and calibrate the score
    to a probability of churn; judge all of it on later cut-offs.

    Everything is fitted on the training cut-offs only and judged on the validation ones.
    The tuned YAML keeps every signal and threshold: weights change, and tier cut-offs when
    the proposed ones keep churn falling from critical to healthy on validation.
    """
    from healthscore.backtest.dataset import cutoff_days, data_span
    from healthscore.backtest.service import jsonable
    from healthscore.backtest.tune import TuningError, tune, write_scorecard
    from healthscore.cli.render import print_tuning
    from healthscore.timeutc import utc

    method = _method(calibration_method)
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
            task = bar.add_task("tuning", total=len(train_at) + len(validate_at) + 2)
            try:
                result = tune(
                    session,
                    card,
                    train_cutoffs=train_at,
                    validate_cutoffs=validate_at,
                    horizon_days=horizon_days,
                    resamples=resamples,
                    calibration_method=method,
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
    if calibrate:
        _save_calibrations(sessions, result)
    if html:
        from healthscore.backtest.report import write_report

        write_report(html, tuning=result, title="Tuning the health score's weights")
        errors.print(f"wrote report to {html}")
    if json_output:
        print(json.dumps(jsonable(result.summary()), indent=2))
        return
    print_tuning(console, result)


def _method(name: str) -> Method:
    for method in METHODS:
        if method == name:
            return method
    raise fail(f"--calibration-method must be sigmoid or isotonic, not {name!r}", code=2)


def _save_calibrations(sessions: sessionmaker[Session], result: TuningResult) -> None:
    from healthscore.backtest.calibrations import save_calibrations
    from healthscore.storage.database import transaction

    fitted = [a.calibration for a in result.calibrations if a.calibration is not None]
    with transaction(sessions) as session:
        ids = save_calibrations(session, fitted)
    invalidate_cache()  # cached scores now may carry a probability
    validated = sum(c.validated for c in fitted)
    errors.print(
        f"saved {len(ids)} calibration(s) ({validated} validated): "
        f"{', '.join(str(i) for i in ids) or 'none'}; see `healthscore calibrations list`"
    )


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_command)
