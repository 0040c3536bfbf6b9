"""``healthscore``: set up, load, score and inspect from the terminal.

This module builds the Typer app (the ``healthscore`` console script) and attaches the
commands from ``healthscore.cli.commands``; what they share lives in ``healthscore.cli.context``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from typer import _click as click  # Typer vendors its click: the Context its groups take
from typer.core import TyperGroup

from healthscore.cli.commands import (
    backtest,
    backup,
    calibrations,
    customers,
    demo,
    doctor,
    export,
    importing,
    init,
    keys,
    playbooks,
    scoring,
    sentiment,
    serve,
    transfer,
    tune,
)
from healthscore.cli.context import errors

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("healthscore.cli")


def database_problem(error: SQLAlchemyError) -> str:
    """One line saying what the database refused and that nothing was written (the
    command's transaction rolled back), without the driver's traceback or SQL."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    from healthscore.settings import Settings

    cause = str(getattr(error, "orig", None) or error).strip().splitlines()
    detail = cause[0] if cause else type(error).__name__
    if isinstance(error, IntegrityError):
        return f"the database refused the change: {detail}; nothing was written"
    if isinstance(error, OperationalError):
        url = Settings().database_url
        shown = url.split("@")[-1] if "@" in url else url
        return f"cannot use the database ({shown}): {detail}"
    return f"database error ({type(error).__name__}): {detail}; nothing was written"


class Commands(TyperGroup):
    """The top-level group: a database error in any command ends it with one clear line
    on stderr and exit code 1; the context (command, statement) goes to the log."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError  # not needed for --help

        try:
            return super().invoke(ctx)
        except SQLAlchemyError as error:
            statement = error.statement if isinstance(error, DBAPIError) else None
            log.error(
                "database error in `healthscore %s`: %s",
                ctx.invoked_subcommand,  # not argv: a database URL may hold a password
                type(error).__name__,
                extra={"statement": (statement or "")[:300]},
            )
            log.debug("database error details", exc_info=error)
            errors.print(
                f"[bold red]error:[/] {escape(database_problem(error))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=Commands,
    help="Customer health scores that predict churn: explainable, as of any moment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def configure_logging() -> None:
    """Logs go to stderr at ``HEALTHSCORE_LOG_LEVEL`` (secrets and keys are never logged)."""
    from healthscore.observability.logs import configure as configure_logs
    from healthscore.settings import Settings

    settings = Settings()
    configure_logs(settings.log_level, settings.log_format)


# In the order ``healthscore --help`` lists them (command groups come after commands).
for commands in (init, scoring, importing, demo, doctor, serve, backup, transfer, backtest, tune):
    commands.register(app)
for group in (export, customers, sentiment, playbooks, keys, calibrations):
    group.register(app)
