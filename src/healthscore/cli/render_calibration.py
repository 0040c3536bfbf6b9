"""Rich renderings of what tuning proposes beyond weights: tier cut-offs and calibrations,
the saved calibrations, and the churn probability printed beside a score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from healthscore.backtest.calibrations import ChurnProbability, StoredCalibration
    from healthscore.backtest.evaluate import TierRate
    from healthscore.backtest.service import CalibrationCheck
    from healthscore.backtest.tiers import TierComparison, TierOrder
    from healthscore.backtest.tune_calibrations import CalibrationAttempt
    from healthscore.scoring.scorecard import Tiers


def probability_text(probability: ChurnProbability) -> str:
    """``22% chance of churn in 90 days (12% in 30 days), fitted on 14 months of history``."""
    parts = [
        (horizon, value)
        for horizon, value in ((90, probability.days90), (30, probability.days30))
        if value is not None
    ]
    if not parts:
        return ""
    (first_days, first), *rest = parts
    text = f"{first:.0%} chance of churn in {first_days} days"
    if rest:
        text += " (" + ", ".join(f"{v:.0%} in {d} days" for d, v in rest) + ")"
    months = f"{probability.months_of_history:.0f}"
    return f"{text}, fitted on {months} month{'s' if months != '1' else ''} of history"


def _bounds(tiers: Tiers) -> str:
    return f"healthy ≥ {tiers.healthy:g}, monitor ≥ {tiers.monitor:g}, at_risk ≥ {tiers.at_risk:g}"


def _rates(rates: Sequence[TierRate]) -> dict[str, TierRate]:
    return {r.tier: r for r in rates}


def _order(order: TierOrder | None) -> str:
    if order is None:
        return ""
    colour = {True: "green", False: "red", None: "yellow"}[order.monotone]
    return f"[{colour}]{escape(order.text)}[/]"


def print_tier_comparison(out: Console, tiers: TierComparison) -> None:
    """Current vs proposed cut-offs, with share and churn rate per tier on validation."""
    from healthscore import formats
    from healthscore.backtest.evaluate import RISK_ORDER

    proposal = tiers.proposal
    table = Table(title="Tier cut-offs: churn rate per tier on the validation cut-offs")
    table.add_column("tier")
    table.add_column("current: share", justify="right")
    table.add_column("churn rate", justify="right")
    table.add_column("proposed: share", justify="right")
    table.add_column("churn rate", justify="right")
    current, proposed = _rates(tiers.current_validation), _rates(tiers.proposed_validation)
    current_total = sum(r.accounts for r in tiers.current_validation) or 1
    proposed_total = sum(r.accounts for r in tiers.proposed_validation) or 1
    for tier in (str(t) for t in RISK_ORDER):
        now, then = current.get(tier), proposed.get(tier)
        table.add_row(
            tier,
            formats.percent(now.accounts / current_total, 1) if now else "-",
            formats.percent(now.rate, 1) if now else "-",
            formats.percent(then.accounts / proposed_total, 1) if then else "-",
            formats.percent(then.rate, 1) if then else "-",
        )
    out.print(table)
    out.print(f"current cut-offs ({_bounds(tiers.current)}): {_order(tiers.current_order)}")
    if proposal.tiers is None:
        out.print(f"[yellow]no cut-offs proposed:[/] {escape(proposal.reason or '')}")
        return
    verdict = "adopted in the tuned scorecard" if tiers.adopted else "[red]not adopted[/]"
    out.print(
        f"proposed cut-offs ({_bounds(proposal.tiers)}, on the tuned score), {verdict}: "
        f"{_order(tiers.proposed_order)}"
    )


def print_calibration_attempts(out: Console, attempts: Sequence[CalibrationAttempt]) -> None:
    """Each scorecard and horizon: Brier vs base rate on validation, validated or why not."""
    from healthscore import formats

    table = Table(title="Churn probability calibrations (judged on validation)")
    for column in ("scorecard", "horizon", "method", "Brier", "base-rate Brier", "verdict"):
        table.add_column(column, justify="right" if "Brier" in column else "left")
    for attempt in attempts:
        c = attempt.calibration
        if c is None:
            table.add_row(
                attempt.scorecard,
                f"{attempt.horizon_days} days",
                "-",
                "-",
                "-",
                f"[yellow]not fitted[/]: {escape(attempt.reason or '')}",
            )
            continue
        j = c.judgement
        table.add_row(
            c.scorecard,
            f"{c.horizon_days} days",
            c.mapping.method,
            formats.decimal(j.brier, 4),
            formats.decimal(j.brier_base_rate, 4),
            "[green]validated[/]"
            if j.validated
            else f"[red]not validated[/]: {escape(j.reason or '')}",
        )
    out.print(table)


def print_calibration_check(out: Console, check: CalibrationCheck) -> None:
    """One line: does the probability shown beside scores hold on the backtest's cut-offs?"""
    from healthscore import formats

    j = check.judgement
    verdict = (
        "[green]holds[/]" if j.validated else f"[red]does not hold[/]: {escape(j.reason or '')}"
    )
    caveat = " (some cut-offs fall in its training period)" if check.overlaps_training else ""
    out.print(
        f"churn probability (calibration {check.calibration_id}, {check.horizon_days} days): "
        f"Brier {formats.decimal(j.brier, 4)} vs {formats.decimal(j.brier_base_rate, 4)} for "
        f"the base rate on these cut-offs, {verdict}{caveat}",
        soft_wrap=True,
    )


