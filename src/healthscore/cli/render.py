"""Rich renderings shared by CLI commands: tier breakdown, account lists, one account."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from healthscore.auth.keys import KeyInfo
from healthscore.playbooks.rules import Firing, PlaybookSet
from healthscore.scoring.reports import AccountDetail, ScoreRow

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


def print_account(console: Console, detail: AccountDetail) -> None:
    row = detail.score
    style = TIER_STYLE.get(row.tier, "")
    previous = "" if row.previous_score is None else f" (was {row.previous_score})"
    console.print(
        f"[bold]{row.name}[/] ({row.customer_id}) · {row.segment} · {row.plan} · "
        f"MRR {row.mrr}\n"
        f"score [bold]{'-' if row.score is None else row.score}[/]{previous} · "
        f"[{style}]{row.tier}[/] · {TREND_ARROW.get(row.trend, row.trend)} · "
        f"as of {row.as_of:%Y-%m-%d %H:%M} UTC · scorecard {detail.scorecard}"
    )
    if row.components:
        console.print("components: " + ", ".join(f"{g} {v:.0f}" for g, v in row.components.items()))
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
            "no data" if s.raw is None else f"{s.raw:.3g}",
            s.normalisation or "",
            f"{s.value:.2f}",
            f"{s.weight:.2f}",
            f"{s.contribution:.1f}",
        )
    console.print(table)


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


def firings_table(firings: Sequence[Firing]) -> Table:
    table = Table(title="Playbooks that would fire")
    for column in ("playbook", "account", "score", "tier", "reason"):
        table.add_column(column)
    for f in firings:
        table.add_row(
            f.playbook.name,
            f"{f.state.name} ({f.state.customer_id})",
            str(f.state.score),
            f.state.tier,
            f.reason,
        )
    return table
