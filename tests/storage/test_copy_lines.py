"""COPY text rendered column by column (the rescore's bulk write) stores exactly what
SQLAlchemy's upsert stores, whatever characters the values hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import String, Table, cast, select

from healthscore.ingest.bulk import insert_rows
from healthscore.storage import copy_format
from healthscore.storage import models as m
from healthscore.storage.copy_format import copy_chunks, copy_text
from healthscore.storage.dialect import copy_to_staging, upsert, upsert_from_staging

LATEST: Table = m.HealthScore.__table__  # type: ignore[assignment]
T0 = datetime(2026, 5, 1, tzinfo=UTC)
ODD = ["plain", "tab\there", "new\nline", "cr\rx", "back\\slash", "quote\"'", "ünï €", "\\N"]


def _rows(ids: list[str], as_of: datetime) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": cid,
            "as_of": as_of,
            "score": None if i % 3 == 0 else i,
            "tier": "healthy",
            "trend": "stable",
            "previous_score": None if i % 2 else i,
            "components": {odd: i / 7 for odd in ODD},
            "signals": {"raw": {"x": None, ODD[i % len(ODD)]: 1e-7}, "value": {"x": 0.5}},
            "drivers": {},
            "scorecard": ODD[i % len(ODD)],
            "calculated_at": datetime(2026, 5, 2, 3, 4, 5, i, tzinfo=UTC),
        }
        for i, cid in enumerate(ids)
    ]


def _stored(session) -> list[tuple[Any, ...]]:
    columns = [
        cast(c, String) if c.name in {"components", "signals", "drivers"} else c
        for c in LATEST.columns
    ]
    return [tuple(r) for r in session.execute(select(*columns).order_by(LATEST.c.customer_id))]


def test_copy_text_escapes_what_copy_would_misread():
    assert copy_text("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
    assert copy_text("ünï \\N") == "ünï \\\\N"


@pytest.mark.parametrize("as_of", [T0, T0.replace(hour=13, minute=7, second=9, microsecond=11)])
def test_copy_chunks_store_what_upsert_stores(postgres_url, sessions_for_url, as_of, monkeypatch):
    """PostgreSQL only: COPY is PostgreSQL's (SQLite writes through ``upsert``)."""
    monkeypatch.setattr(copy_format, "COPY_CHUNK_ROWS", 10)
    with sessions_for_url(postgres_url)() as session:
        ids = [f"c{i:03d}-{odd}" for i, odd in enumerate(ODD * 3)]
        insert_rows(
            session,
            m.Customer,
            [{"id": c, "name": c, "created_at": T0, "churned_at": None, "traits": {}} for c in ids],
        )
        rows = _rows(ids, as_of)
        upsert(session, LATEST, rows[:1], key=["customer_id"])  # below COPY_THRESHOLD
        upsert(session, LATEST, rows[1:], key=["customer_id"], unless_newer="as_of")
        expected = _stored(session)
        session.execute(LATEST.delete())

        columns = {name: [row[name] for row in rows] for name in rows[0]}
        chunks = list(copy_chunks(session.get_bind().dialect, LATEST, columns))
        assert len(chunks) == 3  # COPY_CHUNK_ROWS is patched to 10 for 24 rows
        copy_to_staging(session, LATEST, list(columns), chunks)
        upsert_from_staging(
            session, LATEST, list(columns), key=["customer_id"], unless_newer="as_of"
        )
        assert _stored(session) == expected
