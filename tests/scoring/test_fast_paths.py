"""The rescore's fast paths (reads on two connections, COPY of pre-encoded rows) give
exactly what the plain paths give: same aggregates, same stored rows, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import String, cast, insert, select

from healthscore.scoring import aggregate_queries, aggregates, repository
from healthscore.scoring.aggregate_sources import RolledUpSql
from healthscore.scoring.metrics import Aggregate, empty_value
from healthscore.scoring.requirements import required_aggregates
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.rollups import activity_rows

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CARD = load_scorecard("default")


def stored(session) -> dict[str, list[tuple[Any, ...]]]:
    """Every score row as the database holds it (JSON as its stored text), without the
    wall-clock ``calculated_at``."""
    tables = {
        "history": m.HealthScoreHistory.__table__,
        "latest": m.HealthScore.__table__,
    }
    out = {}
    for name, table in tables.items():
        columns = [
            cast(c, String) if c.name in repository.JSON_COLUMNS else c
            for c in table.columns
            if c.name != "calculated_at"
        ]
        out[name] = [
            tuple(r) for r in session.execute(select(*columns).order_by(*table.primary_key))
        ]
    return out


@pytest.mark.parametrize(
    "as_of", [NOW, NOW - timedelta(hours=5, minutes=13)], ids=["midnight", "mid-day"]
)
def test_concurrent_read_gives_the_same_aggregates(demo, monkeypatch, as_of):
    wanted = required_aggregates(CARD)
    plain = aggregates.load_aggregates(demo, wanted, as_of=as_of)
    demo.rollback()
    threads = []
    real = aggregates.read_concurrently

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregates, "read_concurrently", spy)
    concurrent = aggregates.load_aggregates(demo, wanted, as_of=as_of, concurrent=True)
    assert concurrent == plain
    # PostgreSQL really used a second connection; SQLite reads on the session's only.
    assert bool(threads) == (demo.get_bind().dialect.name == "postgresql")


def test_concurrent_read_sees_what_the_transaction_wrote(demo):
    """Rows this transaction has not committed are invisible to a second connection, so
    the read stays on the session's connection and still counts them."""
    customer = demo.scalars(select(m.Customer.id).order_by(m.Customer.id)).first()
    wanted = required_aggregates(CARD)
    before = aggregates.load_aggregates(demo, wanted, as_of=NOW)
    seats = [f"new-{i}" for i in range(7)]  # only seats count as active users
    demo.execute(
        insert(m.User),
        [
            {"customer_id": customer, "user_id": u, "created_at": NOW - timedelta(days=9)}
            for u in seats
        ],
    )
    demo.execute(
        insert(m.UserActivity),
        activity_rows(
            [(customer, (NOW - timedelta(days=2)).date(), u) for u in seats],
            "user_id",
        ),
    )
    after = aggregates.load_aggregates(demo, wanted, as_of=NOW, concurrent=True)
    key = next(a for a in wanted if a.measure == "active_users" and a.offset_days == 0)
    assert after[key][customer] == before[key].get(customer, 0) + 7


def test_concurrent_read_inside_a_savepoint(demo):
    wanted = required_aggregates(CARD)
    plain = aggregates.load_aggregates(demo, wanted, as_of=NOW)
    with demo.begin_nested():
        assert aggregates.load_aggregates(demo, wanted, as_of=NOW, concurrent=True) == plain


def test_a_rescore_reading_concurrently_scores_the_same(demo, monkeypatch):
    plain = score_accounts(demo, CARD, as_of=NOW)
    demo.commit()
    monkeypatch.setattr(aggregates, "CONCURRENT_READ_MIN_ACCOUNTS", 1)
    fast = score_accounts(demo, CARD, as_of=NOW)
    assert [s for s in fast.scores] == [s for s in plain.scores]


