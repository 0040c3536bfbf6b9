"""Regenerate the dashboard screenshots in docs/ (``make screenshots``).

Builds a throw-away SQLite database of demo accounts with 30 days of score history,
serves it on a free local port, signs in with a read key in headless Chromium and saves
the overview and one at-risk account's page at 1280 px wide. ``--extra DIR`` also saves
the other pages and phone-sized views, for reviewing changes to the look.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from healthscore.api.app import create_app
from healthscore.auth.keys import Scope, create_key
from healthscore.ingest.demo import generate_demo
from healthscore.scoring import reports
from healthscore.scoring.service import backfill_days, score_accounts
from healthscore.settings import Settings
from healthscore.storage import case_models
from healthscore.storage import models as m
from healthscore.storage.database import transaction

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_database(url: str, customers: int) -> tuple[str, str]:
    """Demo data scored daily for 30 days; returns (read key, an at-risk account id)."""
    app = create_app(Settings(database_url=url))  # migrates
    sessions, card = app.state.sessions, app.state.scorecard
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        generate_demo(session, customers=customers, days=90, seed=7, now=now)
    for moment in [*backfill_days(29, until=now.date()), now]:
        with transaction(sessions) as session:
            score_accounts(session, card, as_of=moment)
    with transaction(sessions) as session:
        key = create_key(session, scope=Scope.read, name="Screenshots").secret
        customer_id = _showcase(session)
        _sample_outreach(session, customer_id, now)
    app.state.engine.dispose()
    return key, customer_id


def _showcase(session: Session) -> str:
    """A declining at-risk account with plenty to show: tickets, NPS answers, payments."""
    declining = [r for r in reports.riskiest(session, limit=40) if r.trend == "declining"]
    candidates = declining or reports.riskiest(session, limit=1)

    def richness(customer_id: str) -> tuple[int, int]:
        counts = [
            session.scalar(select(func.count()).where(model.customer_id == customer_id)) or 0
            for model in (m.SupportTicket, m.NpsResponse, m.Payment)
        ]
        return sum(1 for c in counts if c), sum(counts)  # every panel filled first

    return max(candidates, key=lambda r: richness(r.customer_id)).customer_id


def _sample_outreach(session: Session, customer_id: str, now: datetime) -> None:
    """Two outreach entries, so the account page shows that panel filled in."""
    entries = [
        ("usage_drop", "Logins fell by more than half in two weeks", "resolved", "Dana", 9),
        ("at_risk_review", "Score dropped into at-risk", "acknowledged", "Sam", 2),
    ]
    for playbook, reason, status, owner, days in entries:
        session.add(
            case_models.OutreachEntry(
                customer_id=customer_id,
                playbook=playbook,
                reason=reason,
                snapshot={},
                owner=owner,
                next_step="Book a call with the account owner",
                status=status,
                resolution="done" if status == "resolved" else None,
                notes="",
                idempotency_key=f"screenshots:{customer_id}:{playbook}",
                created_at=now - timedelta(days=days),
                updated_at=now - timedelta(days=days - 1),
            )
        )


def serve(url: str) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(Settings(database_url=url)), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def sign_in(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def settle(page: Page) -> None:
    """Wait for the live connection so the header shows the steady state."""
    page.wait_for_selector("#live-indicator[data-state=live]", timeout=10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--extra", type=Path, help="also save every page and phone views here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/screenshots.db"
        key, customer_id = build_database(url, args.customers)
        server, thread, base = serve(url)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": WIDTH, "height": 900})
                sign_in(page, base, key)
                settle(page)
                args.out.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out / "screenshot-overview.png"), full_page=True)
                page.goto(f"{base}/accounts/{customer_id}")
                settle(page)
                page.screenshot(path=str(args.out / "screenshot-account.png"), full_page=True)
                if args.extra:
                    save_extra(page, base, customer_id, args.extra)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    print(f"saved {args.out / 'screenshot-overview.png'} and {args.out / 'screenshot-account.png'}")


def save_extra(page: Page, base: str, customer_id: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.goto(f"{base}/accounts?tier=critical&tier=at_risk")
    page.screenshot(path=str(folder / "accounts.png"), full_page=True)
    page.goto(f"{base}/outreach")
    page.screenshot(path=str(folder / "outreach.png"), full_page=True)
    page.goto(f"{base}/accounts/{customer_id}")
    page.click("[data-dialog]")
    page.screenshot(path=str(folder / "dialog.png"))
    page.keyboard.press("Escape")
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in [
        ("phone-overview", "/"),
        ("phone-accounts", "/accounts"),
        ("phone-account", f"/accounts/{customer_id}"),
    ]:
        page.goto(f"{base}{path}")
        for screen in range(3):
            page.evaluate(f"window.scrollTo(0, {screen * 800})")
            page.screenshot(path=str(folder / f"{name}-{screen}.png"))


if __name__ == "__main__":
    main()
