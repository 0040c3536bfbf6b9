"""Engines, sessions and schema migrations for SQLite (embedded) and PostgreSQL.

Dialect differences live here and in ``dialect.py``; nothing else branches on the database.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the API read while a rescore writes; foreign keys keep deletes honest."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache for set-based scoring
    # temp_store stays FILE: the GROUP BY of a 100,000-account rescore spills a few hundred
    # MiB of temporary B-tree, which in memory pushed the process past 1 GiB.
    cursor.close()


def _json_dumps(value: Any) -> str:
    """orjson: JSON columns of a 100k-account rescore encode several times faster. An
    integer beyond 64 bits (valid JSON, in a client's free-form traits or metadata) is
    beyond orjson: the standard library writes it."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite files get WAL and their parent folder created."""
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.pop("pool_size", None)  # SQLite pools its file connections itself
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", functools.partial(_ping_if_idle, engine))
    return engine


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled PostgreSQL connection idle in the pool longer than this is pinged before use."""


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(
    engine: Engine, dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any
) -> None:
    """Pessimistic disconnect handling, paid only where it can matter: a connection that
    sat in the pool for a while (the server restarted, a proxy or firewall dropped it) is
    pinged and, if dead, replaced before use (``DisconnectionError`` makes the pool
    connect anew). One handed back a moment ago is not: SQLAlchemy's ``pool_pre_ping``
    pings on every checkout, a round trip per request, about a fifth of a Segment
    batch's time in the API process. A connection that died in that moment fails its
    statement, the pool drops it (and the others it had), and the request answers 503
    like any unavailable database; the next one connects anew."""
    checked_in = record.info.get("checked_in")
    if checked_in is None or time.monotonic() - checked_in < PING_AFTER_IDLE_SECONDS:
        return  # just connected, or in use a moment ago
    try:
        engine.dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise DisconnectionError(f"pooled connection found dead: {error}") from error


def transient(error: DBAPIError) -> bool:
    """A failure that says nothing about the work and that running it again resolves:
    PostgreSQL aborted it to break a deadlock (40P01) or a serialization conflict (40001),
    or SQLite could not take its write lock in time (``database is locked``)."""
    state = getattr(error.orig, "sqlstate", None)
    return state in {"40P01", "40001"} or "database is locked" in str(error.orig)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for the API's hottest reads (key checks, cached score reads), each a
    statement or two that needs no transaction: in autocommit mode a request sends no
    BEGIN before and no ROLLBACK after, and psycopg keeps the statements it has prepared
    (a rollback forgets them), so PostgreSQL stops parsing and planning them anew."""
    return sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits when the block succeeds, rolls everything back otherwise."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (``alembic upgrade``), on either database."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str:
    """The newest migration's revision: migrations are numbered ``NNNN_name.py`` with
    revision ``NNNN``, one after the other (tests check the chain)."""
    return max(path.name[:4] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))


def upgrade_if_behind(engine: Engine) -> None:
    """``upgrade`` unless the database is already at the newest migration: a command on
    an up-to-date database then skips loading Alembic and every migration script."""
    try:
        with engine.connect() as connection:
            current = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DBAPIError:  # no alembic_version table yet: a new database
        current = []
    if [row[0] for row in current] != [head_revision()]:
        upgrade(engine)
