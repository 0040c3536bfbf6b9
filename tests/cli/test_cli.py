"""The command line, run in-process against real databases."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from healthscore.accounts.repository import upsert_customer
from healthscore.cli.main import app
from healthscore.ingest.bulk import insert_rows
from healthscore.ingest.journal import Journal
from healthscore.ingest.records import Event
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker
from healthscore.storage.vacuum import maintenance_lock

NOW = datetime.now(UTC)


@pytest.fixture
def cli(db_url, monkeypatch):
    """Invoke ``healthscore …`` with HEALTHSCORE_DATABASE_URL pointing at the test DB."""
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", db_url)
    monkeypatch.delenv("HEALTHSCORE_SCORECARD", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # Rich tables: no wrapping inside cells
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def two_accounts(db_url):
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        insert_rows(
            session,
            m.Customer,
            [
                {
                    "id": cid,
                    "name": name,
                    "plan": "pro",
                    "segment": "smb",
                    "mrr": 99,
                    "created_at": NOW - timedelta(days=200),
                    "churned_at": None,
                    "traits": {},
                }
                for cid, name in [("busy", "Busy Co"), ("quiet", "Quiet Co")]
            ],
        )
        insert_rows(
            session,
            m.User,
            [{"customer_id": "busy", "user_id": "u1", "created_at": NOW - timedelta(days=190)}],
        )
        insert_rows(
            session,
            m.Session,
            [
                {"customer_id": "busy", "user_id": "u1", "ts": NOW - timedelta(hours=h)}
                for h in range(1, 40)
            ],
        )
    engine.dispose()


def test_score_prints_the_tier_breakdown_and_riskiest_accounts(cli, two_accounts):
    result = cli("score", "--scorecard", "seed000")
    assert result.exit_code == 0, result.output
    assert "scored 2 accounts" in result.output
    assert "Tier breakdown" in result.output and "10 riskiest accounts" in result.output


@pytest.mark.parametrize(
    ("given", "moment"),
    [
        ("2026-05-01", "2026-05-01 00:00"),
        ("2026-05-01T09:30:00", "2026-05-01 09:30"),
        ("2026-05-01 09:30:00Z", "2026-05-01 09:30"),
        ("2026-05-01T09:30:00+02:00", "2026-05-01 07:30"),
    ],
)
def test_a_moment_is_a_day_or_an_iso_date_time_with_or_without_its_offset(cli, given, moment):
    result = cli("score", "--as-of", given)
    assert result.exit_code == 0, result.output
    assert f"as of {moment} UTC" in result.output


def test_a_moment_in_no_accepted_format_is_refused_with_the_formats(cli):
    result = cli("score", "--as-of", "yesterday")
    assert result.exit_code == 2
    assert "%Y-%m-%dT%H:%M:%S%z" in result.output


def test_show_explains_every_signal_of_an_account(cli, two_accounts):
    cli("score", "--scorecard", "seed000")
    result = cli("show", "busy", "--scorecard", "seed000")
    assert result.exit_code == 0, result.output
    for signal in (
        "login_frequency",
        "feature_adoption",
        "support_sentiment",
        "api_usage_trend",
        "payment_health",
        "team_growth",
    ):
        assert signal in result.output
    assert "min(1, raw / 20)" in result.output


def test_show_says_the_stage_the_confidence_and_how_far_a_baseline_was_trusted(
    cli, two_accounts, db_url
):
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        # one earlier login: a baseline of one activity-day, a quarter of the floor of 4
        old_login = {"customer_id": "busy", "user_id": "u1", "ts": NOW - timedelta(days=20)}
        insert_rows(session, m.Session, [old_login])
    engine.dispose()
    cli("score")
    result = cli("show", "busy")
    assert result.exit_code == 0, result.output
    assert re.search(r"stage (mature|adopting) · confidence \d+%", result.output), result.output
    trend = next(line for line in result.output.splitlines() if "activity_trend" in line)
    assert "(25% trusted)" in trend, trend


def test_score_for_an_unknown_customer_fails_and_writes_nothing(cli, two_accounts, db_url):
    result = cli("score", "--customer", "nobody")
    assert result.exit_code == 1
    assert "unknown customer id(s): nobody" in result.output
    engine = make_engine(db_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM health_scores").scalar() == 0
    engine.dispose()


def test_a_bad_scorecard_is_refused_with_the_field_named(cli, two_accounts, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nname: bad\nsignals:\n"
        "  - {name: logins, group: engagement, metric: logins, weight: 1.5,\n"
        "     normalise: {kind: target, target: 10}}\n"
    )
    result = cli("score", "--scorecard", str(bad))
    assert result.exit_code == 2
    assert "signals.0.weight" in result.output


def test_export_scores_as_csv_and_json(cli, two_accounts):
    cli("score")
    as_csv = cli("export", "scores", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert {r["customer_id"] for r in rows} == {"busy", "quiet"}
    assert {"score", "tier", "trend", "component_engagement"} <= set(rows[0])
    as_json = json.loads(cli("export", "scores", "--format", "json").stdout)
    by_id = {r["customer_id"]: r for r in as_json}
    assert by_id["busy"]["score"] > by_id["quiet"]["score"]
    assert cli("export", "scores", "--format", "xml").exit_code == 2


def test_backfill_builds_one_history_row_per_account_per_day(cli, two_accounts, db_url):
    result = cli("backfill", "--days", "5")
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    with engine.connect() as connection:
        count = connection.exec_driver_sql("SELECT COUNT(*) FROM health_score_history").scalar()
    engine.dispose()
    assert count == 2 * 5


def test_keys_are_shown_once_listed_without_secret_and_revocable(cli, db_url):
    created = cli("keys", "create", "--scope", "ingest", "--name", "segment prod")
    assert created.exit_code == 0, created.output
    secret = next(line for line in created.output.splitlines() if line.startswith("hs_"))
    listed = cli("keys", "list")
    assert "segment prod" in listed.output and "ingest" in listed.output
    assert secret not in listed.output
    prefix = secret.split("_")[1]
    assert cli("keys", "revoke", prefix).exit_code == 0
    assert "revoked" in cli("keys", "list").output
    unknown = cli("keys", "revoke", "nope")
    assert unknown.exit_code == 1 and "no API key" in unknown.output
    bad_scope = cli("keys", "create", "--scope", "root")
    assert bad_scope.exit_code == 2


def test_customers_can_be_exported_and_deleted_and_sqlite_backed_up(
    cli, two_accounts, db_url, tmp_path
):
    exported = cli("customers", "export", "busy", "-o", str(tmp_path / "busy.json"))
    assert exported.exit_code == 0, exported.output
    data = json.loads((tmp_path / "busy.json").read_text())
    assert data["customer"]["id"] == "busy" and data["sessions"]
    refused = cli("customers", "delete", "busy")
    assert refused.exit_code == 2 and "--yes" in refused.output
    deleted = cli("customers", "delete", "busy", "--yes")
    assert deleted.exit_code == 0 and "deleted busy" in deleted.output
    assert cli("customers", "export", "busy").exit_code == 1
    backup = cli("backup", str(tmp_path / "backup.db"))
    if db_url.startswith("sqlite"):
        assert backup.exit_code == 0 and (tmp_path / "backup.db").stat().st_size > 0
        restored = cli("restore", str(tmp_path / "backup.db"), "--yes")
        assert restored.exit_code == 0, restored.output
    else:
        assert backup.exit_code == 1 and "pg_dump" in backup.output


def test_maintain_refuses_a_retention_shorter_than_the_scorecard_reads(cli, two_accounts):
    refused = cli("maintain", "--retention-days", "30")
    assert refused.exit_code == 2
    assert "at least 72 days" in refused.output

    kept = cli("maintain")
    assert kept.exit_code == 0, kept.output
    assert "raw events kept forever" in kept.output

    expired = cli("maintain", "--retention-days", "100")
    assert expired.exit_code == 0, expired.output
    assert "0 expired raw rows deleted; raw events kept 100 days" in expired.output


def test_maintain_by_hand_is_the_workers_pass_and_waits_its_turn(cli, two_accounts, db_url):
    engine = make_engine(db_url)
    try:
        with maintenance_lock(engine) as taken:  # a worker in the middle of its pass
            assert taken
            busy = cli("maintain", "--rebuild-rollups")
        if engine.dialect.name == "postgresql":
            assert busy.exit_code == 3, busy.output
            assert "another process is running maintenance" in busy.output
        else:  # SQLite has no lock to wait for: one writer at a time serializes the passes
            assert busy.exit_code == 0, busy.output

        rebuilt = cli("maintain", "--rebuild-rollups", "--no-vacuum")
        assert rebuilt.exit_code == 0, rebuilt.output
        assert re.search(r"rebuilt daily_sessions: \d+ rows", rebuilt.output)
        assert "VACUUM" not in rebuilt.output
        with make_sessionmaker(engine)() as session:
            logins = session.scalar(select(func.sum(m.DailySessions.logins)))
        assert logins == 39  # every raw session of the fixture, rolled up once
    finally:
        engine.dispose()


def test_a_backup_says_when_acknowledged_events_still_wait_in_the_journal(
    sqlite_url, sessions_for_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    sessions = sessions_for_url(sqlite_url)
    with sessions() as session, session.begin():
        upsert_customer(session, {"id": "acme", "name": "Acme"})
    quiet = runner.invoke(app, ["backup", str(tmp_path / "first.db")], catch_exceptions=False)
    assert quiet.exit_code == 0 and "journal" not in quiet.output
    pending = Journal(sqlite_url)
    with sessions() as session, session.begin():
        event = Event("acme", "login", datetime.now(UTC))
        pending.append(session, "segment", [("m1", event), ("m2", event)], now=datetime.now(UTC))
    pending.close()
    warned = runner.invoke(app, ["backup", str(tmp_path / "second.db")], catch_exceptions=False)
    assert warned.exit_code == 0, warned.output
    assert "2 acknowledged events" in warned.output and "not in this backup" in warned.output


def rows_in(db_url: str, query: str) -> int:
    engine = make_engine(db_url)
    with engine.connect() as connection:
        count = connection.exec_driver_sql(query).scalar()
    engine.dispose()
    return int(count or 0)


def test_playbooks_test_says_what_score_then_logs_and_writes_nothing(cli, two_accounts, db_url):
    dry = cli("playbooks", "test")
    assert dry.exit_code == 0, dry.output
    assert rows_in(db_url, "SELECT COUNT(*) FROM health_scores") == 0
    assert rows_in(db_url, "SELECT COUNT(*) FROM outreach_log") == 0
    would = re.search(r"(\d+) firings; (\d+) would be logged", dry.output)
    assert would is not None, dry.output
    scored = cli("score")
    logged = re.search(r"playbooks: (\d+) outreach entries logged", scored.output)
    assert logged is not None, scored.output
    assert int(would[2]) == int(logged[1]) == rows_in(db_url, "SELECT COUNT(*) FROM outreach_log")
    assert int(logged[1]) > 0


def test_demo_replays_history_with_its_playbooks_but_delivers_nothing(cli, db_url):
    result = cli("demo", "--customers", "60", "--days", "40", "--history-days", "3")
    assert result.exit_code == 0, result.output
    assert "10 riskiest accounts" in result.output
    # one row per day of --history-days: midnight two days and one day ago, then now
    assert rows_in(db_url, "SELECT COUNT(DISTINCT day) FROM health_score_history") == 3
    assert rows_in(db_url, "SELECT COUNT(*) FROM outreach_log") > 0
    assert rows_in(db_url, "SELECT COUNT(*) FROM deliveries") == 0


def test_score_tells_the_api_through_redis_cache_first_then_open_dashboards(
    cli, two_accounts, redis_url, monkeypatch
):
    import redis

    queue = f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HEALTHSCORE_REDIS_URL", redis_url)
    monkeypatch.setenv("HEALTHSCORE_QUEUE_NAME", queue)
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"{queue}:scores-changed")
    try:
        pubsub.get_message(timeout=1.0)  # the subscription is confirmed
        assert cli("score").exit_code == 0
        message = pubsub.get_message(timeout=5.0)
        assert message is not None
        assert sorted(json.loads(message["data"])["customerIds"]) == ["busy", "quiet"]
        assert client.get(f"{queue}:cache:generation") == b"1"
    finally:
        pubsub.close()
        client.delete(f"{queue}:cache:generation")
        for key in client.scan_iter(f"{queue}*"):
            client.delete(key)
        client.close()
