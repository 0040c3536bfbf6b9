"""The dashboard over HTTP against a live server, on both databases.

Pages are read as a browser would get them (cookies, redirects, form posts) and every
number they show is checked against the HTTP API's answer for the same question.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select, text

from healthscore.auth.keys import revoke_key
from healthscore.dashboard import live
from healthscore.dashboard.live import Broadcaster
from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import case_models
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.fixtures.server import SHARED_TLS

NOW = datetime.now(UTC).replace(microsecond=0)
EVIL = "<script>alert(1)</script>"
EVIL_ID = "cust_evil"


def seed_dashboard(sessions) -> None:
    """40 demo accounts scored daily for 10 days, a hostile name, and outreach entries."""
    with transaction(sessions) as session:
        generate_demo(session, customers=40, days=40, seed=3, now=NOW)
        session.add(
            m.Customer(
                id=EVIL_ID,
                name=EVIL,
                plan="pro",
                segment="smb",
                mrr=99,
                created_at=NOW - timedelta(days=60),
                traits={},
            )
        )
    card = load_scorecard("default")
    for days_ago in (10, 7, 3, 1, 0):
        with transaction(sessions) as session:
            score_accounts(session, card, as_of=NOW - timedelta(days=days_ago))
    with transaction(sessions) as session:
        ids = list(session.scalars(select(m.Customer.id).order_by(m.Customer.id).limit(3)))
        for n, customer_id in enumerate([*ids, EVIL_ID]):
            session.add(
                case_models.OutreachEntry(
                    customer_id=customer_id,
                    playbook="usage_drop" if n % 2 else "at_risk_review",
                    reason=f"reason {n} {EVIL}",
                    snapshot={},
                    owner=None,
                    next_step="call",
                    status="open",
                    notes="",
                    idempotency_key=f"test:{n}",
                    created_at=NOW - timedelta(hours=n),
                    updated_at=NOW - timedelta(hours=n),
                )
            )


@pytest.fixture
def dashboard_server(db_url, sessions, db_snapshot, request):
    """A live server over ``seed_dashboard``'s rows (seeded once per test process and
    database, then copied in before the server starts)."""
    db_snapshot(db_url, "dashboard-pages", lambda: seed_dashboard(sessions))
    return request.getfixturevalue("live_server")


def sign_in(server, scope: str = "read") -> httpx.Client:
    client = httpx.Client(verify=SHARED_TLS, base_url=server.url, timeout=30)
    response = client.post("/login", data={"key": server.keys[scope], "next": "/"})
    assert response.status_code == 303, response.text
    return client


def metric(page: str, name: str) -> str:
    found = re.search(rf'data-metric="{re.escape(name)}"[^>]*>([^<]*)<', page)
    assert found, f"no {name} on the page"
    return found.group(1).strip()


def number(text: str) -> float | None:
    return None if text in ("—", "") else float(text.replace(",", ""))


def table_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-customer-id="([^"]+)"', page)


# --- access ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/accounts", "/accounts/cust_00001", "/outreach"])
def test_pages_redirect_to_login_without_a_session(live_server, path):
    with httpx.Client(verify=SHARED_TLS, base_url=live_server.url) as anonymous:
        response = anonymous.get(path)
        assert response.status_code == 303
        location = urlparse(response.headers["location"])
        assert location.path == "/login"
        assert parse_qs(location.query)["next"] == [path]
        assert "cust_" not in response.text
        assert anonymous.get("/events").status_code == 401
        assert anonymous.get("/login").status_code == 200
        # Static assets hold no data and load before sign-in.
        assert anonymous.get("/static/dashboard.css").status_code == 200


def test_login_rejects_unknown_and_ingest_keys_and_sets_a_safe_cookie(live_server):
    with httpx.Client(verify=SHARED_TLS, base_url=live_server.url) as client:
        wrong = client.post("/login", data={"key": "hs_nope_nope"})
        assert wrong.status_code == 401
        assert "unknown or revoked" in wrong.text
        assert "set-cookie" not in wrong.headers
        ingest = client.post("/login", data={"key": live_server.keys["ingest"]})
        assert ingest.status_code == 403
        assert "read or admin" in ingest.text
        assert "set-cookie" not in ingest.headers
        assert client.get("/").status_code == 303

        ok = client.post("/login", data={"key": live_server.keys["read"], "next": "/outreach"})
        assert ok.status_code == 303 and ok.headers["location"] == "/outreach"
        cookie = ok.headers["set-cookie"].lower()
        assert "hs_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie  # plain http here; https requests get Secure
        assert live_server.keys["read"] not in ok.headers["set-cookie"]
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["cache-control"] == "no-store"


def test_login_never_redirects_off_site(live_server):
    with httpx.Client(verify=SHARED_TLS, base_url=live_server.url) as client:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            response = client.post("/login", data={"key": live_server.keys["read"], "next": target})
            assert response.headers["location"] == "/"


def test_a_revoked_key_ends_its_sessions_and_signing_out_works(dashboard_server):
    client = sign_in(dashboard_server, "admin")
    assert client.get("/").status_code == 200
    page = client.get("/").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    assert client.get("/").status_code == 303

    client = sign_in(dashboard_server, "read")
    with transaction(dashboard_server.sessions) as session:
        prefix = dashboard_server.keys["read"].split("_")[1]
        revoke_key(session, prefix)
    assert client.get("/").status_code == 303
    assert client.get("/events").status_code == 401


def test_a_tampered_cookie_is_ignored(dashboard_server):
    client = sign_in(dashboard_server)
    value = client.cookies["hs_session"]
    client.cookies.clear()
    client.cookies.set("hs_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/").status_code == 303


# --- overview -------------------------------------------------------------------------


def test_overview_numbers_equal_the_api(dashboard_server):
    client = sign_in(dashboard_server)
    page = client.get("/").text
    with dashboard_server.client("read") as api:
        summary = api.get("/api/v1/health-summary").json()
        nps = api.get("/api/v1/nps-summary").json()
        risky = api.get(
            "/api/v1/health-scores", params={"tier": ["critical", "at_risk"], "pageSize": 500}
        ).json()
    assert int(metric(page, "accounts")) == summary["accounts"]
    assert int(metric(page, "scored")) == summary["scored"]
    assert number(metric(page, "average-score")) == summary["averageScore"]
    assert int(metric(page, "declining")) == summary["declining"]
    assert int(metric(page, "improving")) == summary["improving"]
    shown_risk = metric(page, "revenue-at-risk")
    assert float(re.sub(r"[^0-9.]", "", shown_risk)) == round(summary["revenueAtRisk"])
    assert (
        summary["revenueAtRisk"]
        == summary["mrrByTier"]["at_risk"] + summary["mrrByTier"]["critical"]
    )
    for tier, count in summary["tiers"].items():
        assert int(metric(page, f"tier-{tier}")) == count
    for group, value in summary["averageComponents"].items():
        shown = re.search(rf'data-component="{group}">([^<]+)<', page).group(1)
        assert float(shown) == value
    assert number(metric(page, "nps")) == nps["nps"]
    assert number(metric(page, "nps-average")) == nps["average"]
    for field in ("promoters", "passives", "detractors"):
        assert int(metric(page, field)) == nps[field]

    at_risk = re.search(r'id="at-risk-table".*?</table>', page, re.S).group(0)
    listed = table_ids(at_risk)
    assert 0 < len(listed) <= 20
    expected = {i["customerId"] for i in risky["items"]}
    assert set(listed) <= expected
    assert len(listed) == min(20, risky["total"])


def test_overview_shows_how_to_get_data_when_empty(live_server):
    client = sign_in(live_server)
    page = client.get("/").text
    assert "No scores yet" in page
    assert "healthscore demo" in page and "healthscore import" in page
    accounts = client.get("/accounts").text
    assert "healthscore demo" in accounts
    assert "No outreach recorded yet" in client.get("/outreach").text


# --- accounts table -------------------------------------------------------------------


def test_accounts_filters_sort_and_pagination_match_the_api(dashboard_server):
    client = sign_in(dashboard_server)
    with dashboard_server.client("read") as api:

        def api_ids(**params):
            body = api.get("/api/v1/health-scores", params={"pageSize": 500, **params}).json()
            return [i["customerId"] for i in body["items"]], body["total"]

        everything, total = api_ids()
        page = client.get("/accounts", params={"size": 100}).text
        assert int(metric(page, "total")) == total
        assert table_ids(page) == everything

        for params in (
            {"tier": ["critical", "at_risk"]},
            {"trend": "declining"},
            {"segment": "smb"},
            {"sort": "mrr", "order": "desc"},
            {"sort": "change", "order": "asc", "tier": "healthy"},
            {"sort": "name"},
        ):
            expected, count = api_ids(**params)
            page = client.get("/accounts", params={**params, "size": 100}).text
            assert table_ids(page) == expected, params
            assert int(metric(page, "total")) == count

        risky = client.get("/accounts", params={"tier": ["critical", "at_risk"]}).text
        assert set(re.findall(r'tier-badge tier-(\w+)"', risky)) <= {"critical", "at_risk"}

        name = api.get("/api/v1/health-scores/cust_00004").json()["name"]
        found = client.get("/accounts", params={"q": name.upper()}).text
        assert "cust_00004" in table_ids(found)

        second = client.get("/accounts", params={"size": 25, "page": 2}).text
        assert table_ids(second) == everything[25:50]
        assert 'rel="prev"' in second

    nothing = client.get("/accounts", params={"q": "no such account at all"}).text
    assert "No accounts match these filters" in nothing
    # Unknown values are ignored rather than failing the page.
    odd = client.get("/accounts", params={"tier": "bogus", "sort": "x", "page": "abc"})
    assert odd.status_code == 200


def test_accounts_table_shows_change_sparkline_and_mrr(dashboard_server):
    client = sign_in(dashboard_server)
    page = client.get("/accounts", params={"size": 100}).text
    with dashboard_server.client("read") as api:
        item = api.get("/api/v1/health-scores", params={"pageSize": 1}).json()["items"][0]
    row = re.search(rf'<tr data-customer-id="{item["customerId"]}">.*?</tr>', page, re.S).group(0)
    if item["change"] is not None:
        assert f'data-change="{item["change"]}"' in row
    assert f'data-mrr="{item["mrr"]}"' in row
    assert 'class="chart sparkline"' in row


# --- account detail -------------------------------------------------------------------


def test_detail_lists_every_signal_with_the_api_contribution(dashboard_server):
    client = sign_in(dashboard_server)
    with dashboard_server.client("read") as api:
        customer_id = api.get("/api/v1/health-scores", params={"pageSize": 1}).json()["items"][0][
            "customerId"
        ]
        detail = api.get(f"/api/v1/health-scores/{customer_id}").json()
    page = client.get(f"/accounts/{customer_id}").text
    rows = dict(re.findall(r'<tr data-signal="([^"]+)" data-contribution="([^"]+)"', page))
    assert set(rows) == {s["name"] for s in detail["signals"]}
    for signal in detail["signals"]:
        assert float(rows[signal["name"]]) == signal["contribution"]
        dialog = re.search(
            rf'<dialog [^>]*data-signal="{signal["name"]}">.*?</dialog>', page, re.S
        ).group(0)
        shown = re.search(r'data-field="contribution"><strong>([^<]+)<', dialog).group(1)
        assert float(shown) == pytest.approx(signal["contribution"], abs=0.005)
        weight = re.search(r'data-field="weight">([^<]+)<', dialog).group(1)
        assert float(weight) == signal["weight"]
    assert metric(page, "score") == str(detail["score"])
    assert "Score history" in page and "Drivers of change" in page
    for panel in ("account-outreach", "account-events", "account-nps", "account-tickets"):
        assert f'id="{panel}"' in page


def test_detail_of_unknown_and_unscored_accounts(dashboard_server):
    client = sign_in(dashboard_server)
    missing = client.get("/accounts/nobody")
    assert missing.status_code == 404 and "No such account" in missing.text
    with transaction(dashboard_server.sessions) as session:
        session.add(m.Customer(id="fresh", name="Fresh Co", created_at=NOW, traits={}))
    fresh = client.get("/accounts/fresh")
    assert fresh.status_code == 200 and "has not been scored yet" in fresh.text


def test_hostile_names_are_escaped_everywhere(dashboard_server):
    client = sign_in(dashboard_server)
    for path in ("/accounts?size=100", f"/accounts/{EVIL_ID}", "/outreach", "/"):
        page = client.get(path).text
        assert EVIL not in page, path
    assert html.escape(EVIL, quote=False) in client.get("/accounts?size=100").text
    assert html.escape(EVIL, quote=False) in client.get(f"/accounts/{EVIL_ID}").text


def calculated_at(server, customer_id: str):
    with server.sessions() as session:
        return session.get(m.HealthScore, customer_id).calculated_at


def test_an_admin_rescores_an_account_from_its_page(dashboard_server):
    customer_id = "cust_00001"
    reader = sign_in(dashboard_server, "read")
    read_page = reader.get(f"/accounts/{customer_id}").text
    assert "Rescore now" not in read_page
    token = re.search(r'name="csrf" value="([^"]+)"', read_page).group(1)
    before = calculated_at(dashboard_server, customer_id)
    refused = reader.post(f"/accounts/{customer_id}/refresh", data={"csrf": token})
    assert refused.status_code == 403 and "admin key" in refused.text

    admin = sign_in(dashboard_server, "admin")
    page = admin.get(f"/accounts/{customer_id}").text
    assert f'action="/accounts/{customer_id}/refresh"' in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert admin.post(f"/accounts/{customer_id}/refresh", data={}).status_code == 403
    assert calculated_at(dashboard_server, customer_id) == before

    done = admin.post(f"/accounts/{customer_id}/refresh", data={"csrf": token})
    assert done.status_code == 303
    assert done.headers["location"] == f"/accounts/{customer_id}?rescored=1"
    assert calculated_at(dashboard_server, customer_id) > before
    assert "Rescored from all data so far" in admin.get(done.headers["location"]).text
    missing = admin.post("/accounts/nobody/refresh", data={"csrf": token})
    assert missing.status_code == 404


# --- outreach -------------------------------------------------------------------------


def entry_status(server, entry_id: int) -> tuple[str, str | None, str]:
    with server.sessions() as session:
        entry = session.get(case_models.OutreachEntry, entry_id)
        return entry.status, entry.owner, entry.notes


def test_outreach_update_needs_the_csrf_token_and_persists(dashboard_server):
    client = sign_in(dashboard_server, "admin")
    page = client.get("/outreach").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    entry_id = int(re.search(r'data-entry-id="(\d+)"', page).group(1))
    change = {"status": "in_progress", "owner": "Dana", "notes": "called <b>them</b>"}

    forged = client.post(f"/outreach/{entry_id}", data=change)
    assert forged.status_code == 403
    wrong = client.post(f"/outreach/{entry_id}", data={**change, "csrf": "0" * 64})
    assert wrong.status_code == 403
    assert entry_status(dashboard_server, entry_id) == ("open", None, "")

    saved = client.post(
        f"/outreach/{entry_id}", data={**change, "csrf": token, "next": "/outreach?status=open"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/outreach?status=open&saved={entry_id}#entry-{entry_id}"
    # in_progress, the log's old status, is an alias of acknowledged.
    assert entry_status(dashboard_server, entry_id) == (
        "acknowledged",
        "Dana",
        "called <b>them</b>",
    )
    after = client.get(f"/outreach?saved={entry_id}").text
    assert f"Saved outreach entry #{entry_id}" in after
    assert "called &lt;b&gt;them&lt;/b&gt;" in after

    bad = client.post(f"/outreach/{entry_id}", data={**change, "status": "x", "csrf": token})
    assert bad.status_code == 400
    assert client.post("/outreach/99999", data={**change, "csrf": token}).status_code == 404
    with dashboard_server.client("read") as api:
        listed = api.get("/api/v1/outreach", params={"status": "in_progress"}).json()
        assert entry_id in [i["id"] for i in listed["items"]]

    # A token belongs to its session: another session's token is refused.
    other = sign_in(dashboard_server, "admin")
    stolen = other.post(f"/outreach/{entry_id}", data={**change, "csrf": token})
    assert stolen.status_code == 403


def test_outreach_is_read_only_for_read_keys_and_filterable(dashboard_server):
    client = sign_in(dashboard_server, "read")
    page = client.get("/outreach").text
    assert 'action="/outreach/' not in page
    assert ">Acknowledge<" not in page and ">Resolve<" not in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    entry_id = int(re.search(r'data-entry-id="(\d+)"', page).group(1))
    refused = client.post(f"/outreach/{entry_id}", data={"status": "done", "csrf": token})
    assert refused.status_code == 403
    assert entry_status(dashboard_server, entry_id)[0] == "open"

    assert int(metric(page, "total")) == 4
    by_playbook = client.get("/outreach", params={"playbook": "usage_drop"}).text
    assert int(metric(by_playbook, "total")) == 2
    by_customer = client.get("/outreach", params={"customer": EVIL_ID}).text
    assert int(metric(by_customer, "total")) == 1
    none = client.get("/outreach", params={"status": "done"}).text
    assert "No outreach entries match these filters" in none


def case_events(server, case_id: int) -> list[tuple]:
    with server.sessions() as session:
        rows = session.scalars(
            select(case_models.CaseEvent)
            .where(case_models.CaseEvent.case_id == case_id)
            .order_by(case_models.CaseEvent.id)
        )
        return [(e.kind, e.from_state, e.to_state, e.actor, e.note) for e in rows]


def test_case_buttons_acknowledge_snooze_resolve_and_reopen_with_the_csrf_token(
    dashboard_server,
):
    client = sign_in(dashboard_server, "admin")
    page = client.get("/outreach").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    case_id = int(re.search(r'data-entry-id="(\d+)"', page).group(1))
    for action in ("acknowledge", "snooze", "resolve"):
        assert f'action="/outreach/{case_id}/{action}"' in page

    assert client.post(f"/outreach/{case_id}/acknowledge", data={}).status_code == 403
    assert entry_status(dashboard_server, case_id)[0] == "open"
    back = "/outreach?status=unresolved"
    done = client.post(f"/outreach/{case_id}/acknowledge", data={"csrf": token, "next": back})
    assert done.status_code == 303
    assert done.headers["location"] == f"{back}&saved={case_id}#entry-{case_id}"
    assert entry_status(dashboard_server, case_id)[0] == "acknowledged"

    past = client.post(f"/outreach/{case_id}/snooze", data={"csrf": token, "until": "2001-01-01"})
    assert past.status_code == 400 and "must be in the future" in past.text
    assert entry_status(dashboard_server, case_id)[0] == "acknowledged"
    soon = (NOW + timedelta(days=3)).date().isoformat()
    client.post(f"/outreach/{case_id}/snooze", data={"csrf": token, "until": soon})
    with dashboard_server.sessions() as session:
        case = session.get(case_models.OutreachEntry, case_id)
        assert case.status == "snoozed" and case.snoozed_until.date().isoformat() == soon
    assert "Snoozed until" in client.get("/outreach").text
    # The entry form of a snoozed case sends no status (its option is disabled): it stays.
    kept = client.post(f"/outreach/{case_id}", data={"csrf": token, "owner": "Robin", "notes": ""})
    assert kept.status_code == 303
    assert entry_status(dashboard_server, case_id)[:2] == ("snoozed", "Robin")

    client.post(f"/outreach/{case_id}/resolve", data={"csrf": token, "note": "renewed <b>"})
    assert entry_status(dashboard_server, case_id)[0] == "resolved"
    refused = client.post(f"/outreach/{case_id}/acknowledge", data={"csrf": token})
    assert refused.status_code == 409 and "reopen it before acknowledging" in refused.text
    resolved_page = client.get("/outreach", params={"status": "resolved"}).text
    assert f'action="/outreach/{case_id}/reopen"' in resolved_page
    assert f'action="/outreach/{case_id}/resolve"' not in resolved_page
    client.post(f"/outreach/{case_id}/reopen", data={"csrf": token})
    assert entry_status(dashboard_server, case_id)[0] == "open"
    assert case_events(dashboard_server, case_id) == [
        ("acknowledged", "open", "acknowledged", "dashboard:test admin", ""),
        ("snoozed", "acknowledged", "snoozed", "dashboard:test admin", ""),
        ("assigned", "snoozed", "snoozed", "dashboard:test admin", ""),
        ("resolved", "snoozed", "resolved", "dashboard:test admin", "renewed <b>"),
        ("reopened", "resolved", "open", "dashboard:test admin", ""),
    ]
    assert client.post(f"/outreach/{case_id}/explode", data={"csrf": token}).status_code == 404
    assert client.post("/outreach/99999/resolve", data={"csrf": token}).status_code == 404

    reader = sign_in(dashboard_server, "read")
    read_token = re.search(r'name="csrf" value="([^"]+)"', reader.get("/outreach").text).group(1)
    refused = reader.post(f"/outreach/{case_id}/resolve", data={"csrf": read_token})
    assert refused.status_code == 403 and entry_status(dashboard_server, case_id)[0] == "open"


def test_cases_are_listed_by_state_owner_and_age(dashboard_server):
    with transaction(dashboard_server.sessions) as session:
        old = session.scalars(
            select(case_models.OutreachEntry).order_by(case_models.OutreachEntry.id)
        ).first()
        old.owner, old.created_at = "robin", NOW - timedelta(days=20)
        session.scalars(
            select(case_models.OutreachEntry).order_by(case_models.OutreachEntry.id.desc())
        ).first().status = "resolved"
    client = sign_in(dashboard_server, "read")
    page = client.get("/outreach").text
    assert metric(page, "unresolved") == "3"
    assert re.search(r'data-count="resolved">1<', page)
    assert int(metric(client.get("/outreach", params={"status": "unresolved"}).text, "total")) == 3
    by_owner = client.get("/outreach", params={"owner": "robin"}).text
    assert int(metric(by_owner, "total")) == 1 and "(20 days ago)" in by_owner
    assert int(metric(client.get("/outreach", params={"older": "10"}).text, "total")) == 1
    oldest = client.get("/outreach", params={"sort": "oldest"}).text
    assert re.search(r'data-entry-id="(\d+)"', oldest).group(1) == str(old.id)


# --- live updates ---------------------------------------------------------------------


def test_refresh_through_the_api_reaches_open_event_streams(dashboard_server):
    client = sign_in(dashboard_server)
    received: list[str] = []
    connected = threading.Event()

    def listen() -> None:
        with client.stream("GET", "/events", timeout=15) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                connected.set()
                received.append(line)
                if line.startswith("data:") and "cust_00002" in line:
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(10)
    with dashboard_server.client("admin") as api:
        assert api.post("/api/v1/health-scores/cust_00002/refresh").status_code == 200
    listener.join(15)
    assert not listener.is_alive()
    assert "event: scores-changed" in received
    assert any(line.startswith("id: ") for line in received), "ids let reconnects catch up"
    assert any('"customerIds":["cust_00002"]' in line for line in received)


def test_the_broadcaster_fans_out_from_other_threads():
    async def scenario() -> list[tuple[str, ...]]:
        broadcaster = Broadcaster(queue_size=2)
        first, second = broadcaster.subscribe(), broadcaster.subscribe()
        thread = threading.Thread(target=broadcaster.notify_scores_changed, args=(["a", "b"],))
        thread.start()
        thread.join()
        got = [await first.next(1), await second.next(1)]
        for n in range(5):  # a slow reader keeps only the newest events
            broadcaster.notify_scores_changed([str(n)])
        await asyncio.sleep(0)
        kept = [await first.next(1), await first.next(1), await first.next(0.05)]
        broadcaster.unsubscribe(first)
        broadcaster.unsubscribe(second)
        assert broadcaster.subscribers == 0
        return [item[1].customer_ids for item in got + kept if item is not None]

    assert asyncio.run(scenario()) == [("a", "b"), ("a", "b"), ("3",), ("4",)]


def test_reconnecting_streams_get_what_they_missed():
    async def missed(broadcaster: Broadcaster, last: str | None) -> list[tuple[str, ...]]:
        subscription = broadcaster.subscribe(last)
        items = []
        while (item := await subscription.next(0.01)) is not None:
            items.append(item[1].customer_ids)
        broadcaster.unsubscribe(subscription)
        return items

    broadcaster = Broadcaster(remember=3)
    for n in range(5):
        broadcaster.notify_scores_changed([str(n)])
    last = broadcaster.event_id  # events 1..5 carried accounts "0".."4"; 3..5 are kept
    assert asyncio.run(missed(broadcaster, last(4))) == [("4",)]
    assert asyncio.run(missed(broadcaster, last(5))) == []
    assert asyncio.run(missed(broadcaster, last(2))) == [("2",), ("3",), ("4",)]
    assert asyncio.run(missed(broadcaster, None)) == []
    # Forgotten, or another process's id: "anything may have changed".
    assert asyncio.run(missed(broadcaster, last(1))) == [()]
    assert asyncio.run(missed(broadcaster, "0000-3")) == [()]


async def _collect(stream) -> list[str]:
    return [chunk async for chunk in stream]


def test_event_streams_end_after_their_lifetime():
    async def never_disconnected() -> bool:
        return False

    async def scenario() -> list[str]:
        broadcaster = Broadcaster()
        stream = live.event_stream(broadcaster, never_disconnected, heartbeat=0.05, lifetime=0.2)
        chunks = await asyncio.wait_for(_collect(stream), 5)
        assert broadcaster.subscribers == 0
        return chunks

    chunks = asyncio.run(scenario())
    assert chunks[0].startswith("retry: ")
    assert ": ping\n\n" in chunks


def test_a_database_failure_shows_an_error_page(dashboard_server):
    client = sign_in(dashboard_server)
    with dashboard_server.sessions() as session, session.begin():
        session.execute(text("ALTER TABLE nps_responses RENAME TO nps_responses_gone"))
    try:
        page = client.get("/")
        assert page.status_code == 503
        assert "The database is not answering" in page.text
        assert "Traceback" not in page.text
    finally:
        with dashboard_server.sessions() as session, session.begin():
            session.execute(text("ALTER TABLE nps_responses_gone RENAME TO nps_responses"))
