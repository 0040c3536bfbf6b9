"""The account page's revenue panel over HTTP, on both databases: the MRR history the API
recorded, each change against the one before, and the days to the next renewal."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from healthscore.accounts.repository import upsert_customer
from healthscore.storage.database import transaction
from tests.dashboard.test_pages import sign_in

NOW = datetime.now(UTC)


def add(server, account_id: str, renews_at: datetime | None = None) -> None:
    with transaction(server.sessions) as session:
        upsert_customer(
            session,
            {
                "id": account_id,
                "name": account_id.title(),
                "created_at": NOW - timedelta(days=400),
                "renews_at": renews_at,
            },
        )


def revenue(page: str) -> str:
    found = re.search(r'<section class="card"[^>]*id="revenue">(.*?)</section>', page, re.S)
    assert found, "no revenue panel"
    return found.group(1)


def test_the_account_page_shows_mrr_history_and_days_to_renewal(live_server):
    add(live_server, "acme", renews_at=NOW + timedelta(days=45 + 365, hours=1))
    add(live_server, "quiet")
    add(live_server, "lapsed", renews_at=NOW - timedelta(days=3))
    with live_server.client("ingest") as api:
        for days_ago, amount, seats in [(100, "1000", 20), (40, "1200", 24), (10, "900", None)]:
            at = (NOW - timedelta(days=days_ago)).isoformat()
            body = {"customerId": "acme", "mrr": amount, "seats": seats, "timestamp": at}
            assert api.post("/api/v1/mrr-changes", json=body).status_code == 201
    browser = sign_in(live_server)
    try:
        panel = revenue(browser.get("/accounts/acme").text)
        quiet = revenue(browser.get("/accounts/quiet").text)
        lapsed = revenue(browser.get("/accounts/lapsed").text)
    finally:
        browser.close()
    rows = re.findall(
        r'<tr data-at="[^"]+"><td class="nowrap">[^<]+</td><td class="num">([^<]+)</td>\s*'
        r'<td class="num">([^<]+)</td>\s*<td class="num">([^<]+)</td>',
        panel,
    )
    assert rows == [("900.00", "-25%", "—"), ("1,200.00", "+20%", "24"), ("1,000.00", "—", "20")]
    assert re.search(r'data-field="mrr-now">900.00<', panel)
    # A date next year (a multi-year contract, or a CRM ahead of itself): the anniversary
    # that comes first, as the lifecycle stage and the renewal signal read it.
    assert re.search(r'data-field="days-to-renewal">renews in 45 days', panel)
    assert "<svg" in panel  # the MRR line
    assert "No MRR history" in quiet and "no renewal date known" in quiet
    assert "renewal date passed" in lapsed
