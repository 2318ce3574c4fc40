"""What the API tests share: tokens for the small plan's people, a live server on a loopback port.

Kept free of pytest fixtures so that test modules and benchmarks can import it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from workflow.app import App
from workflow.auth import create_token

from ..support import PEOPLE


def make_tokens(app: App) -> dict[str, str]:
    """An API token for each person of the small plan."""
    return {p: create_token(app, p, "tests") for p in PEOPLE}


def on_database(request: Any, make_app: Callable[..., App], db_url: str) -> tuple[App, dict[str, str]]:
    """The small plan with a token per person: the per-test SQLite copy, or made afresh on PostgreSQL."""
    if "://" not in db_url or db_url.startswith("sqlite"):
        return request.getfixturevalue("app"), request.getfixturevalue("tokens")
    app = make_app(db_url)
    return app, make_tokens(app)


def bearer(token: str, **extra: str) -> dict[str, str]:
    """The headers that sign a request in with `token`."""
    return {"Authorization": f"Bearer {token}", **extra}


@contextmanager
def live(api: FastAPI) -> Iterator[str]:
    """`api` served by uvicorn on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def one_line(body: dict[str, Any]) -> str:
    """An error body's message, checked to be the one-line shape every error has."""
    assert set(body) == {"detail", "error"}, body
    assert isinstance(body["detail"], str) and "\n" not in body["detail"], body
    return str(body["detail"])
