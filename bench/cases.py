"""Cases on a demo book: do the case rules hold, how many cases, and do they point at churn.

A fresh demo database (``ingest.demo.generate_demo``), then a daily replay with the
default playbooks through ``Rescoring.replay(..., playbooks=True)``, the path
``healthscore demo`` takes. The replayed days end ``--horizon`` days before the data does,
so every case's next ``--horizon`` days are known. Before each replayed day a dry run
records which (account, playbook) pairs fire — the rules' own verdict, independent of
what the case rules then do with it. Reported:

* max unresolved cases per (account, playbook) — must be ≤ 1;
* messages for a persisting condition — a case opened or reopened for a pair that also
  fired at the run before (no clear in between) — must be 0; and all messages by kind;
* cases per 100 accounts per 30 days, next to the entries the old stream rule (a new
  entry whenever the playbook's ``cooldown_days`` had passed) would have logged;
* precision: the share of cases on accounts that churn within ``--horizon`` days of the
  case opening, against the base rate (an account active on a replayed day churning
  within ``--horizon`` days of it, averaged over the days), overall and per playbook.

    python -m bench.cases [--customers 2000] [--replay-days 30] [--horizon 60]
                          [--history-days 90] [--seed 7] [--profile default]
                          [--playbooks PATH] [--database URL]

The demo data and the scoring change under other work: the figures are a measurement,
nothing here is tuned to them.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from healthscore.ingest.demo import generate_demo
from healthscore.playbooks.rules import PlaybookSet, load_playbooks
from healthscore.rescoring.service import Rescoring
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage import case_models
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction, upgrade

NOW = datetime(2026, 6, 15, tzinfo=UTC)
Pair = tuple[str, str]
NOTIFYING = ("opened", "reopened", "escalated", "resolved")


@dataclass
class CaseFigures:
    accounts: int
    """Accounts active on at least one replayed day."""
    replay_days: int
    horizon_days: int
    firings: int
    cases: int
    max_unresolved: int
    persisting_messages: int
    messages: dict[str, int]
    """Case events that send the playbook's messages, by kind (opened, reopened, escalated,
    resolved)."""
    sent: int
    """Messages those events would send: one per webhook, Slack or Redis action."""
    stream_entries: int
    """Entries the old rule (one per ``cooldown_days`` while firing) would have logged."""
    hits: int
    base_rate: float | None
    per_playbook: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Playbook → (cases, cases on accounts that churned within the horizon)."""
    seconds: float = 0.0

    @property
    def cases_per_100_per_30_days(self) -> float:
        return self.cases / max(1, self.accounts) * 100 * 30 / max(1, self.replay_days)

    @property
    def stream_per_100_per_30_days(self) -> float:
        return self.stream_entries / max(1, self.accounts) * 100 * 30 / max(1, self.replay_days)

    @property
    def precision(self) -> float | None:
        return self.hits / self.cases if self.cases else None


def replay_days(replay: int, horizon: int) -> list[datetime]:
    """Midnights of the replayed days, oldest first, the last ``horizon`` days before NOW."""
    last = NOW - timedelta(days=horizon)
    return [last - timedelta(days=d) for d in range(replay - 1, -1, -1)]


def stream_entries(fired: dict[datetime, set[Pair]], playbooks: PlaybookSet) -> int:
    """What the outreach log logged before cases: a new entry per firing once the
    playbook's cooldown had passed since the pair's previous entry."""
    cooldown = {p.name: timedelta(days=p.cooldown_days) for p in playbooks.playbooks}
    last: dict[Pair, datetime] = {}
    logged = 0
    for moment in sorted(fired):
        for pair in fired[moment]:
            previous = last.get(pair)
            if previous is None or previous <= moment - cooldown[pair[1]]:
                last[pair] = moment
                logged += 1
    return logged


