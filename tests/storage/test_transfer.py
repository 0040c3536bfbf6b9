"""``healthscore copy-database``: an operator moves the embedded SQLite database to
PostgreSQL and finds everything there, row for row, and keeps working on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from healthscore.cli.main import app
from healthscore.ingest.journal import Journal
from healthscore.ingest.records import Event
from healthscore.storage import case_models, schema
from healthscore.storage import models as m
from healthscore.storage.database import transaction

# Which of the bundled playbooks fire on a small demo depends on the day it is made
# (a failed payment or an NPS answer in the last day): this one fires on every scored
# account whatever the date, so the copy always has cases to carry.
EVERY_ACCOUNT = """\
version: 1
min_confidence: 0
playbooks:
  - name: every_account
    description: Every scored account.
    when:
      - {kind: tier, tiers: [healthy, monitor, at_risk, critical]}
    actions:
      - {kind: outreach, owner: csm, next_step: "Say hello."}
"""


def _cli(url: str, tmp_path, *args: str):
    playbooks = tmp_path / "playbooks.yaml"
    playbooks.write_text(EVERY_ACCOUNT)
    return CliRunner().invoke(
        app,
        list(args),
        env={
            "HEALTHSCORE_DATABASE_URL": url,
            "HEALTHSCORE_QUEUE_PATH": str(tmp_path / "queue.db"),
            "HEALTHSCORE_REDIS_URL": "",
            "HEALTHSCORE_PLAYBOOKS": str(playbooks),
        },
    )


def _everything(sessions) -> dict[str, list[tuple]]:
    with sessions() as session:
        return {
            table.name: sorted(session.execute(select(table)).all(), key=repr)
            for table in schema.metadata.sorted_tables
        }


def test_a_demo_database_arrives_in_postgresql_row_for_row(
    sqlite_url, postgres_url, sessions_for_url, tmp_path
):
    made = _cli(sqlite_url, tmp_path, "demo", "--customers", "60", "--history-days", "3")
    assert made.exit_code == 0, made.output
    assert _cli(sqlite_url, tmp_path, "keys", "create", "--scope", "read").exit_code == 0

    copied = _cli(sqlite_url, tmp_path, "copy-database", postgres_url)
    assert copied.exit_code == 0, copied.output
    assert "copied" in copied.stdout and "customers: 60" in copied.stdout

    source, target = (
        _everything(sessions_for_url(sqlite_url)),
        _everything(sessions_for_url(postgres_url)),
    )
    assert source["outreach_log"] and source["health_score_history"] and source["api_keys"]
    assert source == target
    exported = [
        _cli(url, tmp_path, "export", "scores", "--format", "json").stdout
        for url in (sqlite_url, postgres_url)
    ]
    assert exported[0] == exported[1]

    # Work goes on in PostgreSQL: new rows get ids after the copied ones.
    sessions = sessions_for_url(postgres_url)
    with transaction(sessions) as session:
        customer = session.scalars(select(m.Customer.id)).first()
        session.add(
            case_models.OutreachEntry(
                customer_id=customer,
                playbook="manual",
                reason="call",
                snapshot={},
                idempotency_key="after-copy",
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
        session.add(m.Session(customer_id=customer, user_id="u", ts=datetime.now(UTC)))
    assert _cli(postgres_url, tmp_path, "score").exit_code == 0


def test_a_target_that_is_not_empty_is_refused_and_left_as_it_was(
    sqlite_url, postgres_url, sessions_for_url, tmp_path
):
    assert (
        _cli(sqlite_url, tmp_path, "demo", "--customers", "5", "--history-days", "1").exit_code == 0
    )
    assert _cli(sqlite_url, tmp_path, "copy-database", postgres_url).exit_code == 0
    before = _everything(sessions_for_url(postgres_url))
    again = _cli(sqlite_url, tmp_path, "copy-database", postgres_url)
    assert again.exit_code == 1
    assert "the target database is not empty (customers" in again.output
    assert "nothing was copied" in again.output
    assert _everything(sessions_for_url(postgres_url)) == before


def test_events_still_in_the_ingest_journal_are_applied_before_a_copy(
    sqlite_url, postgres_url, sessions_for_url, tmp_path
):
    assert (
        _cli(sqlite_url, tmp_path, "demo", "--customers", "5", "--history-days", "1").exit_code == 0
    )
    sessions = sessions_for_url(sqlite_url)
    with sessions() as session:
        customer = session.scalars(select(m.Customer.id)).first()
    journal = Journal(sqlite_url)
    try:
        with transaction(sessions) as session:
            event = Event(customer, "login", datetime.now(UTC) - timedelta(minutes=1), "u1")
            journal.append(session, "segment", [("m-1", event)], now=datetime.now(UTC))
    finally:
        journal.close()
    refused = _cli(sqlite_url, tmp_path, "copy-database", postgres_url)
    assert refused.exit_code == 1
    assert "1 acknowledged events still wait in the source's ingest journal" in refused.output
    with sessions_for_url(postgres_url)() as session:
        assert session.scalars(select(m.Customer.id)).first() is None
