"""The FastAPI application factory used by ``healthscore serve`` and the tests."""

from __future__ import annotations

from fastapi import FastAPI

from healthscore import __version__
from healthscore.api.errors import install_error_handlers
from healthscore.api.limits import BodySizeLimit
from healthscore.api.routes import customers, engagement, nps, outreach, scores
from healthscore.scoring.scorecard import load_scorecard
from healthscore.settings import Settings, scorecard_location
from healthscore.storage.database import make_engine, make_sessionmaker, upgrade

DESCRIPTION = """Customer health scores for customer-success teams.

Authenticate with an API key (`healthscore keys create --scope read|ingest|admin`) sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`. Errors always have the shape
`{"error": {"status", "code", "message", "details": [{"field", "message"}]}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    if settings.migrate_on_start:
        upgrade(engine)
    app = FastAPI(title="healthscore", version=__version__, description=DESCRIPTION)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.scorecard = load_scorecard(scorecard_location(settings.scorecard))
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)

    @app.get("/healthz", operation_id="liveness", tags=["operations"])
    def liveness() -> dict[str, str]:
        """Liveness: the process is up (no dependencies checked, no key needed)."""
        return {"status": "ok"}

    for module in (scores, nps, engagement, outreach, customers):
        app.include_router(module.router)
    return app
