"""The scorecard: which signals make a health score, and how. Configuration as data.

A scorecard is a versioned YAML file validated by the models below
(``scorecard_loading`` reads one); the labels it is written in (tiers, trends, stages,
groups, bases) are in ``labels``.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from healthscore.scoring.event_mapping import EventMapping
from healthscore.scoring.labels import Basis, Group, Stage, Tier, Trend
from healthscore.scoring.metrics import METRICS
from healthscore.scoring.normalisations import Normalisation
from healthscore.scoring.product_metrics import PRODUCT_METRICS

WEIGHT_TOLERANCE = 1e-6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineFloor(_Strict):
    """What makes a baseline worth comparing with (``vs_baseline`` only). Without a floor,
    an account with no baseline activity counts as "at baseline" once it is active again
    (seed 000's rule); with one, too little baseline is *no data*, and the signal's
    ``fallback`` (e.g. the segment's per-seat target) judges the account instead."""

    min_amount: float = Field(default=1, ge=0, description="least metric total in the baseline")
    min_days: int = Field(
        default=28, ge=0, le=730, description="least days of the baseline the account lived"
    )


class Measurement(_Strict):
    """A metric over a window, made comparable across accounts, normalised to 0-1."""

    metric: str
    window_days: int = Field(default=30, ge=1, le=730)
    basis: Basis = Basis.absolute
    baseline_days: int | None = Field(default=None, ge=1, le=730)
    baseline_floor: BaselineFloor | None = None
    prior: float = Field(
        default=0,
        ge=0,
        description="vs_baseline: pseudo-count added to the window and to its baseline "
        "expectation, so a few events cannot swing a small account",
    )
    normalise: Normalisation

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(sorted(METRICS))}")
        return value

    @model_validator(mode="after")
    def _basis_fits_metric(self) -> Measurement:
        metric = METRICS[self.metric]
        if self.basis is not Basis.absolute and not metric.additive:
            raise ValueError(f"basis {self.basis.value} needs a count metric, not {self.metric}")
        if self.basis is not Basis.vs_baseline:
            for name in ("baseline_days", "baseline_floor"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} only applies to basis vs_baseline")
            if self.prior:
                raise ValueError("prior only applies to basis vs_baseline")
        if self.window_days % metric.window_step or self.window_days < metric.min_window:
            raise ValueError(
                f"metric {self.metric} needs window_days of at least {metric.min_window}, "
                f"in multiples of {metric.window_step}"
            )
        return self

    @property
    def effective_baseline_days(self) -> int:
        return self.baseline_days or self.window_days

    @property
    def lookback_days(self) -> int:
        """How far back the measurement reads: its window, plus the baseline before it."""
        if self.basis is Basis.vs_baseline:
            return self.window_days + self.effective_baseline_days
        return self.window_days

    def describe(self) -> str:
        """``14d vs_baseline (56d)``: the window and basis, as explanations show them."""
        text = f"{self.window_days}d {self.basis.value}"
        if self.basis is Basis.vs_baseline:
            text += f" ({self.effective_baseline_days}d)"
        return text


class Signal(Measurement):
    """One weighted input to the score."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    group: Group
    description: str = ""
    weight: float = Field(ge=0, le=1)
    missing: float = Field(default=0.5, ge=0, le=1, description="value when there is no data")
    when_missing: Literal["value", "skip"] = Field(
        default="value",
        description="value: an account without data gets ``missing``; skip: it is scored "
        "on the other signals, their weights scaled up to sum to 1 (for signals most "
        "accounts lack, like a CSM's sentiment)",
    )
    fallback: list[Measurement] = Field(
        default_factory=list,
        max_length=4,
        description="tried in order when the signal has no data (no baseline yet, an "
        "account that uses the API instead of logging in); each is normalised its own way",
    )

    def measurements(self) -> list[Measurement]:
        """The signal's own measurement, then its fallbacks, in the order they are tried."""
        return [self, *self.fallback]


class Tiers(_Strict):
    """Lower bounds (inclusive) of each tier; below ``at_risk`` is ``critical``."""

    healthy: float = Field(default=70, ge=0, le=100)
    monitor: float = Field(default=50, ge=0, le=100)
    at_risk: float = Field(default=30, ge=0, le=100)

    @model_validator(mode="after")
    def _descending(self) -> Tiers:
        if not self.healthy > self.monitor > self.at_risk:
            raise ValueError("tier bounds must satisfy healthy > monitor > at_risk")
        return self

    def classify(self, score: float) -> Tier:
        if score >= self.healthy:
            return Tier.healthy
        if score >= self.monitor:
            return Tier.monitor
        if score >= self.at_risk:
            return Tier.at_risk
        return Tier.critical


class TrendRule(_Strict):
    """Compare with the score ``window_days`` earlier; a move beyond ``threshold`` counts."""

    window_days: int = Field(default=7, ge=1, le=365)
    threshold: float = Field(default=5, ge=0, le=100)

    def classify(self, score: float, previous: float | None) -> Trend:
        if previous is None:
            return Trend.stable
        if score > previous + self.threshold:
            return Trend.improving
        if score < previous - self.threshold:
            return Trend.declining
        return Trend.stable


class Lifecycle(_Strict):
    """When an account counts as onboarding, adopting, mature or in its renewal window."""

    onboarding_days: int = Field(default=30, ge=0, le=730)
    onboarding_days_by_segment: dict[str, Annotated[int, Field(ge=0, le=730)]] = Field(
        default_factory=dict
    )
    mature_after_days: int = Field(default=180, ge=0, le=3650)
    renewal_window_days: int = Field(default=90, ge=0, le=730)
    min_confidence: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="below this confidence a score fires no threshold or tier playbook",
    )

    def onboarding_days_for(self, segment: str | None) -> int:
        return self.onboarding_days_by_segment.get(segment or "", self.onboarding_days)


