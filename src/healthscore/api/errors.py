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
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from healthscore.ingest.records import InvalidFact

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
}


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """Raise from a route to answer with the standard error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.details = details or []
        self.headers = headers


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            status=status,
            code=code or CODES.get(status, "error"),
            message=message,
            details=details or [],
        )
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] if len(parts) > 1 else parts
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(
            error.status,
            error.message,
            code=error.code,
            details=error.details,
            headers=error.headers,
        )

    @app.exception_handler(InvalidFact)
    async def _invalid_fact(_request: Request, error: InvalidFact) -> JSONResponse:
        return error_response(
            422, str(error), details=[ErrorDetail(field=error.field, message=error.message)]
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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal error; the request was not applied")


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
    500: _documented("internal error; the request was not applied"),
}
"""Error answers every operation may give, documented once for the OpenAPI schema."""
