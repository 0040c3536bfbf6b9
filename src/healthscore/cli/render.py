"""Rich renderings shared by CLI commands: tier breakdown, account lists, one account,
keys, playbooks, and the backtest and tuning results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from healthscore.auth.keys import KeyInfo
    from healthscore.backtest.calibrations import ChurnProbability
    from healthscore.backtest.evaluate import AucResult
    from healthscore.backtest.service import BacktestResult
    from healthscore.backtest.tune import TuningResult
    from healthscore.playbooks.rules import Firing, PlaybookSet
    from healthscore.scoring.reports import AccountDetail, ScoreRow, SignalDetail


TIER_STYLE = {
    "healthy": "green",
    "monitor": "yellow",
    "at_risk": "dark_orange",
    "critical": "bold red",
    "churned": "dim",
}
TREND_ARROW = {"improving": "↑ improving", "stable": "→ stable", "declining": "↓ declining"}


def tier_table(distribution: dict[str, int]) -> Table:
    total = sum(distribution.values()) or 1
    table = Table(title="Tier breakdown")
    table.add_column("tier")
    table.add_column("accounts", justify="right")
    table.add_column("share", justify="right")
    for tier, count in distribution.items():
        style = TIER_STYLE.get(tier, "")
        table.add_row(f"[{style}]{tier}[/]", str(count), f"{100 * count / total:.1f}%")
    return table


def accounts_table(rows: Sequence[ScoreRow], *, title: str) -> Table:
    table = Table(title=title)
    for column in ("account", "name", "segment", "score", "tier", "trend", "top driver"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for row in rows:
        driver = next(iter(row.drivers.items()), None)
        table.add_row(
            row.customer_id,
            row.name,
            row.segment,
            "-" if row.score is None else str(row.score),
            f"[{TIER_STYLE.get(row.tier, '')}]{row.tier}[/]",
            TREND_ARROW.get(row.trend, row.trend),
            f"{driver[0]} {driver[1]:+.1f}" if driver else "",
        )
    return table


def adjustment_lines(adjusted: dict[str, Any]) -> list[str]:
    """What changed the score after its signals, one line each, with the computed value."""
    lines = []
    override = adjusted.get("override", {})
    if "score" in override:
        o = override["score"]
        lines.append(
            f"set by hand to {o['value']:g} by {o['by']} until {o['until'][:10]} "
            f"(computed {o['computed']}): {o['reason']}"
        )
    for name, o in override.get("measures", {}).items():
        lines.append(
            f"{name} set by hand to {o['value']:g}% (computed {o['computed']:g}%) by {o['by']}"
        )
    rollup = adjusted.get("rollup")
    if rollup:
        lines.append(
            f"roll-up ({rollup.get('rule')}) of {len(rollup.get('children', []))} children; "
            f"own signals scored {rollup.get('ownScore')}"
        )
    products = adjusted.get("products")
    if products:
        each = ", ".join(f"{p['product']} {p['score']}" for p in products.get("products", []))
        lines.append(f"own signals {products.get('account_score')}, combined with {each}")
    return lines


def print_account(
    console: Console, detail: AccountDetail, probability: ChurnProbability | None = None
) -> None:
    """One account's score; with a validated calibration of the scorecard that produced
    it, the probability of churn beside it."""
    from healthscore.cli.render_calibration import probability_text

    row = detail.score
    style = TIER_STYLE.get(row.tier, "")
    previous = "" if row.previous_score is None else f" (was {row.previous_score})"
    chance = f" · {probability_text(probability)}" if probability else ""
    console.print(
        f"[bold]{row.name}[/] ({row.customer_id}) · {row.segment} · {row.plan} · "
        f"MRR {row.mrr}\n"
        f"score [bold]{'-' if row.score is None else row.score}[/]{previous}{chance} · "
        f"[{style}]{row.tier}[/] · {TREND_ARROW.get(row.trend, row.trend)} · "
        f"as of {row.as_of:%Y-%m-%d %H:%M} UTC · scorecard {detail.scorecard}"
    )
    if row.stage:
        trust = "" if row.confidence is None else f" · confidence {row.confidence:.0%}"
        console.print(f"stage {row.stage}{trust}")
    if row.components:
        console.print("components: " + ", ".join(f"{g} {v:.0f}" for g, v in row.components.items()))
    for line in adjustment_lines(detail.adjusted):
        console.print(line)
    if row.drivers:
        console.print(
            "drivers of change: "
            + ", ".join(f"{name} {delta:+.1f} pts" for name, delta in row.drivers.items())
        )
    table = Table(title="Signals")
    for column in (
        "signal",
        "group",
        "window",
        "raw",
        "normalisation",
        "value",
        "weight",
        "points",
    ):
        table.add_column(
            column, justify="right" if column in {"raw", "value", "weight", "points"} else "left"
        )
    for s in detail.signals:
        table.add_row(
            s.name,
            s.group,
            f"{s.window_days}d {s.basis}" if s.window_days else "",
            _raw(s),
            s.normalisation or "",
            f"{s.value:.2f}",
            f"{s.weight:.2f}",
            f"{s.contribution:.1f}",
        )
    console.print(table)


def _raw(signal: SignalDetail) -> str:
    """The raw value, marked where it came from a fallback or a still-thin baseline."""
    if signal.raw is None:
        return "no data"
    text = f"{signal.raw:.3g}"
    if signal.fallback:
        text += f" (fallback {signal.fallback})"
    if signal.credibility < 1:
        text += f" ({signal.credibility:.0%} trusted)"
    return text


def keys_table(keys: list[KeyInfo]) -> Table:
    table = Table(title="API keys")
    for column in ("id", "prefix", "scope", "name", "created", "last used", "state"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            str(k.id),
            k.prefix,
            k.scope.value,
            k.name,
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
            "[red]revoked[/]" if k.revoked_at else "[green]active[/]",
        )
    return table


def playbooks_table(rules: PlaybookSet) -> Table:
    table = Table(title=f"Playbooks (v{rules.version})")
    for column in ("playbook", "when", "cooldown", "actions"):
        table.add_column(column)
    for p in rules.playbooks:
        conditions = f" {p.match.upper()} ".join(
            ", ".join(f"{k}={v}" for k, v in c.model_dump(exclude_none=True).items())
            for c in p.when
        )
        table.add_row(
            p.name, conditions, f"{p.cooldown_days}d", ", ".join(a.kind for a in p.actions)
        )
    return table


def firings_table(
    firings: Sequence[Firing], *, outcome: Callable[[Firing], str] | None = None
) -> Table:
    """The firings, with what each would do to its case (``outcome``) if given."""
    table = Table(title="Playbooks that would fire")
    columns = ("playbook", "account", "score", "tier", "reason")
    for column in (*columns, "case") if outcome else columns:
        table.add_column(column)
    for f in firings:
        cells = [
            f.playbook.name,
            f"{f.state.name} ({f.state.customer_id})",
            str(f.state.score),
            f.state.tier,
            f.reason,
        ]
        table.add_row(*cells, *([str(outcome(f))] if outcome else []))
    return table


def _auc_text(result: AucResult) -> str:
    from healthscore import formats

    return formats.estimate(
        result.auc,
        result.ci_low,
        result.ci_high,
        interval="[{}]",
        unknown=f"n/a: {result.reason}" if result.reason else "n/a",
    )


def _pct(value: float | None, digits: int = 1) -> str:
    from healthscore import formats

    return formats.percent(value, digits)


def _num(value: float | None, digits: int = 2) -> str:
    from healthscore import formats

    return formats.decimal(value, digits)


def print_backtest(out: Console, result: BacktestResult) -> None:
    """The backtest as Rich tables, most important first."""
    from healthscore.cli.render_calibration import print_calibration_check

    ev = result.evaluation
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    headline = Table(title=f"Backtest of {result.scorecard}, horizon {result.horizon_days} days")
    headline.add_column("measure")
    headline.add_column("value", justify="right")
    headline.add_column("what it means")
    headline.add_row(
        "cut-offs",
        str(len(result.cutoffs)),
        ", ".join(f"{c.as_of:%Y-%m-%d}" for c in result.cutoffs),
    )
    headline.add_row(
        "account snapshots", str(ev.accounts), f"{ev.churned} churned ({_pct(ev.churn_rate)})"
    )
    headline.add_row(
        "ROC AUC [95% CI]",
        _auc_text(ev.roc_auc),
        "chance a churner scored below a retained account (0.5 = coin flip)",
    )
    headline.add_row("PR AUC", _num(ev.pr_auc, 3), f"vs {_pct(ev.churn_rate)} for a random list")
    lead = result.lead_time
    if lead:
        headline.add_row(
            "median lead time",
            "n/a" if lead.median_lead_days is None else f"{lead.median_lead_days:.0f} days",
            f"first alert → churn, alerted churners ({lead.rule}: {lead.rule_description})",
        )
        headline.add_row(
            "churners alerted", _pct(lead.share_alerted), f"of {len(lead.churners)} churners"
        )
        headline.add_row(
            f"alerted ≥ {lead.early_days} days early",
            _pct(lead.share_early),
            f"of {lead.churners_observed_early} churners watched ≥ {lead.early_days} days",
        )
        headline.add_row(
            "alert precision",
            _pct(lead.precision),
            f"{lead.alerted_then_churned} of {lead.alerted_accounts} alerted accounts churned "
            f"within {lead.horizon_days} days (base rate {_pct(lead.base_rate)})",
        )
    headline.add_row("run time", f"{result.seconds:.1f}s", "")
    out.print(headline)

    tiers = Table(title="Churn by tier at the cut-off")
    for column in ("tier", "accounts", "churned", "churn rate", "lift"):
        tiers.add_column(column, justify="left" if column == "tier" else "right")
    for t in ev.by_tier:
        tiers.add_row(t.tier, str(t.accounts), str(t.churned), _pct(t.rate), _num(t.lift) + "x")
    out.print(tiers)
    order = result.tier_order
    colour = {True: "green", False: "red", None: "yellow"}[order.monotone]
    out.print(f"tiers: [{colour}]{escape(order.text)}[/]", soft_wrap=True)
    if result.calibration:
        print_calibration_check(out, result.calibration)

    cuts = Table(title="Flagging a tier or worse")
    for column in ("flag", "flagged", "precision", "recall"):
        cuts.add_column(column, justify="left" if column == "flag" else "right")
    for cut in ev.tier_cutoffs:
        cuts.add_row(cut.label, str(cut.flagged), _pct(cut.precision), _pct(cut.recall))
    out.print(cuts)

    deciles = Table(title="Churn by score decile (1 = lowest scores)")
    for column in ("decile", "scores", "accounts", "churned", "churn rate", "lift"):
        deciles.add_column(column, justify="right")
    for d in ev.by_decile:
        deciles.add_row(
            str(d.decile),
            f"{d.min_score:.0f}-{d.max_score:.0f}",
            str(d.accounts),
            str(d.churned),
            _pct(d.rate),
            _num(d.lift) + "x",
        )
    out.print(deciles)

    signals = Table(title="Each signal on its own (low value ⇒ churn)")
    for column in ("signal", "AUC", "accounts with data"):
        signals.add_column(column, justify="left" if column == "signal" else "right")
    for s in ev.signals:
        signals.add_row(s.name, _num(s.auc, 3), _pct(s.coverage, 0))
    out.print(signals)

    if len(result.cutoffs) > 1:
        per_cutoff = Table(title="Each cut-off")
        for column in ("as of", "accounts", "churned", "ROC AUC", "horizon observed"):
            per_cutoff.add_column(column, justify="left" if column == "as of" else "right")
        for c in result.cutoffs:
            per_cutoff.add_row(
                f"{c.as_of:%Y-%m-%d}",
                str(c.accounts),
                str(c.churned),
                _num(c.auc, 3),
                "yes" if c.labels_complete else "no",
            )
        out.print(per_cutoff)

    if result.comparisons:
        compared = Table(title="Scorecards on the same cut-offs")
        for column in ("scorecard", "ROC AUC [95% CI]", "PR AUC"):
            compared.add_column(column, justify="left" if column == "scorecard" else "right")
        for comparison in result.comparisons:
            compared.add_row(
                comparison.scorecard, _auc_text(comparison.roc_auc), _num(comparison.pr_auc, 3)
            )
        out.print(compared)
    if lead:
        for note in lead.notes:
            out.print(f"[yellow]note:[/] {note}")


def print_tuning(out: Console, result: TuningResult) -> None:
    from healthscore.cli.render_calibration import print_calibration_attempts, print_tier_comparison

    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    table = Table(title=f"ROC AUC: {result.base.identity} vs {result.tuned.identity}")
    for column in ("cut-offs", "snapshots", "churned", result.base.identity, result.tuned.identity):
        table.add_column(column, justify="left" if column == "cut-offs" else "right")
    table.add_row(
        f"training ({_dates(result.train_cutoffs)})",
        str(result.train_accounts),
        str(result.train_churned),
        _auc_text(result.train_default),
        _auc_text(result.train_tuned),
    )
    table.add_row(
        f"validation ({_dates(result.validate_cutoffs)})",
        str(result.validate_accounts),
        str(result.validate_churned),
        _auc_text(result.validate_default),
        _auc_text(result.validate_tuned),
    )
    out.print(table)
    weights = Table(title="Weights")
    for column in ("signal", "group", "before", "after"):
        weights.add_column(column, justify="right" if column in {"before", "after"} else "left")
    for w in result.weights:
        weights.add_row(w.name, w.group, f"{w.default:.4f}", f"{w.tuned:.4f}")
    out.print(weights)
    out.print(f"method: {result.method}")
    print_tier_comparison(out, result.tiers)
    print_calibration_attempts(out, result.calibrations)


def _dates(cutoffs: Sequence[datetime]) -> str:
    if len(cutoffs) == 1:
        return f"{cutoffs[0]:%Y-%m-%d}"
    return f"{len(cutoffs)} from {min(cutoffs):%Y-%m-%d} to {max(cutoffs):%Y-%m-%d}"
