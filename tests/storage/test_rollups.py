"""Daily roll-ups: kept up to date by every writer, and read exactly by scoring.

Scoring reads whole days from roll-ups and raw events only for a day an as-of moment cuts
in two. These tests hold that to a brute-force count over the raw events, for any as-of
moment (midnight or not), any window and offset, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, func, literal, select

from healthscore.ingest.bulk import insert_rows
from healthscore.ingest.records import Event, record_events
from healthscore.scoring.aggregates import load_aggregates
from healthscore.scoring.metrics import Aggregate
from healthscore.storage import models as m
from healthscore.storage.maintenance import delete_all_data
from healthscore.storage.rollups import ALL_DAYS, days_set_sql

# The 40 days before BASE span two 64-day activity periods (one starts on 2026-06-04)
# and the day of the sign bit (2026-06-03, bit 63), where bit masks go wrong first.
BASE = datetime(2026, 6, 20, tzinfo=UTC)
CUSTOMERS = ("a", "b")

# Minutes before BASE: whole days and odd minutes, so events fall on midnights too.
moments = st.integers(min_value=0, max_value=40 * 1440).map(lambda m: BASE - timedelta(minutes=m))
SEATS = ("u1",)
"""Users with a seat on every account; ``u2`` logs in without one (kept out of seat counts)."""
sessions = st.tuples(st.sampled_from(CUSTOMERS), moments, st.sampled_from([None, "u1", "u2"]))
features = st.tuples(st.sampled_from(CUSTOMERS), moments, st.sampled_from(["x", "y", "z"]))
api_calls = st.tuples(st.sampled_from(CUSTOMERS), moments, st.integers(1, 500))
as_of_moments = st.one_of(
    st.integers(0, 12).map(lambda d: BASE - timedelta(days=d)),  # midnights
    st.integers(0, 12 * 1440).map(lambda m: BASE - timedelta(minutes=m)),
)
WINDOWS = [(1, 0), (7, 0), (30, 0), (7, 7), (28, 7), (None, 0), (None, 3)]


def brute_force(events: dict[str, list[tuple]], aggregate: Aggregate, as_of: datetime) -> dict:
    end = as_of - timedelta(days=aggregate.offset_days)
    start = None if aggregate.window_days is None else end - timedelta(days=aggregate.window_days)

    def inside(ts: datetime) -> bool:
        return ts < end and (start is None or ts >= start)

    result: dict[str, float] = {}
    for cid in CUSTOMERS:
        if aggregate.source == "sessions":
            rows = [(ts, user) for c, ts, user in events["sessions"] if c == cid and inside(ts)]
            if not rows:
                continue
            if aggregate.measure == "logins":
                result[cid] = len(rows)
            elif aggregate.measure == "active_users":  # seats only: u1 is one, u2 is not
                result[cid] = len({user for _, user in rows if user in SEATS})
            elif aggregate.measure == "active_seat_days":
                result[cid] = len({(user, ts.date()) for ts, user in rows if user in SEATS})
            else:
                result[cid] = (as_of - max(ts for ts, _ in rows)).total_seconds() / 86400
        elif aggregate.source == "feature_usage":
            rows = [(ts, f) for c, ts, f in events["features"] if c == cid and inside(ts)]
            if not rows:
                continue
            result[cid] = (
                len(rows) if aggregate.measure == "feature_events" else len({f for _, f in rows})
            )
        else:
            rows = [(ts, n) for c, ts, n in events["api"] if c == cid and inside(ts)]
            if rows and aggregate.measure == "api_days":
                result[cid] = len({ts.date() for ts, n in rows if n > 0})
            elif rows:
                result[cid] = sum(n for _, n in rows)
    return result


def store_customers(session) -> None:
    insert_rows(
        session,
        m.Customer,
        [
            {"id": cid, "name": cid, "created_at": BASE - timedelta(days=400), "traits": {}}
            for cid in CUSTOMERS
        ],
    )
    insert_rows(
        session,
        m.User,
        [
            {"customer_id": cid, "user_id": user, "created_at": BASE - timedelta(days=400)}
            for cid in CUSTOMERS
            for user in SEATS
        ],
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    session_events=st.lists(sessions, max_size=25),
    feature_events=st.lists(features, max_size=25),
    api_events=st.lists(api_calls, max_size=10),
    as_of=as_of_moments,
    through_api=st.booleans(),
)
def test_rolled_up_aggregates_equal_a_count_of_the_raw_events(
    session, session_events, feature_events, api_events, as_of, through_api
):
    delete_all_data(session)
    store_customers(session)
    if through_api:  # the HTTP/Segment path, one event at a time or in batches
        record_events(
            session,
            [Event(c, "login", ts, user) for c, ts, user in session_events]
            + [Event(c, "feature_used", ts, None, {"feature": f}) for c, ts, f in feature_events]
            + [Event(c, "api_call", ts, None, {"calls": n}) for c, ts, n in api_events],
        )
    else:  # the CSV import / generator path
        insert_rows(
            session,
            m.Session,
            [{"customer_id": c, "ts": ts, "user_id": u} for c, ts, u in session_events],
        )
        insert_rows(
            session,
            m.FeatureUsage,
            [{"customer_id": c, "ts": ts, "feature": f} for c, ts, f in feature_events],
        )
        insert_rows(
            session,
            m.ApiUsage,
            [{"customer_id": c, "ts": ts, "calls": n} for c, ts, n in api_events],
        )
    session.commit()
    events = {"sessions": session_events, "features": feature_events, "api": api_events}
    wanted = [
        Aggregate(source, measure, window, offset)  # type: ignore[arg-type]
        for source, measure in [
            ("sessions", "logins"),
            ("sessions", "active_users"),
            ("sessions", "active_seat_days"),
            ("sessions", "last_age_days"),
            ("feature_usage", "distinct_features"),
            ("feature_usage", "feature_events"),
            ("api_usage", "api_calls"),
            ("api_usage", "api_days"),
        ]
        for window, offset in WINDOWS
    ]

    got = load_aggregates(session, wanted, as_of=as_of)

    for aggregate in wanted:
        expected = brute_force(events, aggregate, as_of)
        observed = got[aggregate]
        if aggregate.measure != "last_age_days":  # a zero count may or may not have a row
            observed = {cid: v for cid, v in observed.items() if v}
            expected = {cid: v for cid, v in expected.items() if v}
        assert observed == expected, aggregate


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    days=st.integers(-(1 << 63), (1 << 63) - 1) | st.sampled_from([-1, -(1 << 63), 0, 1]),
    mask=st.integers(0, (1 << 64) - 1) | st.sampled_from([ALL_DAYS, 1 << 63, 1, (1 << 14) - 1]),
)
def test_days_set_counts_the_masked_bits_sign_bit_included(session, days, mask):
    """The popcount each database runs on activity bits (``days`` as stored: a signed
    BIGINT whose bit 63 is the sign) equals Python's."""
    dialect = session.get_bind().dialect.name
    counted = session.scalar(select(days_set_sql(literal(days, BigInteger), mask, dialect)))
    assert counted == ((days % (1 << 64)) & mask).bit_count()


