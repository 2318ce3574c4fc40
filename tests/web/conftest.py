"""Fixtures of the web tests: the small plan on a SQLite file (copied from one made per session, with an
API token for every person), the ASGI app over it, and an in-process client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from storage import migrate
from workflow import importer, plan
from workflow.app import App
from workflow.clock import ManualClock
from workflow.web.server import create_app

from ..support import SMALL_PLAN, open_test_app
from .api_support import make_tokens


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A database with the schema, the small plan and a token for each person, made once; and the tokens."""
    db = tmp_path_factory.mktemp("web-template") / "rectify.db"
    made = open_test_app(str(db))
    migrate.upgrade(made.engine)
    importer.import_plan(made, plan.load(SMALL_PLAN), SMALL_PLAN.name)
    tokens = make_tokens(made)
    made.engine.dispose()
    return db, tokens


@pytest.fixture
def app(web_template: tuple[Path, dict[str, str]], tmp_path: Path, clock: ManualClock) -> Iterator[App]:
    """The small plan on a SQLite file of this test's own (measures b1-1.1.1, b1-1.1.2, b1-2.1.1)."""
    db = tmp_path / "rectify.db"
    shutil.copyfile(web_template[0], db)
    a = open_test_app(str(db), clock=clock)
    yield a
    a.engine.dispose()


@pytest.fixture
def tokens(web_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """An API token for each person of the small plan, by handle."""
    return web_template[1]


@pytest.fixture
def api(app: App) -> FastAPI:
    """The web application over `app`."""
    return create_app(app, session_secret="tests")


@pytest.fixture
def client(api: FastAPI) -> Iterator[TestClient]:
    """A client of the app, in-process."""
    with TestClient(api) as c:
        yield c