def measure(
    sessions: sessionmaker[Session],
    *,
    scorecard: Scorecard,
    playbooks: PlaybookSet,
    moments: list[datetime],
    horizon_days: int,
) -> CaseFigures:
    """Replay ``moments`` with ``playbooks`` (dry run first, each), then measure."""
    started = time.perf_counter()
    rescoring = Rescoring(
        sessions=sessions, scorecard=scorecard, playbooks=playbooks, deliveries=lambda _ids: None
    )
    fired: dict[datetime, set[Pair]] = {}
    firings = 0
    for moment in moments:
        dry = rescoring.dry_run(as_of=moment)
        fired[moment] = {(f.state.customer_id, f.playbook.name) for f in dry.firings}
        firings += len(dry.firings)
        rescoring.replay([moment], playbooks=True)
    horizon = timedelta(days=horizon_days)
    channels = {
        p.name: sum(1 for a in p.actions if a.kind != "outreach") for p in playbooks.playbooks
    }
    with sessions() as session:
        o, e, c = case_models.OutreachEntry, case_models.CaseEvent, m.Customer
        max_unresolved = _max_unresolved(session)
        # The events that send messages: the rules' opening, reopening, escalating and
        # resolving (a replay has no people).
        notices = session.execute(
            select(e.kind, e.at, o.customer_id, o.playbook)
            .join(o, o.id == e.case_id)
            .where(e.kind.in_(NOTIFYING), e.actor == "system")
        ).all()
        accounts = {
            cid: (created, churned)
            for cid, created, churned in session.execute(select(c.id, c.created_at, c.churned_at))
        }
        cases = session.execute(select(o.customer_id, o.playbook, o.created_at)).all()
    previous = {later: earlier for earlier, later in itertools.pairwise(moments)}
    persisting = sum(
        1
        for kind, at, cid, playbook in notices
        if kind in ("opened", "reopened")
        and at in previous
        and (cid, playbook) in fired[previous[at]]
    )

    def churns_within(cid: str, moment: datetime) -> bool:
        churned = accounts[cid][1]
        return churned is not None and moment < churned <= moment + horizon

    per_playbook: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cid, playbook, opened in cases:
        per_playbook[playbook][0] += 1
        per_playbook[playbook][1] += churns_within(cid, opened)
    active_ever: set[str] = set()
    rates = []
    for moment in moments:
        active = [
            cid
            for cid, (created, churned) in accounts.items()
            if created <= moment and (churned is None or churned > moment)
        ]
        active_ever.update(active)
        if active:
            rates.append(sum(churns_within(cid, moment) for cid in active) / len(active))
    return CaseFigures(
        accounts=len(active_ever),
        replay_days=len(moments),
        horizon_days=horizon_days,
        firings=firings,
        cases=len(cases),
        max_unresolved=max_unresolved,
        persisting_messages=persisting,
        messages=dict(Counter(kind for kind, *_ in notices)),
        sent=sum(channels.get(playbook, 0) for _, _, _, playbook in notices),
        stream_entries=stream_entries(fired, playbooks),
        hits=sum(hit for _, hit in per_playbook.values()),
        base_rate=sum(rates) / len(rates) if rates else None,
        per_playbook={p: (n, hit) for p, (n, hit) in sorted(per_playbook.items())},
        seconds=time.perf_counter() - started,
    )


def _max_unresolved(session: Session) -> int:
    o = case_models.OutreachEntry
    counts = (
        select(func.count().label("n"))
        .where(o.status != "resolved")
        .group_by(o.customer_id, o.playbook)
        .subquery()
    )
    return int(session.scalar(select(func.max(counts.c.n))) or 0)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def report(f: CaseFigures) -> str:
    precision = f"{f.precision:.1%}" if f.precision is not None else "-"
    base = f"{f.base_rate:.1%}" if f.base_rate is not None else "-"
    lift = f"{f.precision / f.base_rate:.2f}x" if f.precision is not None and f.base_rate else "-"
    rows = [
        ("accounts active in the replay", f"{f.accounts:,}"),
        ("replayed days", f"{f.replay_days}"),
        ("playbook firings", f"{f.firings:,}"),
        ("cases opened", f"{f.cases:,}"),
        ("max unresolved cases per (account, playbook)", f"{f.max_unresolved}  (must be ≤ 1)"),
        ("messages for a persisting condition", f"{f.persisting_messages}  (must be 0)"),
        (
            "notifying events: opened / reopened / escalated / resolved",
            " / ".join(str(f.messages.get(k, 0)) for k in NOTIFYING),
        ),
        ("messages they send (webhook, Slack, Redis actions)", f"{f.sent:,}"),
        ("cases per 100 accounts per 30 days", f"{f.cases_per_100_per_30_days:.1f}"),
        (
            "old stream: entries per 100 accounts per 30 days",
            f"{f.stream_per_100_per_30_days:.1f}  ({f.stream_entries:,} entries)",
        ),
        (f"precision: cases on accounts churning within {f.horizon_days} days", precision),
        (f"base rate: active account churning within {f.horizon_days} days", base),
        ("lift (precision / base rate)", lift),
        ("seconds (replay with a dry run per day)", f"{f.seconds:.0f}"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    lines += ["", f"{'playbook':<24} {'cases':>7} {'churned':>8} {'precision':>9}"]
    for playbook, (cases, hits) in f.per_playbook.items():
        lines.append(f"{playbook:<24} {cases:>7} {hits:>8} {_share(hits, cases):>9}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--replay-days", type=int, default=30)
    parser.add_argument("--horizon", type=int, default=60)
    parser.add_argument(
        "--history-days",
        type=int,
        default=90,
        help="data before the replay (the default scorecard compares 14 days with the 56 before)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", default="default", help="demo profile (docs/demo.md)")
    parser.add_argument("--playbooks", default=None, help="a playbooks YAML (default: bundled)")
    parser.add_argument(
        "--database", help="an empty database URL (default: a temporary SQLite file)"
    )
    args = parser.parse_args()
    url = args.database or f"sqlite:///{Path(tempfile.mkdtemp()) / 'cases.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    days = args.history_days + args.replay_days + args.horizon
    with transaction(sessions) as session:
        generate_demo(
            session,
            customers=args.customers,
            days=days,
            seed=args.seed,
            now=NOW,
            profile=args.profile,
        )
    figures = measure(
        sessions,
        scorecard=load_scorecard("default"),
        playbooks=load_playbooks(args.playbooks) if args.playbooks else load_playbooks(),
        moments=replay_days(args.replay_days, args.horizon),
        horizon_days=args.horizon,
    )
    engine.dispose()
    print(
        f"{args.customers:,} demo accounts, {days} days of data; {args.replay_days} days "
        f"replayed, ending {args.horizon} days before the data does ({url.split(':')[0]})\n"
    )
    print(report(figures))


if __name__ == "__main__":
    main()
