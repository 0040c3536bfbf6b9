"""Refuse text no database can store: NUL characters in bodies, paths and query strings.

PostgreSQL rejects U+0000 in text and JSON; rather than a 500 deep inside a transaction
(or silently altered data), such requests get a 422 before any route runs. Segment's
routes check their own bodies (they may be gzipped or declared text/plain) and answer
400 ``invalid_message``, as Segment answers what it refuses.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthscore.api.errors import ErrorDetail, error_response

JSON_NUL = b"\\u0000"
SEGMENT = "/v1/"


def contains_nul(value: Any) -> bool:
    """True if any string (or key) inside a parsed JSON value contains U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


def json_has_nul(body: bytes) -> bool:
    if JSON_NUL not in body and b"\x00" not in body:  # the common case: no parsing at all
        return False
    try:
        return contains_nul(orjson.loads(body))
    except orjson.JSONDecodeError:
        return False  # not JSON: the route answers with its own parse error


class RejectNulCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await self._reject(scope, receive, send, "url")
            return
        headers = dict(scope.get("headers") or [])
        compressed = headers.get(b"content-encoding", b"identity") not in (b"", b"identity")
        segment = scope["path"].startswith(SEGMENT)
        json_body = headers.get(b"content-type", b"").startswith(b"application/json")
        if compressed or segment or not json_body:
            # Segment's routes check their bodies once inflated (gzip), whatever they are
            # declared as (analytics.js sends text/plain), and answer 400 like Segment.
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # disconnected: let the app see it
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if json_has_nul(body):
            await self._reject(scope, receive, send, "body")
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, where: str) -> None:
        message = "text may not contain NUL (U+0000) characters"
        response = error_response(
            422, f"{where}: {message}", details=[ErrorDetail(field=where, message=message)]
        )
        await response(scope, receive, send)
