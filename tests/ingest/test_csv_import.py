"""``healthscore import``: the CSV contract, row-level errors, all or nothing."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from healthscore.ingest.csv_import import import_folder
from healthscore.ingest.csv_report import FileResult, ImportFailed
from healthscore.storage import models as m

NOW = datetime(2026, 11, 20, tzinfo=UTC)
GOOD = {
    "customers.csv": "id,name,plan,segment,mrr,created_at,churned_at,crm_owner\n"
    "c1,Acme,pro,smb,100,2025-01-01,,kate\n"
    "c2,Beta Corp,enterprise,enterprise,5000.50,2025-02-01T10:00:00Z,2026-10-01,\n",
    "users.csv": "customer_id,user_id,created_at\nc1,u1,2025-01-02\nc1,u2,2026-10-01\n",
    "events.csv": "customer_id,user_id,ts,type,name,value\n"
    "c1,u1,2026-11-01T10:00:00,login,,\n"
    "c1,u1,2026-11-01T10:05:00+02:00,feature_used,reports,\n"
    "c1,,2026-11-02,api_call,,40\n"
    "c1,u2,2026-11-02,report_exported,pdf,\n",
    "payments.csv": "customer_id,ts,amount,status\nc1,2026-11-01,100,failed\n"
    "c1,2026-11-04,100,succeeded\n",
    "tickets.csv": "customer_id,ticket_id,opened_at,resolved_at,severity,rating\n"
    "c1,T1,2026-11-01,2026-11-02,high,2\nc1,T2,2026-11-05,,,\n",
    "nps.csv": "customer_id,user_id,ts,score,comment\nc1,u1,2026-11-03,9,Great product\n",
}


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def counts(session) -> dict[str, int]:
    models = [
        m.Customer,
        m.User,
        m.Session,
        m.FeatureUsage,
        m.ApiUsage,
        m.EngagementEvent,
        m.Payment,
        m.SupportTicket,
        m.NpsResponse,
    ]
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in models
    }


def test_a_valid_folder_imports_every_file_into_typed_tables(sessions, tmp_path):
    report = import_folder(sessions, write(tmp_path / "in", GOOD), now=NOW)
    assert report.counts == {
        "customers.csv": 2,
        "users.csv": 2,
        "events.csv": 4,
        "payments.csv": 2,
        "tickets.csv": 2,
        "nps.csv": 1,
    }
    with sessions() as session:
        assert counts(session) == {
            "customers": 2,
            "users": 2,
            "sessions": 1,
            "feature_usage": 1,
            "api_usage": 1,
            "engagement_events": 1,
            "payments": 2,
            "support_tickets": 2,
            "nps_responses": 1,
        }
        beta = session.get(m.Customer, "c2")
        assert beta.churned_at == datetime(2026, 10, 1, tzinfo=UTC)
        assert str(beta.mrr) == "5000.50"
        feature = session.scalars(select(m.FeatureUsage)).one()
        assert feature.ts == datetime(2026, 11, 1, 8, 5, tzinfo=UTC)  # +02:00 → UTC
        assert session.scalars(select(m.ApiUsage)).one().calls == 40
        other = session.scalars(select(m.EngagementEvent)).one()
        assert (other.event_type, other.properties) == ("report_exported", {"name": "pdf"})
        ticket = session.scalars(
            select(m.SupportTicket).where(m.SupportTicket.ticket_id == "T2")
        ).one()
        assert (ticket.severity, ticket.resolved_at, ticket.rating) == ("normal", None, None)


@pytest.mark.parametrize(
    ("file", "bad_line", "expected"),
    [
        ("events.csv", "c1,u1,yesterday,login,,", "ts: not an ISO"),
        ("nps.csv", "c1,u1,2026-11-03,11,", "score: Input should be less than or"),
        ("tickets.csv", "c1,T9,2026-11-01,,high,6", "rating: Input should be"),
        ("payments.csv", "c1,2026-11-01,5,pending", "status: Input should be"),
        ("events.csv", "zz,u1,2026-11-01,login,,", "customer_id: unknown customer"),
        ("users.csv", "c1,u1,2025-03-01", "customer_id, user_id: duplicate"),
        ("customers.csv", "c1,Again,pro,smb,1,2025-01-01,", "id: duplicate"),
        ("events.csv", "c1,u1,2027-01-01,login,,", "ts: is in the future"),
        (
            "tickets.csv",
            "c1,T9,2026-11-05,2026-11-01,high,",
            "resolved_at: is before opened_at",
        ),
        ("events.csv", "c1,,2026-11-02,api_call,,-1", "value: Input should be"),
    ],
)
def test_a_bad_row_names_file_line_and_column_and_nothing_is_written(
    sessions, tmp_path, file, bad_line, expected
):
    files = dict(GOOD)
    files[file] += bad_line + "\n"
    line = len(files[file].splitlines())  # the bad row is the last line
    with pytest.raises(ImportFailed) as failure:
        import_folder(sessions, write(tmp_path / "in", files), now=NOW)
    assert str(failure.value.errors[0]).startswith(f"{file}:{line}: {expected}")
    with sessions() as session:
        assert set(counts(session).values()) == {0}


def test_a_missing_column_is_reported_once_for_the_file(sessions, tmp_path):
    files = {"customers.csv": "id,name,created_at\nc1,Acme,2025-01-01\n"}
    with pytest.raises(ImportFailed) as failure:
        import_folder(sessions, write(tmp_path / "in", files), now=NOW)
    assert [str(e) for e in failure.value.errors] == [
        "customers.csv:1: missing column(s): plan, segment, mrr, churned_at"
    ]


def test_reimporting_updates_customers_and_tickets_without_duplicating_them(sessions, tmp_path):
    import_folder(sessions, write(tmp_path / "one", GOOD), now=NOW)
    later = {
        "customers.csv": GOOD["customers.csv"].replace("Acme", "Acme Renamed"),
        "tickets.csv": GOOD["tickets.csv"].replace(
            "c1,T2,2026-11-05,,,", "c1,T2,2026-11-05,2026-11-06,low,5"
        ),
    }
    import_folder(sessions, write(tmp_path / "two", later), now=NOW)
    with sessions() as session:
        assert counts(session)["customers"] == 2 and counts(session)["support_tickets"] == 2
        assert session.get(m.Customer, "c1").name == "Acme Renamed"
        t2 = session.scalars(select(m.SupportTicket).where(m.SupportTicket.ticket_id == "T2")).one()
        assert (t2.rating, t2.severity) == (5, "low")


def test_a_renewal_date_may_be_in_the_future_and_a_file_without_it_keeps_it(sessions, tmp_path):
    renewing = {
        "customers.csv": "id,name,plan,segment,mrr,created_at,churned_at,renews_at\n"
        "c1,Acme,,,,2025-01-01,,2027-03-01\nc2,Beta,,,,2025-02-01,,\n"
    }
    import_folder(sessions, write(tmp_path / "one", renewing), now=NOW)
    without = {
        "customers.csv": "id,name,plan,segment,mrr,created_at,churned_at\n"
        "c1,Acme Renamed,,,,2025-01-01,\n"
    }
    import_folder(sessions, write(tmp_path / "two", without), now=NOW)
    with sessions() as session:
        c1, c2 = session.get(m.Customer, "c1"), session.get(m.Customer, "c2")
        assert c1.name == "Acme Renamed"
        assert c1.renews_at == datetime(2027, 3, 1, tzinfo=UTC)
        assert c2.renews_at is None
    bad = {
        "customers.csv": "id,name,plan,segment,mrr,created_at,churned_at,renews_at\n"
        "c3,Gamma,,,,2025-01-01,,soon\n"
    }
    with pytest.raises(ImportFailed, match=r"customers\.csv:2: renews_at"):
        import_folder(sessions, write(tmp_path / "three", bad), now=NOW)


def test_an_empty_folder_is_an_error(sessions, tmp_path):
    with pytest.raises(ImportFailed, match="no CSV files found"):
        import_folder(sessions, write(tmp_path / "in", {}), now=NOW)


CELLS = st.sampled_from(
    [
        "",
        "x",
        "-1",
        "99999999999999999999",
        "2026-13-45",
        "ünïcødé",
        "NaN",
        "1e309",
        "c404",
        "2026-11-01T25:00",
    ]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    file=st.sampled_from(["events.csv", "nps.csv", "tickets.csv", "payments.csv"]),
    column=st.integers(min_value=0, max_value=5),
    junk=CELLS,
)
def test_one_corrupted_cell_rejects_the_whole_import(
    sqlite_url, tmp_path_factory, file, column, junk
):
    """Whatever the corruption, either the row is still valid or nothing at all is written."""
    from healthscore.storage.database import make_engine, make_sessionmaker

    files = dict(GOOD)
    header, first, *rest = files[file].splitlines()
    cells = first.split(",")
    cells[column % len(cells)] = junk
    files[file] = "\n".join([header, ",".join(cells), *rest]) + "\n"
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        before = counts(session)
    try:
        import_folder(sessions, write(tmp_path_factory.mktemp("fuzz"), files), now=NOW)
    except ImportFailed as failure:
        assert failure.errors and all(e.line >= 1 for e in failure.errors)
        with sessions() as session:
            assert counts(session) == before
    engine.dispose()


EVENTS_HEADER = "customer_id,user_id,ts,type,name,value\n"


def api_calls(count: int, *, zero_every: int = 0) -> tuple[str, int]:
    """``count`` api_call lines over distinct minutes; every ``zero_every``-th has value 0."""
    lines, total = [], 0
    for i in range(count):
        value = 0 if zero_every and i % zero_every == 0 else i % 50 + 1
        total += value
        lines.append(
            f"c1,,2026-10-{1 + i % 28:02d}T{i // 28 % 24:02d}:{i % 60:02d}:00,api_call,,{value}"
        )
    return "\n".join(lines) + "\n", total


def test_zero_api_calls_are_counts_that_load_into_usage_and_its_rollup(sessions, tmp_path):
    """41 days with zero calls among 1,230 lines (above the 1,000 rows where PostgreSQL COPYs)."""
    lines, total = api_calls(1230, zero_every=30)
    files = {**GOOD, "events.csv": EVENTS_HEADER + lines}
    report = import_folder(sessions, write(tmp_path / "in", files), now=NOW)
    assert report.counts["events.csv"] == 1230 and report.rejected == 0
    with sessions() as session:
        zeros = select(func.count()).where(m.ApiUsage.calls == 0)
        assert session.scalar(zeros) == 41
        assert session.scalar(select(func.count()).select_from(m.ApiUsage)) == 1230
        assert session.scalar(select(func.sum(m.ApiUsage.calls))) == total
        assert session.scalar(select(func.sum(m.DailyApiUsage.calls))) == total


def test_an_api_call_without_a_value_is_one_call(sessions, tmp_path):
    files = {**GOOD, "events.csv": EVENTS_HEADER + "c1,,2026-11-02,api_call,,\n"}
    import_folder(sessions, write(tmp_path / "in", files), now=NOW)
    with sessions() as session:
        assert session.scalars(select(m.ApiUsage.calls)).all() == [1]


def bad_events(tmp_path: Path, good: int) -> tuple[Path, str]:
    """``good`` valid api_call lines with two bad ones among them (lines 3 and 6)."""
    lines = api_calls(good)[0].splitlines()
    lines.insert(1, "c1,,tomorrow-ish,api_call,,3")
    lines.insert(4, "c1,,2026-11-02,api_call,,-2")
    return write(
        tmp_path / "in", {**GOOD, "events.csv": EVENTS_HEADER + "\n".join(lines) + "\n"}
    ), lines[1]


def test_max_bad_rows_loads_the_good_rows_and_writes_the_rejects(sessions, tmp_path):
    folder, bad_line = bad_events(tmp_path, 1200)
    rejects = tmp_path / "rejects.csv"
    report = import_folder(sessions, folder, now=NOW, max_bad_rows=2, rejects=rejects)
    assert report.files["events.csv"] == FileResult(loaded=1200, duplicates=0, rejected=2)
    assert report.counts["customers.csv"] == 2 and report.rejected == 2
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.ApiUsage)) == 1200
    with rejects.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["file"], r["line"]) for r in rows] == [("events.csv", "3"), ("events.csv", "6")]
    assert rows[0]["reason"].startswith("ts: not an ISO 8601 timestamp")
    assert rows[1]["reason"] == "value: Input should be greater than or equal to 0"
    assert rows[0]["row"] == bad_line  # the original row, ready to fix and import again
    assert [str(e) for e in report.errors] == [
        f"events.csv:{r['line']}: {r['reason']}" for r in rows
    ]


def test_more_bad_rows_than_allowed_writes_nothing_but_lists_every_one(sessions, tmp_path):
    folder, _ = bad_events(tmp_path, 1200)
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(ImportFailed) as failure:
        import_folder(sessions, folder, now=NOW, max_bad_rows=1, rejects=rejects)
    assert (failure.value.total, failure.value.max_bad_rows, failure.value.unusable) == (
        2,
        1,
        False,
    )
    with sessions() as session:
        assert set(counts(session).values()) == {0}
    assert len(rejects.read_text().splitlines()) == 3  # header and both bad rows


def test_the_rows_of_a_rejected_customer_are_rejected_and_name_its_line(sessions, tmp_path):
    """A new customer's row is bad: its seats, events, tickets… cannot load without it."""
    files = dict(GOOD)
    files["customers.csv"] += "c3,Gamma,pro,smb,-1,2025-01-01,\n"  # line 4: negative mrr
    files["users.csv"] += "c3,u9,2025-03-01\n"
    files["events.csv"] += "c3,u9,2026-11-02,login,,\n"
    report = import_folder(sessions, write(tmp_path / "in", files), now=NOW, max_bad_rows=3)
    assert [str(e) for e in report.errors] == [
        "customers.csv:4: mrr: Input should be greater than or equal to 0",
        "users.csv:4: customer_id: unknown customer 'c3': its row, customers.csv:4, was rejected",
        "events.csv:6: customer_id: unknown customer 'c3': its row, customers.csv:4, was rejected",
    ]
    assert report.counts["users.csv"] == 2 and report.counts["events.csv"] == 4
    with sessions() as session:
        assert session.get(m.Customer, "c3") is None


