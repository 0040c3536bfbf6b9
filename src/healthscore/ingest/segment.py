"""Segment's HTTP Tracking API ingested: messages tied to accounts and recorded.

Segment is user-centric; health scores are per account. The bridge is the ``group`` call
(user → account, plus account traits). A ``track``/``page``/``screen`` message belongs to
the account named in ``context.groupId`` (Segment's B2B convention), else
``properties.groupId`` or ``context.traits.groupId``, else the account the user was linked
to by an earlier ``group`` call. Track event names become scoring facts through the
scorecard's ``events`` mapping (``login``, ``feature_used``, ``api_call``); any other name is
kept as an engagement event named by its slug. An ``alias`` merges ``previousId`` into
``userId`` once the request's events are recorded (``accounts.aliases``).

A request is all or nothing: every message is checked before anything is written, and one
bad message rejects the request (the caller's transaction rolls back). Messages are
deduplicated by ``messageId``, so a client's retry of an acknowledged batch is a no-op.
The messages are ``segment_messages``, what each one means is ``segment_facts``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from healthscore.accounts.aliases import merge_identity
from healthscore.accounts.service import refused_parents, set_parents
from healthscore.ingest.anomalies import Source
from healthscore.ingest.records import (
    Event,
    InvalidFact,
    UnknownAccount,
    first_copies,
    known_customers,
    record_events,
    upsert_customer,
    upsert_user,
)
from healthscore.ingest.segment_facts import (
    Alias,
    Fact,
    Link,
    Step,
    Traits,
    fact_event,
    plan_all,
)
from healthscore.ingest.segment_messages import Rejected, SegmentMessage
from healthscore.scoring.event_mapping import EventMapping
from healthscore.storage import models as m

SOURCE: Source = "segment"
"""``processed_messages.source`` for Segment message ids."""


@dataclass
class Outcome:
    """What a request did: messages applied, retries skipped, facts recorded."""

    applied: int = 0
    duplicates: int = 0
    events: int = 0
    customers: set[str] = field(default_factory=set)
    """Accounts whose data changed: rescored soon after the commit."""


def _current_accounts(session: Session, user_ids: set[str]) -> dict[str, str]:
    """user → the account they joined most recently (seats not removed)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(m.User.user_id, m.User.customer_id)
        .where(m.User.user_id.in_(user_ids), m.User.removed_at.is_(None))
        .order_by(m.User.created_at, m.User.id)
    )
    return {user_id: customer_id for user_id, customer_id in rows}


def _link_user(session: Session, link: Link) -> None:
    """Seat the user on the account; a ``group`` newer than a removal re-activates it."""
    if link.user_id is None:
        return
    seat = session.scalars(
        select(m.User).where(m.User.customer_id == link.customer_id, m.User.user_id == link.user_id)
    ).first()
    if seat is None:
        upsert_user(session, customer_id=link.customer_id, user_id=link.user_id, created_at=link.ts)
    elif seat.removed_at is not None and seat.removed_at <= link.ts:
        seat.removed_at = None


def _apply_group(session: Session, link: Link) -> None:
    existing = session.get(m.Customer, link.customer_id)
    merged = {**((existing.traits or {}) if existing else {}), **link.traits}
    upsert_customer(session, {"id": link.customer_id, **(link.account or {}), "traits": merged})


def _parent_links(steps: Sequence[Step]) -> dict[str, tuple[str, str | None]]:
    """The parent each account's last group call in the request sets: (field, parent)."""
    return {
        s.customer_id: s.parent
        for s in steps
        if isinstance(s, Link) and s.account is not None and s.parent is not None
    }


def _parent_problems(
    session: Session, parents: dict[str, tuple[str, str | None]], created: set[str]
) -> list[InvalidFact]:
    """Group calls setting an unknown parent or closing a cycle (``accounts.hierarchy``);
    a parent may be any account stored or grouped in the same request."""
    if not parents:
        return []
    refused = refused_parents(
        session, {child: parent for child, (_, parent) in parents.items()}, created=created
    )
    return [InvalidFact(parents[child][0], why) for child, why in refused.items()]


def _merge_user_traits(session: Session, step: Traits) -> None:
    for seat in session.scalars(select(m.User).where(m.User.user_id == step.user_id)):
        seat.traits = {**(seat.traits or {}), **step.traits}
    session.flush()


class KnownAccounts:
    """Accounts seen to exist within the last ``ttl`` seconds, so that journaled ingest
    does not look every account up on every request.

    Only existence is remembered, never absence: an account created a moment ago is looked
    up at once. An account erased less than ``ttl`` ago may still be taken for existing;
    its events are then acknowledged and dropped when the journal is applied (erasure
    wins). Applied-mode ingest does not use it.
    """

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._until: dict[str, float] = {}

    def existing(self, session: Session, ids: set[str]) -> set[str]:
        now = time.monotonic()
        seen = {i for i in ids if self._until.get(i, 0.0) > now}
        found = known_customers(session, ids - seen)
        until = now + self.ttl
        for customer_id in found:
            self._until[customer_id] = until
        return seen | found


