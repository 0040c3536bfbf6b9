"""A client generated from the live server's OpenAPI document, as integrators make one.

``openapi-python-client`` generates a Python package from ``/openapi.json`` at test time
(with no warning: every operation and schema of the document is usable), the test imports
it and drives, through its typed functions and models only, the ingest paths (accounts,
seats, engagement, NPS, payments, tickets, MRR, Segment's six calls, a signed Stripe
event) and seed 001's ten operations (listHealthScores, getHealthScore,
refreshHealthScore, getHealthSummary, submitNpsResponse, listNpsResponses,
getNpsSummary, trackEngagement, listEngagementEvents, listOutreachLog). The answers come
back as the generated models: the document describes what the server sends.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import stripe

from tests.api.test_stripe import SECRET, invoice, make_event

pytestmark = pytest.mark.slow  # generates a package in a subprocess (a few seconds)

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
NOW = datetime.now(UTC).replace(microsecond=0)
ACCOUNT = "cust_abc123"


class Generated:
    """The generated package: ``call("nps", "submit_nps_response", ...)`` runs an
    operation's ``sync_detailed``; ``models`` holds its models."""

    def __init__(self, package: ModuleType, client: Any) -> None:
        self.name = package.__name__
        self.models = importlib.import_module(f"{self.name}.models")
        self.client = client

    def call(self, tag: str, operation: str, *, client: Any = None, **arguments: Any) -> Any:
        module = importlib.import_module(f"{self.name}.api.{tag}.{operation}")
        return module.sync_detailed(client=client or self.client, **arguments)

    def ok(self, tag: str, operation: str, status: int = 200, **arguments: Any) -> Any:
        """The operation's parsed answer, after checking its status."""
        answer = self.call(tag, operation, **arguments)
        assert answer.status_code == status, answer.content
        return answer.parsed


