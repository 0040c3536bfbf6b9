"""Segment's HTTP Tracking API, so Segment SDKs (``host=`` this server) and Segment
destinations can send product events straight in.

Authentication is Segment's: Basic auth with an ingest key as the user name and an empty
password (Bearer and ``X-API-Key`` work too), or the key as ``writeKey`` in the body (at
the top level, or in a batch's messages, as analytics.js sends it). A body ``writeKey``
wins over the header, like Segment's; either way it is checked and rate limited alike
(401 unknown, 403 not an ingest key, 429). Accepted requests answer 200
``{"success": true}`` after the transaction has committed.

Bodies are JSON, declared ``application/json`` or ``text/plain``: analytics.js sends
``text/plain`` so that browsers make a simple cross-origin request without a CORS
preflight. Any other Content-Type gets 415, a body that does not parse 400
``malformed_json`` with the line and column.

Rejections are all-or-nothing and say which message is at fault: any message that is
malformed, dated in the future (beyond the allowed clock skew, after Segment's ``sentAt``
correction) or whose account cannot be resolved makes the whole request 400, with one
``details`` entry per problem whose ``field`` carries the message's index
(``batch.3.context.groupId``); nothing from that request is written. 400 is what Segment
itself answers for payloads it refuses, and SDKs do not retry it. Bodies over Segment's
limits (500 KB per batch, 32 KB per single call) get 413.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, get_type_hints

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from healthscore.api.dependencies import ActiveScorecard, DbSession, JobQueue, KnownAccountsCache
from healthscore.api.errors import ApiError, ErrorDetail, ErrorResponse, locate_error
from healthscore.api.json_bodies import (
    is_json,
    malformed_for_pydantic,
    media_type,
    unsupported,
)
from healthscore.api.limits import BodyTooLarge, limit_for
from healthscore.api.sanitize import json_has_nul
from healthscore.api.security import IngestKey, KeyCheck, presented_key
from healthscore.auth.scopes import Scope
from healthscore.errors import validation_message
from healthscore.ingest import segment as seg
from healthscore.ingest import segment_messages, segment_requests
from healthscore.ingest.journal import RETRY_AFTER_SECONDS, JournalFull
from healthscore.ingest.records import InvalidFact
from healthscore.jobs.queue import Jobs
from healthscore.scoring.event_mapping import EventMapping

MAX_DETAILS = 50
SUCCESS_BODY = b'{"success":true}'


class SegmentRequest(Request):
    """A request whose body may be gzip-compressed, as Segment SDKs can send it.

    Decompression stops at the route's size limit, so a small compressed body cannot
    expand into an unbounded one.
    """

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            raw = await super().body()
            gzipped = self.headers.get("content-encoding", "").strip().lower() == "gzip"
            if gzipped:
                limit = limit_for(self.url.path, self.app.state.settings.max_request_bytes)
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                try:
                    raw = inflater.decompress(raw, limit + 1)
                except zlib.error:
                    raise ApiError(
                        400, "the body is not valid gzip", code="invalid_message"
                    ) from None
                if len(raw) > limit or inflater.unconsumed_tail:
                    raise BodyTooLarge(limit)
            # RejectNulCharacters leaves Segment's bodies to this check.
            if json_has_nul(raw):
                raise ApiError(
                    400, "text may not contain NUL (U+0000) characters", code="invalid_message"
                )
            self._body = raw
        return self._body


MESSAGE_TYPES = frozenset({"track", "identify", "group", "page", "screen", "alias"})


def _field(location: Sequence[Any]) -> str:
    """``batch.3.context.groupId``: pydantic's location without ``body`` or the message
    type it put after a batch index."""
    parts = [str(p) for p in location]
    if len(parts) > 1 and parts[0] == "body":
        parts = parts[1:]
    if len(parts) > 2 and parts[0] == "batch" and parts[1].isdigit() and parts[2] in MESSAGE_TYPES:
        del parts[2]
    return ".".join(parts) or "body"


def _is_segment_json(content_type: str | None) -> bool:
    """JSON, or ``text/plain`` as analytics.js declares it (no CORS preflight that way)."""
    return is_json(content_type) or media_type(content_type) == "text/plain"


def parse_body(model: type[BaseModel], body: bytes, content_type: str | None) -> BaseModel:
    """The request's message(s), parsed and validated from the raw bytes in one pass
    (pydantic-core reads the JSON itself: no intermediate ``dict`` tree); ``ApiError`` 400
    naming every field at fault otherwise (415 for a body that is not JSON)."""
    if not body:
        raise _rejection([ErrorDetail(field="body", message="Field required")])
    if not _is_segment_json(content_type):
        raise unsupported(content_type)
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        if problems and problems[0]["type"] == "json_invalid":
            raise malformed_for_pydantic(body, problems[0]["msg"]) from None
        details = []
        for problem in problems[:MAX_DETAILS]:
            field = _field(problem.get("loc", ()))
            cause = (problem.get("ctx") or {}).get("error")
            if isinstance(cause, InvalidFact):  # a key of a free-form object, named by it
                field = f"{field}.{cause.field}"
            details.append(ErrorDetail(field=field, message=validation_message(field, problem)))
        raise _rejection(details) from None


WRITE_KEY = b'"writeKey"'


def body_write_key(body: bytes, content_type: str | None) -> str | None:
    """The ``writeKey`` a body carries: at its top level, else the one its batch's messages
    share (analytics.js puts it in each message); None without one. Looked for only when
    the bytes name it, so a body without costs no parse here."""
    if WRITE_KEY not in body or not _is_segment_json(content_type):
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise locate_error(body) or ApiError(400, "malformed JSON", code="malformed_json") from None
    if not isinstance(data, dict):
        return None
    key = data.get("writeKey")
    if isinstance(key, str) and key:
        return key
    batch = data.get("batch")
    messages = batch if isinstance(batch, list) else []
    keys = {
        message["writeKey"]
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("writeKey"), str)
        if message["writeKey"]
    }
    if len(keys) > 1:
        raise ApiError(
            400,
            "the batch's messages carry different writeKeys: send one batch per key",
            code="invalid_message",
            details=[ErrorDetail(field="batch", message="different writeKeys")],
        )
    return keys.pop() if keys else None


def parsed_write_key(message: BaseModel | None, body: bytes) -> str | None:
    """The body's top-level ``writeKey`` as parsed with the rest of it (what SDKs send:
    analytics-python puts it at the top of every batch), so ``body_write_key`` need not
    parse the whole body a second time; None when it is not there (``body_write_key``
    then looks, in messages too)."""
    key = getattr(message, "write_key", None)
    return key if isinstance(key, str) and key and WRITE_KEY in body else None


def request_messages(message: BaseModel) -> Sequence[segment_messages.Message]:
    """The messages of a parsed body: a batch's, or the single call itself."""
    if isinstance(message, segment_messages.Batch):
        return message.batch
    return [message]  # type: ignore[list-item]


