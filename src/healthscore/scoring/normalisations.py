"""How a signal's raw value becomes 0 to 1: the three normalisations a scorecard can name.

Each is a small validated model with ``apply`` (vectorised over all accounts, with the
arrays' own methods: reading a scorecard does not load numpy) and ``describe`` (the formula
shown beside every number, so a score can be explained).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from healthscore.scoring.metrics import Column


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetNormalisation(_Strict):
    """``min(1, raw / target)``: reaching the target earns full marks (seed 000's caps)."""

    kind: Literal["target"]
    target: float = Field(gt=0)

    def apply(self, raw: Column) -> Column:
        return (raw / self.target).clip(0.0, 1.0)

    def describe(self) -> str:
        return f"min(1, raw / {self.target:g})"


class RampNormalisation(_Strict):
    """Linear from ``low`` (0) to ``high`` (1); ``low > high`` makes a falling ramp."""

    kind: Literal["ramp"]
    low: float
    high: float

    @model_validator(mode="after")
    def _distinct_bounds(self) -> RampNormalisation:
        if self.low == self.high:
            raise ValueError("low and high must differ")
        return self

    def apply(self, raw: Column) -> Column:
        return ((raw - self.low) / (self.high - self.low)).clip(0.0, 1.0)

    def describe(self) -> str:
        return f"0 at {self.low:g} → 1 at {self.high:g}"


class InverseNormalisation(_Strict):
    """``1 - min(1, raw / cap)``: zero is best, ``cap`` or more is worst (tickets, failures)."""

    kind: Literal["inverse"]
    cap: float = Field(gt=0)

    def apply(self, raw: Column) -> Column:
        return 1.0 - (raw / self.cap).clip(0.0, 1.0)

    def describe(self) -> str:
        return f"1 - min(1, raw / {self.cap:g})"


Normalisation = Annotated[
    TargetNormalisation | RampNormalisation | InverseNormalisation,
    Field(discriminator="kind"),
]
