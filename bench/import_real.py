"""The import of issue 23's real export, reproduced: a 4.9-million-event base whose
``events.csv`` holds 41 ``api_call`` rows with ``value`` 0 (a day with zero calls), which
must load as they are; then the same base with bad rows planted, imported with
``--max-bad-rows`` and ``--rejects``: the good rows load, the bad ones land in the file.

Runs the real ``healthscore import`` in a child process into an empty SQLite database
(``.bench/import_real.db``); the base is generated once into ``.bench/csv_real/``.
Results are printed and appended to ``.bench/results.jsonl``.

    python -m bench.import_real [--events 4900000] [--bad-rows 250]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.results import record

BENCH_DIR = Path(".bench")
ZERO_COUNTS = 41
CLI = "from healthscore.cli.main import app; app()"


def _base(events: int) -> Path:
    folder = BENCH_DIR / f"csv_real_{events}"
    if not (folder / "events.csv").exists():
        subprocess.run(
            [sys.executable, "-m", "bench.csv_base", str(folder), "--accounts", "1500",
             "--users", "40000", "--events", str(events)],
            check=True,
        )  # fmt: skip
        _plant_zero_counts(folder / "events.csv")
    return folder


def _plant_zero_counts(path: Path) -> None:
    """The first 41 ``api_call`` lines get ``value`` 0, as the real export had."""
    rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    planted = 0
    for i, line in enumerate(rows):
        if planted < ZERO_COUNTS and ",api_call,," in line:
            rows[i] = line[: line.rindex(",")] + ",0\n"
            planted += 1
    path.write_text("".join(rows), encoding="utf-8")


def _with_bad_rows(base: Path, count: int) -> Path:
    """A copy whose events.csv also has ``count`` bad lines: unknown accounts, negative
    counts, timestamps that are not timestamps, in turn."""
    folder = base.with_name(base.name + "_bad")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(base, folder)
    with (folder / "events.csv").open("a", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for k in range(count):
            kind = k % 3
            if kind == 0:
                writer.writerow(["no_such_account", "", "2026-10-01T10:00:00Z", "login", "", ""])
            elif kind == 1:
                writer.writerow(["org-00001", "", "2026-10-01T10:00:00Z", "api_call", "", "-5"])
            else:
                writer.writerow(["org-00001", "", "yesterday", "login", "", ""])
    return folder


def _import(folder: Path, extra: list[str]) -> dict[str, object]:
    database = BENCH_DIR / "import_real.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    env = dict(os.environ, HEALTHSCORE_DATABASE_URL=f"sqlite:///{database.resolve()}")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CLI, "import", str(folder), *extra],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    summary = [line for line in done.stdout.splitlines() if line.strip()][-12:]
    return {"exit": done.returncode, "seconds": round(seconds, 1), "summary": summary,
            "stderr": done.stderr.splitlines()[-5:]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4_900_000)
    parser.add_argument("--bad-rows", type=int, default=250)
    args = parser.parse_args()
    BENCH_DIR.mkdir(exist_ok=True)
    base = _base(args.events)
    clean = _import(base, [])
    print(f"4.9M base with {ZERO_COUNTS} zero counts, all or nothing: {clean}")
    bad = _with_bad_rows(base, args.bad_rows)
    rejects = BENCH_DIR / "import_real_rejects.csv"
    tolerant = _import(bad, ["--max-bad-rows", str(args.bad_rows), "--rejects", str(rejects)])
    with rejects.open(encoding="utf-8") as handle:
        rejected = sum(1 for _ in handle) - 1
    print(f"with {args.bad_rows} bad rows, --max-bad-rows {args.bad_rows}: {tolerant}; "
          f"{rejected} rows in {rejects}")  # fmt: skip
    record(
        "import_real",
        events=args.events,
        zero_counts=ZERO_COUNTS,
        clean=clean,
        bad_rows=args.bad_rows,
        tolerant=tolerant,
        rejected_rows_written=rejected,
    )


if __name__ == "__main__":
    main()
