"""Statistics of a backtest: does a low score come before churn? Pure numpy + scikit-learn.

Everything here takes plain arrays (one element per account snapshot) so it is tested on
hand-computed examples without a database. Convention: the score is a *health* score, so a
**low score predicts churn**; ranking metrics therefore use ``-score`` as the predictor.

Degenerate inputs (no churners, or nothing but churners) have no meaningful AUC: the
result is ``None`` with a plain-language ``reason`` instead of a misleading 0.5 or an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from healthscore.scoring.labels import Tier

RISK_ORDER: tuple[Tier, ...] = (Tier.critical, Tier.at_risk, Tier.monitor, Tier.healthy)
"""Tiers from riskiest to healthiest: a tier cut-off flags a prefix of this order."""

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DECILES = 10

Bools = NDArray[np.bool_]
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class AucResult:
    """ROC AUC with its bootstrap interval; ``auc`` is ``None`` when it cannot be computed."""

    auc: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    resamples: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class TierRate:
    """How often accounts of one tier churned within the horizon, versus everyone."""

    tier: str
    accounts: int
    churned: int
    rate: float | None
    lift: float | None


@dataclass(frozen=True)
class DecileRate:
    """One tenth of the accounts by score; decile 1 holds the lowest (riskiest) scores."""

    decile: int
    min_score: float
    max_score: float
    accounts: int
    churned: int
    rate: float
    lift: float | None


@dataclass(frozen=True)
class TierCutoff:
    """Treat every account in ``flagged_tiers`` as "will churn": how right, how complete."""

    label: str
    flagged_tiers: tuple[str, ...]
    flagged: int
    churned_flagged: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True)
class SignalAuc:
    """How well one signal alone ranks churners (low value ⇒ churn) and how often it has data."""

    name: str
    auc: float | None
    coverage: float
    reason: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """Everything the backtest says about one set of labelled snapshots."""

    accounts: int
    churned: int
    churn_rate: float | None
    roc_auc: AucResult
    pr_auc: float | None
    roc_points: list[tuple[float, float]]
    by_tier: list[TierRate]
    by_decile: list[DecileRate]
    tier_cutoffs: list[TierCutoff]
    signals: list[SignalAuc]


def _labels(churned: ArrayLike) -> Bools:
    return np.asarray(churned, dtype=bool)


def degenerate_reason(churned: ArrayLike) -> str | None:
    """Why a ranking metric is undefined for these labels, or ``None`` when it is defined."""
    labels = _labels(churned)
    if labels.size == 0:
        return "no accounts to evaluate"
    if not labels.any():
        return "no account churned within the horizon: there is nothing to predict"
    if labels.all():
        return "every account churned within the horizon: there is nothing to tell apart"
    return None


def roc_auc(churned: ArrayLike, scores: ArrayLike) -> AucResult:
    """Probability that a random churner scored lower than a random retained account."""
    labels = _labels(churned)
    reason = degenerate_reason(labels)
    if reason:
        return AucResult(auc=None, reason=reason)
    from sklearn.metrics import roc_auc_score  # scikit-learn costs ~0.5 s to import

    risk = -np.asarray(scores, dtype=np.float64)
    return AucResult(auc=float(roc_auc_score(labels, risk)))


def _rank_auc(labels: Bools, risk: Floats) -> float:
    """ROC AUC as the Mann-Whitney statistic: the share of (churner, retained) pairs in
    which the churner is the riskier, ties counting half. It equals ``roc_auc_score`` on
    two classes, without its input checks, which cost ~3 ms a call: a bootstrap calls it
    a thousand times (tests compare the two)."""
    order = np.argsort(risk, kind="mergesort")
    ordered = risk[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))  # of each run of ties
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(ordered))
    ranks = np.empty(len(ordered))
    ranks[order] = ((starts + ends + 1) / 2)[np.cumsum(first) - 1]  # 1-based, ties averaged
    churners = int(labels.sum())
    retained = len(labels) - churners
    return float((ranks[labels].sum() - churners * (churners + 1) / 2) / (churners * retained))


def auc_with_ci(
    churned: ArrayLike,
    scores: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> AucResult:
    """ROC AUC with a percentile bootstrap interval (seeded, so reports are reproducible).

    ``groups`` (e.g. the account id of each row) makes it a cluster bootstrap: one account
    seen at several cut-offs is resampled as a whole, because its rows are not independent.
    """
    labels = _labels(churned)
    point = roc_auc(labels, scores)
    risk = -np.asarray(scores, dtype=np.float64)
    if point.auc is None or resamples <= 0:
        return point
    rng = np.random.default_rng(seed)
    estimates: list[float] = []
    for rows in _resampled_rows(rng, len(labels), groups, resamples):
        sample = labels[rows]
        if sample.all() or not sample.any():
            continue  # a resample with one class has no AUC; skip it
        estimates.append(_rank_auc(sample, risk[rows]))
    if not estimates:
        return point
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return AucResult(
        auc=point.auc, ci_low=float(low), ci_high=float(high), resamples=len(estimates)
    )


def _resampled_rows(
    rng: np.random.Generator, n: int, groups: ArrayLike | None, resamples: int
) -> Iterator[NDArray[np.intp]]:
    """Row indices of each bootstrap sample: rows, or whole groups of rows, with replacement.

    A generator: a thousand samples of a large backtest would not fit in memory at once.
    """
    if groups is None:
        for _ in range(resamples):
            yield rng.integers(0, n, n)
        return
    _, group_of_row = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(group_of_row, kind="stable")
    sizes = np.bincount(group_of_row)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for _ in range(resamples):
        picked = rng.integers(0, len(sizes), len(sizes))
        lengths = sizes[picked]
        # Row positions of each picked group, laid end to end without a Python loop.
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        yield order[np.repeat(starts[picked], lengths) + offsets]


def pr_auc(churned: ArrayLike, scores: ArrayLike) -> float | None:
    """Average precision of ranking by lowest score first (baseline: the churn rate)."""
    labels = _labels(churned)
    if degenerate_reason(labels):
        return None
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(labels, -np.asarray(scores, dtype=np.float64)))


def roc_points(churned: ArrayLike, scores: ArrayLike) -> list[tuple[float, float]]:
    """The ROC curve as (false positive rate, true positive rate) points, for charts."""
    labels = _labels(churned)
    if degenerate_reason(labels):
        return []
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, -np.asarray(scores, dtype=np.float64))
    return [(float(x), float(y)) for x, y in zip(fpr, tpr, strict=True)]


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def churn_by_tier(
    churned: ArrayLike, tiers: Sequence[str], order: Sequence[str] = RISK_ORDER
) -> list[TierRate]:
    """Churn rate and lift (rate / overall rate) per tier, riskiest tier first."""
    labels = _labels(churned)
    names = np.asarray([str(t) for t in tiers], dtype=object)
    overall = _rate(int(labels.sum()), len(labels))
    known = [str(t) for t in order]
    present = known + sorted(set(names.tolist()) - set(known))
    result = []
    for tier in present:
        mask = names == tier
        accounts, churners = int(mask.sum()), int(labels[mask].sum())
        rate = _rate(churners, accounts)
        lift = rate / overall if rate is not None and overall else None
        result.append(TierRate(tier, accounts, churners, rate, lift))
    return result


def churn_by_decile(
    churned: ArrayLike, scores: ArrayLike, deciles: int = DECILES
) -> list[DecileRate]:
    """Accounts split into ``deciles`` equal groups by score, lowest first, with lift.

    Ties are split by position (a stable sort), so groups stay equal in size even though
    scores are integers; decile 1 is where a CSM would look first.
    """
    labels = _labels(churned)
    values = np.asarray(scores, dtype=np.float64)
    if labels.size == 0:
        return []
    overall = labels.mean()
    order = np.argsort(values, kind="stable")
    result = []
    for index, rows in enumerate(np.array_split(order, min(deciles, labels.size)), start=1):
        rate = float(labels[rows].mean())
        result.append(
            DecileRate(
                decile=index,
                min_score=float(values[rows].min()),
                max_score=float(values[rows].max()),
                accounts=len(rows),
                churned=int(labels[rows].sum()),
                rate=rate,
                lift=float(rate / overall) if overall > 0 else None,
            )
        )
    return result


def tier_cutoffs(
    churned: ArrayLike, tiers: Sequence[str], order: Sequence[str] = RISK_ORDER
) -> list[TierCutoff]:
    """Precision and recall of flagging "this tier or worse", for each tier but the last."""
    labels = _labels(churned)
    names = np.asarray([str(t) for t in tiers], dtype=object)
    total_churned = int(labels.sum())
    result = []
    for depth in range(1, len(order)):
        flagged_tiers = tuple(str(t) for t in order[:depth])
        mask = np.isin(names, flagged_tiers)
        flagged, hits = int(mask.sum()), int(labels[mask].sum())
        label = flagged_tiers[0] if depth == 1 else f"{flagged_tiers[-1]} or worse"
        result.append(
            TierCutoff(
                label=label,
                flagged_tiers=flagged_tiers,
                flagged=flagged,
                churned_flagged=hits,
                precision=_rate(hits, flagged),
                recall=_rate(hits, total_churned),
            )
        )
    return result


def signal_aucs(
    churned: ArrayLike,
    values: ArrayLike,
    names: Sequence[str],
    has_data: ArrayLike | None = None,
) -> list[SignalAuc]:
    """Univariate AUC of each signal's normalised value (0-1, low ⇒ churn), best first.

    Uses the value the score uses, including the scorecard's ``missing`` default, so it
    says what each signal contributes *as configured*; ``coverage`` is the share of
    accounts where the signal had real data.
    """
    labels = _labels(churned)
    matrix = np.asarray(values, dtype=np.float64).reshape(len(labels), len(names))
    present = (
        np.ones(matrix.shape, dtype=bool)
        if has_data is None
        else np.asarray(has_data, dtype=bool).reshape(matrix.shape)
    )
    result = []
    for j, name in enumerate(names):
        auc = roc_auc(labels, matrix[:, j])
        coverage = float(present[:, j].mean()) if len(labels) else 0.0
        result.append(SignalAuc(name, auc.auc, coverage, auc.reason))
    return sorted(result, key=lambda s: -1.0 if s.auc is None else s.auc, reverse=True)


def evaluate(
    churned: ArrayLike,
    scores: ArrayLike,
    tiers: Sequence[str],
    values: ArrayLike,
    signal_names: Sequence[str],
    *,
    has_data: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Evaluation:
    """Every statistic of the backtest report for one set of labelled snapshots."""
    labels = _labels(churned)
    churners = int(labels.sum())
    return Evaluation(
        accounts=len(labels),
        churned=churners,
        churn_rate=_rate(churners, len(labels)),
        roc_auc=auc_with_ci(labels, scores, groups=groups, resamples=resamples, seed=seed),
        pr_auc=pr_auc(labels, scores),
        roc_points=roc_points(labels, scores),
        by_tier=churn_by_tier(labels, tiers),
        by_decile=churn_by_decile(labels, scores),
        tier_cutoffs=tier_cutoffs(labels, tiers),
        signals=signal_aucs(labels, values, signal_names, has_data),
    )
