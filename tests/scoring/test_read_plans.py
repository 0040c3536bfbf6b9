"""A day's read plan (and, at midnight, the plan of the reads that only move by whole
days, kept across days), run again with another moment's values, reads exactly what the
queries built for that moment read: the same SQL once its values are bound, and the same
aggregates from a real database."""

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
    """Each query's SQL with its values written in (a kept plan's bound first), in one
    order: at midnight a run's reads come from two plans."""
    return sorted(
        str(
            (query.params(read.parameters) if read.parameters else query).compile(
                dialect=DIALECTS[dialect], compile_kwargs={"literal_binds": True}
            )
        )
        for read in reads
        for query in read.queries
    )


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
    # The second moment used the first's day plans (at midnight, the reads that move by
    # whole days use their first day's until another day agrees).
    plans = list(read_plans._plans.values())
    assert [p for p in plans if isinstance(p, read_plans._Plan)]
    assert all(isinstance(p, read_plans._Plan | read_plans._FirstDay) for p in plans)
    assert rendered(kept, dialect) == rendered(
        build_reads(wanted, second, selection, dialect), dialect
    )


@settings(max_examples=10, deadline=None)
@given(
    card=st.sampled_from(sorted(CARDS)),
    dialect=st.sampled_from(sorted(DIALECTS)),
    selection=st.sampled_from([None, IdRange("acct_a", "acct_m")]),
    first=st.dates(min_value=NOW.date() - timedelta(days=400), max_value=NOW.date()),
    later=st.integers(2, 400),
)
def test_the_plan_kept_across_midnights_renders_what_a_fresh_build_renders(
    card, dialect, selection, first, later
):
    """Two midnights in a row keep the plan of the reads that move by whole days; any
    later midnight (other activity periods, another year) binds it to what a build of
    that midnight renders. Activity reads keep their own plan per day."""
    wanted = required_aggregates(CARDS[card]) | product_aggregates(CARDS[card])
    start = datetime.combine(first, time(0), UTC)
    forget_plans()
    for day in range(2):
        assert not any(
            read.parameters
            for read in plan_reads(wanted, start + timedelta(days=day), selection, dialect)
        )
    moment = start + timedelta(days=later)
    kept = plan_reads(wanted, moment, selection, dialect)
    across = [read for read in kept if read.parameters]
    assert across and all(not read.keyed for read in across)
    assert rendered(kept, dialect) == rendered(
        build_reads(wanted, moment, selection, dialect), dialect
    )


def test_the_same_midnight_twice_keeps_no_plan_across_days():
    """Two runs of one midnight (a nightly rescore run again) prove nothing about another
    day: the first day's plan serves that day only until a second date agrees."""
    wanted = required_aggregates(CARDS["default"])
    plan_reads(wanted, NOW, None, "sqlite")
    again = plan_reads(wanted, NOW, None, "sqlite")
    assert [read for read in again if read.parameters]  # the first day's, for its day
    tomorrow = plan_reads(wanted, NOW + timedelta(days=1), None, "sqlite")
    assert not any(read.parameters for read in tomorrow)
    later = plan_reads(wanted, NOW + timedelta(days=2), None, "sqlite")
    assert any(read.parameters for read in later)


def test_midnights_whose_queries_differ_by_more_than_their_distance_keep_no_plan():
    events = table("events", column("ts"), column("day"), column("weekday"))
    first, second = NOW, NOW + timedelta(days=1)

    def reads(as_of: datetime, weekday: int) -> list[Read]:
        query = select(events.c.ts).where(
            events.c.ts >= as_of - timedelta(days=7),
            events.c.day < as_of.date(),
            events.c.weekday == weekday,
        )
        return [Read(wanted=[], queries=[query], merges=[], keyed=False)]

    plans = [
        read_plans._parameterised(reads(moment, moment.weekday()), moment, across_days=True)
        for moment in (first, second)
    ]
    assert plans[0] is not None and plans[1] is not None
    assert list(plans[0].offsets.values()) == [timedelta(days=-7)]
    assert list(plans[0].day_offsets.values()) == [timedelta(0)]
    # The weekday is the date's, not a distance from it: the two days disagree.
    assert not read_plans._agree(plans[0], plans[1], "sqlite")
    same = read_plans._parameterised(reads(second, first.weekday()), second, across_days=True)
    assert same is not None and read_plans._agree(plans[0], same, "sqlite")


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


def test_the_plan_kept_across_midnights_reads_what_a_fresh_build_reads(demo):
    """A backtest's replay: the plan kept from two midnights serves later ones, one in the
    next activity period (from 2026-06-04), with the same aggregates as fresh reads."""
    session = demo
    dialect = session.get_bind().dialect.name
    wanted = required_aggregates(CARDS["default"])
    ids = sorted(session.scalars(select(m.Customer.id)))[5:35]
    for selection in (None, ids):
        for later in (NOW - timedelta(days=1), NOW + timedelta(days=5)):
            forget_plans()
            for day in (NOW - timedelta(days=4), NOW - timedelta(days=3)):
                aggregates.load_aggregates(session, wanted, as_of=day, customer_ids=selection)
            planned = plan_reads(wanted, later, selection, dialect)
            assert any(read.parameters for read in planned)  # the plan across days
            kept = aggregates.load_aggregates(session, wanted, as_of=later, customer_ids=selection)
            forget_plans()
            fresh = aggregates.load_aggregates(session, wanted, as_of=later, customer_ids=selection)
            assert kept == fresh
