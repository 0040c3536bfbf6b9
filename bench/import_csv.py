"""``healthscore import`` of a generated CSV base on SQLite and PostgreSQL: wall time,
events/s and the import process's peak memory, side by side.

The base (``bench.csv_base``) is generated once per size into ``.bench/csv_<accounts>/``
by a child process, so this process stays small; each import runs the real
``healthscore import`` command in a child of its own, into an empty, migrated database
(``.bench/import_<accounts>.db``, or PostgreSQL schema ``bench_import_<accounts>``).
Results are printed and appended to ``.bench/results.jsonl``.

    python -m bench.import_csv [--sizes 1000,20000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from bench.results import record
from healthscore.storage.database import make_engine, upgrade

BENCH_DIR = Path(".bench")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BASES = {
    1_000: ["--accounts", "1000", "--users", "32579", "--events", "3400000", "--tickets", "5428"],
    20_000: [
        "--accounts",
        "20000",
        "--users",
        "200000",
        "--events",
        "2000000",
        "--tickets",
        "60000",
    ],
}
"""The 1,000-account base of issue 19 (32,579 seats, 3.4 M events, 5,428 tickets) and a
20,000-account one with fewer seats and events per account (a long tail of small ones:
10 seats and 100 events in 120 days on average)."""
console = Console(width=160)


def ensure_base(accounts: int) -> tuple[Path, dict[str, int]]:
    folder = BENCH_DIR / f"csv_{accounts}"
    if not (folder / "nps.csv").exists():
        console.print(f"  generating the {accounts:,}-account CSV base …")
        args = BASES.get(accounts, ["--accounts", str(accounts)])
        subprocess.run([sys.executable, "-m", "bench.csv_base", str(folder), *args], check=True)
    rows = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open("rb") as handle:
            rows[path.name] = sum(1 for _ in handle) - 1
    return folder, rows


def empty_database(backend: str, accounts: int) -> str:
    if backend == "sqlite":
        path = BENCH_DIR / f"import_{accounts}.db"
        for leftover in BENCH_DIR.glob(f"import_{accounts}.db*"):
            leftover.unlink()
        url = f"sqlite:///{path}"
    else:
        base = os.environ.get("HEALTHSCORE_BENCH_DATABASE_URL", DEFAULT_PG)
        schema = f"bench_import_{accounts}"
        admin = make_engine(base)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def timed_import(url: str, folder: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak MiB of one ``healthscore
    import`` process (the database server's own CPU is not counted)."""
    command = [str(Path(sys.executable).with_name("healthscore")), "import", str(folder)]
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": url,
        "HEALTHSCORE_QUEUE_PATH": str(BENCH_DIR / "queue.db"),
    }
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"import failed ({status}) into {url}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    BENCH_DIR.mkdir(exist_ok=True)
    table = Table(title="healthscore import of a CSV base")
    for column in (
        "backend",
        "accounts",
        "seats",
        "events",
        "tickets",
        "seconds",
        "CPU s",
        "events/s",
        "rows/s",
        "peak MiB",
    ):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for accounts in (int(s) for s in args.sizes.split(",")):
        folder, rows = ensure_base(accounts)
        for backend in args.backends.split(","):
            console.print(f"[bold]{backend}[/] import of {accounts:,} accounts")
            seconds, cpu, peak = timed_import(empty_database(backend, accounts), folder)
            events, total = rows["events.csv"], sum(rows.values())
            table.add_row(
                backend,
                f"{accounts:,}",
                f"{rows['users.csv']:,}",
                f"{events:,}",
                f"{rows['tickets.csv']:,}",
                f"{seconds:.1f}",
                f"{cpu:.1f}",
                f"{events / seconds:,.0f}",
                f"{total / seconds:,.0f}",
                f"{peak:.0f}",
            )
            record(
                "import_csv",
                backend=backend,
                accounts=accounts,
                rows=rows,
                seconds=round(seconds, 2),
                cpu_seconds=round(cpu, 2),
                events_per_second=round(events / seconds),
                peak_rss_mib=round(peak),
            )
            console.print(
                f"  {seconds:.1f} s, {cpu:.1f} s CPU, "
                f"{events / seconds:,.0f} events/s, {peak:.0f} MiB"
            )
    console.print(table)


if __name__ == "__main__":
    main()
