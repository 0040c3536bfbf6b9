"""The account pages' reads: sparkline series line up by day and stop at the newest day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from healthscore.scoring import listing
from healthscore.storage import models as m

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def scored(session, customer_id: str, days: dict[date, int]) -> None:
    session.add(m.Customer(id=customer_id, name=customer_id, created_at=NOW, traits={}))
    session.flush()
    for day, score in days.items():
        session.add(
            m.HealthScoreHistory(
                customer_id=customer_id,
                day=day,
                as_of=NOW,
                score=score,
                tier="monitor",
                trend="stable",
                components={},
                contributions={},
                scorecard="default@v3",
            )
        )
    session.flush()


def test_daily_scores_put_each_day_in_its_slot_and_gaps_as_none(session):
    last = date(2026, 5, 31)
    scored(session, "a", {last: 60, last - timedelta(days=2): 55, last - timedelta(days=9): 1})
    scored(session, "b", {last - timedelta(days=1): 70})
    series = listing.daily_scores(session, ["a", "b", "unknown"], days=5)
    assert series == {
        "a": [None, None, 55, None, 60],
        "b": [None, None, None, 70, None],
        "unknown": [None] * 5,
    }


def test_no_history_means_no_series(session):
    scored(session, "a", {})
    assert listing.daily_scores(session, ["a"], days=30) == {}
    assert listing.daily_scores(session, [], days=30) == {}


def test_segments_leave_out_the_empty_one(session):
    for cid, segment in (("a", "smb"), ("b", ""), ("c", "enterprise"), ("d", "smb")):
        session.add(m.Customer(id=cid, name=cid, segment=segment, created_at=NOW, traits={}))
    session.flush()
    assert listing.segments(session) == ["enterprise", "smb"]
    assert listing.customer_count(session) == 4 and listing.scored_count(session) == 0
