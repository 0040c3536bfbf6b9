"""A day's read plan, kept and run again with another moment's values, reads exactly
what the queries built for that moment read: the same SQL once its values are bound,
and the same aggregates from a real database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import column, select, table
from sqlalchemy.dialects import postgresql, sqlite

from healthscore.scoring import aggregates, read_plans
from healthscore.scoring.aggregate_queries import Read, build_reads
from healthscore.scoring.read_plans import PLANS_KEPT, forget_plans, plan_reads
from healthscore.scoring.requirements import product_aggregates, required_aggregates
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.selection import IdRange, Selection
from healthscore.storage import models as m

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CARDS = {name: load_scorecard(name) for name in ("default", "seed000")}
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


@pytest.fixture(autouse=True)
def no_kept_plans():
    forget_plans()
    yield
    forget_plans()


def rendered(reads: list[Read], dialect: str) -> list[str]:
    """Each query's SQL with its values written in (a kept plan's bound first)."""
    return [
        str(
            (query.params(read.parameters) if read.parameters else query).compile(
                dialect=DIALECTS[dialect], compile_kwargs={"literal_binds": True}
            )
        )
        for read in reads
        for query in read.queries
    ]


moments = st.tuples(
    st.dates(min_value=NOW.date() - timedelta(days=400), max_value=NOW.date()),
    st.one_of(st.just(time(0)), st.times()),
    st.times(),
)


@settings(max_examples=10, deadline=None)
@given(
    card=st.sampled_from(sorted(CARDS)),
    dialect=st.sampled_from(sorted(DIALECTS)),
    selection=st.sampled_from([None, IdRange("acct_a", "acct_m")]),
    moment=moments,
)
def test_a_kept_plan_renders_what_a_fresh_build_renders(card, dialect, selection, moment):
    day, first_time, second_time = moment
    first = datetime.combine(day, first_time, UTC)
    # Midnight is its own plan: a later moment of a midnight's day is not that plan's.
    if first_time == time(0):
        second = first
    else:
        second = datetime.combine(day, second_time, UTC)
        if second.time() == time(0):
            second += timedelta(microseconds=1)
    wanted = required_aggregates(CARDS[card]) | product_aggregates(CARDS[card])
    forget_plans()
    for _ in range(2):  # a plan is kept the second time its day is asked for
        plan_reads(wanted, first, selection, dialect)
    kept = plan_reads(wanted, second, selection, dialect)
    (only,) = read_plans._plans.values()  # the second moment used the first's plan
    assert isinstance(only, read_plans._Plan)
    assert rendered(kept, dialect) == rendered(
        build_reads(wanted, second, selection, dialect), dialect
    )


def test_a_plan_is_kept_per_day_and_not_for_another():
    wanted = required_aggregates(CARDS["default"])
    first = plan_reads(wanted, NOW + timedelta(hours=9), None, "postgresql")
    second = plan_reads(wanted, NOW + timedelta(hours=13), None, "postgresql")
    third = plan_reads(wanted, NOW + timedelta(hours=17), None, "postgresql")
    next_day = plan_reads(wanted, NOW + timedelta(days=1, hours=9), None, "postgresql")
    # Built the first two times (a backtest asks for each day once: nothing kept), then
    # the day's plan, bound to the moment; the next day starts again.
    assert not any(read.parameters for read in first + second)
    assert all(read.parameters for read in third)
    assert not any(read.parameters for read in next_day)


def test_no_more_than_the_kept_number_of_plans_stays():
    wanted = sorted(required_aggregates(CARDS["seed000"]), key=str)[:1]
    for days in range(PLANS_KEPT + 1):
        for _ in range(2):
            plan_reads(wanted, NOW - timedelta(days=days, hours=3), None, "sqlite")
    assert len(read_plans._plans) == PLANS_KEPT
    # The oldest one used (the first day) went; the last one used stays.
    assert not any(
        r.parameters for r in plan_reads(wanted, NOW - timedelta(hours=5), None, "sqlite")
    )
    latest = NOW - timedelta(days=PLANS_KEPT, hours=1)
    assert all(r.parameters for r in plan_reads(wanted, latest, None, "sqlite"))


def test_a_query_with_a_moment_it_cannot_place_is_not_kept():
    events = table("events", column("ts"))
    as_of = NOW + timedelta(hours=10)
    odd = select(events.c.ts).where(events.c.ts < as_of - timedelta(minutes=30))
    read = Read(wanted=[], queries=[odd], merges=[], keyed=False)
    assert read_plans._parameterised([read], as_of) is None
    usual = select(events.c.ts).where(events.c.ts < as_of - timedelta(days=7))
    plan = read_plans._parameterised(
        [Read(wanted=[], queries=[usual], merges=[], keyed=False)], as_of
    )
    assert plan is not None and list(plan.offsets.values()) == [timedelta(days=-7)]


@pytest.mark.parametrize(
    "moments",
    [
        (NOW - timedelta(hours=18), NOW - timedelta(hours=10, minutes=30)),
        (NOW - timedelta(days=1), NOW - timedelta(days=1)),
    ],
    ids=["mid-day", "midnight"],
)
def test_a_kept_plan_reads_the_same_aggregates_for_other_accounts(demo, moments):
    """The plan is kept from one account's refresh; the next refresh, of other accounts
    at a later moment of the day (working hours: events between), reads what a fresh
    build reads."""
    session = demo
    wanted = required_aggregates(CARDS["default"])
    ids = sorted(session.scalars(select(m.Customer.id)))
    first: Selection = ids[:1]
    second: Selection = ids[10:40]
    earlier, later = moments
    for _ in range(2):
        aggregates.load_aggregates(session, wanted, as_of=earlier, customer_ids=first)
    dialect = session.get_bind().dialect.name
    assert all(read.parameters for read in plan_reads(wanted, later, second, dialect))
    kept = aggregates.load_aggregates(session, wanted, as_of=later, customer_ids=second)
    forget_plans()
    fresh = aggregates.load_aggregates(session, wanted, as_of=later, customer_ids=second)
    assert kept == fresh
    before = aggregates.load_aggregates(session, wanted, as_of=earlier, customer_ids=second)
    assert (fresh != before) == (later != earlier)  # the day's events moved the values
