"""Dashboard sign-in: an API key (read or admin scope) exchanged for a signed session cookie.

The cookie holds only the key's id and a random nonce, signed with ``itsdangerous``; the
key itself never leaves the login form. Every request re-checks the key row, so revoking
a key (``healthscore keys revoke``) ends its dashboard sessions at once. The CSRF token is
an HMAC of the session nonce: tied to one session, nothing to store server-side.

Without ``HEALTHSCORE_SESSION_SECRET`` a random secret is made per process: sessions end
on restart and do not carry across several server processes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from healthscore.auth.keys import live_key
from healthscore.auth.scopes import Scope

COOKIE = "hs_session"
MAX_AGE = 12 * 60 * 60
"""Seconds a sign-in lasts; a working day, then the key is asked for again."""
DASHBOARD_SCOPES = (Scope.read, Scope.admin)

log = logging.getLogger(__name__)
_lock = threading.Lock()


@dataclass(frozen=True)
class DashboardUser:
    """Who is looking: the API key they signed in with, and their CSRF token."""

    key_id: int
    key_name: str
    key_prefix: str
    scope: Scope
    csrf_token: str

    @property
    def can_edit(self) -> bool:
        """Writes (outreach changes, refresh) need an admin key, as in the API."""
        return self.scope is Scope.admin


class SessionSigner:
    """Signs and verifies session cookies and derives CSRF tokens from one secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._serializer = URLSafeTimedSerializer(secret, salt="healthscore.dashboard.session")

    def issue(self, key_id: int) -> str:
        return self._serializer.dumps({"k": key_id, "n": secrets.token_urlsafe(18)})

    def read(self, cookie: str) -> tuple[int, str] | None:
        """``(key id, nonce)`` from a genuine, unexpired cookie; None otherwise."""
        try:
            data: Any = self._serializer.loads(cookie, max_age=MAX_AGE)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        key_id, nonce = data.get("k"), data.get("n")
        if not isinstance(key_id, int) or not isinstance(nonce, str):
            return None
        return key_id, nonce

    def csrf_token(self, nonce: str) -> str:
        return hmac.new(self._secret, f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def signer(request: Request) -> SessionSigner:
    """The app's signer, made on first use from settings (or a per-process random secret)."""
    state = request.app.state
    existing: SessionSigner | None = getattr(state, "session_signer", None)
    if existing is not None:
        return existing
    with _lock:
        existing = getattr(state, "session_signer", None)
        if existing is None:
            secret = getattr(state.settings, "session_secret", None)
            if not secret:
                log.warning(
                    "HEALTHSCORE_SESSION_SECRET is not set: using a random per-process secret; "
                    "dashboard sessions end on restart and fail across several processes"
                )
                secret = secrets.token_urlsafe(32)
            existing = SessionSigner(secret)
            state.session_signer = existing
    return existing


def current_user(request: Request) -> DashboardUser | None:
    """The signed-in user, or None (no cookie, bad signature, expired, key revoked)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    session_signer = signer(request)
    parsed = session_signer.read(cookie)
    if parsed is None:
        return None
    key_id, nonce = parsed
    with request.app.state.sessions() as session:
        key = live_key(session, key_id)
    if key is None or key.scope not in DASHBOARD_SCOPES:
        return None
    return DashboardUser(
        key_id=key.id,
        key_name=key.name,
        key_prefix=key.prefix,
        scope=key.scope,
        csrf_token=session_signer.csrf_token(nonce),
    )


def csrf_ok(user: DashboardUser, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(user.csrf_token, presented or "")


def start_session(request: Request, response: Response, key_id: int) -> None:
    """Set the session cookie: httponly, SameSite=Lax, Secure when served over https."""
    response.set_cookie(
        COOKIE,
        signer(request).issue(key_id),
        max_age=MAX_AGE,
        path=_cookie_path(request),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE,
        path=_cookie_path(request),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _cookie_path(request: Request) -> str:
    root: str = request.scope.get("root_path", "") or ""
    return root.rstrip("/") + "/"
