"""From aggregates to one signal's raw and 0-1 value, per account (pure numpy).

A measurement is a metric over a window, absolute, per seat or against the account's own
baseline; a signal is its measurement plus fallbacks, blended by how far each can be
trusted (``credibility``), so thin data moves a score a little at a time, never in a jump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from healthscore.scoring.labels import Basis
from healthscore.scoring.metrics import METRICS, Column, Lookup
from healthscore.scoring.scorecard import Measurement, Signal


@dataclass(frozen=True)
class Measured:
    """One measurement per account: ``raw`` (``NaN`` = no data) and how far it can be
    trusted (``credibility``, 0-1: 1 for data, 0 for none, in between for a baseline that
    is still thin)."""

    raw: Column
    credibility: Column


def measure(
    measurement: Measurement, get: Lookup, ages: NDArray[np.float64] | None = None
) -> Measured:
    """One measurement before normalisation, per account."""
    metric = METRICS[measurement.metric]
    current = np.asarray(metric.compute(get, measurement.window_days, 0), dtype=np.float64)
    if measurement.basis is Basis.absolute:
        raw = current
    elif measurement.basis is Basis.per_seat:
        seats = METRICS["seats"].compute(get, measurement.window_days, 0)
        raw = np.where(seats > 0, current / np.where(seats > 0, seats, 1.0), np.nan)
    elif measurement.baseline_floor is None:
        return _vs_baseline_seed000(
            measurement, metric.compute(get, *_baseline(measurement)), current
        )
    else:
        return _vs_baseline(
            measurement, metric.compute(get, *_baseline(measurement)), current, ages
        )
    return Measured(raw, np.where(np.isnan(raw), 0.0, 1.0))


def _baseline(measurement: Measurement) -> tuple[int, int]:
    """(window, offset) of the baseline period: right before the measured window."""
    return measurement.effective_baseline_days, measurement.window_days


def _vs_baseline_seed000(measurement: Measurement, baseline: Column, current: Column) -> Measured:
    """Seed 000's rule: daily rate now / daily rate in the baseline; no baseline activity
    counts as "at baseline" once the account is active again, none at all as no data."""
    baseline = np.nan_to_num(baseline)
    window, baseline_days = measurement.window_days, measurement.effective_baseline_days
    has = baseline > 0
    prior = measurement.prior
    expected = np.where(has, baseline, 1.0) / baseline_days * window
    ratio = (current + prior) / (expected + prior)
    raw = np.where(has, ratio, np.where(current > 0, 1.0, np.nan))
    return Measured(raw, np.where(np.isnan(raw), 0.0, 1.0))


def _vs_baseline(
    measurement: Measurement,
    baseline: Column,
    current: Column,
    ages: NDArray[np.float64] | None,
) -> Measured:
    """Daily rate now against the account's own baseline rate, trusted as far as the
    baseline goes: only the part of the baseline the account lived through counts (a
    40-day-old account has 26 of a 56-day baseline), and the comparison's credibility
    grows with the baseline's volume and length up to the floor. The rest of the value
    comes from the signal's fallback (or ``missing``), so a baseline that grows event by
    event moves the score a little at a time, never in one jump."""
    floor = measurement.baseline_floor
    assert floor is not None
    baseline = np.nan_to_num(baseline)
    window, baseline_days = measurement.window_days, measurement.effective_baseline_days
    lived = (
        np.full(len(baseline), float(baseline_days))
        if ages is None
        else np.clip(ages - window, 0.0, float(baseline_days))
    )
    by_amount = np.clip(baseline / floor.min_amount, 0.0, 1.0) if floor.min_amount > 0 else 1.0
    min_days = min(floor.min_days, baseline_days)
    by_days = np.clip(lived / min_days, 0.0, 1.0) if min_days > 0 else 1.0
    credibility = np.minimum(by_amount, by_days) * (baseline > 0)
    expected = baseline / np.maximum(lived, 1.0) * window
    prior = measurement.prior
    ratio = (current + prior) / np.maximum(expected + prior, 1e-9)
    return Measured(np.where(credibility > 0, ratio, np.nan), credibility)


def signal_values(
    signal: Signal, get: Lookup, ages: NDArray[np.float64] | None = None
) -> tuple[Column, Column, NDArray[np.int8], Column]:
    """``(raw, value, via, credibility)`` per account. ``value`` blends each measurement
    (the signal's own, then its fallbacks) by its credibility, the rest coming from the
    next one and finally from ``missing``; ``raw``, ``via`` and ``credibility`` are those of
    the first measurement with any (the one explanations show; ``via`` -1: none)."""
    measured = [(m, measure(m, get, ages)) for m in signal.measurements()]
    n = len(measured[0][1].raw)
    value = np.full(n, signal.missing)
    for measurement, found in reversed(measured):
        trusted = found.credibility
        normalised = measurement.normalise.apply(np.nan_to_num(found.raw))
        value = np.where(trusted > 0, trusted * normalised + (1.0 - trusted) * value, value)
    raw = np.full(n, np.nan)
    credibility = np.zeros(n)
    via = np.full(n, -1, dtype=np.int8)
    for k, (_, found) in enumerate(measured):
        take = (via < 0) & (found.credibility > 0)
        raw = np.where(take, found.raw, raw)
        credibility = np.where(take, found.credibility, credibility)
        via = np.where(take, k, via).astype(np.int8)
    return raw, value, via, credibility


def raw_values(signal: Signal, get: Lookup) -> Column:
    """The signal's measurement before normalisation, per account; ``NaN`` = no data."""
    return signal_values(signal, get)[0]
