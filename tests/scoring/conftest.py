"""Bases the scoring tests share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from healthscore.ingest.demo import generate_demo

DEMO_NOW = datetime(2026, 6, 1, tzinfo=UTC)


def snapshot_demo(
    db_url: str, session: Any, db_snapshot: Any, name: str, *, customers: int, seed: int
) -> Any:
    """``session`` on a demo base of ``customers`` accounts with 60 days of activity to
    ``DEMO_NOW``, built once per process and database (``db_snapshot``) under ``name``."""

    def build() -> None:
        generate_demo(session, customers=customers, days=60, seed=seed, now=DEMO_NOW)
        session.commit()

    db_snapshot(db_url, name, build)
    return session


@pytest.fixture
def demo(db_url, session, db_snapshot):
    """80 demo accounts with 60 days of activity."""
    return snapshot_demo(db_url, session, db_snapshot, "scoring-demo", customers=80, seed=5)
