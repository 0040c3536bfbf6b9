"""bench.server: every bench starts the product through BenchServer, which must answer
on its own port, account for its processes' CPU and memory, and leave nothing behind."""

from __future__ import annotations

import httpx
import pytest
from bench.server import BenchServer


def test_a_bench_server_answers_reports_its_processes_and_stops_cleanly(sqlite_url):
    server = BenchServer(sqlite_url, worker="none")
    with server:
        assert httpx.get(f"{server.url}/healthz").is_success
        pids = server.pids()
        assert len(pids["server"]) == 1 and pids["worker"] == []
        assert server.cpu_seconds()["server"] > 0
        assert server.rss_mib("server") > 10
        assert server.workdir.is_dir()
    assert server.server is None and not server.workdir.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/healthz")
