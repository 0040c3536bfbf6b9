"""Seat-based activity: only seats count as active users, and active seat-days.

A user is a seat of an account at T when a ``users`` row exists with ``created_at < T``
and not ``removed_at < T``. ``active_users`` counts the distinct seats (at the window's
end) who logged in during the window; ``active_seat_days`` the (seat, day) pairs with a
login. Logins from other userIds are kept but count in neither. Both are held here to a
plain Python model of that rule, for any as-of moment (midnight, or mid-day: a cut day
read from raw sessions), window, offset (baselines) and window across activity periods,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from healthscore.ingest.bulk import insert_rows
from healthscore.scoring import aggregates
from healthscore.scoring.aggregate_queries import SEAT_JOIN_SETTINGS
from healthscore.scoring.aggregates import CONCURRENT_READ_MIN_ACCOUNTS, load_aggregates
from healthscore.scoring.metrics import Aggregate
from healthscore.scoring.scorecard_loading import parse_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.maintenance import delete_all_data
from healthscore.storage.rollups import PERIOD, day_number, utc_day

# 2026-06-04 starts an activity period and 2026-06-03 is the bit 63 (sign bit) of the one
# before; 100 days before BASE reach into a third period.
BASE = datetime(2026, 6, 20, tzinfo=UTC)
assert day_number(datetime(2026, 6, 4).date()) % PERIOD == 0
CUSTOMERS = ("a", "b")
SEATS = ("u1", "u2", "u3", "u4")  # may have a ``users`` row
STRANGERS = ("x1", "x2")  # never do
WINDOWS = [(1, 0), (7, 0), (14, 0), (30, 0), (28, 7), (56, 14), (70, 0), (None, 0), (None, 5)]
MEASURES = ("active_users", "active_seat_days")

moments = st.integers(0, 100 * 1440).map(lambda minutes: BASE - timedelta(minutes=minutes))
as_of_moments = st.one_of(
    st.integers(0, 12).map(lambda d: BASE - timedelta(days=d)),  # midnights
    st.integers(0, 12 * 1440).map(lambda minutes: BASE - timedelta(minutes=minutes)),
)
# Days where bit masks go wrong first: bit 63 (the sign), bit 0, and the same two days
# one period earlier.
EDGE_DAYS = [datetime(2026, 6, 3, tzinfo=UTC) - timedelta(days=d) for d in (0, -1, 64, 63)]


def near(as_of: datetime) -> st.SearchStrategy[datetime]:
    """A moment anywhere in the 100 days, on a bit-mask edge day, or on (or a minute
    beside) a window edge of ``as_of``: where ``<`` and ``<=`` differ."""
    edges = sorted({0, *(w + o for w, o in WINDOWS if w), *(o for _, o in WINDOWS)})
    on_edge = st.builds(
        lambda days, minutes: as_of - timedelta(days=days, minutes=minutes),
        st.sampled_from(edges),
        st.sampled_from([0, 0, 1, -1]),
    )
    in_edge_day = st.builds(
        lambda day, minutes: day + timedelta(minutes=minutes),
        st.sampled_from(EDGE_DAYS),
        st.integers(0, 1439),
    )
    return st.one_of(moments, on_edge, in_edge_day)


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[datetime, list[dict[str, Any]], list[tuple[str, datetime, str | None]]]:
    """An as-of moment; some of ``SEATS`` per account, there all along or joining and
    leaving at any moment (also inside windows and on their edges); logins of seats,
    strangers and no one."""
    as_of = draw(as_of_moments)
    rows = []
    for cid in CUSTOMERS:
        for user in draw(st.sets(st.sampled_from(SEATS))):
            created = draw(st.just(BASE - timedelta(days=300)) | near(as_of))
            removed = draw(st.none() | near(as_of).filter(lambda t, c=created: t >= c))
            rows.append(
                {"customer_id": cid, "user_id": user, "created_at": created, "removed_at": removed}
            )
    logins = st.tuples(
        st.sampled_from(CUSTOMERS), near(as_of), st.sampled_from((*SEATS, *STRANGERS, None))
    )
    return as_of, rows, draw(st.lists(logins, max_size=40))


@dataclass(frozen=True)
class Seat:
    created_at: datetime
    removed_at: datetime | None

    def at(self, moment: datetime) -> bool:
        return self.created_at < moment and (self.removed_at is None or self.removed_at >= moment)


def reference(
    seats: Iterable[dict[str, Any]],
    sessions: Iterable[tuple[str, datetime, str | None]],
    aggregate: Aggregate,
    as_of: datetime,
) -> dict[str, int]:
    """The rule, in plain Python: logins inside the window by users who are seats at its
    end; distinct users, or distinct (user, UTC day) pairs."""
    table = {
        (r["customer_id"], r["user_id"]): Seat(r["created_at"], r["removed_at"]) for r in seats
    }
    end = as_of - timedelta(days=aggregate.offset_days)
    start = None if aggregate.window_days is None else end - timedelta(days=aggregate.window_days)
    pairs: dict[str, set[tuple[str, Any]]] = {}
    for cid, ts, user in sessions:
        seat = table.get((cid, user or ""))
        if seat and seat.at(end) and ts < end and (start is None or ts >= start):
            pairs.setdefault(cid, set()).add((user, utc_day(ts)))
    if aggregate.measure == "active_users":
        return {cid: len({user for user, _ in got}) for cid, got in pairs.items()}
    return {cid: len(got) for cid, got in pairs.items()}


def store(session: Any, seats: list[dict[str, Any]], sessions: list[tuple]) -> None:
    insert_rows(
        session,
        m.Customer,
        [
            {"id": cid, "name": cid, "created_at": BASE - timedelta(days=400), "traits": {}}
            for cid in CUSTOMERS
        ],
    )
    insert_rows(session, m.User, seats)
    insert_rows(
        session, m.Session, [{"customer_id": c, "ts": ts, "user_id": u} for c, ts, u in sessions]
    )


def nonzero(values: dict[str, float]) -> dict[str, float]:
    return {cid: value for cid, value in values.items() if value}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    scenario=scenarios(),
    alone=st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=3, unique=True),
)
def test_seat_activity_equals_the_rule_applied_to_the_raw_logins(session, scenario, alone):
    as_of, seats, sessions = scenario
    delete_all_data(session)
    store(session, seats, sessions)
    session.commit()
    everything = [
        Aggregate("sessions", measure, window, offset)
        for measure in MEASURES
        for window, offset in WINDOWS
    ]
    # All windows in one read (a seat rule per window end), and a few on their own (one
    # end when their offsets agree: the rule is then applied in the join).
    some = [Aggregate("sessions", measure, w, o) for measure in MEASURES for w, o in alone]
    seats_now = Aggregate("users", "seats", None, 0)
    for wanted in (everything, some, some[:1]):
        got = load_aggregates(session, [*wanted, seats_now], as_of=as_of)
        for aggregate in wanted:
            expected = reference(seats, sessions, aggregate, as_of)
            assert nonzero(got[aggregate]) == nonzero(expected), (aggregate, as_of)
            if aggregate.measure == "active_users" and aggregate.offset_days == 0:
                for cid, users in got[aggregate].items():  # active users per seat <= 1
                    assert users <= got[seats_now].get(cid, 0)  # 0 and no seat yet: 0 <= 0


@pytest.mark.parametrize("offset", [0, 7], ids=["current", "baseline"])
@pytest.mark.parametrize("as_of", [BASE, BASE - timedelta(hours=7)], ids=["midnight", "mid-day"])
def test_a_seat_is_one_at_the_end_of_the_window(session, as_of, offset):
    """Created exactly at the window's end: not yet a seat; removed exactly at it: still
    one. Each logged in on two days of the window."""
    end = as_of - timedelta(days=offset)
    tick = timedelta(microseconds=1)
    seats = [
        {"user_id": "created_at_end", "created_at": end, "removed_at": None},
        {"user_id": "created_before", "created_at": end - tick, "removed_at": None},
        {"user_id": "removed_at_end", "created_at": BASE - timedelta(300), "removed_at": end},
        {
            "user_id": "removed_before",
            "created_at": BASE - timedelta(300),
            "removed_at": end - tick,
        },
    ]
    seats = [{"customer_id": "a", **row} for row in seats]
    sessions = [
        ("a", end - timedelta(days=days), row["user_id"]) for row in seats for days in (1, 3)
    ]
    store(session, seats, sessions)
    session.commit()
    users, days = (Aggregate("sessions", measure, 7, offset) for measure in MEASURES)

    got = load_aggregates(session, [users, days], as_of=as_of)

    assert got[users] == {"a": 2} and got[days] == {"a": 4}
    assert reference(seats, sessions, users, as_of) == {"a": 2}


RATIO_CARD = parse_scorecard("""
version: 1
name: seats
signals:
  - {name: active_user_ratio, group: engagement, metric: active_users, window_days: 30,
     basis: per_seat, normalise: {kind: target, target: 1}, weight: 0.4, missing: 0}
  - {name: seat_days, group: engagement, metric: active_seat_days, window_days: 14,
     normalise: {kind: target, target: 20}, weight: 0.2, missing: 0}
  - {name: seat_days_per_seat, group: engagement, metric: active_seat_days, window_days: 14,
     basis: per_seat, normalise: {kind: target, target: 5}, weight: 0.2, missing: 0}
  - {name: seat_days_trend, group: engagement, metric: active_seat_days, window_days: 14,
     basis: vs_baseline, baseline_days: 56, normalise: {kind: ramp, low: 0.3, high: 1},
     weight: 0.2, missing: 0}
