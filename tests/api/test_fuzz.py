"""Schemathesis against the live server's own /openapi.json: every operation, a valid key.

Generated requests (valid and invalid) must never produce a 5xx, and every answer must
match the schema the API publishes (status code, content type, body).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from healthscore.ingest.demo import generate_demo
from healthscore.storage.database import transaction

pytestmark = pytest.mark.slow  # a minute of generated requests: `make test` runs it in its own step

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 25


def test_no_operation_fails_or_breaks_its_published_schema(live_server):
    with transaction(live_server.sessions) as session:
        generate_demo(session, customers=5, days=10, seed=2, now=datetime.now(UTC))
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {live_server.keys['admin']}"}
    cases = 0
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same requests every run: CI stays reproducible
        )
        def call(case) -> None:
            nonlocal cases
            cases += 1
            case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS)

        call()
    assert operations >= 25
    assert cases >= operations * 5
    print(f"schemathesis: {operations} operations, {cases} generated requests")
