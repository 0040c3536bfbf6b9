"""``healthscore customers delete|export``: erasure and data access requests for one account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from healthscore.cli.context import console, errors, fail, invalidate_cache, open_database


def customers_delete(
    customer_id: Annotated[str, typer.Argument(help="Account id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Erase an account and all its personal data (erasure requests)."""
    from healthscore.accounts.service import UnknownAccountError, delete_customer
    from healthscore.storage.database import transaction

    if not yes:
        raise fail("this deletes the account and all its data; pass --yes to confirm", code=2)
    _, sessions = open_database()
    try:
        with transaction(sessions) as session:
            counts = delete_customer(session, customer_id)
    except UnknownAccountError as error:
        raise fail(str(error)) from error
    invalidate_cache()
    removed = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
    console.print(f"deleted {customer_id}: {removed}")


def customers_export(
    customer_id: Annotated[str, typer.Argument(help="Account id.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
    ] = None,
) -> None:
    """Everything stored about one account, as JSON (data access requests)."""
    from healthscore.accounts.service import UnknownAccountError, export_customer

    _, sessions = open_database()
    with sessions() as session:
        try:
            data = export_customer(session, customer_id)
        except UnknownAccountError as error:
            raise fail(str(error)) from error
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        errors.print(f"wrote {output}")
    else:
        console.print_json(text)


def register(app: typer.Typer) -> None:
    customers_app = typer.Typer(help="Accounts: erase or export one.", no_args_is_help=True)
    customers_app.command("delete")(customers_delete)
    customers_app.command("export")(customers_export)
    app.add_typer(customers_app, name="customers")
