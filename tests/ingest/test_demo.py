"""The demo generator: deterministic, no data from the future, a story the score can tell."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, select

from healthscore.ingest.demo import ARCHETYPES, generate_demo
from healthscore.scoring.scorecard import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage import schema

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def fingerprint(session) -> tuple:
    return (
        session.scalar(select(func.count()).select_from(m.Session)),
        session.scalar(select(func.count()).select_from(m.FeatureUsage)),
        tuple(session.scalars(select(m.Customer.name).order_by(m.Customer.id))),
        session.scalar(select(func.max(m.Session.ts))),
    )


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not(sqlite_url):
    from healthscore.storage.database import make_engine, make_sessionmaker

    prints = []
    for seed in (3, 3, 4):
        engine = make_engine(sqlite_url)
        with make_sessionmaker(engine)() as session:
            for table in reversed(schema.metadata.sorted_tables):
                session.execute(table.delete())
            generate_demo(session, customers=30, days=30, seed=seed, now=NOW)
            prints.append(fingerprint(session))
            session.rollback()
        engine.dispose()
    assert prints[0] == prints[1]
    assert prints[0] != prints[2]


def test_no_row_is_after_now_or_after_the_account_churned(session):
    generate_demo(session, customers=120, days=45, seed=1, now=NOW)
    session.commit()
    for model, column in [
        (m.Session, m.Session.ts),
        (m.FeatureUsage, m.FeatureUsage.ts),
        (m.ApiUsage, m.ApiUsage.ts),
        (m.Payment, m.Payment.ts),
        (m.NpsResponse, m.NpsResponse.ts),
        (m.SupportTicket, m.SupportTicket.opened_at),
    ]:
        assert session.scalar(select(func.max(column))) < NOW
        after_churn = session.scalar(
            select(func.count())
            .select_from(model)
            .join(m.Customer, m.Customer.id == model.customer_id)
            .where(m.Customer.churned_at.is_not(None), column >= m.Customer.churned_at)
        )
        assert after_churn == 0, model.__tablename__


def test_every_archetype_appears_and_big_accounts_are_busier(session):
    summary = generate_demo(session, customers=200, days=30, seed=2, now=NOW)
    session.commit()
    assert set(summary.archetypes) == set(ARCHETYPES)
    assert all(count > 0 for count in summary.archetypes.values())
    per_segment = dict(
        session.execute(
            select(
                m.Customer.segment,
                func.count(m.Session.id) / func.count(func.distinct(m.Customer.id)),
            )
            .join(m.Session, m.Session.customer_id == m.Customer.id)
            .group_by(m.Customer.segment)
        ).all()
    )
    assert per_segment["enterprise"] > 10 * per_segment["smb"]


def test_the_default_scorecard_tells_healthy_accounts_from_failing_ones(session):
    generate_demo(session, customers=300, days=90, seed=5, now=NOW)
    session.commit()
    run = score_accounts(session, load_scorecard("default"), as_of=NOW)
    archetype = dict(session.execute(select(m.Customer.id, m.Customer.traits)).all())
    by_archetype: dict[str, list[int]] = defaultdict(list)
    for score in run.scores:
        by_archetype[archetype[score.customer_id]["archetype"]].append(score.score)
    mean = {name: sum(v) / len(v) for name, v in by_archetype.items()}
    assert "churned" not in mean  # churned accounts are not scored
    for failing in ("declining", "dropoff", "support_heavy", "payment_trouble"):
        assert mean["healthy"] > mean[failing] + 10, mean
    assert {s.tier.value for s in run.scores} >= {"healthy", "monitor", "at_risk"}
    assert len(run.churned) > 0
