"""``healthscore demo --serve`` (what ``make demo`` runs): the dashboard answers with
today's scores while the score history and its cases are built in the background."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import free_port

pytestmark = pytest.mark.slow


def test_the_dashboard_answers_before_the_history_is_built_and_the_history_follows(
    tmp_path: Path,
):
    database = tmp_path / "demo.db"
    port = free_port()
    env = {**os.environ, "HEALTHSCORE_DATABASE_URL": f"sqlite:///{database}"}
    env.pop("HEALTHSCORE_SCORECARD", None)
    command = [
        *(sys.executable, "-c", "from healthscore.cli.main import app; app()"),
        *("demo", "--reset", "--serve", "--customers", "60", "--days", "60"),
        *("--history-days", "10", "--port", str(port)),
    ]
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        answered = False
        while time.monotonic() < deadline and not answered:
            assert demo.poll() is None, log.read_text()
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/login").status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert answered, log.read_text()
        while "score history built" not in log.read_text():
            assert time.monotonic() < deadline and demo.poll() is None, log.read_text()
            time.sleep(0.2)
        with sqlite3.connect(database) as connection:
            days = connection.execute(
                "SELECT count(DISTINCT day) FROM health_score_history"
            ).fetchone()[0]
            latest = connection.execute(
                "SELECT count(*) FROM health_scores WHERE score IS NOT NULL"
            ).fetchone()[0]
        assert days == 10 and latest > 0
        assert "10 riskiest accounts" in log.read_text()
    finally:
        demo.terminate()
        demo.wait(timeout=30)
