"""The product's bulk paths give SQLite and PostgreSQL the same answers just below, at and
just above the row count where PostgreSQL switches to COPY: a CSV import, the journal
applier, a scoring run's history and latest scores, and its product scores (events that
name a product take every one of these paths).

Each test runs the same input through both backends in one go and compares what they
stored, column by column (ids and write times aside).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from healthscore.ingest.csv_import import import_folder
from healthscore.ingest.journal import Journal
from healthscore.ingest.records import Event
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage import schema
from healthscore.storage.database import transaction
from healthscore.storage.dialect import COPY_INSERT_THRESHOLD, COPY_THRESHOLD, upsert

NOW = datetime(2026, 11, 1, tzinfo=UTC)
AROUND = [COPY_THRESHOLD - 1, COPY_THRESHOLD, COPY_THRESHOLD + 1]
WALL_CLOCK = {"id", "calculated_at", "received_at"}


def _stored(sessions: Any, model: type[m.Base]) -> list[tuple[Any, ...]]:
    table = model.__table__
    columns = [c for c in table.columns if c.name not in WALL_CLOCK]  # type: ignore[attr-defined]
    with sessions() as session:
        return sorted(session.execute(select(*columns)).all(), key=repr)


@pytest.fixture
def both(sqlite_url, postgres_url, sessions_for_url) -> list[Any]:
    return [(url, sessions_for_url(url)) for url in (sqlite_url, postgres_url)]


def _customers(sessions: Any, n: int) -> list[str]:
    ids = [f"c{i:05d}" for i in range(n)]
    with transaction(sessions) as session:
        upsert(
            session,
            m.Customer.__table__,  # type: ignore[arg-type]
            [
                {
                    "id": c,
                    "name": c,
                    "segment": "smb" if i % 2 else "enterprise",
                    "created_at": NOW - timedelta(days=400),
                    "churned_at": None,
                }
                for i, c in enumerate(ids)
            ],
            key=["id"],
        )
    return ids


@pytest.mark.parametrize("n", AROUND)
def test_a_csv_import_stores_the_same_rows_on_both_backends(both, tmp_path: Path, n):
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        "id,name,plan,segment,mrr,created_at,churned_at\n"
        + "".join(f"c{i},Org {i},pro,smb,{i}.50,2026-01-01T00:00:00Z,\n" for i in range(n))
    )
    (folder / "users.csv").write_text(
        "customer_id,user_id,created_at\n"
        + "".join(f"c{i % 7},u{i},2026-02-01T10:00:{i % 60:02d}.123456Z\n" for i in range(n))
    )
    (folder / "tickets.csv").write_text(
        "customer_id,ticket_id,opened_at,resolved_at,severity,rating\n"
        + "".join(
            f"c{i % 5},T{i},2026-03-01T00:00:00Z,{'' if i % 3 else '2026-03-02T00:00:00Z'},"
            f"{['low', 'normal', 'high', 'urgent'][i % 4]},{'' if i % 3 else i % 5 + 1}\n"
            for i in range(n)
        )
    )
    (folder / "events.csv").write_text(
        "customer_id,user_id,ts,type,name,value,product\n"
        + "".join(
            f"c{i % 11},u{i},2026-10-0{i % 9 + 1}T12:00:00Z,login,,,{'' if i % 3 else 'crm'}\n"
            for i in range(n)
        )
    )
    answers = []
    for _, sessions in both:
        import_folder(sessions, folder, now=NOW)
        import_folder(sessions, folder, now=NOW)  # a re-import updates in place
        answers.append(
            {
                model.__tablename__: _stored(sessions, model)
                for model in (m.Customer, m.User, m.SupportTicket, m.Session, m.DailySessions)
            }
        )
    assert len(answers[0]["users"]) == n and len(answers[0]["sessions"]) == 2 * n
    products = [row.product for row in answers[0]["sessions"]]
    assert products.count("crm") == 2 * len(range(0, n, 3)) and products.count(None) > 0
    assert answers[0] == answers[1]


@pytest.mark.parametrize("n", AROUND)
@settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_the_journal_applier_stores_the_same_events_on_both_backends(both, n, data):
    # Every other event a login, so one table's rows cross the COPY threshold too.
    drawn = data.draw(
        st.lists(
            st.sampled_from(["login", "feature_used", "api_call", "note"]), min_size=n, max_size=n
        )
    )
    kinds = ["login" if i % 2 == 0 else kind for i, kind in enumerate(drawn)]
    seconds = data.draw(st.lists(st.integers(0, 90 * 86_400), min_size=n, max_size=n))
    events = [
        (
            None if i % 5 == 0 else f"msg-{i % (n - 3)}",  # a few retried messages
            Event(
                f"c{i % 13:05d}",
                kind,
                NOW - timedelta(seconds=seconds[i]),
                f"u{i % 17}",
                {"feature": f"f{i % 4}"}
                if kind == "feature_used"
                else {"calls": i % 9 + 1}
                if kind == "api_call"
                else {"i": i},
                product=[None, "crm", "billing"][i % 3],
            ),
        )
        for i, kind in enumerate(kinds)
    ]
    answers = []
    for url, sessions in both:
        with transaction(sessions) as session:
            for model in (jm.ProcessedMessage, jm.IngestJournalEntry, jm.IngestJournalMark):
                session.query(model).delete()
            for model in reversed(schema.metadata.sorted_tables):
                if model.name not in {"api_keys", "alembic_version"}:
                    session.execute(model.delete())
        _customers(sessions, 13)
        journal = Journal(url)
        try:
            with transaction(sessions) as session:
                journal.append(session, "segment", events, now=NOW)
            with transaction(sessions) as session:
                applied = journal.apply(session)
            journal.prune(applied)
        finally:
            journal.close()
        answers.append(
            {
                "applied": (applied.events, applied.duplicates),
                **{
                    model.__tablename__: _stored(sessions, model)
                    for model in (
                        m.Session,
                        m.FeatureUsage,
                        m.ApiUsage,
                        m.EngagementEvent,
                        m.DailySessions,
                        m.DailyFeatures,
                        m.DailyApiUsage,
                        m.UserActivity,
                    )
                },
            }
        )
    assert answers[0]["applied"][0] + answers[0]["applied"][1] == n
    assert {row.product for row in answers[0]["sessions"]} == {None, "crm", "billing"}
    assert answers[0] == answers[1]


@pytest.mark.parametrize("n", AROUND)
def test_a_scoring_run_writes_the_same_history_and_latest_scores_on_both_backends(both, n):
    card = load_scorecard("default")
    answers = []
    for _, sessions in both:
        ids = _customers(sessions, n)
        with transaction(sessions) as session:
            upsert(
                session,
                m.User.__table__,  # type: ignore[arg-type]
                [
                    {"customer_id": c, "user_id": "u1", "created_at": NOW - timedelta(days=300)}
                    for c in ids
                ],
                key=["customer_id", "user_id"],
            )
            # Some accounts log in, more of them lately; a tenth have churned.
            for i, c in enumerate(ids):
                if i % 10 == 0:
                    session.get(m.Customer, c).churned_at = NOW - timedelta(days=3)  # type: ignore[union-attr]
            session.add_all(
                m.Session(customer_id=c, user_id="u1", ts=NOW - timedelta(days=d + 1))
                for i, c in enumerate(ids)
                for d in range(0, 60, 3 + i % 7)
            )
        for as_of in (NOW - timedelta(days=1), NOW):
            with transaction(sessions) as session:
                score_accounts(session, card, as_of=as_of)
        answers.append(
            {
                model.__tablename__: _stored(sessions, model)
                for model in (m.HealthScore, m.HealthScoreHistory)
            }
        )
    assert len(answers[0]["health_scores"]) == n
    assert len(answers[0]["health_score_history"]) == 2 * (n - len(range(0, n, 10)))
    assert answers[0] == answers[1]


PRODUCTS_CARD = Path(__file__).parents[2] / "docs" / "products.yaml"


@pytest.mark.parametrize("n", [COPY_INSERT_THRESHOLD - 1, COPY_INSERT_THRESHOLD + 1])
def test_a_run_writes_the_same_product_scores_on_both_backends(both, n):
    """``n`` (account, product) pairs: two products per account, one more for an odd n."""
    card = load_scorecard(str(PRODUCTS_CARD))
    answers = []
    for _, sessions in both:
        ids = _customers(sessions, (n + 1) // 2)
        with transaction(sessions) as session:
            session.add_all(
                m.Session(
                    customer_id=c,
                    user_id="u1",
                    ts=NOW - timedelta(days=d + 1, hours=i % 5),
                    product=product,
                )
                for i, c in enumerate(ids)
                for product in (["crm", "billing"] if i or n % 2 == 0 else ["crm"])
                for d in range(0, 20, 1 + (i + len(product)) % 6)
            )
        with transaction(sessions) as session:
            score_accounts(session, card, as_of=NOW)
        answers.append(
            {
                model.__tablename__: _stored(sessions, model)
                for model in (m.ProductScore, m.HealthScore)
            }
        )
    assert len(answers[0]["product_scores"]) == n
    assert len({row.score for row in answers[0]["product_scores"]}) > 1
    assert answers[0] == answers[1]
