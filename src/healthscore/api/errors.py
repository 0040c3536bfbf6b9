"""One JSON error shape for every failure, so clients can handle errors generically.

``{"error": {"status": 422, "code": "validation_error", "message": "…",
"details": [{"field": "score", "message": "…"}]}}``

Messages read once: ``details[].message`` says what is wrong with its ``field`` (no
pydantic "Value error, " prefix, no field name repeated), and the top-level message
joins ``field: message`` pairs. A body that is not JSON gets 400 ``malformed_json``
naming the line and column (``api.json_bodies``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from healthscore.errors import DomainError, Problem, validation_message
from healthscore.observability.logs import REQUEST_ID_KEY

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}
OPERATION_ANSWERED = "healthscore.operation_answered"
"""Set in the ASGI scope when an operation itself refused the request (a rule broken):
that answer, like a 2xx, is kept for ``Idempotency-Key`` replays (``api.idempotency``)."""
FASTAPI_UNPARSABLE = "There was an error parsing the body"
"""FastAPI's 400 when reading a JSON body fails other than by ``JSONDecodeError``."""
DATABASE_RETRY_SECONDS = 5
"""``Retry-After`` when the database cannot be reached (a restart or fail-over)."""


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail] = []
    request_id: str | None = Field(
        None,
        alias="requestId",
        description="On server errors: the id of the request in the server's logs "
        "(also in the X-Request-ID header), for a support ticket.",
    )

    model_config = ConfigDict(populate_by_name=True)


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(DomainError):
    """Raise from a route to answer with the standard error shape (HTTP-level failures:
    authentication, payloads; rule violations raise the domain's own ``DomainError``)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        problems = [Problem(field=d.field, message=d.message) for d in details or []]
        super().__init__(message, status=status, code=code, problems=problems)
        self.headers = headers


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            status=status,
            code=code or CODES.get(status, "error"),
            message=message,
            details=details or [],
            request_id=request_id,
        )
    )
    content = body.model_dump(by_alias=True, exclude_none=True)
    if request_id:
        headers = {**(headers or {}), "X-Request-ID": request_id}
    return JSONResponse(content, status_code=status, headers=headers)


def _server_error(request: Request, error: Exception, *, status: int, message: str) -> JSONResponse:
    """A 5xx: the full story in the server's log under the request id, one line and the
    id for the client (never a traceback, SQL or the driver's words)."""
    rid = request.scope.get(REQUEST_ID_KEY)
    log.error(
        "%s on %s %s (request id %s)",
        type(error).__name__,
        request.method,
        request.url.path,
        rid,
        exc_info=error,
        extra={"method": request.method, "path": request.url.path, "status": status},
    )
    headers = {"Retry-After": str(DATABASE_RETRY_SECONDS)} if status == 503 else None
    return error_response(status, f"{message} (request id {rid})", headers=headers, request_id=rid)


def database_error(request: Request, error: SQLAlchemyError) -> JSONResponse:
    """503 when the database cannot be reached (retry later); 409 when a row the request
    changes was changed or deleted by another request meanwhile (retry); else 500."""
    if isinstance(error, StaleDataError):
        return error_response(
            409,
            "another request changed or deleted this meanwhile; nothing was applied, retry",
            code="concurrent_change",
        )
    if isinstance(error, OperationalError):
        message = "the database is unavailable; the request was not applied, retry later"
        return _server_error(request, error, status=503, message=message)
    message = "database error; the request was not applied"
    return _server_error(request, error, status=500, message=message)


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] if len(parts) > 1 else parts
    return ".".join(parts) or "body"


def validation_details(problems: Iterable[Mapping[str, Any]]) -> list[ErrorDetail]:
    """pydantic's problems as ``details``: each field once, each message readable."""
    details = []
    for problem in problems:
        field = _field(problem.get("loc", ()))
        details.append(ErrorDetail(field=field, message=validation_message(field, problem)))
    return details


def summary(details: Sequence[ErrorDetail], limit: int = 5) -> str:
    """The top-level message of a validation error: ``field: message; …``."""
    return "; ".join(f"{d.field}: {d.message}" for d in details[:limit])


def _api_error(error: DomainError) -> JSONResponse:
    return error_response(
        error.status,
        str(error),
        code=error.code,
        details=[ErrorDetail(field=p.field, message=p.message) for p in error.problems],
        headers=error.headers if isinstance(error, ApiError) else None,
    )


