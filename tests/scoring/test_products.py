"""Per-product scores: the scorecard's ``products`` section, the rule that combines product
scores into the account's, and scoring runs on both databases (docs/products.md).

The account in ``seed`` has two products. Its own signals (docs/products.yaml): 12 logins
of 20 (0.6 x 0.4), 5 features of 10 (0.5 x 0.3), no payments (1 x 0.3) = 69. Analytics: 10
logins of 10, 2 seats of 3, 5 features of 5 = 90 on 10 active days; billing: 2 logins,
1 seat, no feature = 18 on 2 days. Shares 10/12 and 2/12, so the products' mean is 78
and the global score round(0.6 x 69 + 0.4 x 78) = round(72.6) = 73: healthy, where the
account's own 69 is monitor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import select, update

from healthscore.ingest.demo import generate_demo
from healthscore.ingest.records import Event, record_events
from healthscore.scoring.aggregates import load_aggregate_columns
from healthscore.scoring.metrics import METRICS
from healthscore.scoring.product_metrics import PRODUCT_MEASURES, PRODUCT_METRICS
from healthscore.scoring.product_queries import load_product_columns
from healthscore.scoring.product_rules import activity_shares, global_score
from healthscore.scoring.repository import active_accounts
from healthscore.scoring.requirements import raw_event_lookback_days
from healthscore.scoring.scorecard import ProductCombine
from healthscore.scoring.scorecard_loading import ScorecardError, load_scorecard, parse_scorecard
from healthscore.scoring.service import score_accounts, score_without_saving
from healthscore.storage import models as m

EXAMPLE = Path(__file__).parents[2] / "docs" / "products.yaml"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)  # mid-day: windows cut days in two


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def with_products(**changes) -> str:
    card = example()
    card["products"] = {**card["products"], **changes}
    return yaml.safe_dump(card)


# --- the scorecard ----------------------------------------------------------------------


def test_the_bundled_scorecards_score_no_products_and_the_example_does():
    for name in ("default", "seed000"):
        assert load_scorecard(name).products is None
    card = load_scorecard(str(EXAMPLE))
    assert card.products is not None
    assert [s.name for s in card.products.signals] == [
        "product_logins",
        "product_users",
        "product_features",
    ]
    assert card.products.combine == ProductCombine(weight=0.4, window_days=30)


@pytest.mark.parametrize(
    ("signal", "message"),
    [
        ({"metric": "payment_success_rate"}, "signals.0.metric: payment_success_rate is not"),
        ({"metric": "seats"}, "seats is not measured per product"),
        ({"basis": "per_seat"}, "signals.0.basis: per_seat is not available per product"),
        (
            {
                "fallback": [
                    {"metric": "nps_average", "normalise": {"kind": "target", "target": 10}}
                ]
            },
            "signals.0.fallback.0.metric: nps_average",
        ),
        ({"weight": 0.5}, "signals: weights must sum to 1"),
    ],
)
def test_a_product_signal_must_be_measurable_per_product(signal, message):
    card = example()
    card["products"]["signals"][0].update(signal)
    with pytest.raises(ScorecardError) as refused:
        parse_scorecard(yaml.safe_dump(card), origin="cards/p.yaml")
    assert "products" in str(refused.value) and message in str(refused.value)


def test_retention_keeps_what_product_signals_and_shares_read():
    longest = with_products(combine={"weight": 0.3, "window_days": 120})
    assert raw_event_lookback_days(parse_scorecard(longest)) == 120
    card = example()
    card["products"]["signals"][0].update(
        basis="vs_baseline",
        window_days=30,
        baseline_days=60,
        normalise={"kind": "target", "target": 1},
    )
    assert raw_event_lookback_days(parse_scorecard(yaml.safe_dump(card))) == 90


# --- the rule ---------------------------------------------------------------------------


def test_the_global_score_mixes_the_account_score_with_the_products_mean():
    combine = ProductCombine(weight=0.4)
    assert global_score(69, [90, 18], [10 / 12, 2 / 12], combine) == 73
    assert global_score(69, [90, 18], [1.0, 0.0], combine) == round(0.6 * 69 + 0.4 * 90)
    assert global_score(40, [100], [1.0], ProductCombine(weight=0)) == 40
    assert global_score(40, [100], [1.0], ProductCombine(weight=1)) == 100


def test_shares_follow_active_days_and_are_equal_without_any():
    pairs = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("b", "z")]
    shares = activity_shares(pairs, np.array([3.0, 1.0, 0.0, 0.0, 0.0]))
    assert shares.tolist() == [0.75, 0.25, 0.3333, 0.3333, 0.3333]


# --- runs -------------------------------------------------------------------------------


def seed(session, customer_id: str = "acme") -> None:
    session.add(m.Customer(id=customer_id, name=customer_id, created_at=NOW - timedelta(days=400)))
    session.add_all(
        m.User(customer_id=customer_id, user_id=u, created_at=NOW - timedelta(days=300))
        for u in ("u1", "u2", "u3")
    )
    session.flush()
    events = []
    for day in range(1, 11):  # analytics: 10 logins by two seats, 5 features, 10 days
        ts = NOW - timedelta(days=day, hours=3)
        events.append(Event(customer_id, "login", ts, f"u{1 + day % 2}", product="analytics"))
        if day <= 5:
            feature = {"feature": f"f{day}"}
            events.append(Event(customer_id, "feature_used", ts, "u1", feature, "analytics"))
    for day in (12, 20):  # billing: 2 logins by a third seat
        events.append(
            Event(customer_id, "login", NOW - timedelta(days=day), "u3", product="billing")
        )
    events.append(Event(customer_id, "login", NOW - timedelta(days=45), "u3", product="mobile"))
    events.append(Event(customer_id, "login", NOW + timedelta(hours=1), "u3", product="later"))
    record_events(session, events)
    session.commit()


def test_a_run_scores_each_product_and_combines_them_into_the_account_score(session):
    seed(session)
    card = load_scorecard(str(EXAMPLE))
    run = score_accounts(session, card, as_of=NOW)
    session.commit()

    (score,) = run.scores
    assert (score.score, score.tier.value) == (73, "healthy")
    products = {
        p.product: p
        for p in session.scalars(select(m.ProductScore).order_by(m.ProductScore.product))
    }
    # "mobile" was last used 45 days ago (beyond every window read), "later" after as_of.
    assert sorted(products) == ["analytics", "billing"]
    analytics, billing = products["analytics"], products["billing"]
    assert (analytics.score, analytics.tier, analytics.share) == (90, "healthy", 0.8333)
    assert (billing.score, billing.tier, billing.share) == (18, "critical", 0.1667)
    assert analytics.signals["raw"] == {
        "product_logins": 10.0,
        "product_users": 2.0,
        "product_features": 5.0,
    }
    assert analytics.as_of == NOW and analytics.scorecard == "products-example@v1"

    stored = session.get(m.HealthScore, "acme")
    assert stored is not None and (stored.score, stored.tier) == (73, "healthy")
    combined = stored.signals["adjusted"]["products"]
    assert combined["account_score"] == 69 and combined["weight"] == 0.4
    assert [(p["product"], p["score"], p["share"]) for p in combined["products"]] == [
        ("analytics", 90, 0.8333),
        ("billing", 18, 0.1667),
    ]
    history = session.scalars(select(m.HealthScoreHistory.score)).one()
    assert history == 73


def test_an_account_without_product_events_keeps_its_own_score(session):
    seed(session, "acme")
    session.add(m.Customer(id="plain", name="plain", created_at=NOW - timedelta(days=400)))
    session.add(m.User(customer_id="plain", user_id="p1", created_at=NOW - timedelta(days=300)))
    session.flush()
    record_events(
        session, [Event("plain", "login", NOW - timedelta(days=d), "p1") for d in range(1, 9)]
    )
    session.commit()
    with_section = load_scorecard(str(EXAMPLE))
    without = with_section.model_copy(update={"products": None})

    def scores(card) -> dict[str, int]:
        return {s.customer_id: s.score for s in score_accounts(session, card, as_of=NOW).scores}

    assert scores(with_section)["plain"] == scores(without)["plain"] == round(8 / 20 * 40 + 30)
    assert scores(without)["acme"] == 69
    dry = {
        cid: int(batch.scores[i])
        for batch in score_without_saving(session, with_section, as_of=NOW)
        for i, cid in enumerate(batch.customer_ids)
    }
    assert dry == {"acme": 73, "plain": 46}


def test_each_run_replaces_the_accounts_product_scores_and_an_earlier_day_keeps_newer(session):
    seed(session)
    card = load_scorecard(str(EXAMPLE))
    score_accounts(session, card, as_of=NOW)
    # 20 days on, billing's last login (12 days before NOW) is out of every window read.
    later = NOW + timedelta(days=20)
    score_accounts(session, card, as_of=later)
    session.commit()
    rows = session.execute(select(m.ProductScore.product, m.ProductScore.as_of)).all()
    assert sorted(rows) == [("analytics", later), ("later", later)]
    # A backfill of an earlier day leaves the newer rows alone.
    score_accounts(session, card, as_of=NOW - timedelta(days=1))
    session.commit()
    assert sorted(session.execute(select(m.ProductScore.product)).scalars()) == [
        "analytics",
        "later",
    ]
    # Erasing the account erases its product scores.
    session.delete(session.get(m.Customer, "acme"))
    session.commit()
    assert session.scalars(select(m.ProductScore)).all() == []


def test_a_product_used_for_every_event_measures_what_the_account_does(session):
    """Every per-product measure (raw events grouped by product) equals the account's own
    (roll-ups, raw rows for the cut days) when all events name one product: windows cut
    in two, baselines, seats at the window's end, days, as of a mid-day moment."""
    generate_demo(session, customers=30, days=70, seed=5, now=NOW)
    for model in (m.Session, m.FeatureUsage, m.ApiUsage):
        session.execute(update(model).values(product="only"))
    session.commit()
    wanted = {
        aggregate
        for name in PRODUCT_METRICS
        for window, offset in ((7, 0), (28, 0), (30, 14))
        if window % METRICS[name].window_step == 0 and window >= METRICS[name].min_window
        for aggregate in METRICS[name].needs(window, offset)
    }
    accounts = [a.id for a in active_accounts(session, as_of=NOW)]
    own = load_aggregate_columns(session, wanted, as_of=NOW, accounts=accounts)
    read = load_product_columns(session, wanted, as_of=NOW, share_days=30, accounts=set(accounts))
    at = [accounts.index(customer_id) for customer_id, _ in read.pairs]
    assert len(at) > 20 and {product for _, product in read.pairs} == {"only"}
    assert {a.measure for a in wanted} == {m for ms in PRODUCT_MEASURES.values() for m in ms}
    for aggregate in wanted:
        assert (read.columns[aggregate] > 0).any(), aggregate
        assert read.columns[aggregate] == pytest.approx(own[aggregate][at]), aggregate
