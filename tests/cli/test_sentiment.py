"""``healthscore sentiment``: record, history and an all-or-nothing CSV import, on both
databases; every entry audited, its account marked for rescoring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from healthscore.cli.main import app
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from healthscore.storage.csm_models import AuditEntry, CsmSentiment
from healthscore.storage.database import make_engine, make_sessionmaker

NOW = datetime.now(UTC)


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        for cid in ("acme", "globex"):
            session.add(m.Customer(id=cid, name=cid, created_at=NOW - timedelta(days=90)))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    invoke.sessions = make_sessionmaker(engine)  # type: ignore[attr-defined]
    yield invoke
    engine.dispose()


def counts(cli) -> tuple[int, int, int]:
    with cli.sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (CsmSentiment, AuditEntry, jm.PendingRescore)
        )


def test_a_csv_with_one_bad_row_imports_nothing_and_names_every_problem(cli, tmp_path):
    path = tmp_path / "sentiment.csv"
    path.write_text(
        "customer_id,sentiment,note,recorded_at\n"
        "acme,green,renewal call went well,\n"
        "globex,purple,,\n"
        "acme,7,,\n"
        f"acme,3,,{(NOW + timedelta(days=2)).isoformat()}\n"
    )
    result = cli("sentiment", "import", str(path))
    assert result.exit_code == 1
    assert "sentiment.csv:3: sentiment:" in result.output
    assert "sentiment.csv:4: sentiment: Input should be less than or equal to 5" in result.output
    assert "sentiment.csv:5: recorded_at: is in the future" in result.output
    assert "nothing imported" in result.output
    assert counts(cli) == (0, 0, 0)


def test_a_good_csv_imports_every_entry_links_them_and_marks_the_accounts(cli, tmp_path):
    path = tmp_path / "sentiment.csv"
    earlier = (NOW - timedelta(days=20)).isoformat()
    path.write_text(
        "customer_id,sentiment,note,author,recorded_at,valid_days\n"
        f"acme,red,exec sponsor left,dana,{earlier},\n"
        "acme,yellow,new sponsor engaged,dana,,30\n"
        "globex,5,,,,\n"
    )
    result = cli("sentiment", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 3 sentiment entries for 2 accounts" in result.output
    assert counts(cli) == (3, 3, 2)
    history = cli("sentiment", "history", "acme")
    lines = [line for line in history.output.splitlines() if "dana" in line]
    assert "yellow (3)" in lines[0] and "in force" in lines[0]
    assert "red (1)" in lines[1] and "superseded" in lines[1]


def test_record_one_entry_and_unknown_accounts_are_refused(cli):
    assert cli("sentiment", "record", "acme", "green", "--note", "QBR went well").exit_code == 0
    refused = cli("sentiment", "record", "nobody", "red")
    assert refused.exit_code == 1 and "customer 'nobody' not found" in refused.output
    bad = cli("sentiment", "record", "acme", "teal")
    assert bad.exit_code == 1
    assert counts(cli) == (1, 1, 1)
