"""The apps of one process share their prepared routes, and nothing else: each serves its
own database, keys and dashboard (``api.app._shared_routes``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from healthscore.api.app import create_app
from healthscore.auth.keys import Scope, create_key
from healthscore.settings import Settings
from healthscore.storage.database import make_engine, make_sessionmaker, transaction
from tests.fixtures.server import SHARED_TLS, free_port, run_server


def _admin_key(url: str) -> str:
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        secret = create_key(session, scope=Scope.admin, name="test").secret
    engine.dispose()
    return secret


def test_two_apps_in_one_process_share_routes_and_serve_their_own_databases(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    urls, keys, apps, servers = [], [], [], []
    for name in ("a", "b"):
        shutil.copy(_sqlite_template, tmp_path / f"{name}.db")
        urls.append(f"sqlite:///{tmp_path / name}.db")
        keys.append(_admin_key(urls[-1]))
        settings = Settings(
            database_url=urls[-1],
            queue_path=str(tmp_path / f"{name}-queue.db"),
            redis_url=None,
            embedded_worker=False,
        )
        apps.append(create_app(settings))
    first, second = apps
    shared = [route for route in first.router.routes if route in second.router.routes]
    assert len(shared) >= 15  # the API's 14 routers and the dashboard's, the same objects
    try:
        for app in apps:
            port = free_port()
            servers.append((run_server(app, port), f"http://127.0.0.1:{port}"))
        (_, url_a), (_, url_b) = servers
        a = httpx.Client(base_url=url_a, verify=SHARED_TLS, timeout=30)
        b = httpx.Client(base_url=url_b, verify=SHARED_TLS, timeout=30)
        with a, b:
            admin_a = {"Authorization": f"Bearer {keys[0]}"}
            admin_b = {"Authorization": f"Bearer {keys[1]}"}
            created = a.put("/api/v1/customers/acme", json={"name": "Acme"}, headers=admin_a)
            assert created.status_code == 200, created.text
            assert a.get("/api/v1/customers/acme", headers=admin_a).json()["name"] == "Acme"
            assert b.get("/api/v1/customers/acme", headers=admin_b).status_code == 404
            assert b.get("/api/v1/customers", headers=admin_a).status_code == 401
            assert a.get("/api/v1/customers", headers=admin_a).json()["total"] == 1
            assert b.get("/api/v1/customers", headers=admin_b).json()["total"] == 0
            assert b.get("/login").status_code == 200  # the dashboard, served by each
    finally:
        for (server, thread), _ in servers:
            server.should_exit = True
            thread.join(timeout=10)
        for app in apps:
            app.state.engine.dispose()
