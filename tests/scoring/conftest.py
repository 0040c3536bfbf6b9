"""Bases the scoring tests share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from healthscore.ingest.demo import generate_demo

DEMO_NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def demo(db_url, session, db_snapshot):
    """80 demo accounts with 60 days of activity (built once per process and database)."""

    def build() -> None:
        generate_demo(session, customers=80, days=60, seed=5, now=DEMO_NOW)
        session.commit()

    db_snapshot(db_url, "scoring-demo", build)
    return session
