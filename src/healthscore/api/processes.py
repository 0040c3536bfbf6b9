"""``healthscore serve --workers N``: N uvicorn processes, each with its own listening
socket on the same port (``SO_REUSEPORT``), so the kernel spreads new connections evenly.

uvicorn's own ``--workers`` shares one socket among its processes, and a burst of new
connections (a load balancer's pool, a benchmark's clients) goes to whichever process
wakes first: measured here, 40 keep-alive connections split 39:1, and that process
saturated its core while the other idled. With one socket per process the kernel hashes
each connection to one of them.

The parent only starts, watches and stops its children: a child that dies is replaced; a
child that fails before serving (bad settings, port taken) stops everything, as uvicorn
does; SIGINT/SIGTERM stop the children gracefully.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger(__name__)
APP = "healthscore.api.app:create_app"


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _serve_one(host: str, port: int, options: dict[str, Any]) -> None:
    """One child: its own socket, one uvicorn server."""
    try:
        sock = listening_socket(host, port)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", host, port, error)
        raise SystemExit(STARTUP_FAILURE) from error
    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def serve_processes(host: str, port: int, processes: int, **options: Any) -> None:
    """Run ``processes`` servers until SIGINT/SIGTERM (or one fails to start)."""
    # Held, never listened on: claims the port (a busy port fails here, once) and keeps
    # it ours while a child is replaced. Only listening sockets receive connections.
    try:
        claim = listening_socket(host, port)
    except OSError as error:
        raise SystemExit(f"cannot listen on {host}:{port}: {error.strerror}") from error
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start() -> BaseProcess:
        child = context.Process(target=_serve_one, args=(host, port, options), daemon=False)
        child.start()
        return child

    children = [start() for _ in range(processes)]
    try:
        while not stopping:
            time.sleep(0.5)
            for index, child in enumerate(children):
                if child.is_alive() or stopping:
                    continue
                if child.exitcode == STARTUP_FAILURE:
                    log.error("server process %s failed to start; stopping", child.pid)
                    stopping = True
                    break
                log.warning(
                    "server process %s exited (%s); replacing it", child.pid, child.exitcode
                )
                children[index] = start()
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: uvicorn finishes its requests and exits
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
                child.join()
        claim.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if any(child.exitcode == STARTUP_FAILURE for child in children):
        raise SystemExit(STARTUP_FAILURE)
