"""Copy a generated SQLite benchmark dataset into PostgreSQL with COPY.

Generating 100,000 accounts with the demo generator takes most of an hour per backend;
copying the identical SQLite dataset takes minutes, and guarantees both backends are
measured on exactly the same rows.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg
from rich.console import Console

from healthscore.storage import schema

CHUNK = 50_000


def copy_sqlite_to_postgres(sqlite_file: Path, pg_dsn: str, console: Console) -> None:
    source = sqlite3.connect(sqlite_file)
    present = {name for (name,) in source.execute("SELECT name FROM sqlite_master")}
    with psycopg.connect(pg_dsn) as target:
        for table in reversed(schema.metadata.sorted_tables):
            target.execute(f'DELETE FROM "{table.name}"')
        for table in schema.metadata.sorted_tables:
            if table.name not in present:  # a dataset made before that table existed
                continue
            columns = [c.name for c in table.columns]
            quoted = ", ".join(f'"{c}"' for c in columns)
            started = time.perf_counter()
            rows = 0
            cursor = source.execute(f'SELECT {quoted} FROM "{table.name}"')
            with target.cursor().copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                while chunk := cursor.fetchmany(CHUNK):
                    for row in chunk:
                        copy.write_row(row)
                    rows += len(chunk)
            if rows:
                console.print(
                    f"  copied {rows:,} {table.name} rows in {time.perf_counter() - started:.0f}s"
                )
        # Identity columns continue after the copied ids.
        for table in schema.metadata.sorted_tables:
            if "id" in table.c and table.c.id.autoincrement is True:
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                    f'COALESCE((SELECT max(id) FROM "{table.name}"), 0) + 1, false)'
                )
        target.commit()
    source.close()
