"""``Idempotency-Key`` on the JSON API's writes: a retry gets the first answer again.

Stripe's semantics, for every ``POST``/``PUT``/``PATCH``/``DELETE`` under ``/api/v1`` sent
with the header:

* The first request with a key runs; its answer (status, body, Content-Type) is kept for
  24 hours with the request's fingerprint: method, path and query, the API key, and the
  SHA-256 of the body.
* A retry with the same fingerprint gets that answer again, byte for byte, with
  ``Idempotent-Replayed: true``, and nothing runs a second time.
* The same key with another body, path or method → 422 ``idempotency_key_reused``, and
  nothing runs.
* A retry while the first request still runs → 409 ``idempotency_key_in_use`` with
  ``Retry-After`` (if that first request's process died, the key is free again
  ``HEALTHSCORE_IDEMPOTENCY_CLAIM_SECONDS``, 30 by default, after it started).
* Kept: answers of requests that ran — a 2xx, or a rule the operation found broken (a
  ``DomainError``: 404, 409, 422 of the domain). Not kept, so that the request may be
  corrected and sent again with the same key: refusals before the operation ran
  (authentication, scope, rate limit, validation, malformed JSON) and 5xx.

Keys belong to an API key: two clients may use the same key string. Routes that already
made retries safe keep doing so (``trackEngagement``'s claim of the key, the cases'
``request_key``), which covers a request whose answer could not be stored.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthscore.api.errors import (
    OPERATION_ANSWERED,
    ErrorDetail,
    database_error,
    error_response,
)
from healthscore.api.json_bodies import BODY_METHODS, JSON_API
from healthscore.api.security import presented_key
from healthscore.auth.keys import authenticate
from healthscore.storage import idempotent_requests as repo

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
"""1-255 visible ASCII characters (a UUID, say), as the header's OpenAPI pattern says."""
MAX_KEPT_BYTES = 1024 * 1024
"""Answers larger than this are not kept (the JSON API's writes answer far less)."""


def _claim(
    sessions: sessionmaker[Session],
    presented: str,
    key: str,
    method: str,
    path: str,
    digest: str,
    lease: timedelta,
) -> tuple[repo.Fingerprint, repo.Claim] | None:
    """Claim the key for this request (None: no valid API key; the route answers 401)."""
    with sessions() as session:
        info = authenticate(session, presented)
        if info is None:
            return None
        fingerprint = repo.Fingerprint(info.id, key, method, path, digest)
        outcome = repo.claim(session, fingerprint, datetime.now(UTC), lease=lease)
        session.commit()
        return fingerprint, outcome


def _finish(
    sessions: sessionmaker[Session], fingerprint: repo.Fingerprint, answer: repo.Answer | None
) -> None:
    """Keep ``answer`` for replays, or give the key back (``None``)."""
    with sessions() as session:
        if answer is None:
            repo.release(session, fingerprint)
        else:
            repo.store(session, fingerprint, answer)
        session.commit()


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _refusal(
    status: int, message: str, code: str, *, detail: str | None = None, **headers: str
) -> Response:
    return error_response(
        status,
        message,
        code=code,
        details=[ErrorDetail(field=HEADER, message=detail or message)],
        headers=headers or None,
    )


def _answer_of(outcome: repo.Claim, key: str) -> Response | None:
    """What to answer at once instead of running the request (None: run it)."""
    if isinstance(outcome, repo.Answer):
        headers = {REPLAYED: "true"}
        if outcome.content_type:
            headers["Content-Type"] = outcome.content_type
        return Response(outcome.body, status_code=outcome.status, headers=headers)
    if isinstance(outcome, repo.Reused):
        return _refusal(
            422,
            f"{HEADER} {key!r} was already used for another request ({outcome.method} "
            f"{outcome.path} with another body, or another path); nothing was applied: "
            "use a new key for a new request",
            "idempotency_key_reused",
        )
    if isinstance(outcome, repo.InFlight):
        wait = max(1, math.ceil(outcome.seconds))
        return _refusal(
            409,
            f"a request with {HEADER} {key!r} is still running; retry in {wait} s",
            "idempotency_key_in_use",
            **{"Retry-After": str(wait)},
        )
    return None


def keeps(status: int, *, operation_answered: bool) -> bool:
    """Whether an answer is replayed: a 2xx, or a 4xx of the operation itself (a rule it
    found broken); never a refusal before it ran (401, 403, 415, 422 validation…) or 5xx."""
    return 200 <= status < 300 or (400 <= status < 500 and operation_answered)


