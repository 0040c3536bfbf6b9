"""Per-product scores on the account page, in Chromium: each product's score, tier and
share as the API answers them, and the rule that made the global score from the account's
own score. (The API tests cover both databases; the numbers are those of
tests/scoring/test_products.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healthscore.ingest.records import Event, record_events
from healthscore.settings import Settings
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.dashboard.test_browser import CHROMIUM, Tab, browser, playwright_api

__all__ = ["browser", "playwright_api"]  # the module-scoped browser fixture, shared
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

EXAMPLE = Path(__file__).parents[2] / "docs" / "products.yaml"


@pytest.fixture
def server_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        scorecard=str(EXAMPLE),
        queue_path=str(tmp_path / "queue.db"),
        redis_url=None,
        ingest_ack="applied",  # read-your-writes: the test reads what it sent at once
    )


@pytest.fixture
def tab(browser, live_server) -> Iterator[Tab]:
    assert CHROMIUM.exists()
    now = datetime.now(UTC)
    with transaction(live_server.sessions) as session:
        session.add(m.Customer(id="acme", name="Acme Corp", created_at=now - timedelta(days=400)))
        session.add_all(
            m.User(customer_id="acme", user_id=u, created_at=now - timedelta(days=300))
            for u in ("u1", "u2", "u3")
        )
        session.flush()
        events = []
        for day in range(1, 11):
            ts = now - timedelta(days=day, hours=3)
            events.append(Event("acme", "login", ts, f"u{1 + day % 2}", product="analytics"))
            if day <= 5:
                used = {"feature": f"f{day}"}
                events.append(Event("acme", "feature_used", ts, "u1", used, "analytics"))
        for day in (12, 20):
            events.append(Event("acme", "login", now - timedelta(days=day), "u3", None, "billing"))
        record_events(session, events)
    with live_server.client("admin") as api:
        assert api.post("/api/v1/health-scores/acme/refresh").status_code == 200
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    t = Tab(page, live_server.url)
    yield t
    context.close()
    assert t.errors == [], "the browser reported errors"


def test_the_account_page_shows_each_products_score_and_how_the_global_score_was_made(
    tab, live_server
):
    with live_server.client("read") as api:
        detail = api.get("/api/v1/health-scores/acme").json()
    tab.sign_in(live_server.keys["read"], then="/accounts/acme")
    page = tab.page

    assert int(tab.metric("score")) == detail["score"] == 73
    rows = page.locator("#products-table tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.product)") == [
        "analytics",
        "billing",
    ]
    for expected in detail["products"]["products"]:
        row = page.locator(f'#products-table tr[data-product="{expected["product"]}"]')
        assert int(row.locator('[data-field="score"]').inner_text()) == expected["score"]
        assert row.locator("[data-tier]").get_attribute("data-tier") == expected["tier"]
        share = row.locator('[data-field="share"]').inner_text()
        assert share == f"{100 * expected['share']:.0f}%"
    rule = page.locator("#products-rule")
    assert rule.locator('[data-field="account-score"]').inner_text() == "69"
    assert rule.locator('[data-field="products-mean"]').inner_text() == "78.0"
    assert rule.locator('[data-field="global-score"]').inner_text() == "73"
    assert "round(0.6 \u00d7 69 + 0.4 \u00d7 78.0)" in rule.inner_text()
    assert page.locator("#products").is_visible()
