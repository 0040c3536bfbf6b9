"""Is the demo's churn realistic? Churn rate, story mix and how simple signals rank churners.

For each profile: generate a base, then at weekly cut-offs label every live account by
whether it churns within the next 30 days and rank those labels with a few simple
reference signals (ROC AUC, pooled over cut-offs; per churn path too). A single simple
signal should be useful and far from perfect (AUC ≈ 0.65-0.85): one above 0.9 means the
generator gives churn away.

    python -m bench.demo_realism [--profiles default,api_heavy,smb_monthly]
                                 [--customers 2000] [--days 150] [--keep DIR]

``--customers`` defaults to ``HEALTHSCORE_DEMO_CUSTOMERS`` when set, as ``healthscore demo``.

``--keep`` leaves each base in ``DIR/<profile>.db`` for ``healthscore backtest``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from healthscore.backtest.evaluate import roc_auc
from healthscore.ingest.demo import CHURN_PATHS, PROFILES, generate_demo
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, upgrade
from healthscore.timeutc import naive_utc

NOW = datetime(2026, 11, 1, tzinfo=UTC)
HORIZON = 30
SIGNALS = {
    "logins 14d vs own prior 76d": "login_ratio",
    "active seats 30d / seats": "active_share",
    "days since last login": "recency",
    "failed payments 30d": "failed",
    "NPS average 180d": "nps",
}
console = Console(width=150)


def _day(moments: list[datetime], start: datetime) -> NDArray[np.float64]:
    base = np.datetime64(naive_utc(start), "us")
    stamps = np.array(moments, dtype="datetime64[us]")
    return (stamps - base).astype(np.float64) / 86_400e6


class Base:
    """The generated base as arrays: one row per account, events as (account, day)."""

    def __init__(self, engine: Engine, days: int) -> None:
        start = NOW - timedelta(days=days)
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(
                    m.Customer.id, m.Customer.created_at, m.Customer.churned_at, m.Customer.traits
                )
            ).all()
            self.ids = [r[0] for r in rows]
            index = {cid: k for k, cid in enumerate(self.ids)}
            self.created = _day([r[1] for r in rows], start)
            self.churned = np.array(
                [np.inf if r[2] is None else float(_day([r[2]], start)[0]) for r in rows]
            )
            self.archetype = [r[3]["archetype"] for r in rows]
            self.path = [r[3].get("churn_path") for r in rows]
            self.contract = [r[3].get("contract") for r in rows]

            def events(*columns: Any) -> list[Any]:
                return [tuple(r) for r in session.execute(select(*columns)).all()]

            logins = events(m.Session.customer_id, m.Session.user_id, m.Session.ts)
            self.login_acct = np.array([index[r[0]] for r in logins])
            self.login_user = np.array([hash(r[1]) for r in logins])
            self.login_day = _day([r[2] for r in logins], start)
            users = events(m.User.customer_id, m.User.user_id, m.User.created_at, m.User.removed_at)
            self.user_acct = np.array([index[r[0]] for r in users])
            self.user_id = np.array([hash(r[1]) for r in users])
            self.user_from = _day([r[2] for r in users], start)
            self.user_to = np.array(
                [np.inf if r[3] is None else float(_day([r[3]], start)[0]) for r in users]
            )
            failed = events(m.Payment.customer_id, m.Payment.ts, m.Payment.status)
            failed = [r for r in failed if r[2] == "failed"]
            self.fail_acct = np.array([index[r[0]] for r in failed], dtype=np.int64)
            self.fail_day = _day([r[1] for r in failed], start)
            nps = events(m.NpsResponse.customer_id, m.NpsResponse.ts, m.NpsResponse.score)
            self.nps_acct = np.array([index[r[0]] for r in nps], dtype=np.int64)
            self.nps_day = _day([r[1] for r in nps], start)
            self.nps_score = np.array([r[2] for r in nps], dtype=np.float64)

    def snapshot(
        self, cut: float
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], dict[str, NDArray[np.float64]]]:
        """Accounts live at ``cut``, their label, and each signal's risk (higher: riskier)."""
        n = len(self.ids)
        live = (self.created < cut) & (self.churned > cut)
        label = self.churned <= cut + HORIZON

        def count(
            acct: NDArray[np.int64], day: NDArray[np.float64], lo: float
        ) -> NDArray[np.float64]:
            inside = (day >= cut - lo) & (day < cut)
            return np.bincount(acct[inside], minlength=n).astype(np.float64)

        recent = count(self.login_acct, self.login_day, 14)
        prior = count(self.login_acct, self.login_day, 90) - recent
        ratio = (recent / 14 + 0.01) / (prior / 76 + 0.01)
        seats_now = (self.user_from < cut) & (self.user_to > cut)
        seats = np.bincount(self.user_acct[seats_now], minlength=n).astype(np.float64)
        window = (self.login_day >= cut - 30) & (self.login_day < cut)
        pairs = {
            (a, u)
            for a, u in zip(
                self.login_acct[window].tolist(), self.login_user[window].tolist(), strict=True
            )
        }
        seat_pairs = set(
            zip(self.user_acct[seats_now].tolist(), self.user_id[seats_now].tolist(), strict=True)
        )
        active = np.zeros(n)
        for a, _u in pairs & seat_pairs:
            active[a] += 1
        share = np.where(seats > 0, active / np.maximum(seats, 1), 0.0)
        before = self.login_day < cut
        last = np.full(n, -np.inf)
        np.maximum.at(last, self.login_acct[before], self.login_day[before])
        recency = np.minimum(cut - last, 120.0)
        failed = count(self.fail_acct, self.fail_day, 30)
        answered = (self.nps_day < cut) & (self.nps_day >= cut - 180)
        total = np.bincount(self.nps_acct[answered], self.nps_score[answered], minlength=n)
        answers = np.bincount(self.nps_acct[answered], minlength=n)
        neutral = float(self.nps_score[answered].mean()) if answered.any() else 7.0
        nps = np.where(answers > 0, total / np.maximum(answers, 1), neutral)
        risk = {
            "login_ratio": -ratio,
            "active_share": -share,
            "recency": recency,
            "failed": failed,
            "nps": -nps,
        }
        return live, label, risk


