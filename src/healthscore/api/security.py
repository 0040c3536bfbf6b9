"""Authentication for every route: an API key with the scope the route needs.

Keys travel as ``Authorization: Bearer <key>``, ``X-API-Key: <key>`` or, for Segment's
HTTP API, Basic auth with the key as user name and an empty password. No or unknown or
revoked key → 401; a valid key without the route's scope → 403.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from healthscore.api.errors import ApiError
from healthscore.api.rate_limits import RateLimiter
from healthscore.auth.keys import KeyInfo, authenticate
from healthscore.auth.scopes import Scope

bearer = HTTPBearer(auto_error=False, description="An API key: `Bearer hs_…`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="healthscore", Basic realm="healthscore"'}


def presented_key(request: Request) -> str | None:
    """The key in the request, whichever of the three transports carried it."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return request.headers.get("x-api-key") or None


def authorize(session: Session, key: str | None, scope: Scope) -> KeyInfo:
    """The key's identity if it is active and allowed ``scope``; else 401 or 403.

    Looks the key up in ``session`` on every call, so a revoked key is refused from the
    next request on. (``KeyCheck`` may skip the lookup for a key ``TrustedKeys`` holds.)
    """
    if key is None:
        raise ApiError(401, "an API key is required", headers=CHALLENGE)
    return admitted(authenticate(session, key), scope)


def admitted(info: KeyInfo | None, scope: Scope) -> KeyInfo:
    """``info`` if it is a key allowed ``scope``; else 401 (no such active key) or 403."""
    if info is None:
        raise ApiError(401, "unknown or revoked API key", headers=CHALLENGE)
    if not info.scope.allows(scope):
        raise ApiError(403, f"this key has scope {info.scope.value!r}; {scope.value!r} needed")
    return info


class TrustedKeys:
    """Keys this process has found active in the database, each with the keys generation
    (``ScoreCache.cached_json``) it was checked in: while Redis reports the same generation and
    for at most ``max_age`` seconds, the hottest reads admit such a key without a database
    round trip (at 200 requests/s, that lookup and the pool's ping were about a quarter
    of an API process's busy time). ``healthscore keys revoke`` moves the generation on,
    so every process checks again at once; a revocation made any other way (SQL, or while
    Redis was unreachable) is honoured within ``max_age``. The generation is read before
    the database is, so a key checked just before a revocation is trusted in the
    generation the revocation ends."""

    LIMIT = 10_000
    """Entries kept at most; past it the map starts afresh (keys are few in practice)."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._known: dict[bytes, tuple[KeyInfo, int, float]] = {}

    @staticmethod
    def _digest(presented: str) -> bytes:  # the map never holds a secret
        return hashlib.sha256(presented.encode()).digest()

    def get(self, presented: str, generation: int) -> KeyInfo | None:
        entry = self._known.get(self._digest(presented))
        if entry is None:
            return None
        info, checked_in, checked_at = entry
        if checked_in != generation or time.monotonic() - checked_at > self.max_age:
            return None
        return info

    def remember(self, presented: str, info: KeyInfo, generation: int) -> None:
        if len(self._known) >= self.LIMIT:
            self._known.clear()
        self._known[self._digest(presented)] = (info, generation, time.monotonic())


@dataclass(frozen=True)
class KeyCheck:
    """The key a request presented and the scope its route needs; calling it with a
    session is what admits the request. ``require`` calls it in a dependency; the hottest
    reads call it first thing in their one thread-pool hop (``scores.answer_cached``), so
    they cost one hop instead of two, the dependency's and the route's. Given the keys
    generation Redis reports, a key in ``trusted`` is admitted without the database."""

    presented: str | None
    scope: Scope
    trusted: TrustedKeys | None = None
    limiter: RateLimiter | None = None

    def __call__(self, session: Session, *, keys_generation: int | None = None) -> KeyInfo:
        return self._within_limit(self._admit(session, keys_generation))

    def _admit(self, session: Session, keys_generation: int | None) -> KeyInfo:
        if self.presented is None or self.trusted is None or keys_generation is None:
            return authorize(session, self.presented, self.scope)
        info = self.trusted.get(self.presented, keys_generation)
        if info is None:
            info = authenticate(session, self.presented)
            if info is not None:
                self.trusted.remember(self.presented, info, keys_generation)
        return admitted(info, self.scope)

    def _within_limit(self, info: KeyInfo) -> KeyInfo:
        """Counted after the key is admitted, so nobody can spend another key's quota by
        presenting its public prefix."""
        exceeded = self.limiter.hit(info) if self.limiter else None
        if exceeded:
            raise ApiError(
                429,
                exceeded.message,
                code="rate_limited",
                headers={"Retry-After": str(exceeded.retry_after)},
            )
        return info


def deferred(scope: Scope) -> Callable[..., Awaitable[KeyCheck]]:
    """A dependency that only reads the presented key (no I/O, so ``async``: no hop);
    the route runs the returned check itself."""

    async def check(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        _header: Annotated[str | None, Depends(api_key_header)],
    ) -> KeyCheck:
        state = request.app.state
        return KeyCheck(presented_key(request), scope, state.trusted_keys, state.rate_limiter)

    return check


def require(scope: Scope) -> Callable[..., KeyInfo]:
    """A dependency that admits keys allowed ``scope`` (admin keys are allowed everything)."""

    presented = Depends(deferred(scope))  # a default: annotations here are strings

    def admit(request: Request, check: KeyCheck = presented) -> KeyInfo:
        # Connects only if a key is given; autocommit: the check is one statement.
        with request.app.state.read_sessions() as session:
            return check(session)

    return admit


ReadKey = Annotated[KeyInfo, Depends(require(Scope.read))]
ReadKeyCheck = Annotated[KeyCheck, Depends(deferred(Scope.read))]
IngestKey = Annotated[KeyInfo, Depends(require(Scope.ingest))]
AdminKey = Annotated[KeyInfo, Depends(require(Scope.admin))]
