"""The one way benches run the product: ``healthscore serve`` (and a ``healthscore worker``
when asked) on 127.0.0.1, as a context manager, with the CPU time and memory of every
process it started.

    with BenchServer(url, worker="separate", redis_url=REDIS) as server:
        httpx.get(f"{server.url}/healthz")
        before = server.cpu_seconds()
        ...
        used = server.cpu_seconds() - before  # per role: server, worker

Each server gets a free port, its own queue file (or Redis queue name) and a log file
under its own temporary folder, so benches never share a queue; a process that exits
before answering ``/healthz`` fails the bench with the last lines of its log. ``worker``
is where the job queue runs: ``embedded`` (a thread of ``serve``, as ``make demo`` runs
it), ``separate`` (a ``healthscore worker`` process: the production shape) or ``none``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import httpx

WorkerMode = Literal["embedded", "separate", "none"]
HOST = "127.0.0.1"


def executable() -> str:
    """The ``healthscore`` command of this virtual environment."""
    return str(Path(sys.executable).with_name("healthscore"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (``serve --workers N`` forks N server processes)."""
    found = []
    tasks = Path(f"/proc/{pid}/task")
    try:
        for task in tasks.iterdir():
            for child in (task / "children").read_text().split():
                found.append(int(child))
                found.extend(children(int(child)))
    except OSError:
        pass
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def rss_mib(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on this machine (backends, WAL writer, …)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def stop_processes(processes: list[subprocess.Popen[bytes]], *, timeout: float) -> None:
    """SIGTERM every process still running (a graceful stop), then SIGKILL those not gone
    after ``timeout`` seconds."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class BenchServer:
    """``healthscore serve`` on 127.0.0.1 (``processes`` server processes) with its job
    worker ``embedded``, ``separate`` or ``none``; ``env`` adds or overrides settings."""

    def __init__(
        self,
        database_url: str,
        *,
        worker: WorkerMode = "embedded",
        processes: int = 1,
        redis_url: str | None = None,
        env: dict[str, str] | None = None,
        log_level: str = "WARNING",
        ready_timeout: float = 120,
    ) -> None:
        if worker == "separate" and redis_url is None and processes > 1:
            raise ValueError("a separate worker and several server processes need Redis")
        self.database_url = database_url
        self.worker_mode = worker
        self.processes = processes
        self.redis_url = redis_url
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="hs-bench-"))
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []
        self.env = {
            **os.environ,
            "HEALTHSCORE_DATABASE_URL": database_url,
            "HEALTHSCORE_QUEUE_PATH": str(self.workdir / "queue.db"),
            "HEALTHSCORE_LOG_LEVEL": log_level,
            "HEALTHSCORE_EMBEDDED_WORKER": "true" if worker == "embedded" else "false",
        }
        """The processes' environment: the server and its worker share one queue."""
        if redis_url:
            self.env["HEALTHSCORE_REDIS_URL"] = redis_url
            self.env["HEALTHSCORE_QUEUE_NAME"] = f"bench-{uuid.uuid4().hex[:8]}"
        else:
            self.env.pop("HEALTHSCORE_REDIS_URL", None)
        self.env.update(env or {})

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        self._logs.append(log)
        return subprocess.Popen(
            [executable(), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def _log_tail(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> BenchServer:
        serve = ["serve", "--host", HOST, "--port", str(self.port)]
        if self.processes > 1:
            serve += ["--workers", str(self.processes)]
        self.server = self._spawn("server", serve)
        if self.worker_mode == "separate":
            self.worker = self._spawn("worker", ["worker"])
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        with httpx.Client(timeout=5) as probe:  # one client: httpx builds TLS for each
            self._wait_ready(probe)

    def _wait_ready(self, probe: httpx.Client) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            for name, process in (("server", self.server), ("worker", self.worker)):
                if process is not None and process.poll() is not None:
                    message = (
                        f"healthscore {name} exited with {process.returncode} before the "
                        f"server answered:\n{self._log_tail(name)}"
                    )
                    self.stop()
                    raise SystemExit(message)
            try:
                if probe.get(f"{self.url}/healthz").is_success:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                message = (
                    f"no answer from {self.url}/healthz within {self.ready_timeout:.0f} s:\n"
                    f"{self._log_tail('server')}"
                )
                self.stop()
                raise SystemExit(message)
            time.sleep(0.1)

    def pids(self) -> dict[str, list[int]]:
        """The processes by role, children included (``serve --workers N``)."""
        roles: dict[str, list[int]] = {"server": [], "worker": []}
        for role, process in (("server", self.server), ("worker", self.worker)):
            if process is not None and process.poll() is None:
                roles[role] = [process.pid, *children(process.pid)]
        return roles

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by the server processes and the separate worker."""
        return {role: cpu_seconds(pids) for role, pids in self.pids().items()}

    def rss_mib(self, *roles: str) -> float:
        """Resident memory of the processes of ``roles`` (default: server and worker)."""
        return sum(
            rss_mib(pids) for role, pids in self.pids().items() if not roles or role in roles
        )

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL after 30 s; the temporary folder goes."""
        stop_processes([p for p in (self.server, self.worker) if p is not None], timeout=30)
        self.server = self.worker = None
        for log in self._logs:
            log.close()
        self._logs = []
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