def test_a_stored_customer_keeps_its_rows_when_its_update_is_rejected(sessions, tmp_path):
    import_folder(
        sessions, write(tmp_path / "one", {"customers.csv": GOOD["customers.csv"]}), now=NOW
    )
    later = {
        "customers.csv": GOOD["customers.csv"].replace("c1,Acme,pro,smb,100", "c1,Acme,pro,smb,-1"),
        "events.csv": EVENTS_HEADER + "c1,u1,2026-11-02,login,,\n",
    }
    report = import_folder(sessions, write(tmp_path / "two", later), now=NOW, max_bad_rows=1)
    assert [e.reason for e in report.errors] == ["mrr: Input should be greater than or equal to 0"]
    assert report.counts == {"customers.csv": 1, "events.csv": 1}
    with sessions() as session:
        assert session.get(m.Customer, "c1").mrr == 100  # the stored row, not the rejected one


def test_a_file_without_its_columns_refuses_the_import_whatever_the_allowance(sessions, tmp_path):
    files = {**GOOD, "nps.csv": "customer_id,score\nc1,9\n"}
    with pytest.raises(ImportFailed) as failure:
        import_folder(sessions, write(tmp_path / "in", files), now=NOW, max_bad_rows=1000)
    assert failure.value.unusable
    assert [str(e) for e in failure.value.errors] == [
        "nps.csv:1: missing column(s): user_id, ts, comment"
    ]
    with sessions() as session:
        assert set(counts(session).values()) == {0}


