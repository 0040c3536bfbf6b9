"""``healthscore doctor``: the data-quality report in the terminal, the same numbers as
``GET /api/v1/data-quality``, and an exit code that says whether to act."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from healthscore.accounts.repository import upsert_customer, upsert_user
from healthscore.cli.main import app
from healthscore.storage.database import transaction
from tests.quality.planted import EXPECTED, HOSTILE, plant


@pytest.fixture
def doctor(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, ["doctor", *args], catch_exceptions=False)

    return invoke


def test_a_clean_database_exits_0(doctor: Any) -> None:
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "No finding needs action." in result.output
    assert json.loads(doctor("--json").stdout)["clean"] is True


def test_findings_worth_action_exit_1_with_tables_and_advice(live_server: Any, doctor: Any) -> None:
    plant(live_server)
    result = doctor("--limit", "5")
    assert result.exit_code == 1, result.output
    out = result.output
    assert "6 finding(s) need action." in out
    for title in ("Activity from users who are not seats", "Events refused for unknown accounts"):
        assert title in out
    assert "stranger (3)" in out and "<b>intruder</b> (1)" in out and HOSTILE in out
    assert "What to do:" in out and "Why it matters:" in out


def test_the_json_has_the_apis_shape_and_numbers(live_server: Any, doctor: Any) -> None:
    plant(live_server)
    result = doctor("--json")
    assert result.exit_code == 1
    printed = json.loads(result.stdout)
    with live_server.client("read") as api:
        served = api.get("/api/v1/data-quality").json()
    for report in (printed, served):
        assert {f["code"]: f["count"] for f in report["findings"]} == EXPECTED
    for key in ("asOf", "since"):
        printed.pop(key), served.pop(key)
    for section in ("clockSkew", "unknownAccounts"):
        for item in printed[section] + served[section]:
            item.pop("lastSeen"), item.pop("firstSeen", None)
    assert printed == served


def test_notices_alone_exit_0_unless_strict(db_url: str, sessions: Any, doctor: Any) -> None:
    with transaction(sessions) as session:
        upsert_customer(
            session, {"id": "idle", "created_at": datetime.now(UTC) - timedelta(days=30)}
        )
        upsert_user(session, customer_id="idle", user_id="i1")
    assert doctor().exit_code == 0
    strict = doctor("--strict")
    assert strict.exit_code == 1
    assert "Accounts with no activity at all" in strict.output


@pytest.mark.parametrize("args", [["--days", "0"], ["--days", "366"], ["--limit", "0"]])
def test_options_out_of_range_are_usage_errors(doctor: Any, args: list[str]) -> None:
    assert doctor(*args).exit_code == 2
