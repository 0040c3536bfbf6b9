"""Playbooks after daily scoring, on a real database: seed 000's story, cooldowns, idempotency."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from healthscore.ingest.bulk import insert_rows
from healthscore.playbooks.rules import PlaybookSet, load_playbooks
from healthscore.playbooks.service import run_playbooks
from healthscore.scoring.scorecard import load_scorecard
from healthscore.scoring.service import backfill_days, score_accounts
from healthscore.storage import models as m

START = datetime(2026, 3, 1, tzinfo=UTC)
LAST_LOGIN_DAY = 40  # the enterprise account stops logging in after this day


def enterprise_that_goes_silent(session) -> None:
    """Seed 000's story: an enterprise account logs in daily, then stops."""
    insert_rows(
        session,
        m.Customer,
        [
            {
                "id": "ent",
                "name": "Big Corp",
                "segment": "enterprise",
                "plan": "enterprise",
                "created_at": START - timedelta(days=200),
                "traits": {},
            }
        ],
    )
    insert_rows(
        session,
        m.User,
        [
            {"customer_id": "ent", "user_id": f"u{i}", "created_at": START - timedelta(days=150)}
            for i in range(20)
        ],
    )
    insert_rows(
        session,
        m.Session,
        [
            {
                "customer_id": "ent",
                "user_id": f"u{u}",
                "ts": START + timedelta(days=d, hours=9 + u % 8),
            }
            for d in range(LAST_LOGIN_DAY + 1)
            for u in range(12)
        ],
    )
    session.commit()


def entries(session) -> list[m.OutreachEntry]:
    return list(session.scalars(select(m.OutreachEntry).order_by(m.OutreachEntry.created_at)))


def daily(session, rules: PlaybookSet, days: range) -> None:
    card = load_scorecard("default")
    for d in days:
        as_of = START + timedelta(days=d)
        run = score_accounts(session, card, as_of=as_of)
        run_playbooks(session, rules, run.scores, as_of=as_of)
        session.commit()


def test_an_enterprise_account_that_stops_logging_in_is_flagged_after_7_days_once(session):
    enterprise_that_goes_silent(session)
    rules = load_playbooks()
    only_no_login = PlaybookSet(
        version=1, playbooks=[p for p in rules.playbooks if p.name == "enterprise_no_login"]
    )
    daily(session, only_no_login, range(30, LAST_LOGIN_DAY + 20))
    logged = entries(session)
    assert len(logged) == 1, [(e.playbook, e.created_at) for e in logged]
    entry = logged[0]
    assert entry.customer_id == "ent" and entry.playbook == "enterprise_no_login"
    # The last login was on day 40 around 09:00-16:00; midnight scoring of day 48 is the
    # first at which 7 full days have passed.
    assert entry.created_at == START + timedelta(days=LAST_LOGIN_DAY + 8)
    assert entry.reason.startswith("no login for 7 days")
    assert entry.owner == "executive_sponsor" and entry.status == "open"
    assert entry.snapshot["days_since_login"] >= 7


def test_rerunning_the_same_day_never_logs_a_second_entry(session):
    enterprise_that_goes_silent(session)
    rules = load_playbooks()
    daily(session, rules, range(LAST_LOGIN_DAY + 8, LAST_LOGIN_DAY + 9))
    first = len(entries(session))
    assert first >= 1
    # Same day again, e.g. a retried job: the idempotency key holds.
    daily(session, rules, range(LAST_LOGIN_DAY + 8, LAST_LOGIN_DAY + 9))
    assert len(entries(session)) == first


def test_a_lasting_low_score_logs_one_entry_per_cooldown_window(session):
    enterprise_that_goes_silent(session)
    rules = load_playbooks()
    downgrade = PlaybookSet(
        version=1,
        playbooks=[
            p.model_copy(update={"cooldown_days": 10})
            for p in rules.playbooks
            if p.name == "score_below_threshold"
        ],
    )
    # The score falls below 40 about a month after the last login and stays there.
    daily(session, downgrade, range(LAST_LOGIN_DAY + 25, LAST_LOGIN_DAY + 50))
    logged = [e for e in entries(session) if e.playbook == "score_below_threshold"]
    assert len(logged) == 2, [e.created_at for e in logged]
    assert logged[1].created_at - logged[0].created_at == timedelta(days=10)


def test_payment_failures_and_detractors_fire_the_next_day(session):
    enterprise_that_goes_silent(session)
    moment = START + timedelta(days=20)
    insert_rows(
        session,
        m.Payment,
        [
            {
                "customer_id": "ent",
                "ts": moment - timedelta(hours=3),
                "amount": 10,
                "status": "failed",
            }
        ],
    )
    insert_rows(
        session,
        m.NpsResponse,
        [{"customer_id": "ent", "ts": moment - timedelta(hours=2), "score": 2}],
    )
    session.commit()
    rules = load_playbooks()
    daily(session, rules, range(20, 22))
    fired = {(e.playbook, e.created_at) for e in entries(session)}
    assert ("payment_failed", moment) in fired
    assert ("nps_detractor", moment) in fired
    assert ("payment_failed", moment + timedelta(days=1)) not in fired


def test_backfill_days_are_midnights():
    days = list(backfill_days(2, until=START.date()))
    assert days == [START - timedelta(days=1), START]


def test_tier_downgrades_log_one_entry_per_cooldown_window(session):
    enterprise_that_goes_silent(session)
    rules = load_playbooks()
    downgrades = PlaybookSet(
        version=1, playbooks=[p for p in rules.playbooks if p.name == "tier_downgrade"]
    )
    cooldown = downgrades.playbooks[0].cooldown_days
    card = load_scorecard("default")
    tiers = []
    for d in range(LAST_LOGIN_DAY - 3, LAST_LOGIN_DAY + 45):
        as_of = START + timedelta(days=d)
        run = score_accounts(session, card, as_of=as_of)
        run_playbooks(session, downgrades, run.scores, as_of=as_of)
        session.commit()
        tiers.append((as_of, run.scores[0].tier.value))
    moves = [
        tiers[i][0]
        for i in range(1, len(tiers))
        if tiers[i][1] != tiers[i - 1][1] and tiers[i][1] in ("at_risk", "critical")
    ]
    logged = [e.created_at for e in entries(session) if e.playbook == "tier_downgrade"]
    assert moves, "the silent account moves down the tiers"
    assert logged and logged[0] == moves[0]
    # Every logged downgrade is a real move, and two entries are never within a cooldown.
    assert set(logged) <= set(moves)
    assert all(b - a >= timedelta(days=cooldown) for a, b in itertools.pairwise(logged))
    # A move inside the cooldown of the previous entry is suppressed, not lost silently.
    suppressed = [t for t in moves if t not in logged]
    for t in suppressed:
        assert any(timedelta(0) < t - e < timedelta(days=cooldown) for e in logged)
