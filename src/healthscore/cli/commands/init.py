"""``healthscore init``: create or migrate the database."""

from __future__ import annotations

import typer

from healthscore.cli.context import console, open_database


def init() -> None:
    """Create or migrate the database (``alembic upgrade head``)."""
    engine, _ = open_database()
    console.print(f"database ready: {engine.url.render_as_string(hide_password=True)}")


def register(app: typer.Typer) -> None:
    app.command()(init)
