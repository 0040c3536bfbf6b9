"""The demo generator: deterministic, no data from the future, and stories that look like
real SaaS churn (each churn path with its signs, risky-looking accounts that renew,
contracts that decide when churn can happen), in profiles that differ."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from healthscore.cli.main import app
from healthscore.errors import Invalid
from healthscore.ingest.demo import ARCHETYPES, CHURN_PATHS, PROFILES, STAYERS, generate_demo
from healthscore.ingest.demo.accounts import Account, draw_account
from healthscore.ingest.demo.activity import Activity, draw_activity
from healthscore.ingest.demo.clock import weekend_days
from healthscore.ingest.demo.profiles import get_profile
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage import schema

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
DAYS = 150


def fingerprint(session) -> tuple:
    return (
        session.scalar(select(func.count()).select_from(m.Session)),
        session.scalar(select(func.count()).select_from(m.FeatureUsage)),
        tuple(session.scalars(select(m.Customer.name).order_by(m.Customer.id))),
        tuple(session.scalars(select(m.Customer.churned_at).order_by(m.Customer.id))),
        session.scalar(select(func.max(m.Session.ts))),
    )


def test_the_same_seed_and_profile_give_the_same_data_and_others_do_not(sqlite_url):
    from healthscore.storage.database import make_engine, make_sessionmaker

    prints = []
    for seed, profile in [(3, "default"), (3, "default"), (4, "default"), (3, "smb_monthly")]:
        engine = make_engine(sqlite_url)
        with make_sessionmaker(engine)() as session:
            for table in reversed(schema.metadata.sorted_tables):
                session.execute(table.delete())
            generate_demo(session, customers=30, days=30, seed=seed, now=NOW, profile=profile)
            prints.append(fingerprint(session))
            session.rollback()
        engine.dispose()
    assert prints[0] == prints[1]
    assert prints[0] != prints[2]
    assert prints[0] != prints[3]


def test_an_unknown_profile_is_refused_and_nothing_is_written(session, sqlite_url, monkeypatch):
    with pytest.raises(Invalid, match="unknown demo profile 'enterprise_only'") as refused:
        generate_demo(session, customers=5, days=10, now=NOW, profile="enterprise_only")
    assert refused.value.problems[0].field == "profile"
    assert session.scalar(select(func.count()).select_from(m.Customer)) == 0
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(app, ["demo", "--customers", "5", "--profile", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output and "smb_monthly" in result.output
    from healthscore.storage.database import make_engine, make_sessionmaker

    engine = make_engine(sqlite_url)
    with make_sessionmaker(engine)() as fresh:
        assert fresh.scalar(select(func.count()).select_from(m.Customer)) == 0
    engine.dispose()


def test_no_row_is_after_now_or_after_the_account_churned(session):
    generate_demo(session, customers=150, days=60, seed=1, now=NOW)
    session.commit()
    for model, column in [
        (m.Session, m.Session.ts),
        (m.FeatureUsage, m.FeatureUsage.ts),
        (m.EngagementEvent, m.EngagementEvent.ts),
        (m.ApiUsage, m.ApiUsage.ts),
        (m.Payment, m.Payment.ts),
        (m.NpsResponse, m.NpsResponse.ts),
        (m.SupportTicket, m.SupportTicket.opened_at),
        (m.User, m.User.created_at),
    ]:
        assert session.scalar(select(func.max(column))) < NOW, model.__tablename__
        after_churn = session.scalar(
            select(func.count())
            .select_from(model)
            .join(m.Customer, m.Customer.id == model.customer_id)
            .where(m.Customer.churned_at.is_not(None), column >= m.Customer.churned_at)
        )
        assert after_churn == 0, model.__tablename__
    assert session.scalar(select(func.max(m.Customer.created_at))) < NOW
    assert session.scalar(select(func.max(m.Customer.churned_at))) < NOW
    seats_before_account = session.scalar(
        select(func.count())
        .select_from(m.User)
        .join(m.Customer, m.Customer.id == m.User.customer_id)
        .where(m.User.created_at < m.Customer.created_at)
    )
    assert seats_before_account == 0


# --- the stories, read from the drawn activity ------------------------------------------


class Drawn:
    """Accounts of one profile and their activity, drawn without a database."""

    def __init__(self, profile: str, count: int, seed: int = 11) -> None:
        rng = np.random.default_rng(seed)
        base = get_profile(profile)
        weekend = weekend_days(datetime(2026, 6, 1), DAYS)
        self.accounts: list[tuple[Account, Activity]] = []
        for index in range(count):
            account = draw_account(rng, index, DAYS, base)
            self.accounts.append((account, draw_activity(rng, account, base, weekend)))

    def of(self, archetype: str, *, churned: bool | None = None):
        for account, activity in self.accounts:
            if account.archetype != archetype:
                continue
            if churned is None or (account.churn_day is not None) == churned:
                yield account, activity


def seat_logins(activity: Activity):
    return activity.logins[: activity.seats]


def active_seats(activity: Activity, begin: int, end: int) -> int:
    return int((seat_logins(activity)[:, max(begin, 0) : end].sum(axis=1) > 0).sum())


@pytest.fixture(scope="module")
def drawn() -> Drawn:
    return Drawn("default", 3000)


def test_thinning_teams_lose_active_seats_over_months_before_they_churn(drawn):
    fell = []
    for account, activity in drawn.of("thinning", churned=True):
        churn, onset = account.churn_day, account.onset_day
        assert 60 <= churn - onset <= 120  # signs begin two to four months ahead
        if onset >= 30 and active_seats(activity, onset - 30, onset) >= 3:
            fell.append(
                active_seats(activity, churn - 30, churn)
                < active_seats(activity, onset - 30, onset)
            )
    assert len(fell) >= 10
    assert sum(fell) / len(fell) > 0.8


def test_when_the_champion_leaves_the_heaviest_user_stops_and_the_others_go_on(drawn):
    slowed = []
    for account, activity in drawn.of("champion_left", churned=True):
        onset, churn = account.onset_day, account.churn_day
        logins = seat_logins(activity)
        if onset < 30 or churn - onset < 14 or activity.seats < 3:
            continue
        before = logins[:, :onset].sum(axis=1)
        champion = int(np.argmax(before))
        assert logins[champion, onset:].sum() == 0
        others_after = logins[:, onset:churn].sum() / (churn - onset)
        others_before = (before.sum() - before[champion]) / onset
        slowed.append(others_after / max(others_before, 1e-9))
    assert len(slowed) >= 5
    assert np.mean(np.array(slowed) > 0) > 0.7  # the rest of the team carries on…
    assert float(np.median(slowed)) < 0.85  # …at a lower level


def test_accounts_that_never_onboard_are_new_activate_few_seats_and_churn_at_their_first_renewals(
    drawn,
):
    activated, healthy = [], []
    for account, activity in drawn.of("never_onboarded", churned=True):
        cycles = (account.churn_day - account.created_day) / account.cycle
        assert cycles in (1, 2) if account.contract == "monthly" else cycles == 1
        activated.append((seat_logins(activity).sum(axis=1) > 0).mean())
    for _account, activity in drawn.of("healthy"):
        healthy.append((seat_logins(activity).sum(axis=1) > 0).mean())
    assert len(activated) >= 20
    assert np.mean(activated) < 0.35 < 0.6 < np.mean(healthy)


def test_sudden_silence_stops_all_seats_three_to_eight_weeks_before_churn(drawn):
    checked = 0
    for account, activity in drawn.of("sudden_silence", churned=True):
        onset, churn = account.onset_day, account.churn_day
        assert 21 <= churn - onset <= 56
        assert seat_logins(activity)[:, max(onset, 0) :].sum() == 0
        if onset >= 14:
            assert seat_logins(activity)[:, :onset].sum() > 0
            checked += 1
    assert checked >= 10


def test_involuntary_churn_keeps_normal_use_until_the_end(drawn):
    ratios = []
    for account, activity in drawn.of("payment_failure", churned=True):
        churn = account.churn_day
        assert account.failure_day is not None and 10 <= churn - account.failure_day <= 25
        if churn >= 60:
            logins = seat_logins(activity)
            late = logins[:, churn - 25 : churn - 5].sum() / 20
            early = logins[:, churn - 60 : churn - 25].sum() / 35
            ratios.append(late / max(early, 1e-9))
    assert len(ratios) >= 10
    assert 0.7 < float(np.median(ratios)) < 1.4


def test_risky_looking_accounts_stay(drawn):
    for archetype in STAYERS:
        assert all(account.churn_day is None for account, _ in drawn.of(archetype))
    api = list(drawn.of("api_only"))
    assert len(api) >= 50
    for _account, activity in api:
        assert activity.api_calls is not None
        assert (activity.api_calls > 0).mean() > 0.9  # steady calls, every day
        assert seat_logins(activity).sum() <= DAYS / 10  # an admin about once a month
    for _account, activity in drawn.of("seasonal"):
        dipped = activity.story < 0.45  # two to four weeks at a fraction, then back
        assert 0 < dipped.sum() <= 56 and (activity.story == 1.0).mean() > 0.5
    small = [a for a, _ in drawn.of("small")]
    assert small and all(a.seats <= 3 for a in small)


def test_not_every_account_on_a_path_churns_and_some_churn_is_unforeseeable(drawn):
    for path in (
        "thinning",
        "champion_left",
        "never_onboarded",
        "sudden_silence",
        "payment_failure",
    ):
        decided = [a for a, _ in drawn.of(path) if a.decision_day < DAYS]
        churned = sum(a.churns for a in decided)
        assert 0.3 * len(decided) < churned < len(decided), path
    surprises = [(a, act) for a, act in drawn.of("unforeseeable", churned=True)]
    assert surprises
    churners = sum(1 for a, _ in drawn.accounts if a.churn_day is not None)
    assert 0.05 < len(surprises) / churners < 0.25  # a minority


# --- the base, read from the database ------------------------------------------------------


def test_contracts_time_the_churn_and_the_base_has_all_its_stories(session):
    summary = generate_demo(session, customers=500, days=DAYS, seed=2, now=NOW)
    session.commit()
    assert set(summary.archetypes) == set(ARCHETYPES)
    assert all(count > 0 for count in summary.archetypes.values()), summary.archetypes
    assert all(summary.churned_by_path[path] > 0 for path in CHURN_PATHS)
    assert summary.churned == sum(summary.churned_by_path.values())
    customers = session.execute(select(m.Customer)).scalars().all()
    by_contract: dict[str, list[m.Customer]] = defaultdict(list)
    for customer in customers:
        by_contract[customer.traits["contract"]].append(customer)
        assert ("churn_path" in customer.traits) == (customer.traits["archetype"] in CHURN_PATHS)
        if customer.churned_at is not None:
            assert customer.traits["archetype"] in CHURN_PATHS
    for customer in by_contract["monthly"]:
        assert customer.renews_at is None
    at_renewal = 0
    for customer in by_contract["annual"]:
        assert customer.renews_at is not None
        if customer.churned_at is None:
            assert NOW <= customer.renews_at <= NOW + timedelta(days=366)
        elif customer.traits["archetype"] != "payment_failure":
            assert customer.renews_at == customer.churned_at  # its last contract ended
            assert (customer.churned_at - customer.created_at).days % 365 == 0
            at_renewal += 1
    for customer in by_contract["monthly"]:
        if customer.churned_at is not None and customer.traits["archetype"] != "payment_failure":
            assert (customer.churned_at - customer.created_at).days % 30 == 0
    assert at_renewal >= 10
    annual_share = {
        s: np.mean([c.traits["contract"] == "annual" for c in customers if c.segment == s])
        for s in ("smb", "enterprise")
    }
    assert annual_share["smb"] < 0.4 < 0.8 < annual_share["enterprise"]
    created_inside = sum(c.created_at > NOW - timedelta(days=DAYS) for c in customers)
    assert 0.03 * len(customers) < created_inside < 0.2 * len(customers)
    seats = Counter(session.execute(select(m.User.customer_id)).scalars())
    sizes = np.array([seats[c.id] for c in customers])
    assert sizes.min() <= 3 and sizes.max() >= 150 and np.median(sizes) < sizes.mean()
    ghosts = session.scalar(
        select(func.count(func.distinct(m.Session.customer_id))).where(
            m.Session.user_id.not_in(select(m.User.user_id))
        )
    )
    assert 0.1 * len(customers) < ghosts < 0.4 * len(customers)  # support staff, bots, ex-users
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


def test_monthly_churn_is_a_few_percent_and_profiles_differ():
    def mix(profile: str) -> dict[str, float]:
        drawn = Drawn(profile, 1500, seed=5)
        accounts = [a for a, _ in drawn.accounts]
        churned = sum(a.churn_day is not None for a in accounts)
        exposure = sum(a.live_days - max(a.created_day, 0) for a in accounts) / 30
        return {
            "monthly_churn": churned / exposure,
            "annual": np.mean([a.contract == "annual" for a in accounts]),
            "api_only": np.mean([a.archetype == "api_only" for a in accounts]),
            "smb": np.mean([a.segment == "smb" for a in accounts]),
        }

    default, api, smb = mix("default"), mix("api_heavy"), mix("smb_monthly")
    for profile in (default, api, smb):
        assert 0.01 < profile["monthly_churn"] < 0.06, profile
    assert api["api_only"] > 2 * default["api_only"]
    assert api["annual"] > default["annual"] > smb["annual"]
    assert smb["smb"] > default["smb"] > api["smb"]
    assert smb["monthly_churn"] > default["monthly_churn"]
    assert set(PROFILES) >= {"default", "api_heavy", "smb_monthly"}


def test_the_default_scorecard_scores_the_next_months_churners_below_healthy_accounts(session):
    generate_demo(session, customers=400, days=100, seed=5, now=NOW)
    session.commit()
    as_of = NOW - timedelta(days=30)
    run = score_accounts(session, load_scorecard("default"), as_of=as_of)
    customers = {c.id: c for c in session.scalars(select(m.Customer))}
    assert run.churned and not set(run.churned) & {s.customer_id for s in run.scores}
    healthy, churning = [], []
    for score in run.scores:
        customer = customers[score.customer_id]
        if customer.churned_at is not None:  # churns within the 30 days after as_of
            churning.append(score.score)
        elif customer.traits["archetype"] == "healthy":
            healthy.append(score.score)
    assert len(churning) >= 10
    assert np.mean(healthy) > np.mean(churning) + 8  # measured: 79.8 vs 63.5
    assert {s.tier.value for s in run.scores} >= {"healthy", "monitor", "at_risk"}