tiers: {healthy: 70, monitor: 50, at_risk: 30}
""")


@pytest.mark.parametrize("as_of", [BASE, BASE - timedelta(hours=7)], ids=["midnight", "mid-day"])
def test_active_user_ratio_never_exceeds_one(session, as_of):
    """Strangers, a removed seat and a seat that does not exist yet log in; a seat whose
    row was created after its login (a late CSV import) still counts, it is a seat at the
    end of the window."""
    day = timedelta(days=1)
    seats = [
        {"customer_id": "a", "user_id": "steady", "created_at": BASE - 300 * day},
        {"customer_id": "a", "user_id": "idle", "created_at": BASE - 300 * day},
        {"customer_id": "a", "user_id": "late", "created_at": BASE - 2 * day},
        {
            "customer_id": "a",
            "user_id": "gone",
            "created_at": BASE - 300 * day,
            "removed_at": BASE - 3 * day,
        },
        {"customer_id": "a", "user_id": "future", "created_at": BASE + day},
    ]
    sessions = [
        ("a", BASE - 5 * day, user) for user in ("steady", "late", "gone", "future", "x1", "x2")
    ] + [("a", BASE - 4 * day, "steady"), ("a", BASE - 4 * day, "x1"), ("a", BASE - 20 * day, "x3")]
    seats = [{"removed_at": None, **row} for row in seats]
    store(session, seats, sessions)
    session.commit()

    run = score_accounts(session, RATIO_CARD, as_of=as_of)

    signals = {s.name: s.raw for s in next(x for x in run.scores if x.customer_id == "a").signals}
    assert signals["active_user_ratio"] == pytest.approx(2 / 3)  # steady, late of 3 seats
    assert signals["seat_days"] == 3  # steady on 2 days, late on 1
    assert signals["seat_days_per_seat"] == pytest.approx(1.0)
    assert signals["seat_days_trend"] == 1.0  # no baseline activity: at baseline
    assert signals["active_user_ratio"] <= 1


def around(threshold: int) -> list[int]:
    return [threshold - 1, threshold, threshold + 1]


def many_accounts(n: int) -> tuple[list[dict[str, Any]], list[tuple[str, datetime, str]]]:
    """``n`` accounts, each with a seat, a seat removed ~20 days ago, one joining ~10 days
    ago, and logins from all three and a stranger over 80 days."""
    rng = random.Random(n)
    seats = []
    sessions = []
    for i in range(n):
        cid = f"c{i:05d}"
        seats += [
            {"customer_id": cid, "user_id": "s", "created_at": BASE - timedelta(days=200)},
            {
                "customer_id": cid,
                "user_id": "r",
                "created_at": BASE - timedelta(days=200),
                "removed_at": BASE - timedelta(hours=rng.randrange(10 * 24, 30 * 24)),
            },
            {
                "customer_id": cid,
                "user_id": "j",
                "created_at": BASE - timedelta(hours=rng.randrange(5 * 24, 15 * 24)),
            },
        ]
        for _ in range(rng.randrange(0, 8)):
            ts = BASE - timedelta(minutes=rng.randrange(0, 80 * 1440))
            sessions.append((cid, ts, rng.choice("srjx")))
    return [{"removed_at": None, **row} for row in seats], sessions


@pytest.mark.parametrize("n", around(CONCURRENT_READ_MIN_ACCOUNTS))
def test_seat_activity_of_a_rescore_around_the_concurrent_read_threshold(session, n, monkeypatch):
    """From ``CONCURRENT_READ_MIN_ACCOUNTS`` accounts a PostgreSQL rescore reads on two
    connections: the seat-based signals are the rule's values below, at and above it."""
    seats, sessions = many_accounts(n)
    insert_rows(
        session,
        m.Customer,
        [
            {"id": f"c{i:05d}", "name": "x", "created_at": BASE - timedelta(days=400), "traits": {}}
            for i in range(n)
        ],
    )
    insert_rows(session, m.User, seats)
    insert_rows(
        session, m.Session, [{"customer_id": c, "ts": ts, "user_id": u} for c, ts, u in sessions]
    )
    session.commit()
    concurrent = []
    real = aggregates.read_concurrently

    def spy(*args: Any, **kwargs: Any) -> Any:
        concurrent.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "read_concurrently", spy)
    for as_of in (BASE, BASE - timedelta(hours=7)):
        run = score_accounts(session, RATIO_CARD, as_of=as_of)
        session.rollback()
        assert run.scored == n
        users = reference(seats, sessions, Aggregate("sessions", "active_users", 30, 0), as_of)
        days = reference(seats, sessions, Aggregate("sessions", "active_seat_days", 14, 0), as_of)
        base = reference(seats, sessions, Aggregate("sessions", "active_seat_days", 56, 14), as_of)
        for score in run.scores:
            raw = {s.name: s.raw for s in score.signals}
            cid = score.customer_id
            assert raw["active_user_ratio"] == pytest.approx(users.get(cid, 0) / 2), cid
            assert raw["seat_days"] == days.get(cid, 0), cid
            expected_trend = (
                (days.get(cid, 0) / 14) / (base[cid] / 56)
                if base.get(cid)
                else (1.0 if days.get(cid) else None)
            )
            assert raw["seat_days_trend"] == pytest.approx(expected_trend), cid
    uses_two = session.get_bind().dialect.name == "postgresql" and n >= CONCURRENT_READ_MIN_ACCOUNTS
    assert bool(concurrent) == uses_two


def test_a_seat_read_leaves_the_planner_settings_as_they_were(postgres_url, sessions_for_url):
    """The read joining active users to their seats plans with hash joins and parallel
    workers off; the rest of the transaction (the rescore's writes) plans as before."""
    with sessions_for_url(postgres_url)() as session:
        store(session, [], [])
        before = [session.scalar(text(f"SHOW {name}")) for name, _ in SEAT_JOIN_SETTINGS]
        load_aggregates(session, [Aggregate("sessions", "active_users", 30, 0)], as_of=BASE)
        after = [session.scalar(text(f"SHOW {name}")) for name, _ in SEAT_JOIN_SETTINGS]
        assert after == before and "off" not in before
