"""MRR history from ``mrr_history.csv`` on SQLite and PostgreSQL: all or nothing like the
other files, re-imports replace rather than add, a backdated row slots into the history,
and scoring reads the MRR in force at the moment it scores, nothing after it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from healthscore.ingest import mrr
from healthscore.ingest.csv_import import import_folder
from healthscore.ingest.csv_report import ImportFailed
from healthscore.scoring.aggregates import load_aggregates
from healthscore.scoring.metrics import Aggregate
from healthscore.storage import models as m

NOW = datetime(2026, 11, 20, tzinfo=UTC)
CUSTOMERS = (
    "id,name,plan,segment,mrr,created_at,churned_at,renews_at\n"
    "c1,Acme,pro,smb,100,2025-01-01,,2027-03-01\n"
    "c2,Beta,pro,smb,50,2025-01-01,,\n"
)
HISTORY = (
    "customer_id,at,mrr,seats\n"
    "c1,2026-01-01,1000,20\n"
    "c1,2026-06-01,800,16\n"
    "c2,2026-03-01,50,\n"
    "c1,2026-09-01T12:00:00Z,600.50,12\n"
)


def folder(path: Path, **files: str) -> Path:
    path.mkdir(exist_ok=True)
    for name, text in files.items():
        (path / f"{name}.csv").write_text(text, encoding="utf-8")
    return path


def rows(session) -> list[tuple[str, str, datetime | None, str]]:
    change = m.MrrChange
    found = session.execute(
        select(change.customer_id, change.at, change.until, change.mrr, change.source).order_by(
            change.customer_id, change.at
        )
    )
    return [(cid, at.date().isoformat(), until, str(mrr)) for cid, at, until, mrr, _ in found]


def mrr_at(sessions, *moments: datetime, offset: int = 0) -> list[dict[str, float]]:
    with sessions() as session:
        return [
            load_aggregates(session, [Aggregate("mrr", "mrr", None, offset)], as_of=moment)[
                Aggregate("mrr", "mrr", None, offset)
            ]
            for moment in moments
        ]


def test_the_history_file_loads_links_each_change_to_the_next_and_sets_the_current_mrr(
    sessions, tmp_path
):
    report = import_folder(
        sessions, folder(tmp_path / "in", customers=CUSTOMERS, mrr_history=HISTORY), now=NOW
    )
    assert report.counts["mrr_history.csv"] == 4
    with sessions() as session:
        assert rows(session) == [
            ("c1", "2026-01-01", datetime(2026, 6, 1, tzinfo=UTC), "1000.00"),
            ("c1", "2026-06-01", datetime(2026, 9, 1, 12, tzinfo=UTC), "800.00"),
            ("c1", "2026-09-01", None, "600.50"),
            ("c2", "2026-03-01", None, "50.00"),
        ]
        assert str(session.get(m.Customer, "c1").mrr) == "600.50"  # the newest, not 100
        assert {c.source for c in session.scalars(select(m.MrrChange))} == {"csv"}
    # Scoring sees the MRR in force at each moment, and nothing recorded after it.
    before, spring, summer, late = mrr_at(
        sessions,
        datetime(2025, 12, 31, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
        datetime(2026, 9, 1, 12, tzinfo=UTC),  # the change at this instant is not yet in force
        datetime(2026, 10, 1, tzinfo=UTC),
    )
    assert before == {}
    assert spring == {"c1": 1000.0, "c2": 50.0}
    assert summer == {"c1": 800.0, "c2": 50.0}
    assert late == {"c1": 600.5, "c2": 50.0}
    [ninety_days_before] = mrr_at(sessions, datetime(2026, 10, 1, tzinfo=UTC), offset=90)
    assert ninety_days_before == {"c1": 800.0, "c2": 50.0}


def test_a_reimport_replaces_rows_and_a_backdated_row_slots_in(sessions, tmp_path):
    import_folder(
        sessions, folder(tmp_path / "a", customers=CUSTOMERS, mrr_history=HISTORY), now=NOW
    )
    later = "customer_id,at,mrr\nc1,2026-06-01,850\nc1,2026-03-01T00:00:00+00:00,900\n"
    import_folder(sessions, folder(tmp_path / "b", mrr_history=later), now=NOW)
    with sessions() as session:
        assert [(cid, at, str(until)[:10], mrr) for cid, at, until, mrr in rows(session)] == [
            ("c1", "2026-01-01", "2026-03-01", "1000.00"),
            ("c1", "2026-03-01", "2026-06-01", "900.00"),  # backdated: in force until June
            ("c1", "2026-06-01", "2026-09-01", "850.00"),  # same moment: replaced
            ("c1", "2026-09-01", "None", "600.50"),
            ("c2", "2026-03-01", "None", "50.00"),
        ]
        # A backdated change is history, not news: the current MRR stays the newest's.
        assert str(session.get(m.Customer, "c1").mrr) == "600.50"
    [april] = mrr_at(sessions, datetime(2026, 4, 1, tzinfo=UTC))
    assert april["c1"] == 900.0


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("c1,2026-02-01,-5,", "mrr: Input should be greater than or equal to 0"),
        ("zz,2026-02-01,5,", "customer_id: unknown customer 'zz'"),
        ("c1,2027-02-01,5,", "at: is in the future"),
        ("c1,2026-06-01,799,", "customer_id, at: duplicate"),
    ],
)
def test_a_bad_row_rejects_the_file_unless_allowed(sessions, tmp_path, bad_line, reason):
    files = {"customers": CUSTOMERS, "mrr_history": HISTORY + bad_line + "\n"}
    with pytest.raises(ImportFailed) as refused:
        import_folder(sessions, folder(tmp_path / "in", **files), now=NOW)
    [error] = refused.value.errors
    assert str(error).startswith(f"mrr_history.csv:6: {reason}")
    with sessions() as session:
        assert rows(session) == []
    report = import_folder(sessions, folder(tmp_path / "in", **files), now=NOW, max_bad_rows=1)
    assert (report.files["mrr_history.csv"].loaded, report.rejected) == (4, 1)


def test_concurrent_changes_of_one_account_take_turns_and_leave_one_row_in_force(sessions):
    """Each writer relinks the history it sees; without the account's lock, two changes
    committed side by side would each miss the other and both stay in force."""
    with sessions.begin() as session:
        session.add(m.Customer(id="c1", name="Acme", created_at=NOW, traits={}))

    def change(day: int, amount: int) -> dict:
        at = datetime(2026, 10, day, tzinfo=UTC)
        key = mrr.account_total_key("c1", at)
        return {
            "customer_id": "c1",
            "stream": mrr.ACCOUNT,
            "at": at,
            "mrr": amount,
            "seats": None,
            "source": "api",
            "external_id": key,
        }

    first = sessions()
    first.begin()
    mrr.record_changes(first, [change(20, 300)])  # holds the account until it commits
    done = threading.Event()

    def second() -> None:
        with sessions.begin() as session:
            mrr.record_changes(session, [change(10, 500)])
        done.set()

    worker = threading.Thread(target=second)
    worker.start()
    assert not done.wait(0.5)  # waiting for the first writer
    first.commit()
    first.close()
    worker.join(timeout=30)
    assert done.is_set()
    with sessions() as session:
        assert [(str(until)[:10], str(value)) for _, _, until, value in rows(session)] == [
            ("2026-10-20", "500.00"),
            ("None", "300.00"),
        ]
        assert str(session.get(m.Customer, "c1").mrr) == "300.00"
