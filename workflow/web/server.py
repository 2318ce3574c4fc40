"""The ASGI application: API routers, web pages, sessions, and errors mapped to HTTP statuses.

Errors carry the same one-line messages as the CLI: NotFound → 404, PermissionDenied → 403,
TransitionRefused and ConcurrentUpdate → 409, bad input → 422, not signed in → 401; never a 500
for bad input.
"""

from __future__ import annotations

import secrets

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from states.errors import (
    ConcurrentUpdate,
    InvalidInput,
    InvalidPlan,
    NotFound,
    PermissionDenied,
    RectificationError,
    TransitionRefused,
)

from .. import auth
from ..app import App

STATUS: list[tuple[type[RectificationError], int]] = [
    (auth.NotAuthenticated, 401),
    (NotFound, 404),
    (PermissionDenied, 403),
    (ConcurrentUpdate, 409),
    (TransitionRefused, 409),
    (InvalidInput, 422),
    (InvalidPlan, 422),
]


def status_of(error: RectificationError) -> int:
    """The HTTP status for a rectify error."""
    return next((code for cls, code in STATUS if isinstance(error, cls)), 400)


def create_app(app: App, *, session_secret: str | None = None) -> FastAPI:
    """The web application over `app` (its database, clock and evidence store)."""
    api = FastAPI(title="rectify", version="0.1.0",
                  description="Rectification (整改) after an inspection: measures, their ledger, verified "
                              "close-outs and an audit trail.")
    api.state.rectify = app
    api.add_middleware(SessionMiddleware, secret_key=session_secret or secrets.token_urlsafe(32),
                       same_site="lax", https_only=False)

    @api.exception_handler(RectificationError)
    async def _rectify_error(request: Request, exc: RectificationError) -> Response:
        code = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=code, headers=headers)

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from . import routes

    routes.install(api)
    return api
