"""What every request handler is given: the wired App, and the person asking."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from states.permissions import Actor

from .. import auth
from ..app import App

SESSION_PERSON = "person"  # the key of the signed session cookie that holds who signed in


def get_app(request: Request) -> App:
    """The App this server was started with, with a request id of this request's own (the history and
    the access log record it)."""
    app: App = request.app.state.rectify
    return replace(app, request_id=uuid.uuid4().hex[:16])


def current_actor(request: Request, app: Annotated[App, Depends(get_app)]) -> Actor:
    """The person asking: an `Authorization: Bearer rct_…` API token, or the signed-in session."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        cache: auth.TokenCache | None = getattr(request.app.state, "tokens", None)
        token = header[7:].strip()
        return cache.actor(app, token) if cache is not None else auth.by_token(app, token)
    person = request.session.get(SESSION_PERSON) if "session" in request.scope else None
    if person:
        with app.uow(read_only=True) as uow:
            return uow.people.actor(person)
    raise auth.NotAuthenticated()


AppDep = Annotated[App, Depends(get_app)]
ActorDep = Annotated[Actor, Depends(current_actor)]
