"""Request bodies must be JSON, and a body that is not gets an answer a person can act on.

* **415** ``unsupported_media_type``: a write to ``/api/v1/…`` whose body is declared as
  something else than JSON (``application/json`` or ``application/*+json``), or not
  declared at all. Checked from the headers alone, before the key or the body.
* **400** ``malformed_json``: a body that does not parse, with the line and column at
  fault: ``malformed JSON at line 3, column 14: Expecting ',' delimiter``. The JSON API
  (``api.errors``), Segment's endpoints and Stripe's webhook answer alike.

Segment's endpoints also take ``text/plain``: analytics.js sends its JSON that way so that
browsers make a "simple" cross-origin request, without a CORS preflight
(``routes/segment.py``).
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from healthscore.api.errors import ApiError, error_response, locate_error

JSON_API = "/api/v1/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def media_type(content_type: str | None) -> str:
    """``application/json`` of ``Application/JSON; charset=utf-8``; ``""`` when absent."""
    return (content_type or "").partition(";")[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json`` (parameters such as charset allowed)."""
    media = media_type(content_type)
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def unsupported(content_type: str | None) -> ApiError:
    """415: the body is declared as something else than JSON."""
    media = media_type(content_type)
    declared = f"Content-Type {media!r}" if media else "no Content-Type"
    return ApiError(
        415,
        f"the body must be JSON (Content-Type: application/json); it came with {declared}",
        code="unsupported_media_type",
    )


_PYDANTIC_JSON = re.compile(
    r"^Invalid JSON: (?P<reason>.*) at line (?P<line>\d+) column (?P<col>\d+)$"
)


def malformed_for_pydantic(body: bytes, message: str) -> ApiError:
    """The 400 for pydantic's ``json_invalid`` (``model_validate_json``): located by
    Python's parser like everywhere else; pydantic's own position when only it refuses
    the text (``NaN``, say)."""
    located = locate_error(body)
    if located is not None:
        return located
    found = _PYDANTIC_JSON.match(message)
    if found is None:
        text = f"malformed JSON: {message.removeprefix('Invalid JSON: ')}"
    else:
        text = f"malformed JSON at line {found['line']}, column {found['col']}: {found['reason']}"
    return ApiError(400, text, code="malformed_json")


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return b"transfer-encoding" in headers  # chunked: a body follows


class RequireJsonBodies:
    """415 for a write to the JSON API whose body is not declared as JSON."""

    def __init__(self, app: ASGIApp, *, prefix: str = JSON_API) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in BODY_METHODS
            and scope["path"].startswith(self.prefix)
        ):
            headers = dict(scope.get("headers") or [])
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if _has_body(headers) and not is_json(content_type):
                refusal = unsupported(content_type)
                response = error_response(415, str(refusal), code=refusal.code)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
