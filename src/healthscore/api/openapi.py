"""What the OpenAPI document says that depends on this server's configuration.

The request models are static; a few of their rules come from the configuration the
server runs with, so the document is completed here once, when first asked for:
``createOverride``'s ``target`` lists the targets of the active scorecard (``score`` and
its signals), which is exactly what the operation accepts.

Parameters in a URL or a header are left out or given: FastAPI documents an optional one
as ``anyOf: [X, null]``, but no URL can carry a JSON null, so the document says ``X``.
A read (``GET``) never answers 409 (a conflict is a write's) nor 415 (only writes have
their body's media type checked, ``api.json_bodies``): the answers every operation may
give (``api.errors.COMMON_RESPONSES``) are listed for reads without them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from healthscore.csm.overrides import targets
from healthscore.scoring.scorecard import Scorecard

WRITES_ONLY = ("409", "415")


SEGMENT = "/v1/"
"""The prefix of Segment's HTTP Tracking API routes (``api.routes.segment``)."""


def document(app: FastAPI, scorecard: Scorecard) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        paths = schema.get("paths", {})
        # Segment's routes are matched first (api.app) but documented last, as before.
        schema["paths"] = {
            **{path: ops for path, ops in paths.items() if not path.startswith(SEGMENT)},
            **{path: ops for path, ops in paths.items() if path.startswith(SEGMENT)},
        }
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                for parameter in operation.get("parameters", []):
                    _not_null(parameter["schema"])
                if method == "get":
                    for status in WRITES_ONLY:
                        operation["responses"].pop(status, None)
        override = schema.get("components", {}).get("schemas", {}).get("OverrideIn")
        if override is not None:
            override["properties"]["target"]["enum"] = targets(scorecard)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _not_null(schema: dict[str, Any]) -> None:
    """``anyOf: [X, null]`` as ``X`` (keeping the title, description and default)."""
    branches = schema.get("anyOf")
    if not branches or {"type": "null"} not in branches:
        return
    rest = [branch for branch in branches if branch != {"type": "null"}]
    del schema["anyOf"]
    if len(rest) == 1:
        schema.update(rest[0])
    else:
        schema["anyOf"] = rest
    if schema.get("default", ...) is None:
        del schema["default"]
