"""``healthscore import``: the CSV contract, row-level errors, all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from healthscore.ingest.csv_import import ImportFailed, import_folder
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
        ("events.csv", "c1,u1,yesterday,login,,", "ts: Value error, not an ISO"),
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
        ("events.csv", "c1,,2026-11-02,api_call,,0", "value: Input should be"),
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
