"""Live updates: a server-sent event stream per open page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from healthscore.dashboard import auth, live
from healthscore.dashboard.pages import harden

router = APIRouter(include_in_schema=False)


@router.get("/events")
async def events(request: Request) -> Response:
    """Server-sent events: ``scores-changed`` whenever accounts are rescored here."""
    user = await run_in_threadpool(auth.current_user, request)
    if user is None:
        return harden(Response("sign in first\n", status_code=401, media_type="text/plain"))
    broadcaster: live.Broadcaster = request.app.state.broadcaster
    return StreamingResponse(
        live.event_stream(
            broadcaster,
            request.is_disconnected,
            last_event_id=request.headers.get("last-event-id"),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
