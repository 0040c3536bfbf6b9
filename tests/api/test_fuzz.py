"""Schemathesis, run as an outside tester runs it, against a live server on PostgreSQL.

``schemathesis run --checks all`` in a subprocess against the server's own
``/openapi.json`` with an admin key: every phase (examples, coverage, fuzzing, stateful),
a fixed seed, a bounded number of cases per operation. Every answer must match the
document (status, content type, headers, body); no 5xx; schema-valid requests accepted
and schema-violating ones refused; ``Allow`` right on a 405; no operation reachable
without its key. Zero failures.

Rules JSON Schema cannot state (a timestamp not in the future, an account that must
exist) are in the document's words; ``tests/api/schemathesis_hooks.py`` makes the
requests schemathesis expects to be accepted keep them, as an integrator would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthscore.ingest.demo import generate_demo
from healthscore.settings import Settings
from healthscore.storage.database import transaction

pytestmark = pytest.mark.slow  # a minute of generated requests

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = 25
EXAMPLES_PER_OPERATION = 6
"""Fuzzing and stateful cases per operation; the coverage phase adds each operation's
boundary and violation cases (about 4,000 of the 5,000 cases in all)."""
TIME_LIMIT = 600  # seconds; one to two minutes on 2 idle cores (2 to 4 on slower instances)


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    """The API alone, as deployed with Redis: the job worker (rescoring after each write,
    webhook deliveries) is not part of the HTTP contract, and would only take CPU from
    the thousands of requests under test. Requests that rescore do it themselves."""
    return server_settings.model_copy(update={"embedded_worker": False})


def _verdict(output: str) -> str:
    """schemathesis's closing line: ``=== No issues found in 62.31s ===`` or the failures."""
    lines = [line for line in output.splitlines() if re.fullmatch(r"=+ .+ =+", line.strip())]
    return lines[-1].strip("= ") if lines else "no verdict"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_schemathesis_checks_all_find_no_failure(live_server, tmp_path: Path) -> None:
    with transaction(live_server.sessions) as session:
        generate_demo(session, customers=5, days=10, seed=2, now=datetime.now(UTC))
    key = live_server.keys["admin"]
    report = tmp_path / "report.json"
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{live_server.url}/openapi.json",
        "--checks=all",
        "--phases=examples,coverage,fuzzing,stateful",
        f"--seed={SEED}",
        f"--max-examples={EXAMPLES_PER_OPERATION}",
        "--workers=1",  # one request at a time: the same cases in the same order each run
        "--generation-allow-x00=false",  # the document: text may not contain NUL (422)
        f"--header=Authorization: Bearer {key}",
        "--output-sanitize=false",
        "--no-color",
        "--report=json",
        f"--report-json-path={report}",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
        "HEALTHSCORE_FUZZ_URL": live_server.url,
        "HEALTHSCORE_FUZZ_KEY": key,
    }
    done = subprocess.run(  # in tmp_path: schemathesis keeps its cache in the working folder
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIME_LIMIT
    )
    output = done.stdout + done.stderr
    run = json.loads(report.read_text())
    cases = run["test_cases"]
    print(
        f"schemathesis {run['schemathesis_version']} --checks all, seed {run['seed']}, "
        f"{run['operations']['tested']} operations: {cases['generated']} cases generated, "
        f"{cases['unique_failures']} failures, {len(run['errors'])} errors; {_verdict(output)}"
    )
    assert done.returncode == 0 and run["failures"] == [] and run["errors"] == [], output
    assert {name: phase["status"] for name, phase in run["phases"].items()} == {
        phase: "success" for phase in ("examples", "coverage", "fuzzing", "stateful")
    }, run["phases"]
    assert run["operations"]["tested"] == run["operations"]["total"] >= 50
    assert cases["generated"] >= 3000
