"""What a calibration produces, as plain data: the score → probability table, the
reliability bins and the validation verdict.

They are stored with each calibration and read back wherever a churn probability is shown
(``backtest.calibrations``: API, CLI, dashboard), so this module imports no numpy: a
command that only shows one account's probability (``healthscore show``) starts without
it. Fitting and judging, which need numpy and scikit-learn, live in ``backtest.calibration``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from healthscore.backtest.defaults import METHODS, Method

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

SCORE_COUNT = 101
"""Scores are the integers 0-100: a mapping holds one probability for each."""


@dataclass(frozen=True)
class ScoreMapping:
    """A fitted score → probability mapping, kept as the probability of every score 0-100
    (scores are integers), plus the fitted parameters for the record."""

    method: Method
    probabilities: list[float]
    parameters: dict[str, float]

    def probability(self, score: int) -> float:
        return self.probabilities[min(100, max(0, int(score)))]

    def apply(self, scores: ArrayLike) -> NDArray[np.float64]:
        import numpy as np  # for judging many snapshots at once, never to show one score

        table = np.asarray(self.probabilities, dtype=np.float64)
        result: NDArray[np.float64] = table[np.clip(np.asarray(scores, dtype=np.int64), 0, 100)]
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "parameters": self.parameters,
            "probabilities": self.probabilities,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreMapping:
        method = next((m for m in METHODS if m == data.get("method")), None)
        probabilities = [float(p) for p in data.get("probabilities") or []]
        if method is None or len(probabilities) != SCORE_COUNT:
            raise ValueError("not a stored calibration mapping")
        parameters = {str(k): float(v) for k, v in (data.get("parameters") or {}).items()}
        return cls(method, probabilities, parameters)


@dataclass(frozen=True)
class ReliabilityBin:
    """Validation snapshots whose predicted probability fell in one quantile bin."""

    predicted: float
    observed: float
    accounts: int


@dataclass(frozen=True)
class Judgement:
    """How a mapping did on the validation snapshots, and whether it counts as validated."""

    rows: int
    churned: int
    churned_accounts: int
    base_rate: float | None
    brier: float | None
    brier_base_rate: float | None
    skill: float | None
    skill_low: float | None
    reliability: list[ReliabilityBin]
    validated: bool
    reason: str | None
