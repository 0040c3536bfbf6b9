"""What a CSM records by hand, and the audit log of every manual change.

Sentiment and overrides are written by admin keys (the dashboard's CSMs sign in with
one); each change is audited in its own transaction and the account is rescored right
after, so the answer and the dashboard show the new score. Reads need a read key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import ConfigDict, Field, model_validator

from healthscore.api.dependencies import (
    ActiveScorecard,
    DbSession,
    JobQueue,
    PageParams,
    ServiceSettings,
)
from healthscore.api.errors import ErrorResponse
from healthscore.api.routes.cases import actor
from healthscore.api.schemas import ApiModel, InputModel, Page
from healthscore.api.security import AdminKey, ReadKey
from healthscore.audit import repository as audit
from healthscore.csm import overrides, sentiment
from healthscore.errors import NotFound
from healthscore.jsontypes import NOT_BLANK, URL_BOOL, URL_INT, WHOLE_NUMBER, Instant
from healthscore.storage.csm_models import CsmSentiment, ScoreOverride
from healthscore.storage.models import Customer, HealthScore
from healthscore.timeutc import utc

router = APIRouter(prefix="/api/v1", tags=["csm"])

Colour = Literal["red", "yellow", "green"]
CustomerPath = Annotated[str, Path(min_length=1, max_length=64)]
CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such customer"},
    422: {"model": ErrorResponse, "description": "bad input; nothing changed"},
}
AUDIT_KINDS = ("sentiment", "override", "case", "scorecard", "hierarchy")


# --- sentiment -------------------------------------------------------------------------


def _one_rating(schema: dict[str, Any]) -> None:
    schema["oneOf"] = [
        {"required": ["value"], "properties": {"value": {"type": "integer"}}},
        {"required": ["colour"], "properties": {"colour": {"type": "string"}}},
    ]


class SentimentIn(InputModel):
    """Either ``value`` (1-5) or ``colour`` (red = 1, yellow = 3, green = 5)."""

    model_config = ConfigDict(json_schema_extra=_one_rating)

    value: Annotated[int, Field(ge=1, le=5), WHOLE_NUMBER] | None = None
    colour: Colour | None = None
    note: str = Field(default="", max_length=4000)
    valid_days: Annotated[
        Annotated[int, Field(ge=1, le=365), WHOLE_NUMBER] | None,
        Field(description="days it counts (default: the service's)"),
    ] = None

    @model_validator(mode="after")
    def _one_rating(self) -> SentimentIn:
        if (self.value is None) == (self.colour is None):
            raise ValueError("give either value (1-5) or colour (red, yellow, green)")
        return self

    @property
    def rating(self) -> int:
        return self.value if self.value is not None else sentiment.COLOURS[self.colour or ""]


class SentimentOut(ApiModel):
    id: int
    customer_id: str
    value: int
    colour: Colour
    note: str
    author: str
    recorded_at: datetime
    valid_until: datetime
    superseded_at: datetime | None
    state: Literal["in_force", "stale", "superseded"] = Field(
        description="in_force: counts in the score now; stale: expired; superseded: replaced"
    )


class SentimentHistoryOut(ApiModel):
    customer_id: str
    current: SentimentOut | None = Field(description="the entry that counts now, if any")
    history: list[SentimentOut] = Field(description="every entry, newest first")


def sentiment_out(row: CsmSentiment, now: datetime) -> SentimentOut:
    state = sentiment.state_of(row, now)
    return SentimentOut(
        id=row.id,
        customer_id=row.customer_id,
        value=row.value,
        colour=sentiment.colour_of(row.value),
        note=row.note,
        author=row.author,
        recorded_at=row.recorded_at,
        valid_until=row.valid_until,
        superseded_at=row.superseded_at,
        state=state,
    )


def sentiment_history(session: DbSession, customer_id: str) -> SentimentHistoryOut:
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found")
    now = datetime.now(UTC)
    history = [sentiment_out(row, now) for row in sentiment.history(session, customer_id)]
    current = next((entry for entry in history if entry.state == "in_force"), None)
    return SentimentHistoryOut(customer_id=customer_id, current=current, history=history)


@router.post(
    "/customers/{customer_id}/sentiment",
    operation_id="recordSentiment",
    response_model=SentimentOut,
    status_code=201,
    responses=CHANGE_ERRORS,
)
def record_sentiment(
    customer_id: CustomerPath,
    body: SentimentIn,
    key: AdminKey,
    session: DbSession,
    jobs: JobQueue,
    settings: ServiceSettings,
) -> SentimentOut:
    """Record the CSM's sentiment for the account (audited); it counts in the score (signal
    `csm_sentiment` of the default scorecard) until it expires or a newer one replaces
    it. The account is rescored before the answer."""
    now = datetime.now(UTC)
    valid_days = body.valid_days or settings.sentiment_valid_days
    with session.begin():
        row = sentiment.record(
            session,
            sentiment.NewSentiment(
                customer_id, body.rating, body.note, actor(key), now, valid_days
            ),
        )
        out = sentiment_out(row, now)
    jobs.rescoring.rescore(kind="manual", as_of=datetime.now(UTC), customer_ids=[customer_id])
    return out


@router.get(
    "/customers/{customer_id}/sentiment",
    operation_id="getSentimentHistory",
    response_model=SentimentHistoryOut,
    responses={404: CHANGE_ERRORS[404]},
)
def get_sentiment(
    customer_id: CustomerPath, _key: ReadKey, session: DbSession
) -> SentimentHistoryOut:
    """The sentiment in force (if any) and every entry, with whether it is stale."""
    return sentiment_history(session, customer_id)


# --- overrides -------------------------------------------------------------------------


class OverrideIn(InputModel):
    target: str = Field(
        min_length=1,
        max_length=64,
        description="`score` (the final score) or the name of a signal of the scorecard "
        "(the document lists those of the server's scorecard)",
    )
    value: float = Field(ge=0, le=100, description="score, or the signal's points of 100")
    reason: str = Field(min_length=1, max_length=4000, pattern=NOT_BLANK)
    expires_at: Instant = Field(
        description="when scoring computes it again by itself: in the future, and at most "
        "HEALTHSCORE_OVERRIDE_MAX_DAYS (default 365) days ahead (422 otherwise)"
    )


class OverrideOut(ApiModel):
    id: int
    customer_id: str
    target: str
    value: float
    computed: float | None = Field(description="what the latest run computed beside it")
    reason: str
    author: str
    created_at: datetime
    expires_at: datetime
    removed_at: datetime | None
    removed_by: str | None
    in_force: bool


def override_out(session: DbSession, row: ScoreOverride, now: datetime) -> OverrideOut:
    live = row.removed_at is None and row.created_at <= now < row.expires_at
    return OverrideOut(
        id=row.id,
        customer_id=row.customer_id,
        target=row.target,
        value=row.value,
        computed=computed_beside(session, row) if live else None,
        reason=row.reason,
        author=row.author,
        created_at=row.created_at,
        expires_at=row.expires_at,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
        in_force=live,
    )


def rescored_override(
    session: DbSession, jobs: JobQueue, customer_id: str, override_id: int
) -> OverrideOut:
    """After a change of an override: rescore its account at once, then answer with the
    override and the value the rescore computed beside it."""
    jobs.rescoring.rescore(kind="manual", as_of=datetime.now(UTC), customer_ids=[customer_id])
    with session.begin():
        stored = session.get(ScoreOverride, override_id)
        assert stored is not None
        return override_out(session, stored, datetime.now(UTC))


def computed_beside(session: DbSession, row: ScoreOverride) -> float | None:
    """The computed value the latest run kept beside this override."""
    latest = session.get(HealthScore, row.customer_id)
    return overrides.computed_beside(latest.signals.get("adjusted", {}) if latest else {}, row)


@router.post(
    "/customers/{customer_id}/overrides",
    operation_id="createOverride",
    response_model=OverrideOut,
    status_code=201,
    responses=CHANGE_ERRORS,
)
def create_override(
    customer_id: CustomerPath,
    body: OverrideIn,
    key: AdminKey,
    session: DbSession,
    card: ActiveScorecard,
    jobs: JobQueue,
    settings: ServiceSettings,
) -> OverrideOut:
    """Set the account's final score (`target: score`) or one measure by hand, with a
    reason, until `expiresAt`; every scoring run keeps it and shows the computed value
    beside it. Replaces an override of the same target (audited as old → new)."""
    now = datetime.now(UTC)
    with session.begin():
        row = overrides.set_override(
            session,
            overrides.NewOverride(
                customer_id, body.target, body.value, body.reason, actor(key), utc(body.expires_at)
            ),
            scorecard=card,
            now=now,
            max_days=settings.override_max_days,
        )
        override_id = row.id
    return rescored_override(session, jobs, customer_id, override_id)


@router.get(
    "/customers/{customer_id}/overrides",
    operation_id="listOverrides",
    response_model=list[OverrideOut],
    responses={404: CHANGE_ERRORS[404]},
)
def list_overrides(
    customer_id: CustomerPath,
    _key: ReadKey,
    session: DbSession,
    include_ended: Annotated[bool, Query(alias="includeEnded"), URL_BOOL] = False,
) -> list[OverrideOut]:
    """The account's overrides in force (with `includeEnded`, also expired and removed)."""
    now = datetime.now(UTC)
    rows = overrides.overrides_of(session, customer_id, now=now, include_ended=include_ended)
    return [override_out(session, row, now) for row in rows]


