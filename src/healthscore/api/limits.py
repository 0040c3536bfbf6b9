"""Request body size limits, enforced while the body streams in.

Checking ``Content-Length`` alone is not enough (chunked uploads have none), so the
limit is applied to the bytes actually received, before any route parses them.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthscore.api.errors import error_response

SEGMENT_BATCH_BYTES = 500 * 1024  # Segment's documented limit for /v1/batch
SEGMENT_CALL_BYTES = 32 * 1024  # …and for single calls


class BodyTooLarge(HTTPException):
    """An HTTP error, so FastAPI's body parsing passes it through as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def limit_for(path: str, default: int) -> int:
    if path == "/v1/batch":
        return min(default, SEGMENT_BATCH_BYTES)
    if path.startswith("/v1/"):
        return min(default, SEGMENT_CALL_BYTES)
    return default


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"], self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(413, f"request body larger than {limit} bytes")
        await response(scope, receive, send)