def test_every_writer_keeps_roll_ups_in_step_with_raw_events(session):
    store_customers(session)
    day = datetime(2026, 5, 3, 9, 30, tzinfo=UTC)
    insert_rows(
        session,
        m.Session,
        [
            {"customer_id": "a", "ts": day, "user_id": "u1"},
            {"customer_id": "a", "ts": day + timedelta(hours=3), "user_id": "u1"},
        ],
    )
    record_events(
        session,
        [
            Event("a", "login", day + timedelta(hours=5), "u2"),
            Event("a", "login", day + timedelta(days=1), None),
            Event("a", "feature_used", day, "u1", {"feature": "reports"}),
            Event("a", "feature_used", day, "u1", {"feature": "reports"}),
            Event("a", "api_call", day, None, {"calls": 40}),
            Event("a", "api_call", day + timedelta(hours=1), None, {"calls": 2}),
        ],
    )
    session.commit()

    daily = session.execute(
        select(m.DailySessions.day, m.DailySessions.logins, m.DailySessions.last_at).order_by(
            m.DailySessions.day
        )
    ).all()
    assert [(d.isoformat(), n, last) for d, n, last in daily] == [
        ("2026-05-03", 3, day + timedelta(hours=5)),
        ("2026-05-04", 1, day + timedelta(days=1)),
    ]
    activity = session.execute(
        select(m.UserActivity.user_id, m.UserActivity.period, m.UserActivity.days).order_by(
            m.UserActivity.user_id
        )
    ).all()
    number = (date(2026, 5, 3) - date(1970, 1, 1)).days  # every login of the test's 2 days
    assert [user for user, _, _ in activity] == ["u1", "u2"]
    assert {period for _, period, _ in activity} == {number // 64}
    assert {user: days for user, _, days in activity}["u1"] & (1 << number % 64)
    assert session.execute(select(m.DailyFeatures.feature, m.DailyFeatures.events)).all() == [
        ("reports", 2)
    ]
    assert session.scalar(select(func.sum(m.DailyApiUsage.calls))) == 42


def test_roll_ups_go_with_an_erased_account(session):
    from healthscore.accounts.service import delete_customer

    store_customers(session)
    record_events(session, [Event("a", "login", BASE - timedelta(days=1), "u1")])
    session.commit()
    delete_customer(session, "a")
    session.commit()
    for model in (m.DailySessions, m.UserActivity, m.FeatureActivity):
        assert session.scalar(select(func.count()).select_from(model)) == 0


def test_a_rebuild_from_raw_events_equals_the_roll_ups_kept_at_ingest(session):
    from healthscore.storage.partitions import apply_retention
    from healthscore.storage.rollups import RawEventsDropped, rebuild_rollups

    store_customers(session)
    record_events(
        session,
        [
            Event(cid, kind, BASE - timedelta(hours=7 * i), f"u{i % 3}", {"feature": f"f{i % 4}"})
            for i in range(60)
            for cid, kind in [("a", "login"), ("b", "feature_used"), ("a", "api_call")]
        ],
    )
    session.commit()
    tables = (
        m.DailySessions,
        m.UserActivity,
        m.DailyFeatures,
        m.FeatureActivity,
        m.DailyApiUsage,
    )

    def contents() -> list[list[tuple]]:
        return [sorted(tuple(r) for r in session.execute(select(t.__table__))) for t in tables]

    kept_at_ingest = contents()
    rebuilt = rebuild_rollups(session.connection())
    session.commit()
    assert contents() == kept_at_ingest
    assert rebuilt["daily_sessions"] == len(kept_at_ingest[0]) > 0

    apply_retention(session.connection(), retention_days=10, now=BASE)
    with pytest.raises(RawEventsDropped, match="raw events were dropped"):
        rebuild_rollups(session.connection())
