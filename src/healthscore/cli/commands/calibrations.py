"""``healthscore calibrations list|show``: the saved score → churn-probability mappings."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from healthscore.cli.context import JsonOption, console, fail, open_database


def calibrations_list(
    scorecard: Annotated[
        str | None,
        typer.Option("--scorecard", help="Only this scorecard's (identity, e.g. default@v3)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """Saved calibrations, newest first: scorecard, horizon, Brier, validated or not."""
    from healthscore.backtest.calibrations import list_calibrations
    from healthscore.cli.render_calibration import calibrations_table

    _, sessions = open_database()
    with sessions() as session:
        found = list_calibrations(session, scorecard=scorecard, limit=limit)
    if json_output:
        from healthscore.backtest.service import jsonable  # scikit-learn: only for JSON

        print(json.dumps(jsonable(found), indent=2))
        return
    console.print(calibrations_table(found))


def calibrations_show(
    calibration_id: Annotated[int, typer.Argument(help="Calibration id (see list).")],
    json_output: JsonOption = False,
) -> None:
    """One calibration: its periods, Brier scores, reliability bins and mapping."""
    from healthscore.backtest.calibrations import get_calibration
    from healthscore.cli.render_calibration import print_calibration

    _, sessions = open_database()
    with sessions() as session:
        found = get_calibration(session, calibration_id)
    if found is None:
        raise fail(f"no calibration {calibration_id}")
    if json_output:
        from healthscore.backtest.service import jsonable  # scikit-learn: only for JSON

        print(json.dumps(jsonable(found), indent=2))
        return
    print_calibration(console, found)


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Churn-probability calibrations saved by `healthscore tune --calibrate`.",
        no_args_is_help=True,
    )
    group.command("list")(calibrations_list)
    group.command("show")(calibrations_show)
    app.add_typer(group, name="calibrations")
