"""The accounts service: saving accounts and seats, with the rules clients rely on
(on SQLite and PostgreSQL through ``session``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from healthscore.accounts import repository
from healthscore.accounts import service as accounts
from healthscore.errors import DomainError, Problem
from healthscore.storage import job_models as jm
from healthscore.storage import models as m

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_new_account_gets_defaults_and_an_update_changes_only_the_fields_given(session):
    created = accounts.save_customer(session, "acme", {"plan": "pro"})
    assert (created.name, created.plan, created.segment, created.mrr) == (
        "acme",
        "pro",
        "",
        Decimal(0),
    )
    accounts.save_customer(session, "acme", {"name": "Acme", "mrr": Decimal("99.50")})
    session.commit()
    saved = repository.get_customer(session, "acme")
    assert saved is not None
    assert (saved.name, saved.plan, saved.mrr) == ("Acme", "pro", Decimal("99.50"))


def test_a_field_with_a_value_may_not_be_set_to_null(session):
    with pytest.raises(DomainError) as error:
        accounts.save_customer(session, "acme", {"name": None, "created_at": None})
    assert (error.value.status, str(error.value)) == (422, "name: may be omitted but not null")
    assert error.value.problems == [
        Problem("name", "may not be null"),
        Problem("createdAt", "may not be null"),
    ]
    assert repository.get_customer(session, "acme") is None


def test_a_stripe_customer_maps_to_one_account_only(session):
    accounts.save_customer(session, "acme", {"stripe_customer_id": "cus_1"})
    accounts.save_customer(session, "acme", {"stripe_customer_id": "cus_1"})  # its own: fine
    with pytest.raises(accounts.StripeCustomerTaken) as error:
        accounts.save_customer(session, "globex", {"stripe_customer_id": "cus_1"})
    assert error.value.status == 409
    assert str(error.value) == "stripeCustomerId 'cus_1' belongs to 'acme'"


def test_an_account_cannot_churn_before_it_was_created(session):
    with pytest.raises(DomainError) as error:
        accounts.save_customer(
            session,
            "acme",
            {"created_at": CREATED, "churned_at": datetime(2025, 12, 31, tzinfo=UTC)},
        )
    assert (error.value.status, str(error.value), error.value.problems) == (
        422,
        "churnedAt: is before createdAt",
        [],
    )


def test_an_unknown_account_is_a_404_naming_it(session):
    with pytest.raises(accounts.UnknownAccountError) as error:
        accounts.require_account(session, "nobody")
    assert (error.value.status, error.value.code) == (404, None)
    assert str(error.value) == "unknown customer 'nobody'"
    with pytest.raises(accounts.UnknownAccountError):
        accounts.save_user(session, customer_id="nobody", user_id="jane")
    with pytest.raises(accounts.UnknownAccountError):
        accounts.export_customer(session, "nobody")


def test_a_seat_is_added_updated_and_freed_and_the_account_queued_for_rescoring(session):
    accounts.save_customer(session, "acme", {})
    accounts.save_user(session, customer_id="acme", user_id="jane", created_at=CREATED)
    removed = datetime(2026, 2, 1, tzinfo=UTC)
    accounts.save_user(
        session, customer_id="acme", user_id="jane", removed_at=removed, traits={"role": "x"}
    )
    session.commit()
    user = session.scalars(select(m.User)).one()
    assert (user.created_at, user.removed_at, user.traits) == (CREATED, removed, {"role": "x"})
    assert list(session.scalars(select(jm.PendingRescore.customer_id))) == ["acme"]


def test_listing_filters_by_segment_and_name_and_counts_all_matches(session):
    for cid, name, segment in [
        ("a", "Acme 100%", "smb"),
        ("b", "Beta", "smb"),
        ("c", "acme_two", "ent"),
    ]:
        accounts.save_customer(session, cid, {"name": name, "segment": segment})
    session.commit()
    page, total = accounts.list_customers(session, segment="smb", limit=1)
    assert ([c.id for c in page], total) == (["a"], 2)
    page, total = accounts.list_customers(session, search="ACME")
    assert ([c.id for c in page], total) == (["a", "c"], 2)
    page, total = accounts.list_customers(session, search="100%")  # % is not a wildcard
    assert ([c.id for c in page], total) == (["a"], 1)
    assert repository.known_customers(session, {"a", "c", "zzz"}) == {"a", "c"}
    assert repository.known_customers(session, set()) == set()


def test_an_export_is_json_ready_and_erasure_counts_what_it_deleted(session):
    accounts.save_customer(session, "acme", {"mrr": Decimal("10.00"), "created_at": CREATED})
    accounts.save_user(session, customer_id="acme", user_id="jane", created_at=CREATED)
    session.commit()
    export = accounts.export_customer(session, "acme")
    assert export["customer"]["mrr"] == "10.00"
    assert export["customer"]["created_at"].startswith("2026-01-01")
    assert [u["user_id"] for u in export["users"]] == ["jane"]
    counts = accounts.delete_customer(session, "acme")
    session.commit()
    assert (counts["customers"], counts["users"], counts["pending_rescores"]) == (1, 1, 1)
    assert repository.get_customer(session, "acme") is None
