"""API keys: created once, shown once, stored as a hash, checked in constant time.

A key looks like ``hs_<prefix>_<secret>``. The prefix is public and finds the row; the
SHA-256 of the whole key must match. Scopes nest: ``admin`` may do everything, ``read``
and ``ingest`` only their own thing, so a tracking key leaked from a front-end cannot
read revenue data.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from healthscore.auth.scopes import Scope as Scope  # keys are issued with one; re-exported
from healthscore.storage import models as m

KEY_PREFIX = "hs_"
TOUCH_EVERY = timedelta(minutes=5)
"""How stale ``last_used_at`` may get before a request refreshes it."""


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: ``secret`` is the only copy that will ever exist."""

    id: int
    name: str
    scope: Scope
    prefix: str
    secret: str


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    scope: Scope
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class UnknownKeyError(LookupError):
    pass


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, scope: Scope, name: str = "") -> IssuedKey:
    """Add a key (flushed, not committed) and return its only plaintext copy."""
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = m.ApiKey(
        prefix=prefix,
        key_hash=_digest(secret),
        name=name,
        scope=scope.value,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return IssuedKey(row.id, name, scope, prefix, secret)


class _KeyRow(Protocol):
    """What ``_info`` reads: an ``ApiKey`` or a row of ``_BY_PREFIX``."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def prefix(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def last_used_at(self) -> datetime | None: ...


def _info(row: _KeyRow, last_used_at: datetime | None = None) -> KeyInfo:
    """A key's public description, from its ORM row or a row of ``_BY_PREFIX``."""
    return KeyInfo(
        row.id,
        row.name,
        Scope(row.scope),
        row.prefix,
        row.created_at,
        row.revoked_at,
        last_used_at or row.last_used_at,
    )


def list_keys(session: Session) -> list[KeyInfo]:
    return [_info(row) for row in session.scalars(select(m.ApiKey).order_by(m.ApiKey.id))]


def live_key(session: Session, key_id: int) -> KeyInfo | None:
    """The key with this id, unless it does not exist or was revoked (a dashboard session
    re-checks its key on every request)."""
    row = session.get(m.ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    return _info(row)


def revoke_key(session: Session, key_id_or_prefix: str) -> KeyInfo:
    """Revoke by numeric id or by prefix; revoking twice is harmless."""
    # A prefix is hex and may be all digits, so it is tried before the numeric id.
    row = session.scalars(select(m.ApiKey).where(m.ApiKey.prefix == key_id_or_prefix)).first()
    if row is None and key_id_or_prefix.isdigit() and len(key_id_or_prefix) < 12:
        row = session.get(m.ApiKey, int(key_id_or_prefix))
    if row is None:
        raise UnknownKeyError(f"no API key with id or prefix {key_id_or_prefix!r}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    session.flush()
    return _info(row)


_BY_PREFIX = select(
    m.ApiKey.id,
    m.ApiKey.name,
    m.ApiKey.scope,
    m.ApiKey.prefix,
    m.ApiKey.created_at,
    m.ApiKey.revoked_at,
    m.ApiKey.last_used_at,
    m.ApiKey.key_hash,
).where(m.ApiKey.prefix == bindparam("prefix"))
"""Built once and run on the session's connection: every request checks a key, and
building, keying and loading an ORM query each time cost more than the query itself."""


def authenticate(session: Session, presented: str) -> KeyInfo | None:
    """The active key matching ``presented``, or None (unknown, malformed or revoked)."""
    if not presented.startswith(KEY_PREFIX):
        return None
    prefix, _, rest = presented[len(KEY_PREFIX) :].partition("_")
    if not prefix or not rest:
        return None
    row = session.connection().execute(_BY_PREFIX, {"prefix": prefix}).first()
    # Compare even when there is no row, so timing does not reveal which prefixes exist.
    expected = row.key_hash if row is not None else _digest("")
    if not hmac.compare_digest(expected, _digest(presented)) or row is None:
        return None
    if row.revoked_at is not None:
        return None
    last_used_at = row.last_used_at
    now = datetime.now(UTC)
    if last_used_at is None or now - last_used_at > TOUCH_EVERY:
        # Coarse on purpose: a write per request would cost more than the lookup.
        session.execute(update(m.ApiKey).where(m.ApiKey.id == row.id).values(last_used_at=now))
        session.commit()
        last_used_at = now
    return _info(row, last_used_at)