@router.delete(
    "/overrides/{override_id}",
    operation_id="removeOverride",
    response_model=OverrideOut,
    responses={
        404: {"model": ErrorResponse, "description": "no such override"},
        409: {"model": ErrorResponse, "description": "the override has already ended"},
        422: CHANGE_ERRORS[422],
    },
)
def remove_override(
    override_id: Annotated[int, Path(ge=1, le=2**63 - 1), URL_INT],
    key: AdminKey,
    session: DbSession,
    jobs: JobQueue,
    reason: Annotated[str, Query(max_length=4000)] = "",
) -> OverrideOut:
    """End an override before its expiry (audited); the account is rescored at once."""
    now = datetime.now(UTC)
    with session.begin():
        row = overrides.remove_override(
            session, override_id, actor=actor(key), reason=reason, now=now
        )
        customer_id = row.customer_id
    return rescored_override(session, jobs, customer_id, override_id)


# --- audit log -------------------------------------------------------------------------


class AuditEntryOut(ApiModel):
    id: int
    at: datetime
    actor: str
    customer_id: str | None
    kind: str
    subject: str
    old: Any
    new: Any
    reason: str


def audit_page(
    session: DbSession, paging: Any, customer_id: str | None, kinds: list[str] | None
) -> Page[AuditEntryOut]:
    rows, total = audit.entries(
        session,
        customer_id=customer_id,
        kinds=kinds,
        limit=paging.page_size,
        offset=paging.offset,
    )
    return Page[AuditEntryOut](
        items=[AuditEntryOut.model_validate(row, from_attributes=True) for row in rows],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )


AuditKind = Literal["sentiment", "override", "case", "scorecard", "hierarchy"]


@router.get(
    "/customers/{customer_id}/audit-log",
    operation_id="getCustomerAuditLog",
    response_model=Page[AuditEntryOut],
    responses={404: CHANGE_ERRORS[404]},
)
def customer_audit_log(
    customer_id: CustomerPath,
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    kind: Annotated[list[AuditKind] | None, Query(max_length=5)] = None,
) -> Page[AuditEntryOut]:
    """Every manual change to the account, newest first: who, when, what, old → new, why."""
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return audit_page(session, paging, customer_id, list(kind) if kind else None)


@router.get("/audit-log", operation_id="getAuditLog", response_model=Page[AuditEntryOut])
def audit_log(
    _key: AdminKey,
    session: DbSession,
    paging: PageParams,
    kind: Annotated[list[AuditKind] | None, Query(max_length=5)] = None,
) -> Page[AuditEntryOut]:
    """Every manual change, all accounts and the scorecard's, newest first (admin)."""
    return audit_page(session, paging, None, list(kind) if kind else None)