@pytest.fixture
def generated(live_server, tmp_path: Path) -> Iterator[Generated]:
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{live_server.url}/openapi.json").content)
    config = tmp_path / "generator.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run over the generated code
    name = f"healthscore_client_{uuid.uuid4().hex[:8]}"
    arguments = ["--path", document, "--output-path", tmp_path / name, "--config", config]
    done = subprocess.run(
        [GENERATOR, "generate", "--meta", "none", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        package = importlib.import_module(name)
        client = package.AuthenticatedClient(
            base_url=live_server.url, token=live_server.keys["admin"], timeout=30.0
        )
        with client:
            yield Generated(package, client)
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def ingest_through_the_client(api: Generated) -> None:
    m = api.models
    customer = api.ok(
        "customers",
        "upsert_customer",
        customer_id=ACCOUNT,
        body=m.CustomerInput(
            name="ABC Corp",
            segment="enterprise",
            mrr="4200",
            created_at=NOW - timedelta(days=90),
            stripe_customer_id="cus_abc123",
        ),
    )
    assert isinstance(customer, m.CustomerOut) and customer.mrr == "4200.00"
    seat = m.UserInput(created_at=NOW - timedelta(days=80))
    api.ok("customers", "upsert_user", customer_id=ACCOUNT, user_id="jane", body=seat)
    for event_type, metadata in (("login", {}), ("feature_used", {"feature": "analytics"})):
        accepted = api.ok(
            "engagement",
            "track_engagement",
            201,
            body=m.EngagementInput(
                customer_id=ACCOUNT,
                event_type=event_type,
                user_id="jane",
                metadata=m.EngagementInputMetadata.from_dict(metadata),
                timestamp=NOW - timedelta(hours=2),
            ),
        )
        assert isinstance(accepted, m.Accepted) and accepted.accepted == 1
    answer = m.NpsInput(customer_id=ACCOUNT, score=9, comment="Great product, fast support.")
    assert isinstance(api.ok("nps", "submit_nps_response", 201, body=answer), m.Created)

    charge = m.PaymentInput(
        customer_id=ACCOUNT,
        amount=49.0,
        status=m.PaymentInputStatus.SUCCEEDED,
        external_id="inv_1",
        timestamp=NOW - timedelta(days=1),
    )
    first = api.ok("customers", "record_payment", 201, body=charge)
    assert api.ok("customers", "record_payment", 201, body=charge).id == first.id  # a retry
    charge.external_id = ""  # issue 25: was stored, then the next one was a 500
    empty = api.call("customers", "record_payment", body=charge)
    assert empty.status_code == 422 and isinstance(empty.parsed, m.ErrorResponse)
    assert [d.field for d in empty.parsed.error.details] == ["externalId"]

    ticket = m.TicketInput(
        opened_at=NOW - timedelta(days=3), resolved_at=NOW - timedelta(days=2), rating=4
    )
    api.ok("customers", "upsert_support_ticket", customer_id=ACCOUNT, ticket_id="T-1", body=ticket)
    change = m.MrrChangeInput(customer_id=ACCOUNT, mrr="4300.00", seats=12)
    assert isinstance(api.ok("customers", "record_mrr_change", 201, body=change), m.Created)


def segment_through_the_client(api: Generated) -> None:
    m = api.models
    on_seg = m.Context(group_id="cust_seg")
    calls = [
        (
            "segment_group",
            m.GroupMessage(
                group_id="cust_seg",
                user_id=7,  # Segment's leniency, in the document: a whole number is its digits
                traits=m.GroupMessageTraits.from_dict({"name": "Seg Corp", "plan": "pro"}),
            ),
        ),
        (
            "segment_identify",
            m.IdentifyMessage(
                user_id="7", traits=m.IdentifyMessageTraits.from_dict({"email": "a@seg.example"})
            ),
        ),
        (
            "segment_track",
            m.TrackMessage(
                user_id="7",
                event="Feature Used",
                properties=m.TrackMessageProperties.from_dict({"feature": "reports"}),
                context=on_seg,
                timestamp=NOW - timedelta(minutes=30),
                sent_at=NOW,
            ),
        ),
        ("segment_page", m.PageMessage(anonymous_id="anon-1", name="Pricing", context=on_seg)),
        ("segment_alias", m.AliasMessage(previous_id="anon-1", user_id="7")),
        (
            "segment_batch",
            m.Batch(
                batch=[m.TrackMessage(user_id="7", event="Signed In", context=on_seg)],
                sent_at=NOW,
            ),
        ),
    ]
    for operation, message in calls:
        assert api.ok("segment", operation, body=message).success is True, operation


def stripe_through_the_client(api: Generated, live_server) -> None:
    """A signed ``invoice.paid``: the generated client sends the body, an httpx event hook
    signs the bytes it sends (``Stripe-Signature`` is the document's security scheme)."""

    def sign(request: httpx.Request) -> None:
        request.headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
            request.content.decode(), SECRET
        )

    package = importlib.import_module(api.name)
    signer = package.AuthenticatedClient(
        base_url=live_server.url,
        token="",
        prefix="",
        auth_header_name="Stripe-Signature",
        httpx_args={"event_hooks": {"request": [sign]}},
    )
    event = make_event("invoice.paid", invoice("cus_abc123", amount_paid=4900))
    body = api.models.ReceiveStripeWebhookStripeEvent.from_dict(event)
    with signer:
        receipt = api.call("webhooks", "receive_stripe_webhook", client=signer, body=body)
    assert receipt.status_code == 200, receipt.content
    assert receipt.parsed.applied is True, receipt.parsed.detail


def test_a_generated_client_drives_ingest_and_the_seed_operations(
    generated: Generated, live_server
) -> None:
    api, m = generated, generated.models
    ingest_through_the_client(api)
    segment_through_the_client(api)
    stripe_through_the_client(api, live_server)

    # Seed 001's ten operations (the four writes above included).
    refreshed = api.ok("health_scores", "refresh_health_score", customer_id=ACCOUNT)
    assert isinstance(refreshed, m.HealthScoreDetail) and 0 <= refreshed.score <= 100
    detail = api.ok("health_scores", "get_health_score", customer_id=ACCOUNT)
    assert (detail.score, detail.tier) == (refreshed.score, refreshed.tier)
    assert {signal.name for signal in detail.signals} >= {"nps_score", "payment_health"}
    scores = api.ok("health_scores", "list_health_scores", page_size=10)
    assert ACCOUNT in [item.customer_id for item in scores.items]
    summary = api.ok("health_scores", "get_health_summary", segment=["enterprise"])
    assert isinstance(summary, m.HealthSummary) and summary.scored == 1
    answers = api.ok("nps", "list_nps_responses", customer_id=ACCOUNT, since=NOW - timedelta(1))
    assert [(a.score, a.category.value) for a in answers.items] == [(9, "promoter")]
    nps = api.ok("nps", "get_nps_summary", customer_id=ACCOUNT)
    assert (nps.responses, nps.nps) == (1, 100.0)
    events = api.ok("engagement", "list_engagement_events", customer_id="cust_seg")
    assert isinstance(events, m.PageEngagementEventOut)
    assert "page_viewed" in [event.event_type for event in events.items]
    outreach = api.ok("outreach", "list_outreach_log", customer_id=ACCOUNT)
    assert isinstance(outreach, m.PageOutreachEntryOut)

    unknown = api.call("health_scores", "get_health_score", customer_id="nobody")
    assert unknown.status_code == 404 and unknown.parsed.error.code == "not_found"
    exported = api.ok("customers", "export_customer", customer_id=ACCOUNT)
    assert json.loads(json.dumps(exported.to_dict()))["customer"]