class IdempotentReplays:
    """The ASGI middleware applying the rules above (innermost: after the body's size,
    NUL and media-type checks, so a refused body never claims a key)."""

    def __init__(self, app: ASGIApp, *, prefix: str = JSON_API) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in BODY_METHODS
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        key = Headers(scope=scope).get(HEADER)
        presented = presented_key(Request(scope)) if key is not None else None
        if key is None or presented is None:  # no key: nothing to replay; no API key: 401
            await self.app(scope, receive, send)
            return
        if not KEY_PATTERN.fullmatch(key):
            problem = "must be 1-255 visible ASCII characters (no spaces)"
            refusal = _refusal(422, f"{HEADER}: {problem}", "validation_error", detail=problem)
            await refusal(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client is gone: nothing to run, nothing to answer
        sessions: sessionmaker[Session] = scope["app"].state.sessions
        lease = timedelta(seconds=scope["app"].state.settings.idempotency_claim_seconds)
        query = scope.get("query_string", b"").decode("latin-1")
        path = f"{scope['path']}?{query}" if query else scope["path"]
        digest = hashlib.sha256(body).hexdigest()
        try:
            claimed = await run_in_threadpool(
                _claim, sessions, presented, key, scope["method"], path, digest, lease
            )
        except SQLAlchemyError as error:
            await database_error(Request(scope), error)(scope, receive, send)
            return
        replay = _Replay(body, receive)
        if claimed is None:
            await self.app(scope, replay, send)
            return
        fingerprint, outcome = claimed
        early = _answer_of(outcome, key)
        if early is not None:
            await early(scope, receive, send)
            return
        answer = _Recorder(send, scope, sessions, fingerprint)
        try:
            await self.app(scope, replay, answer.send)
        finally:
            await answer.finish()  # if the answer did not end: an error, or it was cut off


class _Replay:
    """The body already read, then whatever the client sends next (a disconnect)."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.body: bytes | None = body
        self.receive = receive

    async def __call__(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self.receive()


class _Recorder:
    """Passes the response on and keeps a copy of it; the answer is stored (or the key
    released) before its last bytes go out, so a retry sent the moment the client has
    the answer finds it."""

    def __init__(
        self,
        send: Send,
        scope: Scope,
        sessions: sessionmaker[Session],
        fingerprint: repo.Fingerprint,
    ) -> None:
        self._send = send
        self._scope = scope
        self._sessions = sessions
        self._fingerprint = fingerprint
        self._finished = False
        self.status = 0
        self.content_type: str | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.content_type = Headers(raw=message.get("headers", [])).get("content-type")
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size <= MAX_KEPT_BYTES:
                self.chunks.append(chunk)
            self.complete = not message.get("more_body", False)
            if self.complete:
                await self.finish()
        await self._send(message)

    def kept(self) -> repo.Answer | None:
        """The answer to keep, if the request ran and it came whole (see ``keeps``)."""
        answered = bool(self._scope.get(OPERATION_ANSWERED))
        if not keeps(self.status, operation_answered=answered):
            return None
        if not self.complete or self.size > MAX_KEPT_BYTES:
            return None
        return repo.Answer(self.status, self.content_type, b"".join(self.chunks))

    async def finish(self) -> None:
        """Store the answer or release the key, once."""
        if self._finished:
            return
        self._finished = True
        kept = self.kept()
        with anyio.CancelScope(shield=True):  # the key must not stay claimed
            try:
                await run_in_threadpool(_finish, self._sessions, self._fingerprint, kept)
            except SQLAlchemyError:
                log.warning("could not record the answer for an Idempotency-Key", exc_info=True)


PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
    "description": "Retry-safe writes (Stripe's semantics): a retry with the same key and "
    "the same request gets the first answer again, with `Idempotent-Replayed: true`, and "
    "is not applied twice; the same key with another body or path gets 422 "
    "`idempotency_key_reused`; while the first request runs, 409 `idempotency_key_in_use`. "
    "Kept 24 hours, per API key.",
}


def document(app: FastAPI) -> None:
    """Publish the header on every write of the JSON API in the OpenAPI document (routes
    that read it themselves declare it already)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(JSON_API):
                continue
            for method, operation in operations.items():
                if method.upper() not in BODY_METHODS:
                    continue
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name", "").lower() == HEADER.lower() for p in parameters):
                    parameters.append(dict(PARAMETER))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
