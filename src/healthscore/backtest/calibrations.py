"""Stored calibrations, and the churn probability shown beside a score.

``healthscore tune --calibrate`` saves what it fitted (``save_calibrations``). The API, the
CLI and the dashboard ask ``probability_lookup`` for the scorecard in force: it holds the
newest *validated* calibration per horizon (30 and 90 days) of exactly that scorecard —
same identity and same digest of its recipe, since a name and version can be reused for
different weights. A score gets a probability only if that scorecard produced it; an
unvalidated calibration, or one of another scorecard, is never shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.backtest.calibration_results import Judgement, ReliabilityBin, ScoreMapping
from healthscore.scoring.scorecard import Scorecard
from healthscore.storage import calibration_models as cm
from healthscore.storage import models as m

SHOWN_HORIZONS = (30, 90)
"""The horizons a probability is shown for (``days30``, ``days90``)."""


def scorecard_digest(card: Scorecard) -> str:
    """SHA-256 of the scorecard's recipe (everything but its description)."""
    recipe = card.model_dump(mode="json", exclude={"description"})
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Calibration:
    """One fitted and judged calibration of one scorecard, before it is saved."""

    scorecard: str
    scorecard_digest: str
    horizon_days: int
    mapping: ScoreMapping
    train_from: datetime
    train_until: datetime
    validate_from: datetime
    validate_until: datetime
    months_of_history: float
    train_rows: int
    train_churned: int
    judgement: Judgement

    @property
    def validated(self) -> bool:
        return self.judgement.validated


@dataclass(frozen=True)
class StoredCalibration:
    """A saved calibration as ``healthscore calibrations list/show`` prints it."""

    id: int
    created_at: datetime
    scorecard: str
    scorecard_digest: str
    horizon_days: int
    method: str
    mapping: ScoreMapping
    train_from: datetime
    train_until: datetime
    validate_from: datetime
    validate_until: datetime
    months_of_history: float
    brier: float | None
    brier_base_rate: float | None
    reliability: list[ReliabilityBin]
    validated: bool
    reason: str | None
    statistics: dict[str, Any]


def save_calibrations(session: Session, calibrations: Sequence[Calibration]) -> list[int]:
    """Insert the calibrations (validated or not: both are kept for the record)."""
    now = datetime.now(UTC)
    rows = []
    for c in calibrations:
        j = c.judgement
        rows.append(
            cm.Calibration(
                created_at=now,
                scorecard=c.scorecard,
                scorecard_digest=c.scorecard_digest,
                horizon_days=c.horizon_days,
                method=c.mapping.method,
                mapping=c.mapping.to_json(),
                train_from=c.train_from,
                train_until=c.train_until,
                validate_from=c.validate_from,
                validate_until=c.validate_until,
                months_of_history=c.months_of_history,
                brier=j.brier,
                brier_base_rate=j.brier_base_rate,
                reliability=[vars(b) for b in j.reliability],
                validated=j.validated,
                reason=j.reason,
                statistics={
                    "train_rows": c.train_rows,
                    "train_churned": c.train_churned,
                    "validate_rows": j.rows,
                    "validate_churned": j.churned,
                    "validate_churned_accounts": j.churned_accounts,
                    "base_rate": j.base_rate,
                    "skill": j.skill,
                    "skill_low": j.skill_low,
                },
            )
        )
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def _stored(row: cm.Calibration) -> StoredCalibration:
    return StoredCalibration(
        id=row.id,
        created_at=row.created_at,
        scorecard=row.scorecard,
        scorecard_digest=row.scorecard_digest,
        horizon_days=row.horizon_days,
        method=row.method,
        mapping=ScoreMapping.from_json(row.mapping),
        train_from=row.train_from,
        train_until=row.train_until,
        validate_from=row.validate_from,
        validate_until=row.validate_until,
        months_of_history=row.months_of_history,
        brier=row.brier,
        brier_base_rate=row.brier_base_rate,
        reliability=[ReliabilityBin(**b) for b in row.reliability],
        validated=row.validated,
        reason=row.reason,
        statistics=dict(row.statistics),
    )


def list_calibrations(
    session: Session, *, scorecard: str | None = None, limit: int = 50
) -> list[StoredCalibration]:
    """Newest first, optionally only one scorecard's."""
    query = select(cm.Calibration).order_by(
        cm.Calibration.created_at.desc(), cm.Calibration.id.desc()
    )
    if scorecard:
        query = query.where(cm.Calibration.scorecard == scorecard)
    return [_stored(row) for row in session.scalars(query.limit(limit))]


