"""The account hierarchy on the account page, in Chromium: a mid-level account shows its
parent (a link), its children with their scores and tiers as the API gives them, and that
its own score is their roll-up; following the link shows the parent's tree."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboard.test_browser import CHROMIUM, Tab, playwright_api

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
CREATED = (datetime.now(UTC) - timedelta(days=400)).isoformat()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def server(live_server):
    """holding ← mid (MRR 300) ← fan (MRR 100, NPS 10), payer (MRR 300, failed payments)."""
    with live_server.client("admin") as api:
        tree = [("holding", None, 0), ("mid", "holding", 300), ("fan", "mid", 100)]
        tree.append(("payer", "mid", 300))
        for cid, parent, mrr in tree:
            body = {"name": cid.title(), "mrr": str(mrr), "createdAt": CREATED, "parentId": parent}
            api.put(f"/api/v1/customers/{cid}", json=body).raise_for_status()
        api.post("/api/v1/nps-responses", json={"customerId": "fan", "score": 10})
        for _ in range(3):
            payment = {"customerId": "payer", "amount": "300", "status": "failed"}
            api.post("/api/v1/payments", json=payment).raise_for_status()
        for cid in ("fan", "payer"):  # each also rescores mid and holding
            api.post(f"/api/v1/health-scores/{cid}/refresh").raise_for_status()
    return live_server


@pytest.fixture
def tab(browser, server) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    t = Tab(page, server.url)
    yield t
    context.close()
    assert t.errors == [], "the browser reported errors"


def test_the_account_page_shows_the_parent_and_the_childrens_scores(tab, server):
    with server.client("read") as api:
        scores = {c: api.get(f"/api/v1/health-scores/{c}").json() for c in ("mid", "fan", "payer")}
    assert scores["fan"]["score"] != scores["payer"]["score"]
    tab.sign_in(server.keys["read"], then="/accounts/mid")
    page = tab.page

    card = page.locator("#hierarchy")
    assert card.get_by_role("heading", name="Account hierarchy").is_visible()
    parent = page.locator("#hierarchy-parent")
    assert parent.get_attribute("data-parent-id") == "holding"
    assert tab.metric("score") == str(scores["mid"]["score"])
    rollup = page.locator("#hierarchy-rollup")
    assert rollup.get_attribute("data-rule") == "mrr_weighted_mean"
    assert "MRR-weighted mean of the scores of 2 active child accounts" in rollup.inner_text()
    for cid, weight in (("fan", "25%"), ("payer", "75%")):
        row = page.locator(f'#hierarchy-tree li[data-child-id="{cid}"]')
        assert row.locator("[data-score]").first.inner_text() == str(scores[cid]["score"])
        assert row.locator("[data-tier]").first.get_attribute("data-tier") == scores[cid]["tier"]
        assert row.locator('[data-field="weight"]').inner_text() == weight

    parent.get_by_role("link", name="Holding").click()
    page.wait_for_url(f"{server.url}/accounts/holding")
    nested = page.locator('#hierarchy-tree li[data-child-id="mid"] li[data-child-id]')
    assert nested.evaluate_all("els => els.map(e => e.dataset.childId)") == ["fan", "payer"]
    assert page.locator("#hierarchy-parent").count() == 0
    # Only the direct children are weighed in its roll-up; the others count within mid's.
    weights = page.locator('#hierarchy-tree [data-field="weight"]')
    assert weights.evaluate_all("els => els.map(e => e.textContent)") == ["100%"]
