"""SQLite and PostgreSQL give the same answers on a production-sized base.

One generated customer base (well above every bulk threshold: thousands of accounts, tens
of thousands of seats, three times the largest batch of events; every CSV file, repeated
event lines) goes through the commands an operator runs: ``healthscore import`` twice (a
re-import) and once more with a later ticket export, then ``healthscore score --as-of`` on
several dates, into each backend. The exported scores, the stored tiers,
history, latest explanations, outreach and roll-ups must then be identical.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bench.csv_base import END, BaseSize, write_csv_base, write_ticket_update
from sqlalchemy import select, text
from typer.testing import CliRunner

from healthscore.cli.main import app
from healthscore.ingest.bulk import BATCH_ROWS
from healthscore.storage import case_models, schema
from healthscore.storage import models as m

pytestmark = pytest.mark.slow

SIZE = BaseSize(
    accounts=2_000, users=12_000, events=3 * BATCH_ROWS, tickets=3_000, nps=2_500, seed=5
)
AS_OF = [END - timedelta(days=28), END - timedelta(days=7), END + timedelta(hours=6)]
WALL_CLOCK = {"calculated_at", "updated_at", "received_at", "id"}
"""Columns that hold when a row was written (or a database-assigned id), not an answer."""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("base")
    write_csv_base(root / "base", SIZE)
    changed = write_ticket_update(root / "base", root / "update")
    assert changed > 50
    return root / "base", root / "update"


def _cli(url: str, tmp: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app,
        list(args),
        env={
            "HEALTHSCORE_DATABASE_URL": url,
            "HEALTHSCORE_QUEUE_PATH": str(tmp / "queue.db"),
            "HEALTHSCORE_REDIS_URL": "",
        },
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _rows(sessions: Any, model: type[m.Base], *order: str) -> list[dict[str, Any]]:
    table = model.__table__
    names = [c.name for c in table.columns if c.name not in WALL_CLOCK]  # type: ignore[attr-defined]
    with sessions() as session:
        result = session.execute(
            select(*(table.c[n] for n in names)).order_by(*(table.c[n] for n in order))  # type: ignore[attr-defined]
        )
        return [dict(zip(names, row, strict=True)) for row in result]


def _answers(url: str, sessions: Any, tmp: Path, base: Path, update: Path) -> dict[str, Any]:
    _cli(url, tmp, "import", str(base))
    _cli(url, tmp, "import", str(base))  # a re-import: keyed rows updated, events appended
    _cli(url, tmp, "import", str(update))
    for moment in AS_OF:
        _cli(url, tmp, "score", "--as-of", moment.isoformat())
    exported = json.loads(_cli(url, tmp, "export", "scores", "--format", "json"))
    with sessions() as session:
        counts = {
            t.name: session.execute(text(f'SELECT count(*) FROM "{t.name}"')).scalar_one()
            for t in schema.metadata.sorted_tables
        }
    return {
        "exported": exported,
        "counts": counts,
        "customers": _rows(sessions, m.Customer, "id"),
        "users": _rows(sessions, m.User, "customer_id", "user_id"),
        "tickets": _rows(sessions, m.SupportTicket, "customer_id", "ticket_id"),
        "history": _rows(sessions, m.HealthScoreHistory, "customer_id", "day"),
        "latest": _rows(sessions, m.HealthScore, "customer_id"),
        "outreach": _rows(
            sessions, case_models.OutreachEntry, "customer_id", "playbook", "created_at"
        ),
        "daily_sessions": _rows(sessions, m.DailySessions, "customer_id", "day"),
        "daily_features": _rows(sessions, m.DailyFeatures, "customer_id", "feature", "day"),
        "daily_api_usage": _rows(sessions, m.DailyApiUsage, "customer_id", "day"),
        "user_activity": _rows(sessions, m.UserActivity, "customer_id", "user_id", "period"),
        "feature_activity": _rows(sessions, m.FeatureActivity, "customer_id", "feature", "period"),
    }


def test_sqlite_and_postgresql_agree_on_a_production_sized_base(
    base, sqlite_url, postgres_url, sessions_for_url, tmp_path
):
    folder, update = base
    lite = _answers(sqlite_url, sessions_for_url(sqlite_url), tmp_path, folder, update)
    post = _answers(postgres_url, sessions_for_url(postgres_url), tmp_path, folder, update)

    # The base is what it claims to be: above every bulk threshold, in every table.
    assert lite["counts"]["customers"] == SIZE.accounts
    assert lite["counts"]["users"] == SIZE.users
    assert lite["counts"]["support_tickets"] == SIZE.tickets
    assert lite["counts"]["sessions"] > 2 * BATCH_ROWS  # imported twice
    assert lite["counts"]["health_score_history"] >= 3 * 1_900
    tiers = {row["tier"] for row in lite["exported"]}
    assert {"healthy", "critical", "churned"} <= tiers
    assert lite["counts"]["outreach_log"] > 0

    for name in lite:
        assert len(lite[name]) == len(post[name]), name
        if lite[name] != post[name]:
            first = (
                next((a, b) for a, b in zip(lite[name], post[name], strict=True) if a != b)
                if isinstance(lite[name], list)
                else (lite[name], post[name])
            )
            pytest.fail(f"{name} differs between SQLite and PostgreSQL; first difference:\n{first}")


def test_the_issue_19_base_imports_on_postgresql(postgres_url, sessions_for_url, tmp_path):
    """The base that crashed: 1,000 accounts, 32,579 seats, 5,428 tickets in one file each
    (events scaled down: their path is the raw-event COPY, covered above)."""
    size = BaseSize(accounts=1_000, users=32_579, events=20_000, tickets=5_428, nps=500)
    counts = write_csv_base(tmp_path / "base", size)
    output = _cli(postgres_url, tmp_path, "import", str(tmp_path / "base"))
    assert "users.csv: 32579 rows" in output
    sessions = sessions_for_url(postgres_url)
    with sessions() as session:
        assert session.scalar(select(m.User.id).where(m.User.id.is_(None))) is None
        stored = {
            "users.csv": session.query(m.User).count(),
            "tickets.csv": session.query(m.SupportTicket).count(),
            "customers.csv": session.query(m.Customer).count(),
        }
    assert stored == {name: counts[name] for name in stored}
