"""Manual score overrides: an admin sets an account's final score, or one measure, by
hand with a reason and an expiry; removing one early is allowed. Each change is audited
(old → new, who, why). Scoring runs apply them (``scoring.overrides``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.audit import repository as audit
from healthscore.errors import Conflict, Invalid, NotFound
from healthscore.scoring.overrides import FINAL_SCORE, in_force
from healthscore.scoring.scorecard import Scorecard
from healthscore.storage.csm_models import ScoreOverride
from healthscore.storage.models import Customer, HealthScore


@dataclass(frozen=True)
class NewOverride:
    customer_id: str
    target: str
    value: float
    reason: str
    author: str
    expires_at: datetime


def targets(scorecard: Scorecard) -> list[str]:
    """What can be overridden: the final score, or any signal some account is scored on."""
    names = {s.name for variant in scorecard.all_variants() for s in variant.signals}
    return [FINAL_SCORE, *sorted(names)]


def set_override(
    session: Session,
    new: NewOverride,
    *,
    scorecard: Scorecard,
    now: datetime,
    max_days: int,
) -> ScoreOverride:
    """Lock ``new.target`` to ``new.value`` until ``new.expires_at``; an override of the
    same target in force is replaced (and that replacement audited as old → new)."""
    if session.get(Customer, new.customer_id) is None:
        raise NotFound(f"customer {new.customer_id!r} not found")
    allowed = targets(scorecard)
    if new.target not in allowed:
        raise Invalid(
            f"target {new.target!r} is neither 'score' nor a signal of scorecard "
            f"{scorecard.identity}; one of: {', '.join(allowed)}"
        )
    if not new.reason.strip():
        raise Invalid("reason: say why the score is set by hand")
    if new.expires_at <= now:
        raise Invalid("expiresAt: must be in the future")
    if new.expires_at > now + timedelta(days=max_days):
        raise Invalid(f"expiresAt: an override may last at most {max_days} days")
    previous = current(session, new.customer_id, new.target, now)
    old: Any = computed_value(session, new.customer_id, new.target)
    if previous is not None:
        previous.removed_at = now
        previous.removed_by = new.author
        old = previous.value
    row = ScoreOverride(
        customer_id=new.customer_id,
        target=new.target,
        value=new.value,
        reason=new.reason.strip(),
        author=new.author,
        created_at=now,
        expires_at=new.expires_at,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=new.author,
        kind="override",
        customer_id=new.customer_id,
        subject=new.target,
        old=old,
        new={"value": new.value, "until": new.expires_at.isoformat(), "override": row.id},
        reason=row.reason,
        at=now,
    )
    return row


def remove_override(
    session: Session, override_id: int, *, actor: str, reason: str, now: datetime
) -> ScoreOverride:
    """End an override before its expiry; the next scoring run computes the value again."""
    row = session.get(ScoreOverride, override_id)
    if row is None:
        raise NotFound(f"override {override_id} not found")
    if row.removed_at is not None or row.expires_at <= now:
        raise Conflict(f"override {override_id} is no longer in force")
    row.removed_at = now
    row.removed_by = actor
    session.flush()
    audit.record(
        session,
        actor=actor,
        kind="override",
        customer_id=row.customer_id,
        subject=row.target,
        old={"value": row.value, "override": row.id},
        new=None,
        reason=reason or "removed before its expiry",
        at=now,
    )
    return row


def current(session: Session, customer_id: str, target: str, now: datetime) -> ScoreOverride | None:
    return session.scalars(
        select(ScoreOverride).where(
            ScoreOverride.customer_id == customer_id,
            ScoreOverride.target == target,
            in_force(now),
        )
    ).first()


def overrides_of(
    session: Session, customer_id: str, *, now: datetime, include_ended: bool = False
) -> list[ScoreOverride]:
    """The account's overrides in force (and, if asked, those ended), newest first."""
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id!r} not found")
    query = select(ScoreOverride).where(ScoreOverride.customer_id == customer_id)
    if not include_ended:
        query = query.where(in_force(now))
    return list(session.scalars(query.order_by(ScoreOverride.created_at.desc())))


def computed_beside(adjusted: dict[str, Any], override: ScoreOverride) -> float | None:
    """The value the latest run computed beside ``override``, from the stored score's
    ``adjusted`` (None if that run did not apply this override)."""
    found = adjusted.get("override", {})
    if override.target == FINAL_SCORE:
        found = found.get("score", {})
    else:
        found = found.get("measures", {}).get(override.target, {})
    value = found.get("computed") if found.get("id") == override.id else None
    return None if value is None else float(value)


def computed_value(session: Session, customer_id: str, target: str) -> float | None:
    """The account's latest stored value of ``target`` (score, or a signal's 0-100)."""
    latest = session.get(HealthScore, customer_id)
    if latest is None or latest.score is None:
        return None
    if target == FINAL_SCORE:
        return float(latest.score)
    value = latest.signals.get("value", {}).get(target)
    return None if value is None else round(float(value) * 100, 2)
