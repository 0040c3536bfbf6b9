"""The dashboard in a real browser: Debian's Chromium driven by Playwright, headless.

Each test signs in against a live server with demo data and checks what a person would
see — numbers equal to the API's, working filters and dialog, a saved outreach change,
a live update without reload — and that the browser logged no errors on the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from healthscore.storage import case_models
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.dashboard.test_pages import EVIL, EVIL_ID, NOW, seed_dashboard

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.exists():
    pytest.skip(
        "Chromium is not installed (apt-get install chromium; .ci/run does it)",
        allow_module_level=True,
    )

# One database is enough here: test_pages checks every page on both.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


class Tab:
    """A page plus everything the browser complained about while it was open."""

    def __init__(self, page, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        """An alert() would mean injected script ran: record it, dismiss it."""
        self.errors.append(f"JS dialog: {dialog.message}")
        dialog.dismiss()

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"console {message.type}: {message.text}")

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def sign_in(self, key: str, *, then: str = "/") -> None:
        self.goto(then)
        assert self.page.url.startswith(f"{self.base}/login")
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.base + then)

    def metric(self, name: str) -> str:
        return self.page.locator(f'[data-metric="{name}"]').first.inner_text().strip()


@pytest.fixture
def server(db_url, sessions, db_snapshot, request):
    """A live server over ``seed_dashboard``'s rows (seeded once per test process, then
    copied in before the server starts)."""
    db_snapshot(db_url, "dashboard-pages", lambda: seed_dashboard(sessions))
    return request.getfixturevalue("live_server")


@pytest.fixture
def tab(browser, server) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    t = Tab(page, server.url)
    yield t
    context.close()  # before the server stops: closes the event stream
    assert t.errors == [], "the browser reported errors"


def test_login_is_required_and_wrong_keys_are_refused(tab, server):
    tab.goto("/accounts")
    assert "/login?next=%2Faccounts" in tab.page.url
    assert tab.page.locator("text=cust_").count() == 0
    tab.page.get_by_label("API key").fill(server.keys["ingest"])
    tab.page.get_by_role("button", name="Sign in").click()
    assert "read or admin" in tab.page.get_by_role("alert").inner_text()
    tab.page.get_by_label("API key").fill("hs_wrong_key")
    tab.page.get_by_role("button", name="Sign in").click()
    assert "unknown or revoked" in tab.page.get_by_role("alert").inner_text()
    tab.errors.clear()  # the refusals above are 401/403 responses, logged by Chromium
    tab.page.get_by_label("API key").fill(server.keys["read"])
    tab.page.get_by_role("button", name="Sign in").click()
    tab.page.wait_for_url(f"{server.url}/accounts")
    assert tab.page.get_by_role("heading", name="Accounts", level=1).is_visible()


def test_overview_numbers_equal_the_api(tab, server):
    tab.sign_in(server.keys["read"])
    with server.client("read") as api:
        summary = api.get("/api/v1/health-summary").json()
        nps = api.get("/api/v1/nps-summary").json()
    assert int(tab.metric("accounts")) == summary["accounts"]
    assert int(tab.metric("scored")) == summary["scored"]
    assert float(tab.metric("average-score")) == summary["averageScore"]
    assert int(tab.metric("declining")) == summary["declining"]
    assert int(tab.metric("improving")) == summary["improving"]
    for tier, count in summary["tiers"].items():
        assert int(tab.metric(f"tier-{tier}")) == count
    assert float(tab.metric("nps")) == nps["nps"]
    assert int(tab.metric("promoters")) == nps["promoters"]
    assert int(tab.metric("detractors")) == nps["detractors"]
    # Charts are drawn, with the same numbers as the legend.
    bars = tab.page.locator(".chart-wide .bar-chart rect.bar")
    assert bars.count() == 5 + 10
    assert bars.first.get_attribute("data-value") == str(summary["tiers"]["healthy"])


def test_filters_sorting_and_search(tab, server):
    tab.sign_in(server.keys["read"], then="/accounts")
    page = tab.page
    with server.client("read") as api:
        risky = api.get(
            "/api/v1/health-scores", params={"tier": ["critical", "at_risk"], "pageSize": 500}
        ).json()
        by_mrr = api.get(
            "/api/v1/health-scores", params={"sort": "mrr", "order": "desc", "pageSize": 50}
        ).json()
    page.get_by_label("Critical", exact=True).check()
    page.get_by_label("At risk", exact=True).check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(lambda url: "tier=critical" in url and "tier=at_risk" in url)
    assert "q=" not in page.url, "empty fields are left out of the address"
    assert int(tab.metric("total")) == risky["total"]
    tiers = page.locator("#accounts-table [data-tier]").evaluate_all(
        "els => els.map(e => e.dataset.tier)"
    )
    assert tiers and set(tiers) <= {"critical", "at_risk"}

    page.get_by_role("link", name="Clear", exact=True).click()
    page.get_by_role("link", name="MRR").click()  # MRR starts descending: biggest first
    page.wait_for_url(re.compile(r"sort=mrr"))
    ids = page.locator("#accounts-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.customerId)"
    )
    assert ids == [i["customerId"] for i in by_mrr["items"]]
    assert page.locator('th[aria-sort="descending"]').inner_text().startswith("MRR")

    page.keyboard.press("/")  # the search shortcut
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("cust_00007")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=cust_00007"))
    assert page.locator("#accounts-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.customerId)"
    ) == ["cust_00007"]


def test_signal_dialog_shows_the_apis_numbers(tab, server):
    with server.client("read") as api:
        customer_id = api.get("/api/v1/health-scores", params={"pageSize": 1}).json()["items"][0][
            "customerId"
        ]
        detail = api.get(f"/api/v1/health-scores/{customer_id}").json()
    tab.sign_in(server.keys["read"], then=f"/accounts/{customer_id}")
    page = tab.page
    signals = page.locator("#signals-table tr[data-signal]")
    assert signals.count() == len(detail["signals"])
    for index in (0, len(detail["signals"]) - 1):
        expected = detail["signals"][index]
        row = page.locator(f'tr[data-signal="{expected["name"]}"]')
        button = row.get_by_role("button")
        button.focus()
        page.keyboard.press("Enter")  # keyboard first
        dialog = page.locator(f'dialog[data-signal="{expected["name"]}"]')
        assert dialog.is_visible()
        assert dialog.get_attribute("open") is not None
        field = dialog.locator('[data-field="contribution"] strong')
        assert float(field.inner_text()) == pytest.approx(expected["contribution"], abs=0.005)
        weight = dialog.locator('[data-field="weight"]').inner_text()
        assert float(weight) == expected["weight"]
        value = float(dialog.locator('[data-field="value"]').inner_text())
        assert value == pytest.approx(expected["value"], abs=5e-5)
        if expected["normalisation"]:
            assert (
                dialog.locator('[data-field="normalisation"]').inner_text()
                == (expected["normalisation"])
            )
        page.keyboard.press("Escape")
        assert not dialog.is_visible()
        assert page.evaluate("document.activeElement.dataset.dialog") == button.get_attribute(
            "data-dialog"
        ), "focus returns to the button that opened the dialog"


def test_outreach_status_change_persists(tab, server):
    tab.sign_in(server.keys["admin"], then="/outreach")
    page = tab.page
    entry = page.locator(".outreach-entry").first
    entry_id = int(entry.get_attribute("data-entry-id"))
    entry.get_by_label("Status").select_option("resolved")
    entry.get_by_label("Owner").fill("Robin")
    entry.get_by_label("Notes").fill("Renewal call booked")
    entry.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(rf"saved={entry_id}"))
    assert page.get_by_role("status").filter(has_text="Saved").is_visible()
    with server.sessions() as session:
        saved = session.get(case_models.OutreachEntry, entry_id)
        assert (saved.status, saved.resolution, saved.owner, saved.notes) == (
            "resolved",
            "done",
            "Robin",
            "Renewal call booked",
        )
    page.reload()
    entry = page.locator(f"#entry-{entry_id}")
    assert entry.get_by_label("Status").input_value() == "resolved"
    assert entry.get_by_label("Owner").input_value() == "Robin"


def test_a_case_is_acknowledged_then_resolved_with_a_note_from_its_buttons(tab, server):
    tab.sign_in(server.keys["admin"], then="/outreach?status=unresolved")
    page = tab.page
    entry = page.locator(".outreach-entry").first
    case_id = int(entry.get_attribute("data-entry-id"))
    assert entry.get_attribute("data-state") == "open"
    entry.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(re.compile(rf"saved={case_id}"))
    entry = page.locator(f"#entry-{case_id}")
    assert entry.get_attribute("data-state") == "acknowledged"
    assert entry.get_by_role("button", name="Acknowledge").count() == 0, "nothing to acknowledge"
    entry.get_by_label("Resolution note").fill("Sponsor called back; renewal on track")
    entry.get_by_role("button", name="Resolve").click()
    page.wait_for_url(re.compile(rf"saved={case_id}"))
    # The unresolved view no longer lists it; the resolved one does, with Reopen.
    assert page.locator(f"#entry-{case_id}").count() == 0
    tab.goto("/outreach?status=resolved")
    entry = page.locator(f"#entry-{case_id}")
    assert entry.get_attribute("data-state") == "resolved"
    assert entry.get_by_role("button", name="Reopen").is_visible()
    with server.sessions() as session:
        case = session.get(case_models.OutreachEntry, case_id)
        notes = session.scalars(
            select(case_models.CaseEvent.note)
            .where(case_models.CaseEvent.case_id == case_id)
            .order_by(case_models.CaseEvent.id)
        ).all()
    assert (case.status, case.resolution) == ("resolved", "done")
    assert notes == ["", "Sponsor called back; renewal on track"]


def test_a_read_key_sees_cases_without_buttons(tab, server):
    tab.sign_in(server.keys["read"], then="/outreach")
    page = tab.page
    assert page.locator(".outreach-entry").count() > 0
    for name in ("Acknowledge", "Snooze", "Resolve", "Save"):
        assert page.get_by_role("button", name=name).count() == 0


def test_a_refresh_through_the_api_updates_the_open_page_without_reload(tab, server):
    customer_id = "cust_00005"
    tab.sign_in(server.keys["read"], then=f"/accounts/{customer_id}")
    page = tab.page
    page.wait_for_selector("#live-indicator[data-state=live]")
    before = int(tab.metric("score"))
    page.evaluate("window.__notReloaded = true")
    # New facts that must lower the score: failed payments and an unhappy NPS answer.
    with transaction(server.sessions) as session:
        for days in (1, 2, 3):
            session.add(
                m.Payment(
                    customer_id=customer_id,
                    ts=NOW - timedelta(days=days),
                    amount=Decimal("100"),
                    currency="usd",
                    status="failed",
                )
            )
        session.add(m.NpsResponse(customer_id=customer_id, ts=NOW, score=0, comment=""))
    with server.client("admin") as api:
        refreshed = api.post(f"/api/v1/health-scores/{customer_id}/refresh").json()
    assert refreshed["score"] < before
    # A locator assertion, not wait_for_function: the page's CSP forbids eval, rightly.
    playwright_api.expect(page.locator('[data-metric="score"]')).to_have_text(
        str(refreshed["score"])
    )
    assert page.evaluate("window.__notReloaded") is True
    assert "Scores updated" in page.locator("#live-banner").inner_text()
    contribution = page.locator('tr[data-signal="recent_payment_failures"]')
    assert contribution.get_attribute("data-contribution") == "0.0"


def test_hostile_names_render_as_text(tab, server):
    tab.sign_in(server.keys["read"], then=f"/accounts?q={EVIL_ID}")
    link = tab.page.locator(f'tr[data-customer-id="{EVIL_ID}"] a.account-link')
    assert link.inner_text() == EVIL
    link.click()
    tab.page.wait_for_url(f"{server.url}/accounts/{EVIL_ID}")
    assert tab.page.get_by_role("heading", level=1).inner_text() == EVIL
    assert tab.page.evaluate("document.querySelectorAll('main script').length") == 0
    # tab.errors would hold the alert() had it run.


def test_keyboard_skip_link_and_phone_width(tab, server):
    tab.sign_in(server.keys["read"])
    page = tab.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for path in ("/", "/accounts", "/accounts/cust_00003", "/outreach"):
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 844})
            tab.goto(path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways at {width}px"