class SegmentRoute(APIRoute):
    """Segment calls: answered with 400 for malformed messages like Segment does (the rest
    of the API uses 422), and served by one lean handler because ``/v1/batch`` is the
    ingest hot path.

    The endpoint functions below declare their body, key and dependencies as usual, which
    is what OpenAPI publishes. At run time the handler does the same work with fewer
    steps: it reads the (possibly gzipped) body on the event loop, then in **one**
    worker-thread call validates the raw JSON with pydantic-core
    (``model_validate_json``, which also yields the body's ``writeKey``), opens **one**
    database session, checks the key in it (the body's ``writeKey``, else the header's;
    401/403, and 429 over the key's rate limit, exactly as ``security.require``; a body
    refused as invalid is answered only after that), and calls the endpoint with that
    session, so the key lookup and the ingest share a connection and a transaction (a
    journaled request, which writes only its journal row, uses an autocommit session:
    ``segment_requests.journals``).
    FastAPI's generic path would parse the JSON into dicts, validate them again, and hop
    to the thread pool once per dependency and once more for the endpoint, with a second
    session for the key. Dependency overrides therefore do not apply to these routes.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        model: type[BaseModel] = get_type_hints(self.endpoint)["body"]
        endpoint = self.endpoint

        def call(state: State, key: str | None, body: bytes, content_type: str | None) -> None:
            try:
                message: BaseModel | None = parse_body(model, body, content_type)
                refusal: ApiError | None = None
            except ApiError as error:  # answered only once the key is admitted
                message, refusal = None, error
            key = parsed_write_key(message, body) or body_write_key(body, content_type) or key
            sessions = state.sessions
            if message is not None and segment_requests.journals(
                state.jobs.settings, request_messages(message)
            ):
                sessions = state.read_sessions  # autocommit: see segment_requests.journals
            with sessions() as session:
                info = KeyCheck(key, Scope.ingest, limiter=state.rate_limiter)(session)
                if message is None:
                    assert refusal is not None
                    raise refusal
                endpoint(
                    body=message,
                    _key=info,
                    session=session,
                    card=state.scorecard,
                    jobs=state.jobs,
                    known=state.known_accounts,
                )

        async def handle(request: Request) -> Response:
            request = SegmentRequest(request.scope, request.receive)
            body = await request.body()
            state = request.app.state
            key = presented_key(request)
            await run_in_threadpool(call, state, key, body, request.headers.get("content-type"))
            return Response(SUCCESS_BODY, media_type="application/json")

        return handle


router = APIRouter(prefix="/v1", tags=["segment"], route_class=SegmentRoute)


class Success(BaseModel):
    """Segment's acknowledgement."""

    success: bool = True


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "a message was rejected; nothing was stored"},
    401: {"model": ErrorResponse, "description": "no or unknown key"},
    403: {"model": ErrorResponse, "description": "the key lacks the ingest scope"},
    413: {"model": ErrorResponse, "description": "body over 500 KB (batch) or 32 KB (call)"},
    415: {"model": ErrorResponse, "description": "the body is not JSON (or text/plain)"},
    429: {"model": ErrorResponse, "description": "the key is over its rate limit"},
    503: {
        "model": ErrorResponse,
        "description": "the database is unavailable, or (`ingest_backlog`) the journal holds"
        " `HEALTHSCORE_INGEST_MAX_BACKLOG_EVENTS` events not yet applied; nothing was stored:"
        " retry after `Retry-After` seconds",
    },
}