def _lookups(
    session: Session, steps: Sequence[Step], known: KnownAccounts | None = None
) -> tuple[set[str], dict[str, str]]:
    """Accounts the steps name that exist, and the account of each user they rely on."""
    named = {s.customer_id for s in steps if isinstance(s, Link) and s.account is None}
    named |= {s.named_account for s in steps if isinstance(s, Fact) and s.named_account}
    users = {s.user_id for s in steps if isinstance(s, Fact) and not s.named_account and s.user_id}
    users |= {s.previous_id for s in steps if isinstance(s, Alias)}
    accounts = known.existing(session, named) if known else known_customers(session, named)
    return accounts, _current_accounts(session, users)


def resolve_events(
    session: Session,
    messages: Sequence[SegmentMessage],
    mapping: EventMapping,
    *,
    received_at: datetime | None = None,
    batch_sent_at: datetime | None = None,
    prefix: str | None = "batch",
    known: KnownAccounts | None = None,
) -> list[tuple[str | None, Event]]:
    """An events-only request checked in full without writing anything: each event with
    its ``messageId``, in message order, or ``Rejected`` for exactly what ``ingest`` would
    reject. Retries are not recognised here; the journal's applier skips them."""
    now = received_at or datetime.now(UTC)
    plans = plan_all(messages, mapping, received_at=now, batch_sent_at=batch_sent_at, prefix=prefix)
    steps = [step for plan in plans for step in plan]
    accounts, users = _lookups(session, steps, known)
    problems: list[InvalidFact] = []
    resolved: list[tuple[str | None, Event]] = []
    for message, plan in zip(messages, plans, strict=True):
        for step in plan:
            if not isinstance(step, Fact):
                raise TypeError(f"{type(message).__name__} is not an event message")
            event = fact_event(step, accounts, users, problems)
            if event is not None:
                resolved.append((message.message_id, event))
    if problems:
        raise Rejected(problems)
    return resolved


def ingest(
    session: Session,
    messages: Sequence[SegmentMessage],
    mapping: EventMapping,
    *,
    received_at: datetime | None = None,
    batch_sent_at: datetime | None = None,
    prefix: str | None = "batch",
) -> Outcome:
    """Check and apply messages inside the caller's transaction; raises ``Rejected``.

    ``prefix`` names the list in error fields (``batch.3.context.groupId``); ``None`` is
    for a single call, whose fields are named from its top level.
    """
    now = received_at or datetime.now(UTC)
    plans = plan_all(messages, mapping, received_at=now, batch_sent_at=batch_sent_at, prefix=prefix)

    outcome = Outcome()
    firsts = first_copies(session, SOURCE, [message.message_id for message in messages])
    steps: list[Step] = []
    for plan, first in zip(plans, firsts, strict=True):
        if not first:
            outcome.duplicates += 1
            continue
        outcome.applied += 1
        steps.extend(plan)

    accounts, users = _lookups(session, steps)
    problems: list[InvalidFact] = []
    events: list[Event] = []
    for step in steps:  # in message order: a group call counts for what follows it
        if isinstance(step, Link):
            if step.account is not None:
                accounts.add(step.customer_id)
            elif step.customer_id not in accounts:
                problems.append(
                    UnknownAccount(
                        step.field_name,
                        f"unknown account {step.customer_id!r}",
                        account_key=step.customer_id,
                    )
                )
                continue
            if step.user_id:
                users[step.user_id] = step.customer_id
        elif isinstance(step, Fact):
            event = fact_event(step, accounts, users, problems)
            if event is not None:
                events.append(event)
        elif isinstance(step, Alias) and step.previous_id in users:
            # Later events of the new id find the account the previous id belongs to.
            users.setdefault(step.user_id, users[step.previous_id])
    parents = _parent_links(steps)
    grouped = {s.customer_id for s in steps if isinstance(s, Link) and s.account is not None}
    problems += _parent_problems(session, parents, grouped)
    if problems:
        raise Rejected(problems)

    for step in steps:
        if isinstance(step, Link):
            if step.account is not None:
                _apply_group(session, step)
            _link_user(session, step)
        elif isinstance(step, Traits):
            _merge_user_traits(session, step)
    # After every group call: a parent may be created later in the request than its child.
    rolled_up = set_parents(session, {child: parent for child, (_, parent) in parents.items()})
    outcome.events = record_events(session, events)
    merged: set[str] = set()
    for step in steps:  # after the events: the request's own events of the old id move too
        if isinstance(step, Alias):
            merged |= merge_identity(session, step.previous_id, step.user_id)
    outcome.customers = (
        {e.customer_id for e in events}
        | {s.customer_id for s in steps if isinstance(s, Link)}
        | rolled_up
        | merged
    )
    return outcome
