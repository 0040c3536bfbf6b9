"""One JSON error shape for every failure, so clients can handle errors generically.

``{"error": {"status": 422, "code": "validation_error", "message": "…",
"details": [{"field": "score", "message": "…"}]}}``
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from healthscore.errors import DomainError, Problem
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


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] if len(parts) > 1 else parts
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, error: DomainError) -> JSONResponse:
        return error_response(
            error.status,
            str(error),
            code=error.code,
            details=[ErrorDetail(field=p.field, message=p.message) for p in error.problems],
            headers=error.headers if isinstance(error, ApiError) else None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            ErrorDetail(field=_field(problem.get("loc", ())), message=str(problem.get("msg")))
            for problem in error.errors()
        ]
        message = "; ".join(f"{d.field}: {d.message}" for d in details[:5]) or "invalid request"
        return error_response(422, message, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers) if error.headers else None
        return error_response(error.status_code, str(error.detail), headers=headers)

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, error: SQLAlchemyError) -> JSONResponse:
        if isinstance(error, OperationalError):
            message = "the database is unavailable; the request was not applied, retry later"
            return _server_error(request, error, status=503, message=message)
        message = "database error; the request was not applied"
        return _server_error(request, error, status=500, message=message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        message = "internal error; the request was not applied"
        return _server_error(request, error, status=500, message=message)


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("malformed request"),
    401: _documented("no API key, or an unknown or revoked one"),
    403: _documented("the key lacks the scope this operation needs"),
    404: _documented("not found"),
    409: _documented("conflicts with existing data"),
    413: _documented("request body too large"),
    422: _documented("invalid input; `details` names each field at fault"),
    429: _documented("this API key is over its rate limit; retry after `Retry-After` seconds"),
    500: _documented("internal error; the request was not applied (`requestId` names it)"),
    503: _documented("the database is unavailable; retry after `Retry-After` seconds"),
}
"""Error answers every operation may give, documented once for the OpenAPI schema."""
