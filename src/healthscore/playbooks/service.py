"""Run playbooks after a scoring run: assemble account states, fire, log, queue deliveries.

Everything is written in the caller's transaction together with the scores, so a
playbook fires exactly when its scores are committed. Outreach entries carry an
idempotency key (playbook, account, day): re-running the same day's scoring never logs a
second entry, and a cooldown per account and playbook keeps one decline from paging a
CSM every day.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from healthscore.observability.metrics import PLAYBOOK_FIRINGS
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
from healthscore.storage import models as m
from healthscore.storage.dialect import insert_new_keys
from healthscore.storage.rollups import midnight
from healthscore.timeutc import naive_utc, utc


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
    customers = {
        cid: (name, segment, plan)
        for cid, name, segment, plan in session.execute(
            select(m.Customer.id, m.Customer.name, m.Customer.segment, m.Customer.plan).where(
                m.Customer.id.in_(ids)
            )
        )
    }
    previous_tier = _tier_before(session, ids, today)
    score_days, payment_days, nps_days = playbooks.lookbacks()
    scores_ago = {
        d: _score_on_or_before(session, ids, today - timedelta(days=d)) for d in score_days
    }
    needs_login = any(isinstance(c, NoLogin) for p in playbooks.playbooks for c in p.when)
    last_login = _last_login(session, ids, as_of) if needs_login else {}
    failed = {
        d: _count_since(
            session, m.Payment, m.Payment.ts, ids, as_of, d, m.Payment.status == "failed"
        )
        for d in payment_days
    }
    detractors = {
        d: _count_since(
            session, m.NpsResponse, m.NpsResponse.ts, ids, as_of, d, m.NpsResponse.score <= 6
        )
        for d in nps_days
    }
    states = []
    for s in scores:
        name, segment, plan = customers.get(s.customer_id, (s.customer_id, "", ""))
        login = last_login.get(s.customer_id)
        states.append(
            AccountState(
                customer_id=s.customer_id,
                name=name,
                segment=segment,
                plan=plan,
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
            )
        )
    return states


def _tier_before(session: Session, ids: list[str], day: date) -> dict[str, str]:
    """Each account's tier in its newest history row before ``day``."""
    h = m.HealthScoreHistory
    newest = (
        select(h.customer_id, func.max(h.day).label("day"))
        .where(h.day < day, h.customer_id.in_(ids))
        .group_by(h.customer_id)
        .subquery()
    )
    query = select(h.customer_id, h.tier).join(
        newest, and_(h.customer_id == newest.c.customer_id, h.day == newest.c.day)
    )
    return {key: value for key, value in session.execute(query)}


def _score_on_or_before(session: Session, ids: list[str], day: date) -> dict[str, int]:
    """Each account's score on ``day`` or the closest earlier day within 3 days."""
    h = m.HealthScoreHistory
    newest = (
        select(h.customer_id, func.max(h.day).label("day"))
        .where(h.day <= day, h.day >= day - timedelta(days=3), h.customer_id.in_(ids))
        .group_by(h.customer_id)
        .subquery()
    )
    query = select(h.customer_id, h.score).join(
        newest, and_(h.customer_id == newest.c.customer_id, h.day == newest.c.day)
    )
    return {key: value for key, value in session.execute(query)}


def _last_login(session: Session, ids: list[str], as_of: datetime) -> dict[str, datetime]:
    """Last login before ``as_of``: earlier days from the daily roll-up (raw sessions may
    have expired), the day of ``as_of`` itself from raw sessions."""
    as_of = utc(as_of)
    daily = m.DailySessions
    day_start = midnight(as_of.date())
    earlier_days = (
        select(daily.customer_id, func.max(daily.last_at))
        .where(daily.customer_id.in_(ids), daily.day < as_of.date())
        .group_by(daily.customer_id)
    )
    same_day = (
        select(m.Session.customer_id, func.max(m.Session.ts))
        .where(
            m.Session.customer_id.in_(ids),
            m.Session.ts >= naive_utc(day_start),
            m.Session.ts < naive_utc(as_of),
        )
        .group_by(m.Session.customer_id)
    )
    result: dict[str, datetime] = {}
    for query in (earlier_days, same_day):
        for cid, ts in session.execute(query):
            if ts is not None:
                ts = utc(ts)
                result[cid] = max(ts, result.get(cid, ts))
    return result


def _count_since(
    session: Session,
    model: Any,
    ts: Any,
    ids: list[str],
    as_of: datetime,
    days: int,
    condition: Any,
) -> dict[str, int]:
    end = naive_utc(as_of)
    query = (
        select(model.customer_id, func.count())
        .where(model.customer_id.in_(ids), ts >= end - timedelta(days=days), ts < end, condition)
        .group_by(model.customer_id)
    )
    return {key: value for key, value in session.execute(query)}


def _recently_fired(
    session: Session, firings: list[Firing], as_of: datetime
) -> set[tuple[str, str]]:
    """(customer, playbook) pairs with an entry inside the playbook's cooldown window."""
    if not firings:
        return set()
    o = m.OutreachEntry
    longest = max(f.playbook.cooldown_days for f in firings)
    rows = session.execute(
        select(o.customer_id, o.playbook, func.max(o.created_at))
        .where(
            o.customer_id.in_({f.state.customer_id for f in firings}),
            o.created_at > as_of - timedelta(days=longest),
            o.created_at <= as_of,
        )
        .group_by(o.customer_id, o.playbook)
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
    cooling = _recently_fired(session, firings, as_of)
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
                "idempotency_key": f"{f.playbook.name}:{f.state.customer_id}:{as_of.date()}",
                "created_at": as_of,
                "updated_at": now,
            }
        )
    inserted = insert_new_keys(
        session,
        m.OutreachEntry.__table__,  # type: ignore[arg-type]
        entries,
        key=["idempotency_key"],
    )
    keys = {key for (key,) in inserted}
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
        logged=len(inserted),
        suppressed=len(firings) - len(inserted),
        logged_entries=[
            LoggedEntry(e["customer_id"], e["playbook"], e["idempotency_key"])
            for e in entries
            if e["idempotency_key"] in keys
        ],
    )
