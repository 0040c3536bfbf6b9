"""The score measures sustained behaviour: properties checked with hypothesis over the demo base.

A CSM stops trusting a score that jumps on one event, that stays down after the account is
back to normal, or that does not notice an active account going quiet. Each property takes
real demo accounts, changes their product activity the way the property says, and scores the
changed copy through the real path (rows, roll-ups, aggregate queries, engine):

* one extra event from one user (a seat or not) moves any account by at most 5 points;
* two weeks of the account's own normal activity after a three-week silence bring it back
  to at least its pre-silence tier;
* removing the last week of activity from an active account lowers its score.

Copies are written under new account ids into one scratch SQLite database, so no example
sees another's rows. (SQLite and PostgreSQL compute the same scores: tests/scoring/test_service.py.)
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from healthscore.ingest.bulk import insert_rows
from healthscore.ingest.demo import generate_demo
from healthscore.scoring.labels import TIER_SEVERITY
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction, upgrade

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
PRODUCT = (m.Session, m.FeatureUsage, m.ApiUsage)
RECORDS = (m.User, m.Payment, m.SupportTicket, m.NpsResponse)
EXAMPLES = settings(
    max_examples=int(os.environ.get("STABILITY_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Account:
    """One demo account's rows, as plain dicts, ready to be written under another id."""

    id: str
    customer: dict[str, Any]
    rows: dict[type[m.Base], list[dict[str, Any]]]

    def seats(self) -> list[str]:
        return [u["user_id"] for u in self.rows[m.User]]

    def product_rows(self, start: datetime, end: datetime) -> int:
        """Logins and feature uses by the account's seats, and API calls, in ``[start, end)``
        (the activity a score counts: people who are not seats are left out)."""
        seats = set(self.seats())
        return sum(
            start <= _aware(r["ts"]) < end and ("user_id" not in r or r["user_id"] in seats)
            for model in PRODUCT
            for r in self.rows[model]
        )

    def without(self, start: datetime, end: datetime) -> Account:
        """The account with no product activity in ``[start, end)``."""
        rows = dict(self.rows)
        for model in PRODUCT:
            rows[model] = [r for r in self.rows[model] if not start <= _aware(r["ts"]) < end]
        return replace(self, rows=rows)

    def with_rows(self, model: type[m.Base], extra: list[dict[str, Any]]) -> Account:
        return replace(self, rows={**self.rows, model: [*self.rows[model], *extra]})

    def until(self, end: datetime) -> Account:
        """Only what happened before ``end`` (business records included; a seat removed
        later is still a seat, a ticket resolved later is still open)."""
        rows = {model: [r for r in found if _moment(r) < end] for model, found in self.rows.items()}
        later = {
            m.User: {"removed_at": None},
            m.SupportTicket: {"resolved_at": None, "rating": None},
        }
        for model, undone in later.items():
            column = next(iter(undone))
            rows[model] = [
                {**r, **undone} if r[column] and _aware(r[column]) >= end else r
                for r in rows[model]
            ]
        return replace(self, rows=rows)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _moment(row: dict[str, Any]) -> datetime:
    return _aware(row.get("ts") or row.get("opened_at") or row["created_at"])


_COLUMNS_SKIPPED = {"id"}


def _load_accounts(sessions: sessionmaker[Session]) -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    with sessions() as session:
        for customer in session.scalars(select(m.Customer)):
            accounts[customer.id] = Account(customer.id, _as_dict(customer), {})
        for model in PRODUCT + RECORDS:
            for row in session.scalars(select(model)):
                accounts[row.customer_id].rows.setdefault(model, []).append(_as_dict(row))
    for account in accounts.values():
        for model in PRODUCT + RECORDS:
            account.rows.setdefault(model, [])
    return accounts


def _as_dict(row: m.Base) -> dict[str, Any]:
    table = row.__table__
    return {c.name: getattr(row, c.key) for c in table.columns if c.name not in _COLUMNS_SKIPPED}


class Scratch:
    """The demo accounts, and a scratch database in which changed copies of them are
    written and scored one by one."""

    def __init__(
        self,
        accounts: dict[str, Account],
        sessions: sessionmaker[Session],
        scorecard: Scorecard,
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.scorecard = scorecard
        self._ids = itertools.count()

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"<{len(self.accounts)} demo accounts, scorecard {self.scorecard.identity}>"

    def score(self, account: Account, *, as_of: datetime) -> tuple[int, str]:
        """Write ``account`` under a fresh id and score it at ``as_of``: (score, tier)."""
        copy_id = f"{account.id}~{next(self._ids)}"
        with transaction(self.sessions) as session:
            session.add(m.Customer(**{**account.customer, "id": copy_id}))
            session.flush()
            for model in RECORDS + PRODUCT:
                rows = [{**r, "customer_id": copy_id} for r in account.rows[model]]
                if rows:
                    insert_rows(session, model, rows)
            run = score_accounts(session, self.scorecard, as_of=as_of, customer_ids=[copy_id])
        (score,) = run.scores
        return score.score, score.tier.value


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scratch]:
    folder = tmp_path_factory.mktemp("stability")
    demo_engine = make_engine(f"sqlite:///{folder / 'demo.db'}")
    upgrade(demo_engine)
    demo_sessions = make_sessionmaker(demo_engine)
    with transaction(demo_sessions) as session:
        generate_demo(session, customers=80, days=120, seed=21, now=NOW)
    accounts = _load_accounts(demo_sessions)
    demo_engine.dispose()
    scratch_engine = make_engine(f"sqlite:///{folder / 'scratch.db'}")
    upgrade(scratch_engine)
    yield Scratch(accounts, make_sessionmaker(scratch_engine), load_scorecard("default"))
    scratch_engine.dispose()


