"""Every page at a laptop's and a phone's width (1280 and 390 px), checked in Chromium for
what a person would see as broken: a page wider than the screen, text cut off by its box,
and controls or labels drawn on top of each other (the filter chips' checkboxes once sat
on the pill's border)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboard.test_browser import CHROMIUM, Tab, browser, playwright_api
from tests.dashboard.test_pages import seed_dashboard

__all__ = ["browser", "playwright_api"]
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

WIDTHS = (1280, 390)

# Visible boxes that must not overlap one another (an element and what it contains are
# not an overlap). Charts are drawings: their inside is checked by the chart tests.
PROBLEMS = """
() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth + 1) {
    problems.push(`page is ${root.scrollWidth}px wide on a ${window.innerWidth}px screen`);
  }
  const shown = (el) => {
    if (el.closest("svg, dialog:not([open]), [hidden], .sr-only, .chart-narrow, .chart-wide")) {
      const box = el.closest(".chart-narrow, .chart-wide");
      if (!box || getComputedStyle(box).display === "none") return false;
    }
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && style.visibility !== "hidden" && style.opacity !== "0";
  };
  const name = (el) => {
    const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim();
    const css = typeof el.className === "string" && el.className ? "." + el.className : "";
    return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${css.split(" ")[0]}` +
      ` "${text.slice(0, 30)}"`;
  };
  // Text cut off: a box that hides what overflows it while its content is wider.
  for (const el of document.querySelectorAll("main *, header *")) {
    if (!shown(el) || el.closest(".table-wrap, svg")) continue;
    const style = getComputedStyle(el);
    const hides = ["hidden", "clip"].includes(style.overflowX);
    if (hides && style.textOverflow !== "ellipsis" && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`clipped: ${name(el)} (${el.scrollWidth}px in ${el.clientWidth}px)`);
    }
  }
  // A control drawn on (or outside) its container's border: not inside its padding box.
  for (const el of document.querySelectorAll("main input, main select, main button")) {
    if (!shown(el) || el.type === "hidden") continue;
    const parent = el.parentElement, p = parent.getBoundingClientRect();
    const ps = getComputedStyle(parent), r = el.getBoundingClientRect();
    // In a pill (fully rounded ends) the ends curve away: keep clear of them too.
    const pill = parseFloat(ps.borderTopLeftRadius) >= p.height / 2 - 1 ? 4 : 0;
    const inside = r.left >= p.left + parseFloat(ps.borderLeftWidth) + pill - 1 &&
      r.right <= p.right - parseFloat(ps.borderRightWidth) - pill + 1;
    if (ps.display !== "contents" && parseFloat(ps.borderLeftWidth) > 0 && !inside) {
      problems.push(`on its container's border: ${name(el)} in ${name(parent)}`);
    }
  }
  const selector = "a, button, input, select, textarea, label, .badge, h1, h2, .kpi-value";
  const items = [...document.querySelectorAll(selector)].filter(
    (el) => shown(el) && !el.closest("svg")
  );
  const boxes = items.map((el) => el.getBoundingClientRect());
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i], b = items[j];
      if (a.contains(b) || b.contains(a)) continue;
      const x = Math.min(boxes[i].right, boxes[j].right) - Math.max(boxes[i].left, boxes[j].left);
      const y = Math.min(boxes[i].bottom, boxes[j].bottom) - Math.max(boxes[i].top, boxes[j].top);
      if (x > 1 && y > 1) problems.push(`overlap: ${name(a)} and ${name(b)}`);
    }
  }
  return problems;
}
"""


@pytest.fixture
def tab(browser, live_server) -> Iterator[Tab]:
    assert CHROMIUM.exists()
    seed_dashboard(live_server.sessions)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    t = Tab(page, live_server.url)
    yield t
    context.close()
    assert t.errors == [], "the browser reported errors"


def test_no_page_overflows_clips_or_overlaps_at_laptop_and_phone_width(tab, live_server):
    with live_server.client("read") as api:
        riskiest = api.get("/api/v1/health-scores", params={"sort": "score"}).json()
    account = riskiest["items"][0]["customerId"]
    tab.sign_in(live_server.keys["admin"], then="/")
    pages = ["/", "/accounts?tier=at_risk&tier=critical", f"/accounts/{account}", "/outreach",
             "/data-quality"]  # fmt: skip
    # The checker itself: two buttons drawn on top of each other are reported.
    tab.page.evaluate(
        """() => {
          const probe = document.createElement("div");
          probe.style.position = "relative";
          for (const text of ["one", "two"]) {
            const b = document.createElement("button");
            b.textContent = text;
            probe.append(b);
          }
          Object.assign(probe.lastChild.style, {position: "absolute", left: "4px", top: "2px"});
          document.querySelector("main").prepend(probe);
        }"""
    )
    assert any('"one"' in p and '"two"' in p for p in tab.page.evaluate(PROBLEMS))
    found = {}
    for width in WIDTHS:
        tab.page.set_viewport_size({"width": width, "height": 900})
        for path in pages:
            tab.goto(path)
            problems = tab.page.evaluate(PROBLEMS)
            if problems:
                found[f"{path} at {width}px"] = problems[:8]
    assert found == {}
    # A page whose contents follow the scores is live; one that does not has no indicator
    # (it never says "Not live").
    tab.goto("/outreach")
    tab.page.wait_for_selector("#live-indicator[data-state=live]")
    tab.goto("/data-quality")
    assert tab.page.locator("#live-indicator").is_hidden()
