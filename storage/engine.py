"""Engines for SQLite files and PostgreSQL, with the settings a ledger needs.

SQLite: WAL, `synchronous=FULL`, foreign keys, and `BEGIN IMMEDIATE` for every write
transaction: the default deferred BEGIN lets two writers both read, then one fails with
"database is locked" when it tries to write. Readers use a plain deferred BEGIN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

from states.errors import InvalidInput

READ_ONLY = "rectify_read_only"


def normalise_url(url: str) -> str:
    """Accept a plain file path or a URL; PostgreSQL URLs use psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, synchronous: str = "FULL", busy_timeout_s: float = 60.0) -> Engine:
    """Build the engine for `url` (a SQLite path or URL, or a PostgreSQL URL)."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as e:  # sqlalchemy raises ArgumentError for nonsense
        raise InvalidInput("database URL", f"{url!r} is not a database URL ({e})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite(url, parsed.database, synchronous, busy_timeout_s)
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise InvalidInput("database URL", f"{backend!r} is not supported (use a SQLite file or PostgreSQL)")


def _sqlite(url: str, database: str | None, synchronous: str, busy_timeout_s: float) -> Engine:
    if database and database != ":memory:":
        folder = Path(database).parent
        if not folder.exists():
            raise InvalidInput("database", f"folder {str(folder)!r} does not exist")
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control from the driver so we can say BEGIN IMMEDIATE ourselves
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work (no write lock on SQLite)."""
    return engine.execution_options(**{READ_ONLY: True})


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine is on a SQLite file."""
    return engine.dialect.name == "sqlite"
