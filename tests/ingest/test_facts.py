"""The REST API's facts, recorded by ``ingest.facts`` on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from healthscore.accounts.repository import upsert_customer
from healthscore.accounts.service import UnknownAccountError
from healthscore.ingest import facts, stripe_events
from healthscore.ingest.records import Event, InvalidFact
from healthscore.storage import job_models as jm
from healthscore.storage import models as m

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def acme(session):
    upsert_customer(session, {"id": "acme"})
    session.commit()
    return session


def count(session, model) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def pending(session) -> list[str]:
    return list(session.scalars(select(jm.PendingRescore.customer_id)))


def test_a_fact_about_an_unknown_account_in_the_body_is_an_invalid_customer_id(session):
    with pytest.raises(InvalidFact) as error:
        facts.record_nps_response(session, customer_id="nobody", score=9)
    assert (error.value.status, error.value.field) == (422, "customerId")
    assert str(error.value) == "customerId: unknown customer 'nobody'"


def test_a_ticket_of_an_unknown_account_in_the_path_is_not_found(session):
    with pytest.raises(UnknownAccountError):
        facts.record_ticket(
            session, customer_id="nobody", ticket_id="t1", fields={"opened_at": NOW}
        )


def test_an_event_retried_with_its_idempotency_key_is_recorded_once(acme):
    event = Event(customer_id="acme", event_type="login", ts=NOW, user_id="jane")
    assert facts.record_event(acme, event, idempotency_key="k1") is True
    assert facts.record_event(acme, event, idempotency_key="k1") is False
    assert facts.record_event(acme, event) is True
    acme.commit()
    assert count(acme, m.Session) == 2
    assert pending(acme) == ["acme"]


def test_a_payment_retried_with_its_external_id_answers_the_first_one(acme):
    first = facts.record_payment(
        acme,
        customer_id="acme",
        amount=Decimal(10),
        currency="EUR",
        status="succeeded",
        external_id="ch_1",
    )
    again = facts.record_payment(
        acme,
        customer_id="acme",
        amount=Decimal(10),
        currency="EUR",
        status="succeeded",
        external_id="ch_1",
    )
    acme.commit()
    assert (first.new, again.new, again.id) == (True, False, first.id)
    payment = acme.scalars(select(m.Payment)).one()
    assert (payment.currency, payment.amount) == ("eur", Decimal(10))


def test_a_ticket_cannot_be_resolved_before_it_was_opened(acme):
    with pytest.raises(InvalidFact, match="resolvedAt: is before openedAt"):
        facts.record_ticket(
            acme,
            customer_id="acme",
            ticket_id="t1",
            fields={"opened_at": NOW, "resolved_at": NOW - timedelta(hours=1)},
        )
    facts.record_ticket(
        acme, customer_id="acme", ticket_id="t1", fields={"opened_at": NOW, "rating": 4}
    )
    facts.record_ticket(
        acme, customer_id="acme", ticket_id="t1", fields={"opened_at": NOW, "rating": 5}
    )
    acme.commit()
    assert [t.rating for t in acme.scalars(select(m.SupportTicket))] == [5]


def test_a_stripe_event_applies_once_and_one_that_changed_nothing_leaves_no_trace(acme):
    upsert_customer(acme, {"id": "acme", "stripe_customer_id": "cus_1"})
    paid = {
        "id": "evt_1",
        "type": "charge.succeeded",
        "created": int(NOW.timestamp()),
        "data": {"object": {"id": "ch_1", "customer": "cus_1", "amount": 500, "currency": "usd"}},
    }
    assert stripe_events.receive(acme, paid).applied
    again = stripe_events.receive(acme, paid)
    assert (again.applied, again.detail) == (False, "evt_1 was already processed")
    unknown = {**paid, "id": "evt_2", "data": {"object": {"id": "ch_2", "customer": "cus_9"}}}
    assert not stripe_events.receive(acme, unknown).applied
    acme.commit()
    claimed = acme.scalars(select(jm.ProcessedMessage.message_id)).all()
    assert claimed == ["evt_1"]
    assert count(acme, m.Payment) == 1
    assert pending(acme) == ["acme"]
