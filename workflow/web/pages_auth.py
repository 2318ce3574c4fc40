"""Signing in and out of the web pages (a password; the session cookie then says who it is)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response

from .. import auth
from .deps import SESSION_PERSON, AppDep
from .pages import back, check_csrf, flash, gettext_for, page_router, render

router = page_router()


def _safe_next(url: str | None) -> str:
    """Only a path on this site (never `//elsewhere` or a full URL) is followed after signing in."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form."""
    return render(request, "login.html", next=_safe_next(next), handle="", error=None)


@router.post("/login")
def login(request: Request, app: AppDep, csrf: Annotated[str, Form()] = "", handle: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    """Check the password; on success the session remembers the person (a fresh session: no fixation)."""
    check_csrf(request, csrf)
    try:
        actor = auth.by_password(app, handle.strip(), password)
    except auth.NotAuthenticated:
        _ = gettext_for(request)
        return render(request, "login.html", status=401, next=_safe_next(next), handle=handle,
                      error=_("用户名或密码不正确"))
    request.session.clear()
    request.session[SESSION_PERSON] = actor.handle
    return back(_safe_next(next))


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Forget who is signed in."""
    check_csrf(request, csrf)
    _ = gettext_for(request)
    request.session.clear()
    flash(request, _("已退出登录"))
    return back("/login")
