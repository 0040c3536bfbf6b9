"""The calibrations fitted from history (``healthscore tune --calibrate``).

A table of its own module, on ``models.Base`` like the others (``schema`` lists them all):
showing a churn probability beside a score (``healthscore show``, the API) reads it without
declaring every table of the service's own work (``job_models``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from healthscore.storage.models import Base, BigId


class Calibration(Base):
    """A score → churn-probability mapping for one scorecard and horizon (30 or 90 days).

    Written by ``healthscore tune --calibrate``: fitted on the training cut-offs, judged on
    later validation cut-offs. A probability is shown beside a score only from a
    ``validated`` row of the scorecard that produced the score: same identity, and same
    ``scorecard_digest`` (a hash of the recipe), since a name and version can be reused.
    """

    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    scorecard: Mapped[str] = mapped_column(String(128), index=True)
    scorecard_digest: Mapped[str] = mapped_column(String(64))
    horizon_days: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))
    mapping: Mapped[dict[str, Any]]
    """``{"method", "parameters", "probabilities": [p(score 0), …, p(score 100)]}``."""
    train_from: Mapped[datetime]
    train_until: Mapped[datetime]
    validate_from: Mapped[datetime]
    validate_until: Mapped[datetime]
    months_of_history: Mapped[float]
    brier: Mapped[float | None]
    brier_base_rate: Mapped[float | None]
    reliability: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """Validation bins: ``{"predicted", "observed", "accounts"}`` each."""
    validated: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(Text)
    """Why the calibration is not validated (None when it is)."""
    statistics: Mapped[dict[str, Any]]
    """Snapshot and churner counts, base rate, Brier skill and its bootstrap bound."""
