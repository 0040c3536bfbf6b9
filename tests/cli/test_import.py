"""``healthscore import`` from the command line: all or nothing by default, or the good
rows loaded and the bad ones written to a file; the summary and the progress bar."""

from __future__ import annotations

import csv
import gc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthscore.cli.context import progress_bar
from healthscore.cli.main import app
from healthscore.cli.progress import RateColumn

CUSTOMERS = "id,name,plan,segment,mrr,created_at,churned_at\n" + "".join(
    f"c{i},Org {i},pro,smb,10,2025-01-01,\n" for i in range(1200)
)
BAD_CUSTOMER = "c9999,Broken,pro,smb,-1,2025-01-01,\n"  # line 1202
EVENTS = "customer_id,user_id,ts,type,name,value\n" + "".join(
    f"c{i},,2026-10-{1 + i % 28:02d},api_call,,{i % 41}\n" for i in range(1200)
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """1,200 customers and api_call days (zeros among them) plus a bad customer and its event."""
    path = tmp_path / "csv"
    path.mkdir()
    (path / "customers.csv").write_text(CUSTOMERS + BAD_CUSTOMER)
    (path / "events.csv").write_text(
        EVENTS + "c9999,,2026-10-02,api_call,,5\n" + "c0,,2026-10-01,api_call,,0\n"
    )
    return path


@pytest.fixture
def healthscore(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", db_url)
    monkeypatch.setenv("HEALTHSCORE_QUEUE_PATH", str(tmp_path / "queue.db"))
    monkeypatch.setenv("HEALTHSCORE_REDIS_URL", "")
    monkeypatch.setenv("COLUMNS", "300")  # the error line unwrapped
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_any_bad_row_rejects_the_import_by_default(healthscore, folder):
    result = healthscore("import", str(folder))
    assert result.exit_code == 1
    assert "customers.csv:1202: mrr: Input should be greater than or equal to 0" in result.stderr
    assert "error: import rejected: 2 problem(s); nothing was written" in result.stderr
    assert healthscore("export", "scores", "--format", "json").stdout.strip() == "[]"


def test_max_bad_rows_loads_the_rest_and_writes_the_rejects(healthscore, folder, tmp_path):
    rejects = tmp_path / "rejects.csv"
    result = healthscore("import", str(folder), "--max-bad-rows", "2", "--rejects", str(rejects))
    assert result.exit_code == 0, result.output
    files, total = result.stdout.splitlines()[:2], result.stdout.splitlines()[2]
    assert files == [
        "customers.csv: 1200 rows loaded, 0 skipped as duplicates, 1 rejected",
        "events.csv: 1200 rows loaded, 1 skipped as duplicates, 1 rejected",
    ]
    assert total.startswith("2,403 rows read in ")
    assert total.endswith("rows/s): 2,400 loaded, 1 skipped as duplicates, 2 rejected")
    assert f"2 bad row(s) rejected, not loaded; all of them are in {rejects}" in result.stderr
    with rejects.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["file"], r["line"], r["row"]) for r in rows] == [
        ("customers.csv", "1202", BAD_CUSTOMER.strip()),
        ("events.csv", "1202", "c9999,,2026-10-02,api_call,,5"),
    ]
    assert rows[1]["reason"].endswith("its row, customers.csv:1202, was rejected")
    assert "c9999" not in healthscore("score").stdout


def test_more_bad_rows_than_allowed_is_refused_and_still_lists_them(healthscore, folder, tmp_path):
    rejects = tmp_path / "rejects.csv"
    result = healthscore("import", str(folder), "--max-bad-rows", "1", "--rejects", str(rejects))
    assert result.exit_code == 1
    assert "2 problem(s), more than --max-bad-rows 1; nothing was written" in result.stderr
    assert len(rejects.read_text().splitlines()) == 3


def test_an_import_keeps_what_start_up_loaded_out_of_the_collectors_walks(
    healthscore, folder, tmp_path
):
    """A long run: the heap loaded before it is frozen (``settle_process``), so the
    collector's full passes walk only what the import allocates (5% of a 2-million-event
    import's time went to them)."""
    gc.collect()
    frozen = gc.get_freeze_count()
    result = healthscore("import", str(folder), "--max-bad-rows", "2")
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() > frozen


def test_the_import_bar_shows_rows_per_second():
    with progress_bar(rate="rows") as progress:
        task = progress.add_task("loading events.csv", total=100)
        progress.update(task, completed=100)
        [column] = [c for c in progress.columns if isinstance(c, RateColumn)]
        shown = column.render(progress.tasks[task]).plain
    assert shown.endswith(" rows/s") and shown[0].isdigit()
