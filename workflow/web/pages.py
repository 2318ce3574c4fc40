"""The server-rendered pages: templates, language, who is signed in, CSRF tokens and flash messages.

Every page needs a signed-in person (else a redirect to the sign-in form); every form that
changes something carries the session's CSRF token; a refused action comes back as the
one-line message of its error, flashed on the page it came from.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from states.errors import NotFound, RectificationError
from states.model import Role
from states.permissions import Actor

from . import access, i18n
from .deps import SESSION_PERSON, AppDep
from .server import status_of, validation_line

HERE = Path(__file__).parent
ZONE = ZoneInfo("Asia/Shanghai")  # how times are shown; the rounds' own zone decides due dates
CSRF_KEY = "csrf"
FLASH_KEY = "flash"


@dataclass(frozen=True)
class Person:
    """Who is signed in, as the pages need them."""

    handle: str
    name: str
    roles: frozenset[Role]

    @property
    def actor(self) -> Actor:
        """The person as the domain knows them."""
        return Actor(self.handle, self.roles)

    @property
    def oversees(self) -> bool:
        """Whether they read everything: the whole history and the refused attempts (leaders, auditors, admins)."""
        return access.oversees(self.actor)


class SignInRequired(Exception):
    """Nobody is signed in; the browser is sent to the sign-in form and back to `next`."""

    def __init__(self, next_url: str):
        super().__init__(next_url)
        self.next_url = next_url


class FormExpired(RectificationError):
    """A form came without this session's CSRF token (stale page, or posted from elsewhere)."""

    def __init__(self) -> None:
        super().__init__("The form has expired: reload the page and try again")


def _local(at: datetime | str | None) -> str:
    """A stored time (UTC; naive taken as UTC; or its ISO text) as local minutes."""
    if not at:
        return ""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(ZONE).strftime("%Y-%m-%d %H:%M")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    kb = n / 1024
    return f"{kb:.1f} KB" if kb < 1024 else f"{kb / 1024:.1f} MB"


@cache
def environment(lang: str) -> Environment:
    """The template environment of one language (one per language: no shared mutable gettext)."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True)
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["local"] = _local
    env.filters["size"] = _size
    env.filters["state"] = partial(i18n.state_label, lang)
    return env


def language(request: Request) -> str:
    """The language this request is answered in."""
    return i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                       request.headers.get("accept-language"))


def gettext_for(request: Request) -> Callable[[str], str]:
    """The translation function of this request's language (for texts made in Python)."""
    return i18n.translations(language(request)).gettext


def state_label_for(request: Request) -> Callable[[str], str]:
    """A state's name in this request's language."""
    return partial(i18n.state_label, language(request))


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    token = request.session.get(CSRF_KEY)
    if not token:
        token = request.session[CSRF_KEY] = secrets.token_urlsafe(24)
    return str(token)


def check_csrf(request: Request, token: str) -> None:
    """Refuse a form whose token is not this session's."""
    expected = request.session.get(CSRF_KEY)
    if not expected or not hmac.compare_digest(str(expected), token or ""):
        raise FormExpired()


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """Leave a one-line message for the next page shown."""
    request.session[FLASH_KEY] = {"kind": kind, "text": text}


def signed_in(request: Request, app: AppDep) -> Person:
    """The signed-in person, or a redirect to the sign-in form."""
    handle = request.session.get(SESSION_PERSON)
    if handle:
        with app.uow(read_only=True) as uow:
            try:
                row = uow.people.row(handle)
            except NotFound:
                row = None
        if row is not None:
            return Person(row.handle, row.name, frozenset(Role(r) for r in row.roles.split(",") if r))
        request.session.pop(SESSION_PERSON, None)
    url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(url)


PersonDep = Annotated[Person, Depends(signed_in)]


def render(request: Request, template: str, *, status: int = 200, person: Person | None = None,
           **context: Any) -> HTMLResponse:
    """A page from its template, in the request's language, with the flash message taken."""
    lang = language(request)
    html = environment(lang).get_template(template).render(
        request=request, lang=lang, person=person, csrf=csrf_token(request),
        flash=request.session.pop(FLASH_KEY, None), path=request.url.path,
        lang_url=lambda to: _with(request, lang=to), **context)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def _with(request: Request, **params: str) -> str:
    """This page's address with some query parameters replaced."""
    return request.url.path + "?" + urlencode({**request.query_params, **params})


def back(url: str) -> RedirectResponse:
    """After a form: back to a page (303, so a reload does not post again)."""
    return RedirectResponse(url, status_code=303)


class PageRoute(APIRoute):
    """A page route: a rectify error is shown as a page with its one-line message, not as JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RectificationError as e:
                return render(request, "error.html", status=status_of(e), message=str(e),
                              person=_maybe_person(request))
            except RequestValidationError as e:  # a hand-made address or form: the same one line as the API
                return render(request, "error.html", status=422, message=validation_line(e.errors()),
                              person=_maybe_person(request))

        return route


def _maybe_person(request: Request) -> Person | None:
    try:
        return signed_in(request, request.app.state.rectify)
    except SignInRequired:
        return None


def page_router() -> APIRouter:
    """A router whose routes answer errors with pages."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)


def install(api: FastAPI) -> None:
    """Add the pages, their static files and the sign-in redirect to the application."""
    from . import pages_audit, pages_auth, pages_dashboard, pages_ledger, pages_measure

    async def _sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    api.add_exception_handler(SignInRequired, _sign_in)
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages_auth, pages_ledger, pages_measure, pages_dashboard, pages_audit):
        api.include_router(module.router)