def measure(name: str, customers: int, days: int, seed: int, folder: Path) -> None:
    path = folder / f"{name}.db"
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    started = time.perf_counter()
    with make_sessionmaker(engine)() as session:
        summary = generate_demo(
            session, customers=customers, days=days, seed=seed, now=NOW, profile=name
        )
        session.commit()
    took = time.perf_counter() - started
    base = Base(engine, days)
    engine.dispose()
    _print_mix(name, base, days, took, summary.rows)
    cuts = [float(c) for c in range(90, days - HORIZON + 1, 7)] or [float(days - HORIZON)]
    labels: list[NDArray[np.bool_]] = []
    paths: list[NDArray[np.object_]] = []
    risks: dict[str, list[NDArray[np.float64]]] = {key: [] for key in SIGNALS.values()}
    for cut in cuts:
        live, label, risk = base.snapshot(cut)
        labels.append(label[live])
        paths.append(np.array(base.path, dtype=object)[live])
        for key in risks:
            risks[key].append(risk[key][live])
    y = np.concatenate(labels)
    path_of = np.concatenate(paths)
    table = Table(
        title=f"{name}: ROC AUC of simple signals, churn within {HORIZON} days "
        f"({len(cuts)} cut-offs from day {int(cuts[0])}, {y.sum()} churn labels "
        f"of {len(y)} snapshots, {y.mean():.1%})"
    )
    table.add_column("signal")
    table.add_column("all", justify="right")
    for p in CHURN_PATHS:
        table.add_column(p.replace("_", " "), justify="right")
    stayers = ~y
    for title, key in SIGNALS.items():
        pooled = np.concatenate(risks[key])
        cells = [_auc(y, pooled)]
        for p in CHURN_PATHS:
            mask = stayers | (y & (path_of == p))
            cells.append(_auc(y[mask], pooled[mask]))
        table.add_row(title, *cells)
    console.print(table)


def _auc(labels: NDArray[np.bool_], risk: NDArray[np.float64]) -> str:
    result = roc_auc(labels, -risk)
    return "-" if result.auc is None else f"{result.auc:.2f}"


def _print_mix(name: str, base: Base, days: int, took: float, rows: dict[str, int]) -> None:
    n = len(base.ids)
    churned = np.isfinite(base.churned)
    exposure = np.clip(days - np.maximum(base.created, 0), 0, days)
    exposure = np.where(
        churned, np.clip(base.churned - np.maximum(base.created, 0), 0, days), exposure
    )
    monthly = churned.sum() / (exposure.sum() / 30)
    console.print(
        f"\n[bold]{name}[/]: {n} accounts, {days} days, generated in {took:.1f}s; "
        f"{churned.sum()} churned ({churned.mean():.1%} of accounts, "
        f"{monthly:.1%} a month); created inside the window: {(base.created > 0).mean():.1%}"
    )
    console.print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    arche = Counter(base.archetype)
    lost = Counter(a for a, c in zip(base.archetype, churned, strict=True) if c)
    console.print(
        "  stories (share · churned in window): "
        + ", ".join(f"{k} {v / n:.1%}·{lost[k]}" for k, v in arche.most_common())
    )
    annual = [
        k
        for k in range(n)
        if churned[k] and base.contract[k] == "annual" and base.archetype[k] != "payment_failure"
    ]
    at_renewal = sum(
        1 for k in annual if abs(((base.churned[k] - base.created[k]) + 0.5) % 365 - 0.5) < 0.5
    )
    console.print(
        f"  annual-contract voluntary churners at a renewal date: {at_renewal}/{len(annual)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument(  # the size of `healthscore demo` too (the docs test sets it)
        "--customers", type=int, default=int(os.environ.get("HEALTHSCORE_DEMO_CUSTOMERS", 2000))
    )
    parser.add_argument("--days", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the generated bases in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="demo_realism_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.profiles.split(","):
            measure(name, args.customers, args.days, args.seed, folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
