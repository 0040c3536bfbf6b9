"""Run playbooks after a scoring run: assemble account states, judge, open or update cases.

The rules live here, in ``playbooks.rules`` (conditions) and ``playbooks.case_rules``
(what a firing does to a case); the SQL in ``playbooks.repository`` and
``playbooks.case_repository``. Everything is written in the caller's transaction together
with the scores, so a playbook acts exactly when its scores are committed. A persisting
condition keeps one case per account and playbook up to date instead of logging a new
entry: re-running the same moment changes nothing, and a message (webhook, Slack, Redis)
goes out only when a case opens, escalates or resolves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from healthscore.playbooks import case_repository, repository
from healthscore.playbooks.case_rules import CaseView, Outcome, Step, decide
from healthscore.playbooks.case_steps import apply_steps
from healthscore.playbooks.outbox import queue_deliveries
from healthscore.playbooks.rules import (
    AccountState,
    Firing,
    PlaybookSet,
    judge_all,
)
from healthscore.scoring.engine import HealthScore
from healthscore.scoring.lifecycle import age_days
from healthscore.scoring.selection import Accounts
from healthscore.storage import case_models
from healthscore.timeutc import utc


@dataclass(frozen=True)
class LoggedEntry:
    """A case a run opened."""

    customer_id: str
    playbook: str
    idempotency_key: str


@dataclass
class PlaybookRun:
    firings: list[Firing]
    steps: list[Step] = field(default_factory=list)
    """What the run did per account and playbook (``case_rules.decide``), in order."""
    logged_entries: list[LoggedEntry] = field(default_factory=list)
    """The cases this run opened."""
    delivery_ids: list[int] = field(default_factory=list)
    """Outbox rows created; enqueue them (``Jobs.enqueue_deliveries``) after the commit."""

    def count(self, outcome: Outcome) -> int:
        return Counter(s.outcome for s in self.steps)[outcome]

    def extend(self, other: PlaybookRun) -> None:
        """Add a later run's (the next group of accounts of one rescore)."""
        self.firings += other.firings
        self.steps += other.steps
        self.logged_entries += other.logged_entries
        self.delivery_ids += other.delivery_ids

    @property
    def logged(self) -> int:
        """Cases opened."""
        return len(self.logged_entries)

    @property
    def suppressed(self) -> int:
        """Firings that opened no case (an open case was updated or escalated instead,
        or nothing changed)."""
        return len(self.firings) - self.logged


@dataclass(frozen=True)
class Plan:
    """What a run would do, before anything is written (the dry run stops here)."""

    as_of: datetime
    firings: list[Firing]
    steps: list[Step]
    cases: dict[int, case_models.OutreachEntry]


def account_states(
    session: Session,
    playbooks: PlaybookSet,
    scores: list[HealthScore],
    *,
    as_of: datetime,
    accounts: Accounts | None = None,
) -> list[AccountState]:
    """Everything the rules look at, for the accounts just scored, from data before ``as_of``.
    ``accounts``: what the reads filter on (``repository.account_scope`` of the scored ids
    unless given); rows of other accounts it lets through are not looked at."""
    if not scores:
        return []
    if accounts is None:
        accounts = repository.account_scope(session, [s.customer_id for s in scores])
    today = as_of.date()
    customers = repository.customer_profiles(session, accounts)
    previous_tier = repository.tier_before(session, accounts, today)
    score_days, payment_days, nps_days = playbooks.lookbacks()
    scores_ago = {
        d: repository.score_on_or_before(session, accounts, today - timedelta(days=d))
        for d in score_days
    }
    needs_login = any(p.reads_logins for p in playbooks.playbooks)
    last_login = repository.last_login(session, accounts, as_of) if needs_login else {}
    failed = {d: repository.failed_payments(session, accounts, as_of, d) for d in payment_days}
    detractors = {d: repository.detractor_answers(session, accounts, as_of, d) for d in nps_days}
    children = _children(session, playbooks, scores, as_of)
    states = []
    for s in scores:
        profile = customers.get(s.customer_id)
        login = last_login.get(s.customer_id)
        states.append(
            AccountState(
                customer_id=s.customer_id,
                name=profile.name if profile else s.customer_id,
                segment=profile.segment if profile else "",
                plan=profile.plan if profile else "",
                score=s.score,
                tier=s.tier.value,
                trend=s.trend.value,
                previous_tier=previous_tier.get(s.customer_id),
                scores_ago={
                    d: v[s.customer_id] for d, v in scores_ago.items() if s.customer_id in v
                },
                signal_values={sig.name: sig.value for sig in s.signals},
                days_since_login=(as_of - login).total_seconds() / 86400 if login else None,
                failed_payments={d: v.get(s.customer_id, 0) for d, v in failed.items()},
                detractors={d: v.get(s.customer_id, 0) for d, v in detractors.items()},
                stage=s.stage.value,
                confidence=s.confidence,
                age_days=age_days(profile.created_at, as_of) if profile else None,
                children=children.get(s.customer_id, ()),
            )
        )
    return states


