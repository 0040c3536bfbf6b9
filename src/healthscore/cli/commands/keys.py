"""``healthscore keys create|list|revoke``: API keys, shown once and stored as hashes."""

from __future__ import annotations

from typing import Annotated

import typer

from healthscore.auth.scopes import Scope
from healthscore.cli.context import console, errors, fail, open_database


def keys_create(
    scope: Annotated[
        Scope, typer.Option(help="read: GET routes; ingest: tracking and data; admin: all.")
    ],
    name: Annotated[str, typer.Option(help="What the key is for.", max=255)] = "",
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from healthscore.auth.keys import create_key
    from healthscore.storage.database import transaction

    _, sessions = open_database()
    with transaction(sessions) as session:
        issued = create_key(session, scope=scope, name=name)
    errors.print(f"created {scope.value} key #{issued.id} {name!r}; it is shown only once:")
    console.print(issued.secret, soft_wrap=True)


def keys_list() -> None:
    """List keys (prefix, scope, name, state); secrets are never shown again."""
    from healthscore.auth.keys import list_keys
    from healthscore.cli import render

    _, sessions = open_database()
    with sessions() as session:
        console.print(render.keys_table(list_keys(session)))


def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix.")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from healthscore.auth.keys import UnknownKeyError, revoke_key
    from healthscore.settings import Settings
    from healthscore.storage.cache import ScoreCache
    from healthscore.storage.database import transaction

    _, sessions = open_database()
    try:
        with transaction(sessions) as session:
            info = revoke_key(session, key)
    except UnknownKeyError as error:
        raise fail(str(error)) from error
    console.print(f"revoked key #{info.id} ({info.prefix})")
    settings = Settings()
    cache = ScoreCache.for_settings(settings)
    if not cache.invalidate_keys():
        console.print(
            "[yellow]Redis unreachable: API processes may still accept this key for up to "
            f"{settings.cache_ttl_seconds} s[/]"
        )
    cache.close()


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
    keys_app.command("create")(keys_create)
    keys_app.command("list")(keys_list)
    keys_app.command("revoke")(keys_revoke)
    app.add_typer(keys_app, name="keys")