def test_an_exact_repeat_of_a_line_is_skipped_as_a_duplicate(sessions, tmp_path):
    """The same line twice in one file (an export that sent a page twice) is one row; a
    keyed row repeated with other values is still an error (see the bad-row cases)."""
    lines, _ = api_calls(1100)
    first = lines.splitlines()
    files = dict(GOOD)
    files["events.csv"] = EVENTS_HEADER + lines + "\n".join(first[:40]) + "\n"  # a page again
    files["events.csv"] += "c1,,2026-10-01T00:00:00,api_call,,2\n"  # same moment, other count
    files["customers.csv"] += GOOD["customers.csv"].splitlines()[1] + "\n"
    files["users.csv"] += "c1,u1,2025-01-02\n"
    report = import_folder(sessions, write(tmp_path / "in", files), now=NOW)
    assert report.files["events.csv"] == FileResult(loaded=1101, duplicates=40, rejected=0)
    assert report.files["customers.csv"] == FileResult(loaded=2, duplicates=1, rejected=0)
    assert report.files["users.csv"] == FileResult(loaded=2, duplicates=1, rejected=0)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.ApiUsage)) == 1101
        assert counts(session)["customers"] == 2


def test_reimporting_appends_events_again_as_documented(sessions, tmp_path):
    """Duplicates are lines repeated within a file; events have no identity across imports."""
    folder = write(
        tmp_path / "in", {"customers.csv": GOOD["customers.csv"], "events.csv": GOOD["events.csv"]}
    )
    import_folder(sessions, folder, now=NOW)
    again = import_folder(sessions, folder, now=NOW)
    assert again.files["events.csv"] == FileResult(loaded=4, duplicates=0, rejected=0)
    with sessions() as session:
        assert counts(session)["sessions"] == 2 and counts(session)["customers"] == 2


def test_progress_reports_each_stage_with_its_total(sessions, tmp_path):
    lines, _ = api_calls(25_000)
    folder = write(
        tmp_path / "in",
        {"customers.csv": GOOD["customers.csv"], "events.csv": EVENTS_HEADER + lines},
    )
    seen: list[tuple[str, int, int | None]] = []
    import_folder(sessions, folder, now=NOW, progress=lambda *update: seen.append(update))
    stages = list(dict.fromkeys(stage for stage, _, _ in seen))
    assert stages == [
        "checking customers.csv",
        "checking events.csv",
        "loading customers.csv",
        "loading events.csv",
    ]
    events = [(done, total) for stage, done, total in seen if stage == "checking events.csv"]
    assert events[0] == (10_000, 25_000) and events[-1] == (25_000, 25_000)
    assert [u for u in seen if u[0] == "loading events.csv"][-1] == (
        "loading events.csv",
        25_000,
        25_000,
    )
