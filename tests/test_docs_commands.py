"""The README is tested (#23): every command block of README.md and docs/*.md runs, as
written, in a fresh shell after the README's set-up, and prints what the page shows.

Command blocks
    Every fenced ```bash block, and every ```text block whose first line is ``$ command``
    (a transcript: a command, then what it prints). Shell commands under another label
    (``sh``, ``console``…) fail the test, so none escapes by its label.

The set-up
    README.md's first block (``make demo`` / ``make test``) is the set-up itself and is not
    re-run: ``make test`` is what runs this test, and the state ``make demo`` leaves is
    prepared below. README.md's second block must be the one line that puts
    ``healthscore`` on the PATH; every page runs it first (README.md in its place, the
    others at their top, since their reader did the README's set-up), with a check that
    ``healthscore`` is not on the PATH before it and is ``.venv/bin/healthscore`` after.

The state ``make demo`` leaves a user in (prepared once)
    * a working directory with the repository's files (links to them: ``.venv``, ``bench``,
      ``docs``…) and ``./healthscore.db`` made by ``healthscore demo`` (SQLite) — smaller
      than ``make demo``'s, see ``SETUP_DEMO`` (and ``BACKFILL_DAYS`` for backtests);
    * ``healthscore serve`` running there on 127.0.0.1:8000 (stopped after the test;
      nothing else in the suite uses port 8000; a server already on it, say ``make demo``'s,
      skips the test locally and fails it in CI, as a missing PostgreSQL does);
    * a clean environment: temporary ``HOME`` and ``TMPDIR``, no ``HEALTHSCORE_*`` setting
      but the demo's sizes (``DEMO_SIZE``: a page's own ``healthscore demo`` is quick), a
      PATH without ``healthscore``, UTF-8, ``TZ=UTC``, 120 columns (``COLUMNS``), and
      ``NEW_DATABASE_URL``: an empty PostgreSQL database (a schema of the test server),
      where docs/postgresql.md copies the demo.

How a page runs
    Its blocks run in order in one fresh ``bash`` process (``set -Eeuo pipefail``, stderr
    merged into stdout as a terminal shows them): a reader follows a page top to bottom, so
    variables (keys) and files carry from block to block within a page, never from page to
    page. The database, its server and the working directory are shared: a page makes the
    accounts it uses. Pages run one after the other (README.md, then docs/ by name), but
    docs/backtest.md beside them and a page that regenerates the demo last (``BESIDE``).
    ``curl`` runs with ``--fail-with-body``, so an HTTP error answer fails its block like a
    failing command. A block right after ``<!-- not run in CI: reason -->`` is not run; the
    test lists those, and every other block must pass.

Shown output
    A ```text or ```json block right after a command block (blank lines between at most) is
    its output, checked against what the block printed:
    * text: every shown line appears, in that order, among the printed lines, with runs of
      spaces, and of one box-drawing character, taken as one, and every number (sign,
      digits, separators, decimals) taken as any number;
    * json: one of the JSON values the block printed has every key shown (more are allowed)
      with a matching value: the same strings (numbers in them taken as any number, ``…``
      as anything), booleans and nulls, any number for a number, lists of the same length.

A failure names the page, the block's line, the command and what it printed.
``DOCS_TEST_PAGES=README.md,docs/cases.md`` runs some pages only, and ``DOCS_TEST_LOG=FILE``
writes every block's output to FILE, while editing the docs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from healthscore.backtest.defaults import WARMUP_DAYS
from healthscore.storage.database import make_engine
from tests.fixtures.database import _postgres_base_url
from tests.fixtures.server import SHARED_TLS

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HEALTHSCORE = ROOT / ".venv" / "bin" / "healthscore"  # what `make install` made
PORT = 8000
# The prepared demo: 100 accounts over 140 days, enough for docs/backtest.md's cut-offs
# (its training cut-offs, from 35 days after the first data up to 12 weeks ago, need
# churners in the 30 days after them: over 125 days that was one cut-off, and on
# 2026-12-08, at every hour, no account of the demo churned within its horizon, so
# `healthscore tune` refused; 140 days give three weekly training cut-offs), with 10 days
# of score history (`make demo`: 2,000 accounts, 180 days, 30 days of history).
SETUP_DEMO_DAYS = 140
SETUP_DEMO = ["--customers", "100", "--days", str(SETUP_DEMO_DAYS), "--history-days", "10"]
# Before docs/backtest.md runs (beside the other pages), `healthscore backfill` extends
# the history to cover its lead-time replays: they read it instead of rescoring every day
# (2-3 s a backtest instead of 9-11). A replay starts WARMUP_DAYS after the data's first
# event (on the demo's first day or the one after it), i.e. 105 days before today, and
# `backfill --days N` covers today and the N - 1 days before it: N = 106 reaches that day,
# one more allows for the first event's day. With one day short, every backtest of
# the page replayed instead, and the test took 30 s longer. One transaction per day, and
# no playbooks: the other pages' writes and cases do not notice.
BACKFILL_DAYS = str(SETUP_DEMO_DAYS - WARMUP_DAYS + 2)
# The size of a `healthscore demo` a page runs (docs/demo.md), quicker still.
DEMO_SIZE = {
    "HEALTHSCORE_DEMO_CUSTOMERS": "30",
    "HEALTHSCORE_DEMO_DAYS": "120",
    "HEALTHSCORE_DEMO_HISTORY_DAYS": "3",
}
PAGE_TIMEOUT = 300  # seconds for a whole page
MOST_NOT_RUN = 5  # blocks marked not run in CI: only what cannot run here (production hosts)

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<lang>[^`\s]*)[ \t]*$")
NOT_RUN = re.compile(r"^<!--\s*not run in CI:\s*(?P<reason>.+?)\s*-->$")
SHELLS = {"sh", "shell", "console", "zsh", "bash-session", "shell-session", "terminal"}
SHOWN = {"text", "json"}
# A repository entry the working directory leaves out: state of this checkout, not files.
NOT_LINKED = {".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", ".bench"}


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    not_run: str | None = None
    shown: Block | None = None  # the output block right after it
    transcript: bool = False

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass
class Page:
    name: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def commands(self) -> list[Block]:
        return [b for b in self.blocks if b.lang == "bash" or b.transcript]


def parse(path: Path, name: str | None = None) -> Page:
    """The fenced blocks of a Markdown page, with their not-run markers and shown output."""
    name = name or str(path.relative_to(ROOT))
    lines = path.read_text(encoding="utf-8").splitlines()
    page = Page(name)
    marker: str | None = None
    previous_end: int | None = None  # index of the line closing the previous block
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            stripped = lines[i].strip()
            found = NOT_RUN.match(stripped)
            if found:
                marker = found.group("reason")
            elif stripped and marker is not None:
                raise AssertionError(f"{name}:{i + 1}: a not-run marker must precede a block")
            i += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        assert j < len(lines), f"{name}:{i + 1}: unclosed code block"
        block = Block(name, i + 1, opening.group("lang").lower(), "\n".join(body) + "\n")
        block.transcript = block.lang == "text" and body[:1] != [] and body[0].startswith("$ ")
        if block.transcript:
            block.text, shown = body[0][2:] + "\n", "\n".join(body[1:]) + "\n"
            block.shown = Block(name, i + 2, "text", shown)
        follows = page.blocks[-1] if page.blocks else None
        adjacent = previous_end is not None and all(
            not s.strip() for s in lines[previous_end + 1 : i]
        )
        if (
            follows is not None
            and adjacent
            and (follows.lang == "bash")
            and block.lang in SHOWN
            and not block.transcript
            and marker is None
        ):
            follows.shown = block
        if marker is not None:
            assert block.lang == "bash" or block.transcript, (
                f"{name}:{i + 1}: a not-run marker must precede a command block"
            )
            block.not_run, marker = marker, None
        page.blocks.append(block)
        previous_end = j
        i = j + 1
    return page


# ---------------------------------------------------------------------------------------
# Comparing shown output with what was printed


NUMBER = r"[-+]?\d[\d,]*(?:\.\d+)?"
BOX_RUNS = re.compile(r"([─━═┄┅┈┉])\1+")


def _normalise(line: str) -> str:
    return BOX_RUNS.sub(r"\1", " ".join(line.split()))


def _numbers_wild(shown: str) -> str:
    """A regular expression for ``shown`` with every number taken as any number."""
    parts = re.split(f"({NUMBER})", shown)
    return "".join(NUMBER if k % 2 else re.escape(part) for k, part in enumerate(parts))


def _line_pattern(line: str) -> re.Pattern[str]:
    return re.compile(_numbers_wild(_normalise(line)))


def text_mismatch(shown: str, printed: str) -> str | None:
    """The first shown line not found (in order) among the printed lines, or None."""
    printed_lines = [_normalise(line) for line in printed.splitlines()]
    at = 0
    for line in shown.splitlines():
        if not line.strip():
            continue
        pattern = _line_pattern(line)
        while at < len(printed_lines) and not pattern.fullmatch(printed_lines[at]):
            at += 1
        if at == len(printed_lines):
            return line
        at += 1
    return None


def _string_pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(_numbers_wild(p) for p in shown.split("…")), re.DOTALL)


def json_matches(shown: Any, printed: Any) -> bool:
    if isinstance(shown, dict):
        return isinstance(printed, dict) and all(
            key in printed and json_matches(value, printed[key]) for key, value in shown.items()
        )
    if isinstance(shown, list):
        return (
            isinstance(printed, list)
            and len(shown) == len(printed)
            and all(json_matches(s, p) for s, p in zip(shown, printed, strict=True))
        )
    if isinstance(shown, bool) or shown is None:
        return shown is printed
    if isinstance(shown, int | float):
        return isinstance(printed, int | float) and not isinstance(printed, bool)
    return isinstance(printed, str) and _string_pattern(shown).fullmatch(printed) is not None


def json_values(printed: str) -> Iterator[Any]:
    """Every JSON object or array printed, in order (curl -s prints them back to back)."""
    decoder = json.JSONDecoder()
    at = 0
    while True:
        starts = [k for k in (printed.find("{", at), printed.find("[", at)) if k >= 0]
        if not starts:
            return
        at = min(starts)
        try:
            value, end = decoder.raw_decode(printed, at)
        except json.JSONDecodeError:
            at += 1
            continue
        yield value
        at = end


def output_mismatch(block: Block, printed: str) -> str | None:
    shown = block.shown
    if shown is None:
        return None
    if shown.lang == "json":
        expected = json.loads(shown.text)
        if any(json_matches(expected, value) for value in json_values(printed)):
            return None
        return f"no JSON printed matches the shown answer ({shown.where})"
    missing = text_mismatch(shown.text, printed)
    if missing is None:
        return None
    return f"this shown line ({shown.where}) was not printed: {missing!r}"


def test_the_comparison_rules():
    assert text_mismatch("score 36 (was 72) · critical", "x\nscore 41 (was 7) · critical\n") is None
    assert text_mismatch("score 36 · critical", "score 41 · monitor") == "score 36 · critical"
    assert text_mismatch("a\nb", "b\na") == "b"  # in order
    assert text_mismatch("│ raw │   0.409 │", "│ raw │ -0.1 │") is None
    assert text_mismatch("┏━━━┓", "┏━━━━━━┓") is None
    shown = {"id": 1, "secret": "whsec_…", "at": "2026-12-06T05:50:00Z", "none": None}
    ok = {"id": 7, "secret": "whsec_abc", "at": "2026-12-07T08:01:02.5Z", "none": None, "x": 1}
    assert json_matches(shown, ok)
    assert not json_matches(shown, {**ok, "none": 0})
    assert not json_matches({"tier": "critical"}, {"tier": "monitor"})
    assert not json_matches([1, 2], [1])
    assert list(json_values('{"a": 1}{"b": [2]}\nnot json [x')) == [{"a": 1}, {"b": [2]}]


def test_blocks_markers_and_shown_output(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\necho one\n```\n\n```text\none\n```\n"  # shown: blank lines between
        "Prose.\n```bash\necho two\n```\nSee:\n```json\n{}\n```\n"  # prose: not shown
        "<!-- not run in CI: a reason -->\n\n```bash\nserve forever\n```\n"
        "```text\n$ healthscore show x   # a transcript\nout\n```\n"
        "   ```sh\n   indented\n   ```\n",
        encoding="utf-8",
    )
    parsed = parse(page, "page.md")
    one, two, forever, transcript = parsed.commands
    assert one.shown is not None and one.shown.text == "one\n" and one.shown.line == 5
    assert two.shown is None and two.line == 9
    assert forever.not_run == "a reason" and forever.text == "serve forever\n"
    assert transcript.text == "healthscore show x   # a transcript\n"
    assert transcript.shown is not None and transcript.shown.text == "out\n"
    assert parsed.blocks[-1].lang == "sh" and parsed.blocks[-1].text == "indented\n"
    dangling = tmp_path / "dangling.md"
    dangling.write_text("<!-- not run in CI: why -->\nProse.\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="must precede a block"):
        parse(dangling, "dangling.md")


# ---------------------------------------------------------------------------------------
# The harness


@dataclass
class Outcome:
    block: Block
    output: str
    error: str | None


SETUP_CHECK_BEFORE = (
    "if command -v healthscore >/dev/null; then\n"
    "  echo 'healthscore is on the PATH before the set-up line'; exit 1\nfi\n"
)
SETUP_CHECK_AFTER = (
    '[[ "$(command -v healthscore)" == */.venv/bin/healthscore ]] ||\n'
    "  { echo 'the set-up line did not put .venv/bin/healthscore on the PATH'; exit 1; }\n"
)
PRELUDE = """set -Eeuo pipefail
exec 2>&1
curl() {  # an HTTP error answer fails the block
  command curl --fail-with-body "$@" ||
    { set -- "$?" "$@"; printf '\n@@docs failed (exit %s): curl %s\n' "$1" "${*:2}"; return "$1"; }
}
trap 'printf "\n@@docs failed (exit %s): %s\n" "$?" "$BASH_COMMAND"' ERR
"""


def page_script(page: Page, setup: Block) -> tuple[str, list[Block]]:
    """The bash script of a page: its runnable blocks, each announced by a marker line."""
    parts = [PRELUDE]
    ran: list[Block] = []
    if page.name != "README.md":
        parts += [SETUP_CHECK_BEFORE, f"# the README's set-up ({setup.where})\n", setup.text]
        parts.append(SETUP_CHECK_AFTER)
    for block in page.commands:
        if block.not_run or (page.name == "README.md" and block is page.commands[0]):
            continue
        if block is setup:
            parts.append(SETUP_CHECK_BEFORE)
        parts.append(f"\necho; echo '@@docs block {len(ran)}@@'\n")
        parts.append(block.text)
        if block is setup:
            parts.append(SETUP_CHECK_AFTER)
        ran.append(block)
    parts.append("\necho; echo '@@docs block end@@'\n")
    return "".join(parts), ran


MARK = re.compile(r"^@@docs block (\d+|end)@@$", re.MULTILINE)
FAILED = re.compile(r"^@@docs failed \(exit (\d+)\): (.*)$", re.MULTILINE)


def run_page(page: Page, setup: Block, cwd: Path, env: dict[str, str]) -> list[Outcome]:
    script, ran = page_script(page, setup)
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        raw, _ = process.communicate(timeout=PAGE_TIMEOUT)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raw, _ = process.communicate()
        timed_out = True
    finally:
        # Whatever a block left running in the background ends with its page.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    printed = raw.decode("utf-8", "replace")
    pieces = MARK.split(printed)
    before, chunks = pieces[0], dict(zip(pieces[1::2], pieces[2::2], strict=True))
    if "0" not in chunks:  # the set-up line itself failed
        return [Outcome(setup, before.strip("\n"), "the README's set-up failed")]
    outcomes: list[Outcome] = []
    for index, block in enumerate(ran):
        output = chunks.get(str(index))
        if output is None:
            break
        finished = str(index + 1) in chunks or (index == len(ran) - 1 and "end" in chunks)
        failed = FAILED.search(output)
        if finished:
            error = output_mismatch(block, output)
        elif failed:
            error = f"exit {failed.group(1)} from: {failed.group(2)}"
        elif timed_out:
            error = f"still running after {PAGE_TIMEOUT} s"
        else:
            error = f"the page's shell ended (exit {process.returncode})"
        outcomes.append(Outcome(block, output.strip("\n"), error))
    return outcomes


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def new_database_url() -> Iterator[str]:
    """An empty PostgreSQL database (a private schema of the test server)."""
    base = _postgres_base_url()
    schema = f"hs_docs_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def docs_environment(tmp: Path, new_database_url: str) -> dict[str, str]:
    path = [
        d
        for d in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep)
        if d and not (Path(d) / "healthscore").exists()
    ]
    for d in ("home", "tmp"):
        (tmp / d).mkdir()
    return {
        "PATH": os.pathsep.join(path),
        "HOME": str(tmp / "home"),
        "TMPDIR": str(tmp / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "TERM": "dumb",
        "COLUMNS": "120",
        "PYTHONUNBUFFERED": "1",
        "NEW_DATABASE_URL": new_database_url,
        **DEMO_SIZE,
    }


@pytest.fixture
def demo_checkout(tmp_path: Path, new_database_url: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """The working directory and environment ``make demo`` leaves a user with, its server
    running on 127.0.0.1:8000."""
    if _port_in_use(PORT):
        message = f"127.0.0.1:{PORT} is in use (a `make demo` server?): the docs serve there"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)  # as the PostgreSQL tests locally; in CI nothing is skipped
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED and not entry.name.startswith("healthscore"):
            (checkout / entry.name).symlink_to(entry)
    env = docs_environment(tmp_path, new_database_url)
    made = subprocess.run(
        [str(HEALTHSCORE), "demo", "--reset", *SETUP_DEMO],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(HEALTHSCORE), "serve"],
        cwd=checkout,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{PORT}/healthz"
                if httpx.get(url, timeout=1, verify=SHARED_TLS).is_success:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "healthscore serve did not start"
            time.sleep(0.1)
        yield checkout, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def report(outcome: Outcome) -> str:
    block = outcome.block
    output = outcome.output if len(outcome.output) < 6000 else "…" + outcome.output[-6000:]
    return f"--- {block.where}: {outcome.error}\n$ {block.text.rstrip()}\n{output}\n"


def test_failures_name_the_block_the_command_and_the_output(tmp_path):
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    setup = parse(ROOT / "README.md").commands[1]
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\nX=kept\necho 'score 41 · critical'\n```\n\n```text\nscore 7 · critical\n```\n"
        "```bash\necho \"$X\"; echo 'score 41 · healthy'\n```\n```text\nscore 1 · critical\n```\n"
        "```bash\necho before; false\necho never\n```\n```bash\necho not reached\n```\n",
        encoding="utf-8",
    )
    outcomes = run_page(parse(page, "page.md"), setup, tmp_path, env)
    assert [o.error for o in outcomes] == [
        None,
        "this shown line (page.md:12) was not printed: 'score 1 · critical'",
        "exit 1 from: false",
    ]
    assert outcomes[1].output.startswith("kept\nscore 41 · healthy")
    assert "before" in outcomes[2].output and "never" not in outcomes[2].output
    assert report(outcomes[2]).startswith("--- page.md:15: exit 1 from: false\n$ echo before")
    down = tmp_path / "down.md"  # nothing listens on port 9: curl's error fails the block
    down.write_text("```bash\ncurl -s http://127.0.0.1:9/x\n```\n", encoding="utf-8")
    (failed,) = run_page(parse(down, "down.md"), setup, tmp_path, env)
    assert failed.error == "exit 7 from: curl -s http://127.0.0.1:9/x"


def test_the_set_up_blocks_and_no_other_shell_label():
    pages = [parse(path) for path in PAGES]
    for page in pages:
        for block in page.blocks:
            assert block.lang not in SHELLS, f"{block.where}: label shell commands ```bash"
    readme = pages[0]
    setup, path_line = readme.commands[0], readme.commands[1]
    assert "make demo" in setup.text and "make test" in setup.text, setup.where
    assert not setup.not_run and not path_line.not_run
    lines = [s for s in path_line.text.splitlines() if s.strip()]
    assert len(lines) == 1, f"{path_line.where}: the PATH set-up is one line"
    not_run = [b.where for page in pages for b in page.commands if b.not_run]
    assert len(not_run) <= MOST_NOT_RUN, f"a handful of blocks not run at most: {not_run}"


# The pages run one after the other, in order, but for two things that keep the test short
# without letting pages meet: docs/backtest.md (the longest) runs beside the others, since
# it only reads the demo data and writes backtests and calibrations, which no other page
# reads; and a page that regenerates the database (`healthscore demo`) runs last.
BESIDE = {"docs/backtest.md"}
REGENERATES = re.compile(r"\bhealthscore demo\b")


@pytest.mark.slow  # a server and dozens of CLI runs: `make test` runs it in its own step
def test_every_command_block_runs_as_written(demo_checkout):
    checkout, env = demo_checkout
    pages = [parse(path) for path in PAGES]
    setup = pages[0].commands[1]
    only = os.environ.get("DOCS_TEST_PAGES")  # e.g. README.md,docs/cases.md while editing
    if only:
        pages = [page for page in pages if page.name in only.split(",")]
    runnable = [p for p in pages if any(not b.not_run for b in p.commands)]
    last = [p for p in runnable if any(REGENERATES.search(b.text) for b in p.commands)]
    beside = [p for p in runnable if p.name in BESIDE and p not in last]
    main = [p for p in runnable if p not in last and p not in beside]
    results: dict[str, tuple[list[Outcome], float]] = {}

    def run(lane: list[Page]) -> None:
        for page in lane:
            started = time.monotonic()
            results[page.name] = run_page(page, setup, checkout, env), time.monotonic() - started

    def backfill_then_run(lane: list[Page]) -> None:
        if lane:
            done = subprocess.run(
                [str(HEALTHSCORE), "backfill", "--days", BACKFILL_DAYS],
                cwd=checkout,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        run(lane)

    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(backfill_then_run, beside)
        run(main)
        other.result()
    run(last)
    failures: list[str] = []
    ran = 0
    for page in runnable:
        outcomes, _ = results[page.name]
        ran += len(outcomes)
        failures += [report(o) for o in outcomes if o.error]
        if os.environ.get("DOCS_TEST_LOG"):  # a file for every block's output, while editing
            with open(os.environ["DOCS_TEST_LOG"], "a", encoding="utf-8") as log:
                log.writelines(report(o) for o in outcomes)
    not_run = [f"{b.where}: {b.not_run}" for p in pages for b in p.commands if b.not_run]
    print(f"ran {ran} command blocks; not run ({len(not_run)}):", *not_run, sep="\n  ")
    print("pages:", ", ".join(f"{name} {took:.1f} s" for name, (_, took) in results.items()))
    assert not failures, f"{len(failures)} command block(s) failed:\n" + "\n".join(failures)
    if "docs/backtest.md" in results:  # the prepared history spared its replays (BACKFILL_DAYS)
        lead_time = json.loads((checkout / "backtest.json").read_text())["lead_time"]
        assert lead_time["source"] == "history", "docs/backtest.md replayed: backfill more days"