class SignalOverride(_Strict):
    """Per-segment (or per-stage) changes to one signal; unset fields keep the base value."""

    window_days: int | None = None
    basis: Basis | None = None
    baseline_days: int | None = None
    baseline_floor: BaselineFloor | None = None
    prior: float | None = None
    normalise: Normalisation | None = None
    weight: float | None = None
    missing: float | None = None
    when_missing: Literal["value", "skip"] | None = None
    fallback: list[Measurement] | None = None


class SegmentOverride(_Strict):
    signals: dict[str, SignalOverride] = Field(default_factory=dict)
    tiers: Tiers | None = None


class StageOverride(_Strict):
    """How accounts in one lifecycle stage are judged: their own list of signals (an
    onboarding account is judged on time-to-first-value, not on habits it has not had time
    to form), and/or changes to the signals they share with the base."""

    own_signals: list[Signal] | None = Field(default=None, min_length=1)
    signals: dict[str, SignalOverride] = Field(default_factory=dict)
    tiers: Tiers | None = None


class ProductCombine(_Strict):
    """How an account's product scores join its own score into the global one:
    ``round((1 - weight) * account score + weight * Σ share * product score)``, each
    product's share being its part of the account's active days over ``window_days``."""

    weight: float = Field(
        default=0.3, ge=0, le=1, description="part of the global score the products make"
    )
    window_days: int = Field(
        default=30, ge=1, le=365, description="the window of the products' activity shares"
    )


class ProductScoring(_Strict):
    """Per-product health (``docs/products.md``): signals measured on each product's own
    events, a score and tier per product an account uses, combined into its score."""

    signals: list[Signal] = Field(min_length=1)
    combine: ProductCombine = ProductCombine()

    @model_validator(mode="after")
    def _per_product(self) -> ProductScoring:
        _check_unique(self.signals, where="signals")
        _check_weights(self.signals, where="signals")
        for i, signal in enumerate(self.signals):
            for k, measured in enumerate(signal.measurements()):
                where = f"signals.{i}" + (f".fallback.{k - 1}" if k else "")
                if measured.metric not in PRODUCT_METRICS:
                    raise ValueError(
                        f"{where}.metric: {measured.metric} is not measured per product; "
                        f"product signals may use {', '.join(PRODUCT_METRICS)}"
                    )
                if measured.basis is Basis.per_seat:
                    raise ValueError(
                        f"{where}.basis: per_seat is not available per product "
                        "(seats belong to the account)"
                    )
        return self


class RollupRule(StrEnum):
    """How a parent account's score is made from its children's (``scoring.hierarchy``)."""

    mrr_weighted_mean = "mrr_weighted_mean"  # each child counts by its MRR
    mean = "mean"
    minimum = "minimum"  # the parent is as healthy as its sickest child


class Hierarchy(_Strict):
    """Parent accounts (``customers.parent_id``): their score is a roll-up of their active
    children's final scores, not their own signals' (``docs/hierarchy.md``)."""

    rollup: RollupRule = Field(
        default=RollupRule.mrr_weighted_mean,
        description="mrr_weighted_mean (all children at MRR 0: mean), mean or minimum",
    )


