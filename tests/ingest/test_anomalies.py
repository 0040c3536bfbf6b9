"""The CSV import counts what it refuses for the data-quality view: rows for unknown
accounts and timestamps in the future, per account key. A refused import writes nothing
but these counters; one that goes ahead writes them in its own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from healthscore.ingest import anomalies
from healthscore.ingest.csv_import import import_folder
from healthscore.ingest.csv_report import ImportFailed
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage import schema

NOW = datetime(2026, 11, 20, tzinfo=UTC)
CUSTOMERS = "id,name,plan,segment,mrr,created_at,churned_at\nc1,Acme,pro,smb,100,2025-01-01,\n"
EVENTS = (
    "customer_id,user_id,ts,type,name,value\n"
    "c1,u1,2026-11-01,login,,\n"
    "ghost,u1,2026-11-01,login,,\n"
    "ghost,u2,2026-11-02,login,,\n"
    "gone,u1,2026-11-02,login,,\n"
    "c1,u1,2026-11-20T06:00:00Z,login,,\n"  # 6 hours ahead of NOW
)


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


def rows(session: Session) -> dict[str, int]:
    return {
        t.name: session.scalar(select(func.count()).select_from(t)) or 0
        for t in schema.metadata.sorted_tables
    }


def counters(session: Session) -> tuple[dict[str, int], dict[str, tuple[int, float]]]:
    unknown = {r.account_key: r.events for r in session.scalars(select(jm.UnknownAccountEvents))}
    skew = {r.kind: (r.events, r.worst_seconds) for r in session.scalars(select(jm.ClockSkew))}
    return unknown, skew


def test_a_refused_import_writes_only_its_counters(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    folder = write(tmp_path / "in", {"customers.csv": CUSTOMERS, "events.csv": EVENTS})
    with pytest.raises(ImportFailed):
        import_folder(sessions, folder, now=NOW)
    with sessions() as session:
        stored = rows(session)
        assert {name for name, n in stored.items() if n} == {
            "ingest_unknown_accounts",
            "ingest_clock_skew",
        }
        unknown, skew = counters(session)
    assert unknown == {"ghost": 2, "gone": 1}
    assert skew == {"future": (1, 6 * 3600.0)}
    first = {r.account_key: r.first_seen for r in _unknown_rows(sessions)}
    assert set(first.values()) == {NOW}


def test_an_import_that_goes_ahead_commits_its_counters_with_its_rows(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    folder = write(tmp_path / "in", {"customers.csv": CUSTOMERS, "events.csv": EVENTS})
    report = import_folder(sessions, folder, now=NOW, max_bad_rows=4)
    assert report.rejected == 4
    later = NOW + timedelta(days=1)
    import_folder(sessions, folder, now=later, max_bad_rows=4)  # the same file again
    with sessions() as session:
        # c1's login each time, and the "future" one once it no longer is
        assert session.scalar(select(func.count()).select_from(m.Session)) == 3
        unknown, skew = counters(session)
    assert unknown == {"ghost": 4, "gone": 2}
    assert skew["future"][0] == 1  # the second import's NOW is a day later: not ahead then
    ghost = {r.account_key: r for r in _unknown_rows(sessions)}["ghost"]
    assert (ghost.first_seen, ghost.last_seen) == (NOW, later)


def test_rows_of_a_rejected_customer_row_are_not_counted_as_unknown_accounts(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    bad = CUSTOMERS + "c2,,pro,smb,1,2025-01-01,\n"  # no name: rejected
    folder = write(
        tmp_path / "in",
        {
            "customers.csv": bad,
            "events.csv": EVENTS.splitlines()[0] + "\nc2,u1,2026-11-01,login,,\n",
        },
    )
    with pytest.raises(ImportFailed):
        import_folder(sessions, folder, now=NOW)
    with sessions() as session:
        assert counters(session) == ({}, {})


def test_sent_at_skew_counts_only_beyond_the_threshold() -> None:
    seen = anomalies.Anomalies()
    limit = anomalies.SENT_AT_SKEW
    seen.note_sent_at([limit, -limit, limit + timedelta(seconds=1), -2 * limit])
    assert seen.sent_at == [limit.total_seconds() + 1, 2 * limit.total_seconds()]


def _unknown_rows(sessions: sessionmaker[Session]) -> list[jm.UnknownAccountEvents]:
    with sessions() as session:
        return list(session.scalars(select(jm.UnknownAccountEvents)))
