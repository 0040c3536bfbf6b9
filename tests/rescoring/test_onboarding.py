"""A brand-new account through the real rescoring path: no alert while it onboards (its
score rests on no data), an onboarding case once its grace period passes with no login."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from healthscore.ingest.bulk import insert_rows
from healthscore.rescoring.service import Rescoring
from healthscore.storage import case_models
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.rescoring.conftest import NOW

GRACE = 14


def brand_new_enterprise(sessions, *, seats: int = 25) -> None:
    with transaction(sessions) as session:
        insert_rows(
            session,
            m.Customer,
            [
                {
                    "id": "newco",
                    "name": "New Co",
                    "segment": "enterprise",
                    "plan": "enterprise",
                    "created_at": NOW,
                    "traits": {},
                }
            ],
        )
        insert_rows(
            session,
            m.User,
            [{"customer_id": "newco", "user_id": f"u{u}", "created_at": NOW} for u in range(seats)],
        )


def cases_of(sessions) -> list[case_models.OutreachEntry]:
    with sessions() as session:
        return list(
            session.scalars(
                select(case_models.OutreachEntry).order_by(case_models.OutreachEntry.id)
            )
        )


def test_a_new_account_gets_no_alert_in_its_grace_period_then_one_onboarding_case(
    sessions, rescoring: Rescoring
):
    brand_new_enterprise(sessions)
    for day in range(GRACE):
        rescored = rescoring.rescore(kind="test", as_of=NOW + timedelta(days=day, hours=1))
        [score] = rescored.run.scores
        assert rescored.playbooks.firings == [], (day, score.score, score.confidence)
        assert score.confidence < 0.6, "a score on no data is not trusted"
    assert cases_of(sessions) == []
    for day in range(GRACE, GRACE + 5):
        rescoring.rescore(kind="test", as_of=NOW + timedelta(days=day, hours=1))
    [case] = cases_of(sessions)
    assert case.playbook == "onboarding_not_started" and case.status == "open"
    assert case.created_at == NOW + timedelta(days=GRACE, hours=1)
    assert case.owner == "onboarding" and "kickoff" in case.next_step
    assert len(case.evidence) == 5


def test_the_first_login_resolves_the_onboarding_case(sessions, rescoring: Rescoring):
    brand_new_enterprise(sessions)
    rescoring.rescore(kind="test", as_of=NOW + timedelta(days=GRACE, hours=1))
    with transaction(sessions) as session:
        insert_rows(
            session,
            m.Session,
            [{"customer_id": "newco", "user_id": "u1", "ts": NOW + timedelta(days=GRACE, hours=5)}],
        )
    rescored = rescoring.rescore(kind="test", as_of=NOW + timedelta(days=GRACE + 1))
    [case] = cases_of(sessions)
    assert (case.status, case.resolution) == ("resolved", "cleared")
    assert rescored.playbooks.firings == [], "one login is not 'stopped logging in' either"
