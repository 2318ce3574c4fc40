"""What every request handler is given: the wired App, and the person asking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from states.permissions import Actor

from .. import auth
from ..app import App

SESSION_PERSON = "person"  # the key of the signed session cookie that holds who signed in


def get_app(request: Request) -> App:
    """The App this server was started with."""
    app: App = request.app.state.rectify
    return app


def current_actor(request: Request, app: Annotated[App, Depends(get_app)]) -> Actor:
    """The person asking: an `Authorization: Bearer rct_…` API token, or the signed-in session."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return auth.by_token(app, header[7:].strip())
    person = request.session.get(SESSION_PERSON) if "session" in request.scope else None
    if person:
        with app.uow(read_only=True) as uow:
            return uow.people.actor(person)
    raise auth.NotAuthenticated()


AppDep = Annotated[App, Depends(get_app)]
ActorDep = Annotated[Actor, Depends(current_actor)]
