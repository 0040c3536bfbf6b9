"""Run playbooks after a scoring run: assemble account states, fire, log, queue deliveries.

The rules live here and in ``playbooks.rules``; the SQL in ``playbooks.repository``.
Everything is written in the caller's transaction together with the scores, so a
playbook fires exactly when its scores are committed. Outreach entries carry an
idempotency key (playbook, account, day): re-running the same day's scoring never logs a
second entry, and a cooldown per account and playbook keeps one decline from paging a
CSM every day.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from healthscore.observability.metrics import PLAYBOOK_FIRINGS
from healthscore.playbooks import repository
from healthscore.playbooks.outbox import QueuedFiring, queue_deliveries
from healthscore.playbooks.rules import (
    AccountState,
    Firing,
    NoLogin,
    OutreachAction,
    PlaybookSet,
    evaluate,
)
from healthscore.scoring.engine import HealthScore
from healthscore.scoring.lifecycle import age_days
from healthscore.timeutc import utc


@dataclass
class PlaybookRun:
    firings: list[Firing]
    logged: int
    suppressed: int
    logged_entries: list[LoggedEntry] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)
    """Outbox rows created; enqueue them (``Jobs.enqueue_deliveries``) after the commit."""


@dataclass(frozen=True)
class LoggedEntry:
    customer_id: str
    playbook: str
    idempotency_key: str


def account_states(
    session: Session, playbooks: PlaybookSet, scores: list[HealthScore], *, as_of: datetime
) -> list[AccountState]:
    """Everything the rules look at, for the accounts just scored, from data before ``as_of``."""
    if not scores:
        return []
    ids = [s.customer_id for s in scores]
    today = as_of.date()
    customers = repository.customer_profiles(session, ids)
    previous_tier = repository.tier_before(session, ids, today)
    score_days, payment_days, nps_days = playbooks.lookbacks()
    scores_ago = {
        d: repository.score_on_or_before(session, ids, today - timedelta(days=d))
        for d in score_days
    }
    needs_login = any(isinstance(c, NoLogin) for p in playbooks.playbooks for c in p.when)
    last_login = repository.last_login(session, ids, as_of) if needs_login else {}
    failed = {d: repository.failed_payments(session, ids, as_of, d) for d in payment_days}
    detractors = {d: repository.detractor_answers(session, ids, as_of, d) for d in nps_days}
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
            )
        )
    return states


def entry_key(firing: Firing, as_of: datetime) -> str:
    """An outreach entry's idempotency key: one per playbook, account and day."""
    return f"{firing.playbook.name}:{firing.state.customer_id}:{as_of.date()}"


def cooling_down(session: Session, firings: list[Firing], as_of: datetime) -> set[tuple[str, str]]:
    """(customer, playbook) pairs with an entry inside the playbook's cooldown window."""
    if not firings:
        return set()
    longest = max(f.playbook.cooldown_days for f in firings)
    rows = repository.last_logged(
        session,
        {f.state.customer_id for f in firings},
        after=as_of - timedelta(days=longest),
        until=as_of,
    )
    cooldown = {f.playbook.name: f.playbook.cooldown_days for f in firings}
    return {
        (cid, playbook)
        for cid, playbook, last in rows
        if playbook in cooldown and last > as_of - timedelta(days=cooldown[playbook])
    }


def snapshot(state: AccountState) -> dict[str, Any]:
    return {
        "score": state.score,
        "tier": state.tier,
        "trend": state.trend,
        "previous_tier": state.previous_tier,
        "signals": {k: round(v, 4) for k, v in state.signal_values.items()},
        "days_since_login": round(state.days_since_login, 1)
        if state.days_since_login is not None
        else None,
    }


def run_playbooks(
    session: Session,
    playbooks: PlaybookSet,
    scores: list[HealthScore],
    *,
    as_of: datetime,
    only: Collection[str] | None = None,
    deliver: bool = True,
) -> PlaybookRun:
    """Evaluate ``playbooks`` for freshly scored accounts, log what fires, queue deliveries.

    ``deliver=False`` (replaying history, dry runs) logs outreach entries but queues no
    webhook, Slack or Redis deliveries.
    """
    as_of = utc(as_of)
    wanted = PlaybookSet(
        version=playbooks.version,
        playbooks=[p for p in playbooks.playbooks if only is None or p.name in only],
    )
    states = account_states(session, wanted, scores, as_of=as_of)
    firings = evaluate(wanted, states)
    cooling = cooling_down(session, firings, as_of)
    fresh = [f for f in firings if (f.state.customer_id, f.playbook.name) not in cooling]
    now = datetime.now(UTC)
    entries: list[dict[str, Any]] = []
    for f in fresh:
        outreach = next((a for a in f.playbook.actions if isinstance(a, OutreachAction)), None)
        entries.append(
            {
                "customer_id": f.state.customer_id,
                "playbook": f.playbook.name,
                "reason": f.reason,
                "snapshot": snapshot(f.state),
                "owner": outreach.owner if outreach else None,
                "next_step": outreach.next_step if outreach else "",
                "status": "open",
                "notes": "",
                "idempotency_key": entry_key(f, as_of),
                "created_at": as_of,
                "updated_at": now,
            }
        )
    keys = repository.insert_entries(session, entries)
    for e in entries:
        if e["idempotency_key"] in keys:
            PLAYBOOK_FIRINGS.labels(e["playbook"]).inc()
    delivery_ids: list[int] = []
    if deliver and keys:
        delivery_ids = queue_deliveries(
            session,
            [
                QueuedFiring(f, e["idempotency_key"])
                for f, e in zip(fresh, entries, strict=True)
                if e["idempotency_key"] in keys
            ],
            as_of=as_of,
        )
    return PlaybookRun(
        delivery_ids=delivery_ids,
        firings=firings,
        logged=len(keys),
        suppressed=len(firings) - len(keys),
        logged_entries=[
            LoggedEntry(e["customer_id"], e["playbook"], e["idempotency_key"])
            for e in entries
            if e["idempotency_key"] in keys
        ],
    )
