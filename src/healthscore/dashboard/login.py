"""Signing in with an API key and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from healthscore.auth.keys import authenticate
from healthscore.dashboard import auth
from healthscore.dashboard.pages import FormFields, error, redirect, render, root, safe_next

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in page; already signed-in visitors go straight on."""
    if auth.current_user(request) is not None:
        return redirect(safe_next(next))
    return render(request, "login.html", {"next": safe_next(next), "error": None}, user=None)


@router.post("/login")
def login(request: Request, form: FormFields) -> Response:
    """Exchange a read- or admin-scope API key for a session cookie."""
    presented = form.get("key", "").strip()
    target = safe_next(form.get("next"))
    with request.app.state.sessions() as session:
        info = authenticate(session, presented) if presented else None
    problem, status = None, 200
    if info is None:
        problem, status = "That key is unknown or revoked. Check it and try again.", 401
    elif info.scope not in auth.DASHBOARD_SCOPES:
        problem = (
            f"This key has scope “{info.scope.value}”. The dashboard needs a read or admin key."
        )
        status = 403
    if problem is not None:
        context = {"next": target, "error": problem}
        return render(request, "login.html", context, user=None, status=status)
    assert info is not None
    response = redirect(target)
    auth.start_session(request, response, info.id)
    return response


@router.get("/logout")
def logout_form(request: Request) -> Response:
    """Signing out is a POST (a link must not do it); this page offers the button."""
    user = auth.current_user(request)
    if user is None:
        return redirect(f"{root(request)}/login")
    return render(request, "logout.html", {}, user=user)


@router.post("/logout")
def logout(request: Request, form: FormFields) -> Response:
    user = auth.current_user(request)
    if user is not None and not auth.csrf_ok(user, form.get("csrf")):
        return error(request, user, 403, "Form expired", "Reload the page and try again.")
    response = redirect(f"{root(request)}/login")
    auth.end_session(request, response)
    return response
