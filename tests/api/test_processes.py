"""``healthscore serve --workers N``: one listening socket per process on the same port, so
the kernel spreads a burst of new connections over all of them; a stop stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import SHARED_TLS, free_port

pytestmark = pytest.mark.slow  # processes of its own: `make test` runs it in its own step

BIN = Path(sys.executable).parent
CONNECTIONS = 60


def tcp_entries(port: int) -> list[tuple[str, int]]:
    """(state, socket inode) of every IPv4 TCP socket whose local port is ``port``."""
    entries = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            entries.append((fields[3], int(fields[9])))
    return entries


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_each_process_listens_itself_and_a_burst_of_connections_is_spread(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "HEALTHSCORE_DATABASE_URL": f"sqlite:///{tmp_path / 'hs.db'}",
        "HEALTHSCORE_QUEUE_PATH": str(tmp_path / "queue.db"),
        "HEALTHSCORE_EMBEDDED_WORKER": "false",
        "HEALTHSCORE_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [BIN / "healthscore", "serve", "--port", str(port), "--workers", "2"], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while (
            len(children(server.pid)) < 2
            or sum(state == "0A" for state, _ in tcp_entries(port)) < 2
        ):
            assert time.monotonic() < deadline, "two listening processes did not start"
            assert server.poll() is None
            time.sleep(0.1)
        # Two listening sockets (uvicorn's own --workers shares a single one).
        assert sum(state == "0A" for state, _ in tcp_entries(port)) == 2

        # A burst of keep-alive connections, all open at once, as a load balancer's pool.
        clients = [
            httpx.Client(base_url=f"http://127.0.0.1:{port}", verify=SHARED_TLS)
            for _ in range(CONNECTIONS)
        ]
        try:
            assert all(c.get("/healthz").status_code == 200 for c in clients)
            entries = tcp_entries(port)
            listening = {inode for state, inode in entries if state == "0A"}
            established = {inode for state, inode in entries if state == "01"}
            servers = [pid for pid in children(server.pid) if socket_inodes(pid) & listening]
            assert len(servers) == 2  # one listening socket each
            per_process = [len(socket_inodes(pid) & established) for pid in servers]
            assert sum(per_process) == CONNECTIONS
            # Hashed over two sockets: each gets about half (fewer than 15 of 60: p < 1e-4).
            assert min(per_process) >= 15, per_process
        finally:
            for client in clients:
                client.close()

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not [state for state, _ in tcp_entries(port) if state == "0A"]
        with socket.socket() as probe:  # the port is free again
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_busy_port_stops_serve_with_an_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [BIN / "healthscore", "serve", "--port", str(port), "--workers", "2"],
            env={
                **os.environ,
                "HEALTHSCORE_DATABASE_URL": f"sqlite:///{tmp_path / 'hs.db'}",
                "HEALTHSCORE_QUEUE_PATH": str(tmp_path / "queue.db"),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0
    assert "Address already in use" in result.stdout + result.stderr