def calibrations_table(calibrations: Sequence[StoredCalibration]) -> Table:
    from healthscore import formats

    table = Table(title="Calibrations (newest first)")
    for column in ("id", "created", "scorecard", "horizon", "method", "Brier", "base", "state"):
        table.add_column(column, justify="right" if column in {"id", "Brier", "base"} else "left")
    for c in calibrations:
        table.add_row(
            str(c.id),
            f"{c.created_at:%Y-%m-%d %H:%M}",
            c.scorecard,
            f"{c.horizon_days} days",
            c.method,
            formats.decimal(c.brier, 4),
            formats.decimal(c.brier_base_rate, 4),
            "[green]validated[/]" if c.validated else "[red]not validated[/]",
        )
    return table


def print_calibration(out: Console, c: StoredCalibration) -> None:
    """One saved calibration: where it comes from, how it did, and its mapping."""
    from healthscore import formats

    state = "[green]validated[/]" if c.validated else f"[red]not validated[/]: {c.reason}"
    stats = c.statistics
    out.print(
        f"[bold]calibration {c.id}[/] · {c.scorecard} (digest {c.scorecard_digest[:12]}) · "
        f"churn within {c.horizon_days} days · {c.method} · {state}\n"
        f"trained on cut-offs {formats.day(c.train_from)}..{formats.day(c.train_until)} "
        f"({stats.get('train_rows')} snapshots, {stats.get('train_churned')} churned); "
        f"validated on {formats.day(c.validate_from)}..{formats.day(c.validate_until)} "
        f"({stats.get('validate_rows')} snapshots, {stats.get('validate_churned_accounts')} "
        f"churned accounts); {c.months_of_history:.1f} months of history\n"
        f"Brier {formats.decimal(c.brier, 4)} vs {formats.decimal(c.brier_base_rate, 4)} "
        f"always predicting the base rate ({formats.percent(stats.get('base_rate'), 1)}); "
        f"skill {formats.decimal(stats.get('skill'), 3)} "
        f"(5th percentile {formats.decimal(stats.get('skill_low'), 3)})",
        soft_wrap=True,
    )
    bins = Table(title="Reliability on validation")
    for column in ("predicted", "observed", "snapshots"):
        bins.add_column(column, justify="right")
    for b in c.reliability:
        bins.add_row(
            formats.percent(b.predicted, 1), formats.percent(b.observed, 1), str(b.accounts)
        )
    out.print(bins)
    mapping = Table(title="Probability of churn by score")
    for column in ("score", "probability"):
        mapping.add_column(column, justify="right")
    for score in range(0, 101, 10):
        mapping.add_row(str(score), formats.percent(c.mapping.probability(score), 1))
    out.print(mapping)
