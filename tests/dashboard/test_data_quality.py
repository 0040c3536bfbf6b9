"""The data-quality page over HTTP against a live server, on both databases: every
count it shows is the API's (and so ``healthscore doctor``'s) for the same question."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from typer.testing import CliRunner

from healthscore.cli.main import app
from tests.dashboard.test_pages import metric, sign_in
from tests.fixtures.server import SHARED_TLS
from tests.quality.planted import EXPECTED, HOSTILE, plant


def page(server: Any, path: str = "/data-quality") -> str:
    client = sign_in(server)
    try:
        response = client.get(path)
    finally:
        client.close()
    assert response.status_code == 200, response.text
    return response.text


def test_the_page_needs_a_session(live_server: Any) -> None:
    with httpx.Client(verify=SHARED_TLS, base_url=live_server.url) as anonymous:
        response = anonymous.get("/data-quality")
    assert response.status_code == 303
    assert urlparse(response.headers["location"]).path == "/login"


def test_the_page_is_in_the_nav_and_says_a_clean_base_is_clean(live_server: Any) -> None:
    text = page(live_server, "/")
    assert 'href="/data-quality"' in text
    text = page(live_server)
    assert '<a href="/data-quality" aria-current="page">Data quality</a>' in text
    assert 'data-clean="true"' in text
    for code in EXPECTED:
        assert metric(text, code) == "0"


def test_the_page_the_api_and_the_cli_agree(
    live_server: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant(live_server)
    text = page(live_server)
    with live_server.client("read") as api:
        served = api.get("/api/v1/data-quality").json()
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", db_url)
    printed = json.loads(CliRunner().invoke(app, ["doctor", "--json"]).stdout)
    shown = {code: int(metric(text, code).replace(",", "")) for code in EXPECTED}
    assert shown == {f["code"]: f["count"] for f in served["findings"]} == EXPECTED
    assert shown == {f["code"]: f["count"] for f in printed["findings"]}
    assert 'data-clean="false"' in text
    assert metric(text, "actions") == "6"

    # The evidence: accounts link to their page, hostile text stays text.
    row = re.search(r'<tr data-customer-id="acme">(.*?)</tr>', text, re.S)
    assert row is not None
    assert 'href="/accounts/acme"' in row.group(1)
    assert 'data-users="2"' in row.group(1) and 'data-events="4"' in row.group(1)
    assert "&lt;b&gt;intruder&lt;/b&gt;" in row.group(1) and "<b>intruder" not in text
    assert html.escape(HOSTILE) in text and HOSTILE not in text
    assert 'data-account-key="ghost"' in text
    for code in EXPECTED:
        assert f'id="{code}"' in text  # a section with the evidence of each finding


def test_the_window_comes_from_the_query_and_bad_values_fall_back(live_server: Any) -> None:
    assert metric(page(live_server, "/data-quality?days=7"), "window-days") == "7"
    assert metric(page(live_server, "/data-quality?days=abc"), "window-days") == "30"
    assert metric(page(live_server, "/data-quality?days=9999"), "window-days") == "30"