def malformed_json(text: str | bytes, position: int, reason: str) -> ApiError:
    """400 ``malformed_json``: where in the body (line and column, from 1) and why."""
    if isinstance(text, bytes):  # a byte offset: count lines in the bytes before it
        line, column = text.count(b"\n", 0, position) + 1, position - text.rfind(b"\n", 0, position)
    else:
        line, column = text.count("\n", 0, position) + 1, position - text.rfind("\n", 0, position)
    message = f"malformed JSON at line {line}, column {column}: {reason}"
    return ApiError(
        400,
        message,
        code="malformed_json",
        details=[ErrorDetail(field="body", message=message)],
    )


def locate_error(body: bytes | str) -> ApiError | None:
    """The 400 naming where ``body`` stops being JSON (by Python's own parser), or None
    if it parses."""
    try:
        json.loads(body)
    except UnicodeDecodeError as error:
        raw = body if isinstance(body, bytes) else body.encode()
        return malformed_json(raw, error.start, "the bytes are not UTF-8 text")
    except json.JSONDecodeError as error:
        return malformed_json(error.doc, error.pos, error.msg)
    except RecursionError:
        return ApiError(400, "malformed JSON: nested too deeply", code="malformed_json")
    return None


def unparsable(document: Any, problem: Mapping[str, Any]) -> ApiError:
    """The 400 for FastAPI's ``json_invalid`` problem: its location holds the character
    offset into ``document`` (the text FastAPI parsed), its context ``json.loads``' reason."""
    location = problem.get("loc", ())
    position = location[1] if len(location) > 1 and isinstance(location[1], int) else 0
    reason = str((problem.get("ctx") or {}).get("error") or "not JSON")
    text = document if isinstance(document, str | bytes) else ""
    return malformed_json(text, min(position, len(text)), reason)


def _documented_methods(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each path of the OpenAPI document as a pattern, with the methods it declares."""
    known: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "methods", None)
    if known is None:
        known = [
            (
                re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path))),
                {method.upper() for method in operations},
            )
            for path, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.methods = known
    return known


def allowed_methods(request: Request) -> str | None:
    """Every method the document declares at the request's path (None: the path is not in
    the document, a dashboard page say). Starlette's 405 names only the first route it
    matched, and ``GET`` and ``POST`` of one path are two routes."""
    path = request.url.path
    methods = {
        method
        for pattern, declared in _documented_methods(request.app)
        if pattern.fullmatch(path)
        for method in declared
    }
    return ", ".join(sorted(methods)) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, error: DomainError) -> JSONResponse:
        if not isinstance(error, ApiError):
            # The operation ran and broke a rule: an answer an Idempotency-Key keeps.
            request.scope[OPERATION_ANSWERED] = True
        return _api_error(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        for problem in problems:
            if problem.get("type") == "json_invalid":  # FastAPI's json.loads failed
                return _api_error(unparsable(error.body, problem))
        details = validation_details(problems)
        return error_response(422, summary(details) or "invalid request", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == FASTAPI_UNPARSABLE:
            # Not a JSONDecodeError (bytes that are not UTF-8, say): locate it the same way.
            located = locate_error(await request.body())  # read already: kept by the request
            if located is not None:
                return _api_error(located)
        headers = dict(error.headers) if error.headers else None
        allowed = allowed_methods(request) if error.status_code == 405 else None
        if allowed:
            headers = {**(headers or {}), "Allow": allowed}
        return error_response(error.status_code, str(error.detail), headers=headers)

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, error: SQLAlchemyError) -> JSONResponse:
        return database_error(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        message = "internal error; the request was not applied"
        return _server_error(request, error, status=500, message=message)


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("malformed request (`malformed_json`: the line and column at fault)"),
    401: _documented("no API key, or an unknown or revoked one"),
    403: _documented("the key lacks the scope this operation needs"),
    404: _documented("not found"),
    409: _documented(
        "conflicts with existing data (`idempotency_key_in_use`: a request with this "
        "`Idempotency-Key` is still running)"
    ),
    413: _documented("request body too large"),
    415: _documented("the body is not JSON (send `Content-Type: application/json`)"),
    422: _documented(
        "invalid input; `details` names each field at fault (`idempotency_key_reused`: "
        "this `Idempotency-Key` was used for a different request)"
    ),
    429: _documented("this API key is over its rate limit; retry after `Retry-After` seconds"),
    500: _documented("internal error; the request was not applied (`requestId` names it)"),
    503: _documented("the database is unavailable; retry after `Retry-After` seconds"),
}
"""Error answers every operation may give, documented once for the OpenAPI schema."""