def _children(
    session: Session, playbooks: PlaybookSet, scores: list[HealthScore], as_of: datetime
) -> dict[str, tuple[tuple[float, str], ...]]:
    """Each scored parent's active children as (MRR, tier): the tier of this run where it
    scored the child, else the latest stored one; children never scored are left out.
    Read only when a playbook asks (``children_mrr_at_risk``)."""
    if not any(p.reads_children for p in playbooks.playbooks):
        return {}
    tiers = {s.customer_id: s.tier.value for s in scores}
    found = repository.active_children(session, list(tiers), as_of)
    children: dict[str, tuple[tuple[float, str], ...]] = {}
    for parent, kids in found.items():
        known = [(mrr, tiers.get(child) or stored) for child, mrr, stored in kids]
        children[parent] = tuple((mrr, tier) for mrr, tier in known if tier is not None)
    return children


def case_view(case: case_models.OutreachEntry) -> CaseView:
    snapshot = case.snapshot or {}
    score = snapshot.get("score")
    return CaseView(
        id=case.id,
        key=case.idempotency_key,
        state=case.status,
        severity=case.severity,
        opened_score=score if isinstance(score, int) else None,
        opened_tier=snapshot.get("tier"),
        last_seen_at=case.last_seen_at,
        cleared_at=case.cleared_at,
        snoozed_until=case.snoozed_until,
        resolved_at=case.resolved_at,
    )


def plan(
    session: Session, playbooks: PlaybookSet, scores: list[HealthScore], *, as_of: datetime
) -> Plan:
    """Judge every scored account with every playbook and decide, against each account's
    latest case of each playbook, what the run does. Reads only."""
    as_of = utc(as_of)
    ids = {s.customer_id for s in scores}
    accounts = repository.account_scope(session, ids)
    states = account_states(session, playbooks, scores, as_of=as_of, accounts=accounts)
    judgements = judge_all(playbooks, states)
    found = case_repository.latest_cases(session, accounts, [p.name for p in playbooks.playbooks])
    latest = {pair: case for pair, case in found.items() if pair[0] in ids}
    steps = []
    for j in judgements:
        case = latest.get((j.state.customer_id, j.playbook.name))
        step = decide(j, case_view(case) if case else None, as_of=as_of)
        if step is not None:
            steps.append(step)
    firings = [Firing(j.playbook, j.state, j.reasons) for j in judgements if j.reasons is not None]
    return Plan(as_of, firings, steps, {c.id: c for c in latest.values()})


def run_playbooks(
    session: Session,
    playbooks: PlaybookSet,
    scores: list[HealthScore],
    *,
    as_of: datetime,
    only: Collection[str] | None = None,
    deliver: bool = True,
) -> PlaybookRun:
    """Judge ``playbooks`` for freshly scored accounts; open, update, escalate, clear,
    wake or resolve their cases; queue the messages of opened, escalated and resolved
    cases. ``deliver=False`` (replaying history) changes the cases the same way but
    queues no webhook, Slack or Redis deliveries."""
    planned = plan(session, playbooks.only(only), scores, as_of=as_of)
    applied = apply_steps(
        session,
        planned.steps,
        planned.cases,
        as_of=planned.as_of,
        now=datetime.now(UTC),
    )
    delivery_ids = queue_deliveries(session, applied.notices) if deliver else []
    return PlaybookRun(
        firings=planned.firings,
        steps=applied.steps,
        logged_entries=[
            LoggedEntry(c.customer_id, c.playbook, c.idempotency_key) for c in applied.opened
        ],
        delivery_ids=delivery_ids,
    )
