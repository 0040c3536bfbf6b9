"""Scoring runs against a real database: as-of semantics, history, latest, both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from healthscore.ingest.bulk import insert_rows
from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import UnknownCustomerError, backfill_days, score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker
from healthscore.storage.maintenance import delete_all_data
from healthscore.storage.rollups import PERIOD, as_bigint, day_number
from tests.scoring.conftest import snapshot_demo

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=20)


def fingerprint(run) -> dict[str, tuple]:
    """Everything a run decided about each account, comparable across runs."""
    return {
        s.customer_id: (
            s.score,
            s.tier.value,
            tuple((sig.name, sig.raw, round(sig.value, 9)) for sig in s.signals),
            tuple(sorted(s.components.items())),
        )
        for s in run.scores
    }


@pytest.fixture
def demo(db_url, session, db_snapshot):
    """60 demo accounts with 60 days of activity."""
    return snapshot_demo(
        db_url, session, db_snapshot, "scoring-service-demo", customers=60, seed=11
    )


def erase_everything_from(session, moment: datetime) -> None:
    """Delete or undo every fact that happened at or after ``moment``."""
    naive = moment.replace(tzinfo=None)
    for model, column in [
        (m.Session, m.Session.ts),
        (m.FeatureUsage, m.FeatureUsage.ts),
        (m.ApiUsage, m.ApiUsage.ts),
        (m.Payment, m.Payment.ts),
        (m.NpsResponse, m.NpsResponse.ts),
        (m.EngagementEvent, m.EngagementEvent.ts),
        (m.SupportTicket, m.SupportTicket.opened_at),
        (m.User, m.User.created_at),
    ]:
        session.execute(delete(model).where(column >= naive))
    # The day ``moment`` falls in is read from raw events; later days from roll-ups.
    for rollup in (m.DailySessions, m.DailyFeatures, m.DailyApiUsage):
        session.execute(delete(rollup).where(rollup.day >= moment.date()))
    period, bit = divmod(day_number(moment.date()), PERIOD)  # keep earlier days' bits
    for activity in (m.UserActivity, m.FeatureActivity):
        session.execute(delete(activity).where(activity.period > period))
        session.execute(
            update(activity)
            .where(activity.period == period)
            .values(days=activity.days.bitwise_and(as_bigint((1 << bit) - 1)))
        )
    ticket = m.SupportTicket
    session.execute(
        update(ticket).where(ticket.resolved_at >= naive).values(resolved_at=None, rating=None)
    )
    session.execute(update(m.User).where(m.User.removed_at >= naive).values(removed_at=None))
    session.execute(
        update(m.Customer).where(m.Customer.churned_at >= naive).values(churned_at=None)
    )
    session.commit()


@pytest.mark.parametrize(
    "cutoff",
    [CUTOFF, CUTOFF + timedelta(hours=7, minutes=30)],
    ids=["midnight (roll-ups only)", "mid-day (the cut day read raw)"],
)
def test_scoring_as_of_a_past_moment_ignores_everything_after_it(demo, cutoff):
    card = load_scorecard("default")
    with_future = fingerprint(score_accounts(demo, card, as_of=cutoff))
    demo.rollback()

    erase_everything_from(demo, cutoff)
    without_future = fingerprint(score_accounts(demo, card, as_of=cutoff))
    demo.rollback()

    assert len(with_future) > 40
    assert with_future == without_future
    # …while scoring today does see the 20 days that were erased.
    assert fingerprint(score_accounts(demo, card, as_of=NOW)) != without_future


def test_planted_future_activity_does_not_change_a_past_score(demo):
    card = load_scorecard("default")
    before = fingerprint(score_accounts(demo, card, as_of=CUTOFF))
    demo.rollback()
    target = sorted(before)[0]
    after_cutoff = CUTOFF + timedelta(hours=1)
    insert_rows(
        demo,
        m.Payment,
        [{"customer_id": target, "ts": after_cutoff, "amount": 1, "status": "failed"}] * 5,
    )
    insert_rows(demo, m.Session, [{"customer_id": target, "ts": after_cutoff}] * 50)
    insert_rows(demo, m.NpsResponse, [{"customer_id": target, "ts": after_cutoff, "score": 0}] * 3)
    demo.commit()
    assert fingerprint(score_accounts(demo, card, as_of=CUTOFF)) == before
    demo.rollback()
    assert fingerprint(score_accounts(demo, card, as_of=NOW))[target] != before[target]


def test_a_backfill_writes_one_history_row_per_account_per_day_and_latest_is_newest(demo):
    card = load_scorecard("default")
    days = list(backfill_days(5, until=NOW.date()))
    assert days[0] == NOW - timedelta(days=4) and days[-1] == NOW
    active = 0
    for day in days:
        active = score_accounts(demo, card, as_of=day).scored
        demo.commit()
    h = m.HealthScoreHistory
    per_day = dict(demo.execute(select(h.day, func.count()).group_by(h.day)).all())
    assert sorted(per_day) == [d.date() for d in days]
    assert per_day[NOW.date()] == active
    latest_as_of = set(demo.scalars(select(m.HealthScore.as_of)))
    assert latest_as_of == {NOW}

    # Re-scoring an older day rewrites its history row but never replaces a newer latest.
    score_accounts(demo, card, as_of=days[1])
    demo.commit()
    assert set(demo.scalars(select(m.HealthScore.as_of))) == {NOW}
    assert demo.scalar(select(func.count()).select_from(h)) == sum(per_day.values())


def test_the_trend_compares_with_the_history_row_one_window_earlier(demo):
    card = load_scorecard("default")
    window = card.trend.window_days
    earlier = score_accounts(demo, card, as_of=NOW - timedelta(days=window))
    demo.commit()
    now = score_accounts(demo, card, as_of=NOW)
    demo.commit()
    before = {s.customer_id: s.score for s in earlier.scores}
    for s in now.scores:
        assert s.previous_score == before[s.customer_id]
        change = s.score - s.previous_score
        expected = (
            "improving"
            if change > card.trend.threshold
            else "declining"
            if change < -card.trend.threshold
            else "stable"
        )
        assert s.trend.value == expected
        for driver in s.drivers:
            assert abs(driver.delta) >= 0.5
    assert {s.trend.value for s in now.scores} - {"stable"}, "demo data should move some scores"


def test_scoring_named_accounts_touches_only_them_and_unknown_ids_write_nothing(demo):
    card = load_scorecard("default")
    ids = sorted(demo.scalars(select(m.Customer.id).where(m.Customer.churned_at.is_(None))))[:3]
    run = score_accounts(demo, card, as_of=NOW, customer_ids=ids)
    demo.commit()
    assert [s.customer_id for s in run.scores] == ids
    assert sorted(demo.scalars(select(m.HealthScore.customer_id))) == ids

    with pytest.raises(UnknownCustomerError, match="nope"):
        score_accounts(demo, card, as_of=NOW, customer_ids=[*ids, "nope"])
    demo.rollback()
    assert demo.scalar(select(func.count()).select_from(m.HealthScoreHistory)) == 3


def test_accounts_created_after_as_of_are_not_scored_and_later_churn_is_not_known(demo):
    card = load_scorecard("default")
    churned = dict(
        demo.execute(
            select(m.Customer.id, m.Customer.churned_at).where(m.Customer.churned_at.is_not(None))
        ).all()
    )
    assert churned, "the demo has churned accounts"
    cid, churned_at = min(churned.items(), key=lambda item: item[1])
    before_churn = score_accounts(demo, card, as_of=churned_at - timedelta(days=1))
    demo.rollback()
    assert cid in {s.customer_id for s in before_churn.scores}
    assert cid not in before_churn.churned
    after_churn = score_accounts(demo, card, as_of=churned_at + timedelta(seconds=1))
    demo.rollback()
    assert cid in after_churn.churned

    insert_rows(
        demo,
        m.Customer,
        [{"id": "newcomer", "name": "New", "created_at": NOW - timedelta(days=1), "traits": {}}],
    )
    demo.commit()
    past = score_accounts(demo, card, as_of=NOW - timedelta(days=2))
    demo.rollback()
    assert "newcomer" not in {s.customer_id for s in past.scores}


def test_sqlite_and_postgresql_compute_identical_scores(sqlite_url, request):
    """The same demo data on both backends gives the same score for every account."""
    fingerprints = []
    for url in [sqlite_url, request.getfixturevalue("_postgres_url")]:
        engine = make_engine(url)
        with make_sessionmaker(engine)() as session:
            delete_all_data(session)
            generate_demo(session, customers=50, days=45, seed=5, now=NOW)
            session.commit()
            for card in ("default", "seed000"):
                run = score_accounts(session, load_scorecard(card), as_of=NOW)
                fingerprints.append(fingerprint(run))
            session.rollback()
            delete_all_data(session)
            session.commit()
        engine.dispose()
    sqlite_default, sqlite_seed, pg_default, pg_seed = fingerprints
    assert len(sqlite_default) > 30
    assert sqlite_default == pg_default
    assert sqlite_seed == pg_seed