def validated_calibration(
    session: Session, card: Scorecard, horizon_days: int
) -> StoredCalibration | None:
    """The newest validated calibration of exactly ``card`` for ``horizon_days``."""
    c = cm.Calibration
    row = session.scalars(
        select(c)
        .where(
            c.scorecard == card.identity,
            c.scorecard_digest == scorecard_digest(card),
            c.validated.is_(True),
            c.horizon_days == horizon_days,
        )
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(1)
    ).first()
    return _stored(row) if row is not None else None


def get_calibration(session: Session, calibration_id: int) -> StoredCalibration | None:
    row = session.get(cm.Calibration, calibration_id)
    return _stored(row) if row is not None else None


@dataclass(frozen=True)
class ChurnProbability:
    """Probability of churn within 30 and 90 days for one score (``None``: no validated
    calibration for that horizon), and the calibrations behind it."""

    days30: float | None
    days90: float | None
    months_of_history: float
    calibration_ids: list[int]


@dataclass(frozen=True)
class ProbabilityLookup:
    """The validated calibrations of one scorecard, by horizon."""

    scorecard: str
    mappings: dict[int, tuple[int, ScoreMapping, float]]
    """``{horizon: (calibration id, mapping, months of history)}``."""

    def for_score(self, scorecard: str, score: int | None) -> ChurnProbability | None:
        """The probability for a score produced by ``scorecard``; ``None`` when that is
        another scorecard or there is no score."""
        if score is None or scorecard != self.scorecard:
            return None
        found = {h: self.mappings.get(h) for h in SHOWN_HORIZONS}

        def at(horizon: int) -> float | None:
            entry = found[horizon]
            return None if entry is None else round(entry[1].probability(score), 4)

        used = [entry for entry in found.values() if entry is not None]
        return ChurnProbability(
            days30=at(30),
            days90=at(90),
            months_of_history=min(entry[2] for entry in used),
            calibration_ids=[entry[0] for entry in used],
        )


def probability_lookup(session: Session, card: Scorecard) -> ProbabilityLookup | None:
    """The newest validated calibration per shown horizon of exactly ``card``, if any."""
    c = cm.Calibration
    query = (
        select(c.id, c.horizon_days, c.mapping, c.months_of_history)
        .where(
            c.scorecard == card.identity,
            c.scorecard_digest == scorecard_digest(card),
            c.validated.is_(True),
            c.horizon_days.in_(SHOWN_HORIZONS),
        )
        .order_by(c.created_at.desc(), c.id.desc())
    )
    mappings: dict[int, tuple[int, ScoreMapping, float]] = {}
    for calibration_id, horizon, mapping, months in session.execute(query):
        if horizon not in mappings:
            mappings[horizon] = (calibration_id, ScoreMapping.from_json(mapping), months)
    return ProbabilityLookup(card.identity, mappings) if mappings else None


def churn_probability(
    session: Session, card: Scorecard, *, scorecard: str, score: int | None
) -> ChurnProbability | None:
    """The probability beside one score produced by ``scorecard``, while ``card`` is in
    force."""
    lookup = probability_lookup(session, card) if score is not None else None
    return lookup.for_score(scorecard, score) if lookup else None


def churn_probabilities(
    session: Session, card: Scorecard, scores: Sequence[tuple[str, int | None]]
) -> dict[str, ChurnProbability]:
    """Probabilities for ``(customer id, score)`` pairs of latest scores (one list page):
    one query for the calibrations, and one for the pairs' scorecards only if there is a
    validated calibration."""
    lookup = probability_lookup(session, card) if scores else None
    if lookup is None:
        return {}
    producers = scorecards_of(session, [cid for cid, _ in scores])
    result = {}
    for customer_id, score in scores:
        probability = lookup.for_score(producers.get(customer_id, ""), score)
        if probability is not None:
            result[customer_id] = probability
    return result


def scorecards_of(session: Session, customer_ids: Collection[str]) -> dict[str, str]:
    """The scorecard that produced each account's latest score."""
    h = m.HealthScore
    query = select(h.customer_id, h.scorecard).where(h.customer_id.in_(customer_ids))
    return {customer_id: scorecard for customer_id, scorecard in session.execute(query)}
