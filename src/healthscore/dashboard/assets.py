"""The dashboard's static files: where they are, their version, and the favicon."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
STATIC_VERSION = hashlib.sha256(
    b"".join(p.read_bytes() for p in sorted(STATIC_DIR.glob("*")) if p.is_file())
).hexdigest()[:10]
"""Appended to static URLs so a new release never runs against a cached old script."""


@router.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it regardless; answer with the logo instead of a 404 in the console."""
    return Response(
        (STATIC_DIR / "favicon.svg").read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )
