"""The SQL of ``Idempotency-Key`` replays (``idempotent_requests``; ``api.idempotency``).

A request claims its (API key, Idempotency-Key) row before it runs and stores its answer
after; a retry finds the answer, a different request under the same key finds another
fingerprint, a concurrent one finds the claim in force. Expired rows are purged as new
ones are claimed (one indexed DELETE, nothing when none has expired).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, and_, delete, select, update
from sqlalchemy.orm import Session

from healthscore.storage import job_models as jm
from healthscore.storage.dialect import insert_new_keys

KEEP = timedelta(hours=24)
"""How long an answer is replayed (Stripe keeps keys at least 24 hours)."""

_TABLE: Table = jm.IdempotentRequest.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Fingerprint:
    """What makes two requests the same request."""

    api_key_id: int
    key: str
    method: str
    path: str
    """The path with its query string."""
    body_sha256: str


@dataclass(frozen=True)
class Answer:
    """A stored response."""

    status: int
    content_type: str | None
    body: bytes


@dataclass(frozen=True)
class Claimed:
    """The key is this request's: run it, then ``store`` or ``release``."""


@dataclass(frozen=True)
class Reused:
    """The key was used for another request (``method`` ``path`` or another body)."""

    method: str
    path: str


@dataclass(frozen=True)
class InFlight:
    """The first request with the key is still running, for ``seconds`` more at most."""

    seconds: float


Claim = Claimed | Answer | Reused | InFlight


def _this(fp: Fingerprint) -> tuple[ColumnElement[bool], ...]:
    row = jm.IdempotentRequest
    return (row.api_key_id == fp.api_key_id, row.key == fp.key)


def purge_expired(session: Session, now: datetime) -> int:
    """Delete the rows past their 24 hours; how many."""
    result = session.execute(
        delete(jm.IdempotentRequest)
        .where(jm.IdempotentRequest.expires_at <= now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim(session: Session, fp: Fingerprint, now: datetime, *, lease: timedelta) -> Claim:
    """Claim ``fp``'s key for this request for ``lease`` (the setting
    ``idempotency_claim_seconds``: past it, a retry takes the key over, since the first
    request's process died before it could store its answer), or what is already there
    (the caller commits)."""
    purge_expired(session, now)
    row = {
        "api_key_id": fp.api_key_id,
        "key": fp.key,
        "method": fp.method,
        "path": fp.path,
        "body_sha256": fp.body_sha256,
        "status": None,
        "content_type": None,
        "body": None,
        "created_at": now,
        "claimed_until": now + lease,
        "expires_at": now + KEEP,
    }
    if insert_new_keys(session, _TABLE, [row], key=["api_key_id", "key"]):
        return Claimed()
    found = session.execute(select(jm.IdempotentRequest).where(*_this(fp))).scalar_one_or_none()
    if found is None:  # purged by another request between the two statements
        inserted = insert_new_keys(session, _TABLE, [row], key=["api_key_id", "key"])
        return Claimed() if inserted else InFlight(1)
    if (found.method, found.path, found.body_sha256) != (fp.method, fp.path, fp.body_sha256):
        return Reused(found.method, found.path)
    if found.status is not None:
        return Answer(found.status, found.content_type, found.body or b"")
    if found.claimed_until > now:
        return InFlight((found.claimed_until - now).total_seconds())
    taken = session.execute(
        update(jm.IdempotentRequest)
        .where(
            *_this(fp),
            and_(
                jm.IdempotentRequest.status.is_(None),
                jm.IdempotentRequest.claimed_until == found.claimed_until,
            ),
        )
        .values(claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return Claimed() if getattr(taken, "rowcount", 0) else InFlight(1)


def store(session: Session, fp: Fingerprint, answer: Answer) -> None:
    """Keep the answer of the request that claimed ``fp``'s key."""
    session.execute(
        update(jm.IdempotentRequest)
        .where(*_this(fp))
        .values(status=answer.status, content_type=answer.content_type, body=answer.body)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, fp: Fingerprint) -> None:
    """Give the key back (the request was refused before it ran, or failed): a retry
    runs, and may even carry another body."""
    session.execute(
        delete(jm.IdempotentRequest)
        .where(*_this(fp), jm.IdempotentRequest.status.is_(None))
        .execution_options(synchronize_session=False)
    )
