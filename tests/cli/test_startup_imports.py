"""``healthscore --help`` and ``healthscore show ID`` start quickly (issue 23) because they
load only what they use: each runs here in a fresh process, as a user runs it, and the
modules that once made ``show`` slow must not be among those it loaded. The timings
themselves are measured by ``bench/cli_startup.py``, not asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthscore.cli.main import app
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage.database import make_engine, make_sessionmaker, transaction
from tests.backtest.support import save_calibration
from tests.cli.test_churn_probability import insert_busy_account

NOW = datetime.now(UTC)

RUN = """
import json, sys
report = sys.argv.pop(1)
from healthscore.cli.main import app
status = 0
try:
    app()
except SystemExit as end:
    status = end.code
with open(report, "w") as out:
    json.dump({"status": status, "modules": sorted(sys.modules)}, out)
"""
"""``python -c RUN REPORT ARGS`` runs ``healthscore ARGS`` and writes its exit status and
every module it loaded to the file ``REPORT``."""

NOT_FOR_HELP = ["sqlalchemy", "pydantic", "yaml", "numpy", "healthscore.storage.models"]
"""``--help`` needs Typer and Rich only."""

NOT_FOR_SHOW = [
    "numpy",  # calibrations and metric formulas: only their numbers need it
    "sklearn",
    "limits",  # the API's rate limiter; the settings' default needs no parsing
    "starlette",  # the API's request-id middleware, beside the log configuration
    "prometheus_client",
    "sqlalchemy.dialects.postgresql",  # with every PostgreSQL driver's dialect (asyncpg…)
    "alembic",  # the database is already at the newest migration
    "healthscore.storage.job_models",  # tables show does not read
    "healthscore.storage.csm_models",
    "healthscore.backtest.calibration",  # fitting and judging, not a stored calibration
]
"""What ``show`` on SQLite used to load, or could, without using it."""


def run(tmp_path: Path, *args: str) -> tuple[int, str, set[str]]:
    """Exit status, output and loaded modules of ``healthscore ARGS`` in a fresh process."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("HEALTHSCORE_SCORECARD", None)
    report = tmp_path / "modules.json"
    output = subprocess.run(
        [sys.executable, "-c", RUN, str(report), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = json.loads(report.read_text(encoding="utf-8"))
    return found["status"], output, set(found["modules"])


def within(modules: set[str], packages: list[str]) -> list[str]:
    return sorted(
        name for name in modules if any(name == p or name.startswith(f"{p}.") for p in packages)
    )


@pytest.fixture
def scored_with_a_calibration(sqlite_url, monkeypatch) -> str:
    """One account scored with the default scorecard, and a validated calibration of that
    scorecard, so ``show`` prints the churn probability too."""
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("HEALTHSCORE_SCORECARD", raising=False)
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        insert_busy_account(session, NOW)
    assert CliRunner().invoke(app, ["score"], catch_exceptions=False).exit_code == 0
    with transaction(sessions) as session:
        save_calibration(session, load_scorecard("default"))
    engine.dispose()
    return sqlite_url


def test_help_loads_neither_the_database_layer_nor_pydantic(tmp_path):
    status, output, modules = run(tmp_path, "--help")
    assert status == 0 and "show" in output
    assert within(modules, NOT_FOR_HELP) == []


@pytest.mark.usefixtures("scored_with_a_calibration")
def test_show_on_sqlite_loads_no_numpy_no_postgresql_and_no_web_stack(tmp_path):
    status, output, modules = run(tmp_path, "show", "busy")
    assert status == 0
    assert "Busy Co" in output and "chance of churn in 90 days" in output
    assert within(modules, NOT_FOR_SHOW) == []


def test_the_api_and_the_worker_load_scikit_learn_only_when_they_fit_or_judge(tmp_path):
    """Every ``serve`` and ``worker`` process (and every server a test starts) imports
    these modules; scikit-learn and SciPy cost about half a second and only a backtest,
    a tuning or a calibration fit uses them."""
    report = tmp_path / "modules.json"
    program = (
        "import json, sys\n"
        "import healthscore.api.app, healthscore.jobs.worker\n"
        f"json.dump(sorted(sys.modules), open({str(report)!r}, 'w'))\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True)
    modules = set(json.loads(report.read_text(encoding="utf-8")))
    assert "healthscore.backtest.evaluate" in modules  # the backtest routes are there…
    assert within(modules, ["sklearn", "scipy"]) == []  # …without what they compute with