def _rejection(details: list[ErrorDetail]) -> ApiError:
    summary = "; ".join(f"{d.field}: {d.message}" for d in details[:3])
    return ApiError(
        400,
        f"rejected, nothing from this request was stored: {summary}",
        code="invalid_message",
        details=details,
    )


def _ingest(
    session: DbSession,
    jobs: Jobs,
    messages: Sequence[segment_messages.Message],
    mapping: EventMapping,
    known: seg.KnownAccounts,
    *,
    batch_sent_at: datetime | None = None,
    prefix: str | None = None,
) -> Success:
    """Apply (or journal) the request, committed before the 200; a 400 naming every
    message at fault otherwise (``ingest.segment_requests``)."""
    try:
        segment_requests.receive(
            session, jobs, messages, mapping, known, batch_sent_at=batch_sent_at, prefix=prefix
        )
    except segment_messages.Rejected as error:
        problems = error.problems[:MAX_DETAILS]
        raise _rejection(
            [ErrorDetail(field=p.field, message=p.message) for p in problems]
        ) from None
    except InvalidFact as error:
        raise _rejection([ErrorDetail(field=error.field, message=error.message)]) from None
    except JournalFull as full:
        raise ApiError(
            503,
            str(full),
            code="ingest_backlog",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    return Success()


@router.post("/batch", operation_id="segmentBatch", response_model=Success, responses=RESPONSES)
def segment_batch(
    body: segment_messages.Batch,
    _key: IngestKey,
    session: DbSession,
    card: ActiveScorecard,
    jobs: JobQueue,
    known: KnownAccountsCache,
) -> Success:
    """Many messages of any type (``{"batch": [...]}``), as Segment SDKs send them.

    Applied in order and all or nothing: if any message is rejected the answer is 400 with
    one ``details`` entry per problem (``field`` starts with ``batch.<index>``) and nothing
    is stored. Messages whose ``messageId`` was already accepted are acknowledged again
    without being re-applied, so retrying a batch is safe."""
    return _ingest(
        session, jobs, body.batch, card.events, known, batch_sent_at=body.sent_at, prefix="batch"
    )


@router.post("/track", operation_id="segmentTrack", response_model=Success, responses=RESPONSES)
def segment_track(
    body: segment_messages.TrackMessage,
    _key: IngestKey,
    session: DbSession,
    card: ActiveScorecard,
    jobs: JobQueue,
    known: KnownAccountsCache,
) -> Success:
    """A product event; its name maps to a scoring signal through the scorecard's ``events``."""
    return _ingest(session, jobs, [body], card.events, known)


@router.post(
    "/identify", operation_id="segmentIdentify", response_model=Success, responses=RESPONSES
)
def segment_identify(
    body: segment_messages.IdentifyMessage,
    _key: IngestKey,
    session: DbSession,
    card: ActiveScorecard,
    jobs: JobQueue,
    known: KnownAccountsCache,
) -> Success:
    """User traits, merged into the user's seats (a ``groupId`` also links the user)."""
    return _ingest(session, jobs, [body], card.events, known)


@router.post("/group", operation_id="segmentGroup", response_model=Success, responses=RESPONSES)
def segment_group(
    body: segment_messages.GroupMessage,
    _key: IngestKey,
    session: DbSession,
    card: ActiveScorecard,
    jobs: JobQueue,
    known: KnownAccountsCache,
) -> Success:
    """Links the user to the account (created if new) and merges the account's traits."""
    return _ingest(session, jobs, [body], card.events, known)


@router.post("/alias", operation_id="segmentAlias", response_model=Success, responses=RESPONSES)
def segment_alias(
    body: segment_messages.AliasMessage,
    _key: IngestKey,
    session: DbSession,
    card: ActiveScorecard,
    jobs: JobQueue,
    known: KnownAccountsCache,
) -> Success:
    """Merges ``previousId`` into ``userId``: the previous id's events and seats become the
    new id's in every account the previous id is a seat of or logged in to
    (``docs/identity.md``)."""
    return _ingest(session, jobs, [body], card.events, known)


@router.post("/page", operation_id="segmentPage", response_model=Success, responses=RESPONSES)
def segment_page(
    body: segment_messages.PageMessage,
    _key: IngestKey,
    session: DbSession,
    card: ActiveScorecard,
    jobs: JobQueue,
    known: KnownAccountsCache,
) -> Success:
    """A page view, kept as a ``page_viewed`` engagement event."""
    return _ingest(session, jobs, [body], card.events, known)
