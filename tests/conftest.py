"""Shared fixtures: apps on real databases, a SQLite file per test and the PostgreSQL server of this machine.

PostgreSQL: one fresh database per test session (`rectify_test_<random>`, dropped at the end),
one fresh schema per test inside it. When no server answers the PostgreSQL tests are skipped
with the reason, except in CI (env CI set), where that is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from storage import migrate
from workflow import importer, plan
from workflow.app import App
from workflow.clock import ManualClock

from .support import SMALL_PLAN, START, open_test_app

# the maintenance database of the server to test against; override for another server
PG_ADMIN_URL = os.environ.get("RECTIFY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/postgres")


def in_ci() -> bool:
    """Whether we run in CI, where a missing PostgreSQL server is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def clock() -> ManualClock:
    """A clock at the morning of the feedback day, moved only by the test."""
    return ManualClock(START)


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(tmp_path: Path, clock: ManualClock) -> Iterator[AppFactory]:
    """Open apps with migrations applied and (by default) the small plan imported.

    `make_app()` is a fresh SQLite file in tmp_path; `make_app(url)` any database URL.
    """
    apps: list[App] = []

    def make(url: str | None = None, *, plan_file: Path | None = SMALL_PLAN, evidence_dir: Path | None = None) -> App:
        url = url or str(tmp_path / f"rectify-{len(apps)}.db")
        if evidence_dir is None and "://" in url and not url.startswith("sqlite"):
            evidence_dir = tmp_path / f"evidence-{len(apps)}"  # a server database has no "beside"
        app = open_test_app(url, evidence_dir=evidence_dir, clock=clock)
        apps.append(app)
        migrate.upgrade(app.engine)
        if plan_file is not None:
            importer.import_plan(app, plan.load(plan_file), plan_file.name)
        return app

    yield make
    for app in apps:
        app.engine.dispose()


@pytest.fixture
def app(make_app: AppFactory) -> App:
    """A SQLite file with the schema and the small plan (measures b1-1.1.1, b1-1.1.2, b1-2.1.1)."""
    return make_app()


def _pg_url(admin_url: str, database: str, schema: str | None = None) -> str:
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=database)
    text = url.render_as_string(hide_password=False)
    if schema:
        text += ("&" if "?" in text else "?") + "options=" + quote(f"-csearch_path={schema}", safe="")
    return text


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (URL with psycopg driver); dropped at the end."""
    admin = _psycopg_url(_pg_url(PG_ADMIN_URL, make_url(PG_ADMIN_URL).database or "postgres"))
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        reason = f"no PostgreSQL server answers at {where} ({str(e).strip().splitlines()[0]})"
        if in_ci():
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(reason)
    name = f"rectify_test_{secrets.token_hex(5)}"
    with conn:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
        try:
            yield _pg_url(PG_ADMIN_URL, name)
        finally:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A fresh, empty schema in the session's PostgreSQL database, as a URL whose search_path is it."""
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(_psycopg_url(pg_database), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return _pg_url(pg_database, make_url(pg_database).database or "", schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "contract.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def worked_app(app: App, clock: ManualClock, tmp_path: Path) -> App:
    """The small plan after some work, for exports and audit packets.

    b1-2.1.1 (bob): started, a file and a note as evidence, submitted, verified and closed (rebound checks due);
    b1-1.1.1 (alice): started, one refused verify by alice herself; b1-1.1.2 untouched.
    """
    from datetime import timedelta

    from states.errors import PermissionDenied
    from states.model import Event
    from workflow import services

    scan = tmp_path / "报销台账扫描件.pdf"
    scan.write_bytes(b"%PDF-1.4 scanned reimbursement ledger\n" * 10)

    def step(event: Event, code: str, actor: str, **kw: object) -> None:
        clock.advance(timedelta(hours=3))
        services.fire(app, event, code, actor=actor, **kw)  # type: ignore[arg-type]

    step(Event.START, "b1-2.1.1", "bob")
    clock.advance(timedelta(days=2))
    services.add_evidence(app, "b1-2.1.1", actor="bob", notes=["已修订《财务报销管理办法》"], files=[scan])
    step(Event.SUBMIT, "b1-2.1.1", "bob", reason="已修订财务制度并组织学习", notes=["学习签到表"])
    step(Event.VERIFY, "b1-2.1.1", "checker")
    step(Event.CLOSE, "b1-2.1.1", "deputy")
    step(Event.START, "b1-1.1.1", "alice")
    with pytest.raises(PermissionDenied):
        step(Event.VERIFY, "b1-1.1.1", "alice")
    return app
