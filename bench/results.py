"""The machine-readable result file every bench appends to: ``.bench/results.jsonl``.

One JSON object per line and measurement, with what makes figures comparable: ``bench``
(the module), ``at`` (UTC), ``machine`` (host, CPU model, cores), ``rev`` (the commit
measured, ``+`` when the tree had changes) and the load average when it started.
``python -m bench.report`` builds BENCHMARKS.md's generated section from the latest
record of each kind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
RESULTS = BENCH_DIR / "results.jsonl"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def revision(where: Path = ROOT) -> str:
    """The commit measured (of the checkout holding ``where``), with ``+`` when tracked
    files differ from it."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    if not rev:
        return "unknown"
    return f"{rev}+" if dirty else rev


def add_checkout_options(parser: argparse.ArgumentParser) -> None:
    """``--src DIR [--label NAME]``: measure another checkout's code (e.g. a git worktree
    of the commit before a change) in the same way, for before -> after figures."""
    parser.add_argument("--src", type=Path, help="another checkout's src directory")
    parser.add_argument("--label", help="what the --src checkout is, e.g. before")


def checkout(src: Path | None, label: str | None) -> dict[str, str]:
    """The ``src`` and ``label`` fields of a result measuring ``src`` (None: this one)."""
    if src is None:
        return {"src": "this checkout", "label": "this checkout"}
    commit = f"`{revision(src.resolve())}`"
    return {
        "src": str(src),
        "label": f"{label} ({commit})" if label else f"other checkout ({commit})",
    }


def checkout_env(src: Path | None) -> dict[str, str]:
    """Environment for the processes a bench starts, so that they import ``src``'s code."""
    return {"PYTHONPATH": str(src.resolve())} if src else {}


def measure_in_checkout(src: Path, module: str, options: list[str]) -> dict[str, Any]:
    """``python -m module --child options`` with ``src``'s code: the figures it prints as
    JSON on its last line (a bench's own measurement, run for another checkout)."""
    command = [sys.executable, "-m", module, "--child", *options]
    env = {**os.environ, **checkout_env(src)}
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return figures


def context() -> dict[str, Any]:
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {cpu_model()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "rev": revision(),
        "load_average": round(os.getloadavg()[0], 2),
    }


def record(bench: str, **fields: Any) -> dict[str, Any]:
    """Append one result (``fields``, JSON-serialisable) and return it."""
    entry = {"bench": bench, **context(), **fields}
    BENCH_DIR.mkdir(exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
    return entry


def read(path: Path = RESULTS) -> Iterator[dict[str, Any]]:
    """Every result in the file, oldest first. Lines without ``bench`` are ``bench.run``'s
    from before ``bench.results``: one line per run, its datasets in ``results``; they are
    read as one result per dataset and scorecard, as ``bench.run`` now writes them."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            entry: dict[str, Any] = json.loads(line)
            if "bench" in entry:
                yield entry
            elif isinstance(entry.get("results"), list):
                shared = {k: v for k, v in entry.items() if k not in {"results", "peak_rss_mib"}}
                for result in entry["results"]:
                    yield {"bench": "run", **shared, **result}
