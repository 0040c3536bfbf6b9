"""The FastAPI application factory used by ``healthscore serve``."""

from __future__ import annotations

from fastapi import FastAPI

from healthscore import __version__


def create_app() -> FastAPI:
    app = FastAPI(title="healthscore", version=__version__)

    @app.get("/healthz", operation_id="liveness", tags=["operations"])
    def liveness() -> dict[str, str]:
        """Liveness: the process is up (no dependencies checked)."""
        return {"status": "ok"}

    return app
