"""Explanations are generated from the scorecard as resolved for the account: a segment's
or a stage's override changes the words with the numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from healthscore.scoring import reports
from healthscore.scoring.explain import describe
from healthscore.scoring.labels import Stage
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m

CARD = load_scorecard("default")


def signal(card, name):
    return next(s for s in card.signals if s.name == name)


def test_a_segment_override_changes_the_target_in_the_words():
    base = describe(signal(CARD, "seat_activity"))
    enterprise = describe(signal(CARD.for_account("enterprise"), "seat_activity"))
    assert "per seat, over the last 14 days; 2 or more is full marks" in base
    assert "1.5 or more is full marks" in enterprise and "2 or more" not in enterprise


def test_every_kind_of_rule_reads_as_what_it_does():
    assert describe(signal(CARD, "activity_trend")).startswith("Seat-days")
    assert "against the account's own over the 56 days before" in describe(
        signal(CARD, "activity_trend")
    )
    assert "none is full marks, 2 or more is 0" in describe(signal(CARD, "recent_payment_failures"))
    assert "Tickets still open at the time (any age); none" in describe(
        signal(CARD, "open_tickets")
    )
    assert "No data counts as 60% of full marks" in describe(signal(CARD, "support_sentiment"))
    assert "scored on the other signals" in describe(signal(CARD, "csm_sentiment"))
    onboarding = CARD.for_account(None, Stage.onboarding)
    assert "over the last 60 days; 1 or more is full marks" in describe(
        signal(onboarding, "first_login")
    )


def test_the_explanation_of_a_stored_score_follows_the_accounts_segment(session):
    now = datetime.now(UTC)
    for cid, segment in (("big", "enterprise"), ("small", "smb")):
        session.add(
            m.Customer(id=cid, name=cid, segment=segment, created_at=now - timedelta(days=400))
        )
    session.flush()
    score_accounts(session, CARD, as_of=now)
    texts = {
        cid: next(
            s.description
            for s in reports.account_detail(session, cid, CARD).signals
            if s.name == "seat_activity"
        )
        for cid in ("big", "small")
    }
    assert "1.5 or more is full marks" in texts["big"]
    expected = describe(signal(CARD.for_account("smb"), "seat_activity"))
    assert texts["small"] == expected