class Scorecard(_Strict):
    """A complete, validated scoring recipe."""

    version: int = Field(ge=1)
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    signals: list[Signal] = Field(min_length=1)
    tiers: Tiers = Tiers()
    trend: TrendRule = TrendRule()
    segments: dict[str, SegmentOverride] = Field(default_factory=dict)
    lifecycle: Lifecycle = Lifecycle()
    stages: dict[Stage, StageOverride] = Field(default_factory=dict)
    events: EventMapping = EventMapping()
    hierarchy: Hierarchy = Hierarchy()
    products: ProductScoring | None = None
    """Per-product scores and how they combine into the account's; none without it."""

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        _check_unique(self.signals, where="signals")
        _check_weights(self.signals, where="signals")
        if Stage.churned in self.stages:
            raise ValueError("stages.churned: churned accounts are not scored")
        names = {s.name for s in self.signals}
        for stage, override in self.stages.items():
            own = override.own_signals
            if own is not None:
                _check_unique(own, where=f"stages.{stage.value}.own_signals")
            known = {s.name for s in own} if own is not None else names
            unknown = sorted(set(override.signals) - known)
            if unknown:
                raise ValueError(f"stages.{stage.value}.signals: unknown signal(s) {unknown}")
            names |= known
        for segment, segment_override in self.segments.items():
            unknown = sorted(set(segment_override.signals) - names)
            if unknown:
                raise ValueError(f"segments.{segment}.signals: unknown signal(s) {unknown}")
        for segment, at_stage in self._variant_keys():
            try:
                self._resolve(segment, at_stage)
            except ValueError as error:  # includes pydantic's ValidationError
                where = [f"segments.{segment}"] if segment else []
                where += [f"stages.{at_stage.value}"] if at_stage else []
                raise ValueError(f"{', '.join(where)}: {error}") from error
        return self

    @property
    def identity(self) -> str:
        """What score rows record, so every number traces back to its recipe."""
        return f"{self.name}@v{self.version}"

    def _variant_keys(self) -> list[tuple[str, Stage | None]]:
        """Every (segment, stage) pair an account can have; "" and None: the base."""
        return [
            (segment, stage) for stage in [None, *self.stages] for segment in ["", *self.segments]
        ]

    @cached_property
    def _resolved(self) -> dict[tuple[str, Stage | None], Scorecard]:
        return {key: self._resolve(*key) for key in self._variant_keys()}

    def for_account(self, segment: str | None, stage: Stage | None = None) -> Scorecard:
        """The scorecard that applies to an account of ``segment`` in ``stage``: the
        stage's own signals or changes first, then the segment's changes to the signals
        it has (overrides merged)."""
        key = (segment if segment in self.segments else "", stage if stage in self.stages else None)
        return self._resolved.get(key, self)

    def for_segment(self, segment: str | None) -> Scorecard:
        """The scorecard that applies to an account of ``segment`` (overrides merged)."""
        return self.for_account(segment)

    def all_variants(self) -> list[Scorecard]:
        """Every combination of segment and stage this scorecard can resolve to."""
        unique: dict[int, Scorecard] = {id(self): self}
        for variant in self._resolved.values():
            unique.setdefault(id(variant), variant)
        return list(unique.values())

    def _resolve(self, segment: str, stage: Stage | None) -> Scorecard:
        if not segment and stage is None:
            return self
        signals = list(self.signals)
        tiers = self.tiers
        if stage is not None:
            override = self.stages[stage]
            if override.own_signals is not None:
                signals = list(override.own_signals)
            signals = _overridden(signals, override.signals)
            tiers = override.tiers or tiers
        if segment:
            segment_override = self.segments[segment]
            signals = _overridden(signals, segment_override.signals)
            tiers = segment_override.tiers or tiers
        _check_weights(signals, where="signals (after overrides)")
        return self.model_copy(
            update={"signals": signals, "tiers": tiers, "segments": {}, "stages": {}}
        )


def _overridden(signals: list[Signal], overrides: dict[str, SignalOverride]) -> list[Signal]:
    """``signals`` with each override merged into the signal of its name (names without a
    signal here are for another stage's signals and are skipped)."""
    merged = []
    for signal in signals:
        changes = overrides.get(signal.name)
        if changes is None:
            merged.append(signal)
            continue
        values = signal.model_dump() | changes.model_dump(exclude_none=True)
        merged.append(Signal.model_validate(values))
    return merged


def _check_unique(signals: list[Signal], *, where: str) -> None:
    names = [s.name for s in signals]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{where}: duplicate signal names: {', '.join(duplicates)}")


def _check_weights(signals: list[Signal], *, where: str) -> None:
    total = sum(s.weight for s in signals)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"{where}: weights must sum to 1, got {total:.6g}")
