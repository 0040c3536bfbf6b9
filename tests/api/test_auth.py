"""Every route demands a key of the right scope: 401 without a valid key, 403 with the wrong one."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from sqlalchemy import select

from healthscore.api.app import create_app
from healthscore.auth.keys import Scope, authenticate, create_key, revoke_key
from healthscore.settings import Settings
from healthscore.storage import models as m
from healthscore.storage.database import transaction

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/webhooks/stripe")}
ADMIN_ONLY = {
    ("POST", "/api/v1/health-scores/{customer_id}/refresh"),
    ("POST", "/api/v1/playbooks/dry-run"),
    ("DELETE", "/api/v1/customers/{customer_id}"),
    ("GET", "/api/v1/customers/{customer_id}/export"),
}


def needed_scope(method: str, path: str) -> Scope:
    if (method, path) in ADMIN_ONLY:
        return Scope.admin
    return Scope.read if method == "GET" else Scope.ingest


def operations(sqlite_url: str) -> dict[tuple[str, str], str]:
    """Every (method, path) the app serves, from its OpenAPI document, with its operationId."""
    app = create_app(Settings(database_url=sqlite_url))
    paths = app.openapi()["paths"]
    app.state.engine.dispose()
    return {
        (method.upper(), path): operation["operationId"]
        for path, methods in paths.items()
        for method, operation in methods.items()
    }


def protected_routes(sqlite_url: str) -> list[tuple[str, str]]:
    return sorted(route for route in operations(sqlite_url) if route not in PUBLIC)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_the_app_has_the_seed_001_operations(sqlite_url):
    operation_ids = set(operations(sqlite_url).values())
    assert {
        "listHealthScores",
        "getHealthScore",
        "refreshHealthScore",
        "getHealthSummary",
        "submitNpsResponse",
        "listNpsResponses",
        "getNpsSummary",
        "trackEngagement",
        "listEngagementEvents",
        "listOutreachLog",
    } <= operation_ids


def test_every_route_rejects_missing_unknown_and_wrongly_scoped_keys(live_server, sqlite_url):
    routes = protected_routes(sqlite_url)
    assert len(routes) >= 15
    with live_server.client(scope=None) as anonymous:
        for method, path in routes:
            url = concrete(path)
            response = anonymous.request(method, url, json={})
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "unauthorized"
            assert "WWW-Authenticate" in response.headers
            forged = anonymous.request(
                method, url, json={}, headers={"Authorization": "Bearer hs_abc_def"}
            )
            assert forged.status_code == 401, (method, path)
    for method, path in routes:
        needed = needed_scope(method, path)
        for scope in Scope:
            if scope.allows(needed):
                continue
            with live_server.client(scope.value) as client:
                response = client.request(method, concrete(path), json={})
            assert response.status_code == 403, (method, path, scope)
            assert response.json()["error"]["code"] == "forbidden"


def test_keys_work_in_every_transport_and_stop_working_once_revoked(live_server):
    key = live_server.keys["read"]
    basic = base64.b64encode(f"{key}:".encode()).decode()
    with live_server.client(scope=None) as client:
        for headers in (
            {"Authorization": f"Bearer {key}"},
            {"X-API-Key": key},
            {"Authorization": f"Basic {basic}"},
        ):
            assert client.get("/api/v1/health-summary", headers=headers).status_code == 200
        with transaction(live_server.sessions) as session:
            revoke_key(session, key.split("_")[1])
        response = client.get("/api/v1/health-summary", headers={"X-API-Key": key})
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "unknown or revoked API key"


def test_only_a_hash_of_the_key_is_stored(session):
    issued = create_key(session, scope=Scope.ingest, name="segment")
    session.commit()
    row = session.scalars(select(m.ApiKey)).one()
    assert issued.secret not in {row.key_hash, row.prefix, row.name}
    assert issued.secret.startswith(f"hs_{row.prefix}_")
    assert authenticate(session, issued.secret) is not None
    tampered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    assert authenticate(session, tampered) is None


@pytest.mark.parametrize(
    ("scope", "needed", "allowed"),
    [
        (Scope.admin, Scope.read, True),
        (Scope.admin, Scope.ingest, True),
        (Scope.read, Scope.ingest, False),
        (Scope.ingest, Scope.read, False),
        (Scope.read, Scope.admin, False),
    ],
)
def test_admin_keys_may_do_everything_other_scopes_only_their_own(scope, needed, allowed):
    assert scope.allows(needed) is allowed


def test_keys_never_appear_in_logs(live_server, caplog):
    caplog.set_level(logging.DEBUG)
    good, bad = live_server.keys["admin"], live_server.keys["read"] + "x"
    with live_server.client(scope=None) as client:
        client.get("/api/v1/health-summary", headers={"Authorization": f"Bearer {good}"})
        client.get("/api/v1/health-summary", headers={"X-API-Key": bad})
        client.post("/api/v1/nps-responses", json={"score": 99}, headers={"X-API-Key": good})
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "GET /api/v1/health-summary" in logged  # the access log was captured…
    assert good not in logged and bad not in logged  # …without any key


def test_a_key_is_revoked_by_prefix_even_when_the_prefix_is_all_digits(session):
    issued = create_key(session, scope=Scope.read)
    row = session.scalars(select(m.ApiKey)).one()
    row.prefix = "373726579942"  # token_hex can produce only digits
    session.flush()
    assert revoke_key(session, "373726579942").id == issued.id
    other = create_key(session, scope=Scope.read)
    assert revoke_key(session, str(other.id)).prefix == other.prefix
