"""The CSM panel in Chromium: a CSM records sentiment, an admin overrides the score with
a reason and removes it again; the page shows the computed value beside the manual one
and every change in the audit log. (The API tests cover both databases.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.dashboard.test_browser import CHROMIUM, Tab, browser, playwright_api

__all__ = ["browser", "playwright_api"]  # the module-scoped browser fixture, shared
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def tab(browser, live_server) -> Iterator[Tab]:
    assert CHROMIUM.exists()
    with transaction(live_server.sessions) as session:
        created = datetime.now(UTC) - timedelta(days=400)
        session.add(m.Customer(id="acme", name="Acme Corp", created_at=created, traits={}))
    with live_server.client("admin") as api:
        assert api.post("/api/v1/health-scores/acme/refresh").status_code == 200
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    t = Tab(page, live_server.url)
    yield t
    context.close()
    assert t.errors == [], "the browser reported errors"


def test_sentiment_and_an_override_with_its_reason_from_the_account_page(tab, live_server):
    with live_server.client("read") as api:
        computed = api.get("/api/v1/health-scores/acme").json()["score"]
    tab.sign_in(live_server.keys["admin"], then="/accounts/acme")
    page = tab.page
    assert "No sentiment recorded" in page.locator("#sentiment-now").inner_text()

    form = page.locator("#sentiment-form")
    form.locator(".sentiment-choice", has_text="Red").click()
    form.get_by_label("Note").fill("Champion left for a competitor")
    form.get_by_role("button", name="Record sentiment").click()
    page.wait_for_url("**/accounts/acme?saved=sentiment#csm")
    assert "Red" in page.locator("#sentiment-now").inner_text()
    assert "counts until" in page.locator("#sentiment-now").inner_text()
    assert page.locator("#sentiment-history li").count() == 1
    assert page.locator('#audit-log tr[data-kind="sentiment"]').count() == 1

    until = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    form = page.locator("#override-form")
    form.get_by_label("What").select_option("score")
    form.get_by_label("Value").fill("90")
    form.get_by_label("Until").fill(until)
    form.get_by_role("button", name="Set by hand").click()
    # The browser refuses the form without a reason (required): nothing is sent.
    assert page.url.endswith("saved=sentiment#csm")
    form.get_by_label("Reason").fill("Signed a three-year renewal")
    form.get_by_role("button", name="Set by hand").click()
    page.wait_for_url("**/accounts/acme?saved=override#csm")
    notice = page.locator("#override-notice")
    assert "Score set by hand to 90" in notice.inner_text()
    assert "three-year renewal" in notice.inner_text()
    with live_server.client("read") as api:
        now_computed = api.get("/api/v1/health-scores/acme").json()["adjusted"]["override"]
    assert notice.locator('[data-field="computed"]').inner_text() == str(
        now_computed["score"]["computed"]
    )
    assert now_computed["score"]["computed"] != computed  # the red sentiment counts
    item = page.locator('#override-list li[data-target="score"]')
    assert item.locator('[data-field="manual"]').inner_text() == "90"

    item.get_by_role("button", name="Remove").click()
    page.wait_for_url("**/accounts/acme?saved=removed#csm")
    assert page.locator("#override-notice").count() == 0
    assert "No override in force" in page.locator("#overrides").inner_text()
    assert page.locator('#audit-log tr[data-kind="override"]').count() == 2


def test_a_read_key_sees_the_panel_without_its_forms(tab, live_server):
    tab.sign_in(live_server.keys["read"], then="/accounts/acme")
    assert tab.page.locator("#sentiment").is_visible()
    assert tab.page.locator("#sentiment-form, #override-form").count() == 0
