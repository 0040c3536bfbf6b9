"""A database error never reaches the user as a traceback: the ``healthscore`` command
(a real process, as a user runs it) ends with one clear line and a non-zero exit code,
the log keeps the context, and the refused command wrote nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from healthscore.storage import models as m

CUSTOMERS = "id,name,plan,segment,mrr,created_at,churned_at\n"


def _healthscore(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": db_url,
        "HEALTHSCORE_QUEUE_PATH": str(tmp_path / "queue.db"),
        "HEALTHSCORE_LOG_FORMAT": "json",
    }
    env.pop("HEALTHSCORE_REDIS_URL", None)
    command = [str(Path(sys.executable).with_name("healthscore")), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_a_constraint_violation_is_one_clear_line_and_nothing_is_written(
    db_url, sessions, refuse_large_mrr, tmp_path
):
    dialect = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    folder = tmp_path / "csv"
    folder.mkdir()
    rows = "".join(
        f"c{i},Org {i},pro,smb,{50 if i else 500},2026-01-01," + "\n" for i in range(1500)
    )
    (folder / "customers.csv").write_text(CUSTOMERS + rows)

    result = _healthscore(db_url, tmp_path, "import", str(folder))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    message = [line for line in lines if line.startswith("error:")]
    assert len(message) == 1, result.stderr
    assert message[0].startswith("error: the database refused the change: ")
    assert "nothing was written" in message[0]
    assert ("mrr over 100" if dialect == "sqlite" else "refuse_large_mrr") in message[0]
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    [record] = [r for r in logged if r["level"] == "ERROR"]
    assert record["message"].startswith("database error in `healthscore import")
    assert "customers" in record["statement"]  # the context: what was being written
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.Customer)) == 0


def test_an_unreachable_database_is_one_clear_line(tmp_path):
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
    result = _healthscore(url, tmp_path, "score")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    message = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(message) == 1, result.stderr
    assert message[0].startswith("error: cannot use the database (127.0.0.1:1/nowhere")
