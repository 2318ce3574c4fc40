"""The ASGI application: API routers, web pages, sessions, and errors mapped to HTTP statuses.

Errors carry the same one-line messages as the CLI: NotFound → 404, PermissionDenied → 403,
TransitionRefused and ConcurrentUpdate → 409, bad input → 422, not signed in → 401; never a 500
for bad input. Every error body is `{"detail": one line, "error": class name}`, request validation
included (FastAPI's list of errors becomes its first error as a line, "and N more"). A database that
does not answer (restarted, connection dropped, disk full or read-only) is 503 with `Retry-After`.
"""

from __future__ import annotations

import errno
import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
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
from storage.blobs import EvidenceDamaged

from .. import auth
from ..app import App
from .idempotency import KeyInUse

STATUS: list[tuple[type[RectificationError], int]] = [
    (auth.NotAuthenticated, 401),
    (NotFound, 404),
    (PermissionDenied, 403),
    (ConcurrentUpdate, 409),
    (KeyInUse, 409),
    (TransitionRefused, 409),
    (InvalidInput, 422),
    (InvalidPlan, 422),
    (EvidenceDamaged, 410),  # a kept file that is missing or altered: gone, not a server crash
]
RETRY_AFTER_S = 2  # a restarted PostgreSQL answers again within a second or two
UNAVAILABLE = ("the database is unavailable right now; try again in a few seconds (a command with the same "
               "Idempotency-Key is never applied twice)")
NO_DISK = "the server cannot store files right now (its disk is full or read-only); nothing was changed; try later"
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}

log = logging.getLogger(__name__)


def status_of(error: RectificationError) -> int:
    """The HTTP status for a rectify error."""
    return next((code for cls, code in STATUS if isinstance(error, cls)), 400)


def validation_line(errors: Any) -> str:
    """FastAPI's validation errors as one line: where, what, and how many more."""
    errors = list(errors)
    if not errors:
        return "the request is not valid"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
    where = ".".join(loc).replace(".[", "[") or "request"
    msg = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        msg = "this field is required"
    elif first.get("type") == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {msg}{more}"


def create_app(app: App, *, session_secret: str | None = None) -> FastAPI:
    """The web application over `app` (its database, clock and evidence store)."""
    api = FastAPI(title="rectify", version="0.1.0",
                  description="Rectification (整改) after an inspection: measures, their ledger, verified "
                              "close-outs and an audit trail.")
    api.state.rectify = app
    api.state.tokens = auth.TokenCache()
    api.add_middleware(SessionMiddleware, secret_key=session_secret or secrets.token_urlsafe(32),
                       same_site="lax", https_only=False)

    @api.exception_handler(RectificationError)
    async def _rectify_error(request: Request, exc: RectificationError) -> Response:
        code = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=code, headers=headers)

    @api.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"detail": validation_line(exc.errors()), "error": "InvalidInput"}, status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not request.url.path.startswith("/api"):
            return await http_exception_handler(request, exc)  # the pages keep their own ways
        if exc.status_code == 400:  # a body that cannot even be parsed is bad input like any other
            return JSONResponse({"detail": f"request body: {str(exc.detail).rstrip('.')}", "error": "InvalidInput"},
                                status_code=422)
        return JSONResponse({"detail": str(exc.detail), "error": "HTTPError"}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @api.exception_handler(DBAPIError)
    @api.exception_handler(PoolTimeout)
    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        # OperationalError and InterfaceError are the driver saying the database does not answer; any other
        # driver error on a connection that broke is the same outage. Everything else is a bug: the usual 500.
        outage = isinstance(exc, OperationalError | InterfaceError | PoolTimeout) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated)
        if not outage:
            raise exc
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path, cause[0] if cause else exc)
        return JSONResponse({"detail": UNAVAILABLE, "error": "DatabaseUnavailable"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    @api.exception_handler(OSError)
    async def _disk_unavailable(request: Request, exc: OSError) -> Response:
        # evidence files are kept before the transaction opens, so a full or read-only disk fails the command
        # whole; any other OS error is a bug: the usual 500
        if exc.errno not in DISK_ERRORS:
            raise exc
        log.warning("%s %s: cannot store files: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": NO_DISK, "error": "StorageUnavailable"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (a load balancer's restart check; the database is not asked)."""
        return {"status": "ok"}

    @api.get("/readyz", include_in_schema=False)
    def readyz() -> dict[str, str]:
        """Readiness: the database answers a query, so requests can be served; 503 (as any outage) if not."""
        with app.uow(read_only=True) as uow:
            uow.session.connection().exec_driver_sql("SELECT 1")
        return {"status": "ok", "database": "ok"}

    from . import routes

    routes.install(api)
    return api
