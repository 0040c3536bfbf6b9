"""An account the product creates is written before any row that points at it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from healthscore.accounts.repository import upsert_customer
from healthscore.storage import case_models, csm_models, job_models
from healthscore.storage import models as m

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_rows_added_with_a_new_account_in_one_transaction_insert_after_it(session):
    # Each of these classes sorts before ``models.Customer`` by module and class name, the
    # unit of work's order between tables without a relationship: ``upsert_customer``
    # flushes the new account at once, so they still find it (``models.customer_fk``).
    upsert_customer(session, {"id": "newco", "name": "NewCo"})
    session.add(m.ApiUsage(customer_id="newco", ts=NOW, calls=3))
    session.add(
        csm_models.CsmSentiment(
            customer_id="newco", value=4, author="csm", recorded_at=NOW, valid_until=NOW
        )
    )
    session.add(job_models.PendingRescore(customer_id="newco", touched_at=NOW))
    session.add(
        case_models.OutreachEntry(
            customer_id="newco",
            playbook="critical_alert",
            reason="critical",
            snapshot={},
            owner=None,
            idempotency_key="newco-critical",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    session.commit()

    tables = [
        m.Customer,
        m.ApiUsage,
        csm_models.CsmSentiment,
        job_models.PendingRescore,
        case_models.OutreachEntry,
    ]
    assert [session.scalar(select(func.count()).select_from(t)) for t in tables] == [1] * 5