def _active(accounts: dict[str, Account], at: datetime) -> list[Account]:
    """Accounts alive at ``at`` that have been around for the whole demo window."""
    return sorted(
        (
            a
            for a in accounts.values()
            if (a.customer["churned_at"] is None or _aware(a.customer["churned_at"]) > at)
            and _aware(a.customer["created_at"]) < at - 120 * DAY
        ),
        key=lambda a: a.id,
    )


def _pick(accounts: list[Account]) -> Callable[[int], Account]:
    return lambda i: accounts[i % len(accounts)]


# --- one event ---------------------------------------------------------------------------

EVENT_KINDS = ("login", "feature_used", "api_call")


@EXAMPLES
@given(
    index=st.integers(min_value=0, max_value=10_000),
    kind=st.sampled_from(EVENT_KINDS),
    seat=st.booleans(),
    minutes_ago=st.integers(min_value=1, max_value=90 * 24 * 60),
)
def test_one_extra_event_from_one_user_moves_any_account_by_at_most_5_points(
    demo, index, kind, seat, minutes_ago
):
    scratch = demo
    accounts = scratch.accounts
    account = _pick(_active(accounts, NOW))(index)
    seats = account.seats()
    user = seats[index % len(seats)] if seat and seats else "someone-not-a-seat"
    ts = NOW - timedelta(minutes=minutes_ago)
    event: tuple[type[m.Base], dict[str, Any]] = {
        "login": (m.Session, {"user_id": user, "ts": ts, "product": None}),
        "feature_used": (
            m.FeatureUsage,
            {"user_id": user, "feature": "exports", "ts": ts, "product": None},
        ),
        "api_call": (m.ApiUsage, {"ts": ts, "calls": 1, "product": None}),
    }[kind]
    before, _ = scratch.score(account, as_of=NOW)
    after, _ = scratch.score(account.with_rows(event[0], [event[1]]), as_of=NOW)
    assert abs(after - before) <= 5, (account.id, kind, user, ts, before, after)


# --- a silence, then the account's own normal activity -------------------------------------


def _shifted(rows: list[dict[str, Any]], start: datetime, end: datetime, by: timedelta) -> list:
    return [{**r, "ts": _aware(r["ts"]) + by} for r in rows if start <= _aware(r["ts"]) < end]


@EXAMPLES
@given(index=st.integers(min_value=0, max_value=10_000))
def test_two_normal_weeks_after_a_silence_bring_an_account_back_to_its_tier(demo, index):
    scratch = demo
    accounts = scratch.accounts
    silence_from = NOW - 5 * WEEK
    candidates = [
        a
        for a in _active(accounts, NOW)
        if a.product_rows(silence_from - 2 * WEEK, silence_from) >= 4
    ]
    account = _pick(candidates)(index)
    _, tier_before = scratch.score(account, as_of=silence_from)
    history = account.until(silence_from)
    back = history
    for model in PRODUCT:  # the two weeks before the silence, played again after it
        normal = _shifted(history.rows[model], silence_from - 2 * WEEK, silence_from, 5 * WEEK)
        back = back.with_rows(model, normal)
    _, tier_after = scratch.score(back, as_of=NOW)
    assert TIER_SEVERITY[tier_after] <= TIER_SEVERITY[tier_before], (account.id, tier_before)


# --- removing the last week --------------------------------------------------------------


@EXAMPLES
@given(index=st.integers(min_value=0, max_value=10_000))
def test_removing_the_last_week_of_activity_lowers_an_active_account(demo, index):
    scratch = demo
    accounts = scratch.accounts
    last_week = NOW - WEEK

    def usual(a: Account) -> bool:
        recent = a.product_rows(last_week, NOW)
        weekly = a.product_rows(NOW - 9 * WEEK, last_week) / 8
        return recent >= max(3.0, weekly)

    account = _pick([a for a in _active(accounts, NOW) if usual(a)])(index)
    before, _ = scratch.score(account, as_of=NOW)
    after, _ = scratch.score(account.without(last_week, NOW), as_of=NOW)
    assert after < before, (account.id, before, after)
