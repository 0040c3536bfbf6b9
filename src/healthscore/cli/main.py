"""``healthscore``: set up, load, score and inspect from the terminal.

This module builds the Typer app (the ``healthscore`` console script) and attaches the
commands from ``healthscore.cli.commands``; what they share lives in ``healthscore.cli.context``.
"""

from __future__ import annotations

import typer

from healthscore.cli.commands import (
    backtest,
    backup,
    customers,
    demo,
    export,
    importing,
    init,
    keys,
    playbooks,
    scoring,
    serve,
    tune,
)
from healthscore.observability.logs import configure as configure_logs
from healthscore.settings import Settings

app = typer.Typer(
    help="Customer health scores that predict churn: explainable, as of any moment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def configure_logging() -> None:
    """Logs go to stderr at ``HEALTHSCORE_LOG_LEVEL`` (secrets and keys are never logged)."""
    settings = Settings()
    configure_logs(settings.log_level, settings.log_format)


# In the order ``healthscore --help`` lists them (command groups come after commands).
for commands in (init, scoring, importing, demo, serve, backup, backtest, tune):
    commands.register(app)
for group in (export, customers, playbooks, keys):
    group.register(app)
