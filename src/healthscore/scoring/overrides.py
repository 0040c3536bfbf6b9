"""Manual overrides in a scoring run: an admin's value for an account's final score or
for one of its measures, kept (locked) by every run until it expires or is removed.

The computed value is kept beside the manual one (``signals.adjusted.override`` in the
stored score), so the dashboard and the API show both. Setting and removing overrides,
with their audit entries, is ``healthscore.csm``'s job; this module only applies them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from healthscore.scoring.engine import ScoredBatch
from healthscore.scoring.selection import Selection, restrict
from healthscore.storage.csm_models import ScoreOverride

FINAL_SCORE = "score"
"""The ``target`` of an override of the final score (any other target names a signal)."""


@dataclass(frozen=True)
class Override:
    id: int
    customer_id: str
    target: str
    value: float
    reason: str
    author: str
    expires_at: datetime

    def describe(self, computed: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "value": self.value,
            "computed": computed,
            "reason": self.reason,
            "by": self.author,
            "until": self.expires_at.isoformat(),
        }


def in_force(moment: datetime) -> Any:
    """An override counts from its creation until it expires or is removed."""
    return and_(
        ScoreOverride.created_at <= moment,
        ScoreOverride.expires_at > moment,
        or_(ScoreOverride.removed_at.is_(None), ScoreOverride.removed_at > moment),
    )


def overrides_in_force(
    session: Session, *, as_of: datetime, customer_ids: Selection = None
) -> dict[str, list[Override]]:
    """Every override in force at ``as_of``, by account (newest last)."""
    query = select(ScoreOverride).where(in_force(as_of)).order_by(ScoreOverride.created_at)
    found: dict[str, list[Override]] = defaultdict(list)
    for row in session.scalars(restrict(query, ScoreOverride.customer_id, customer_ids)):
        found[row.customer_id].append(
            Override(
                row.id,
                row.customer_id,
                row.target,
                row.value,
                row.reason,
                row.author,
                row.expires_at,
            )
        )
    return found


def apply_overrides(batches: Sequence[ScoredBatch], overrides: dict[str, list[Override]]) -> None:
    """Lock each overridden account's measures, then its final score, to the manual values.
    A measure override (0-100: points of the measure's full marks) replaces the signal's
    value and the score is re-derived from it; a final-score override replaces the score.
    An override of a signal the account's scorecard variant does not have is kept in the
    explanation as not applied."""
    if not overrides:
        return
    for batch in batches:
        names = set(batch.signal_names)
        for i, customer_id in enumerate(batch.customer_ids):
            found = overrides.get(customer_id)
            if not found:
                continue
            detail: dict[str, Any] = {"computedScore": int(batch.scores[i])}
            measures = {o.target: o for o in found if o.target != FINAL_SCORE}
            values: dict[str, float] = {}
            for target, override in measures.items():
                if target not in names:
                    detail.setdefault("notApplied", {})[target] = override.describe(0)
                    continue
                computed = batch.values[i, batch.signal_names.index(target)]
                detail.setdefault("measures", {})[target] = override.describe(
                    round(float(computed) * 100, 2)
                )
                values[target] = override.value / 100
            if values:
                batch.set_values(i, values, step="override", detail=detail)
            final = [o for o in found if o.target == FINAL_SCORE]
            if final:
                override = final[-1]
                detail["score"] = override.describe(int(batch.scores[i]))
                score = min(100, max(0, round(override.value)))
                batch.set_score(i, score, step="override", detail=detail)
            elif not values:  # only overrides of signals this account is not scored on
                batch.set_score(i, int(batch.scores[i]), step="override", detail=detail)
