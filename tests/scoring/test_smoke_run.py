"""A first end-to-end run: two accounts, seed 000's scorecard, both databases."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from healthscore.ingest.bulk import insert_rows
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def test_an_active_account_scores_and_a_churned_one_is_marked_churned(session):
    insert_rows(
        session,
        m.Customer,
        [
            {
                "id": "a",
                "name": "Active",
                "plan": "pro",
                "segment": "smb",
                "mrr": 100,
                "created_at": AS_OF - timedelta(days=400),
                "churned_at": None,
                "traits": {},
            },
            {
                "id": "c",
                "name": "Gone",
                "plan": "pro",
                "segment": "smb",
                "mrr": 100,
                "created_at": AS_OF - timedelta(days=400),
                "churned_at": AS_OF - timedelta(days=3),
                "traits": {},
            },
        ],
    )
    insert_rows(
        session,
        m.Session,
        [
            {"customer_id": "a", "user_id": "u1", "ts": AS_OF - timedelta(days=d)}
            for d in range(1, 11)
        ],
    )
    run = score_accounts(session, load_scorecard("seed000"), as_of=AS_OF)
    session.commit()
    assert [s.customer_id for s in run.scores] == ["a"]
    # 10 logins / 20 → 0.5 x 0.2; no tickets → 0.5 x 0.15; no payments → 1 x 0.15.
    # 0.325 sums to 0.32499… in floating point and rounds to 32, as seed 000's JS does.
    assert run.scores[0].score == 32
    latest = {r.customer_id: r for r in session.scalars(select(m.HealthScore))}
    assert latest["c"].tier == "churned" and latest["c"].score is None
    assert latest["a"].score == 32