def test_copy_of_pre_encoded_rows_stores_what_upsert_stores(demo, monkeypatch):
    """The PostgreSQL COPY path (from COPY_THRESHOLD rows) against SQLAlchemy's upsert:
    the same rows, JSON text included, for history, latest and churned accounts."""
    earlier = score_accounts(demo, CARD, as_of=NOW - timedelta(days=14))  # drivers, trends
    assert earlier.scored
    monkeypatch.setattr(repository, "COPY_THRESHOLD", 10**9)
    run = score_accounts(demo, CARD, as_of=NOW)
    assert run.churned and run.scored
    plain = stored(demo)
    demo.commit()
    monkeypatch.setattr(repository, "COPY_THRESHOLD", 1)
    score_accounts(demo, CARD, as_of=NOW)
    assert stored(demo) == plain


@pytest.mark.parametrize("concurrent", [False, True], ids=["one connection", "two"])
@pytest.mark.parametrize(
    "as_of", [NOW, NOW - timedelta(hours=5, minutes=13)], ids=["midnight", "mid-day"]
)
def test_aggregate_columns_are_the_aggregates_laid_out(demo, as_of, concurrent):
    """Arrays for the scored accounts hold exactly the values (bit for bit) that
    ``load_aggregates`` gives, ``empty_value`` where an account has no rows."""
    wanted = required_aggregates(CARD)
    ids = [account.id for account in repository.active_accounts(demo, as_of=as_of)]
    assert ids
    plain = aggregates.load_aggregates(demo, wanted, as_of=as_of)
    demo.rollback()
    columns = aggregates.load_aggregate_columns(
        demo, wanted, as_of=as_of, accounts=ids, concurrent=concurrent
    )
    assert set(columns) == set(wanted)
    for aggregate in wanted:
        expected = [plain[aggregate].get(cid, empty_value(aggregate)) for cid in ids]
        assert columns[aggregate].tolist() == expected, aggregate


@pytest.mark.parametrize(
    "measure", [("sessions", "active_users"), ("feature_usage", "distinct_features")]
)
@pytest.mark.parametrize("window", [7, 30, None])
def test_a_keyed_count_over_the_whole_read_range_counts_the_same(demo, measure, window):
    """A keyed count (distinct users, features) whose window is the query's whole range
    is read without its per-key CASE; it must equal the same count read next to another
    window (which keeps the CASE)."""
    source, name = measure
    alone = Aggregate(source, name, window, 0)
    other = Aggregate(source, name, 3, 2)
    assert rolled_up_queries_are_simplified(alone)
    by_itself = aggregates.load_aggregates(demo, [alone], as_of=NOW)
    with_another = aggregates.load_aggregates(demo, [alone, other], as_of=NOW)
    # An account whose logins are all from non-seats has no row when the join applies the
    # seat rule, a zero next to another window: the same count (``empty_value``).
    assert nonzero(by_itself[alone]) == nonzero(with_another[alone])
    assert nonzero(by_itself[alone])  # the demo has activity in every window


def nonzero(values: dict[str, float]) -> dict[str, float]:
    return {cid: value for cid, value in values.items() if value}


def rolled_up_queries_are_simplified(aggregate: Aggregate) -> bool:
    spec = aggregate_queries._reader(aggregate)
    assert isinstance(spec, RolledUpSql)
    (query,) = aggregate_queries.rolled_up_queries(spec, [aggregate], NOW)
    return "CASE" not in str(query)


def test_a_run_with_only_churned_accounts_writes_their_latest_rows(demo, monkeypatch):
    monkeypatch.setattr(repository, "COPY_THRESHOLD", 1)
    churned = repository.churned_accounts(demo, as_of=NOW)
    assert churned
    repository.save_run(demo, [], churned, as_of=NOW, calculated_at=NOW, scorecard="card")
    tiers = dict(demo.execute(select(m.HealthScore.customer_id, m.HealthScore.tier)).all())
    assert tiers == dict.fromkeys(churned, "churned")
