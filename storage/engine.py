"""Engines for SQLite files and PostgreSQL, with the settings a ledger needs.

SQLite: WAL, `synchronous=FULL`, foreign keys, and `BEGIN IMMEDIATE` for every write
transaction: the default deferred BEGIN lets two writers both read, then one fails with
"database is locked" when it tries to write. Readers use a plain deferred BEGIN. Either is said
with the transaction's first statement, so a writer takes the lock once that statement is ready.

PostgreSQL: sessions in UTC, readers in autocommit (no BEGIN and ROLLBACK round trips), and a
pooled connection pinged only when it has sat idle for a while (see `_postgres`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import create_engine

from states.errors import InvalidInput

READ_ONLY = "rectify_read_only"
_BEGIN = "rectify_begin"  # SQLite: the BEGIN a transaction still owes, said before its first statement
PING_AFTER_IDLE_S = 1.0  # PostgreSQL: ping a pooled connection before use if it sat idle longer than this


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
        return _postgres(url)
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
        # said with the transaction's first statement (below), once SQLAlchemy has prepared it: a writer
        # then holds the write lock only while SQLite works, not while Python builds its first statement
        conn.info[_BEGIN] = "BEGIN" if conn.get_execution_options().get(READ_ONLY, False) else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_first(conn: Any, cursor: Any, *_args: Any) -> None:
        _say_begin(conn, cursor)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(conn: Any) -> None:
        conn.info.pop(_BEGIN, None)  # a transaction that ran no statement: nothing was begun

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info.pop(_BEGIN, None)

    return engine


def driver_cursor(conn: Connection) -> Any:
    """A cursor of the transaction's own driver connection, for statements sent past SQLAlchemy
    (storage.bulk); on SQLite the BEGIN the transaction still owes is said on it first."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    _say_begin(conn, cursor)
    return cursor


def _say_begin(conn: Connection, cursor: Any) -> None:
    """Say the BEGIN the connection's transaction still owes, if any (SQLite; PostgreSQL owes none)."""
    begin = conn.info.pop(_BEGIN, None)
    if begin:
        cursor.execute(begin)


def _postgres(url: str) -> Engine:
    """A pooled PostgreSQL engine that pings a connection only when it has sat idle.

    `pool_pre_ping` would ping on every checkout: a round trip per unit of work, as much as a
    one-row read costs. A connection that was in use a moment ago is almost surely still alive
    (HikariCP skips its check within 500 ms the same way); after a quiet spell, when the server
    may have restarted or a firewall dropped the socket, it is pinged, and a dead one sends the
    whole pool to reconnect. A connection that dies while busy fails its statement; SQLAlchemy
    then invalidates the pool, as it does with pre-ping.
    """
    engine = create_engine(url, pool_size=5, max_overflow=5)

    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # times come back in UTC, as the app keeps them all: psycopg then hands out datetimes with
        # timezone.utc, which skips a zone lookup per value (and UTCDateTime's conversion). No SQL of
        # the app does date arithmetic on the server, the one thing the session's zone would change.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.autocommit = autocommit

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # None: connected just now
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            raise exc.InvalidatePoolError(f"a pooled connection failed its ping ({e})") from e

    return engine


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: no write lock on SQLite; autocommit on PostgreSQL.

    Autocommit saves the BEGIN and ROLLBACK round trips and changes nothing a reader sees: under
    READ COMMITTED, PostgreSQL's default, each statement takes its own snapshot inside a
    transaction too. The one difference: a write in a read-only unit of work would stay.
    """
    cached: Engine | None = getattr(engine, "_rectify_reader", None)
    if cached is None:  # built once per engine: building one costs 10-30 µs, on every unit of work
        if is_sqlite(engine):
            cached = engine.execution_options(**{READ_ONLY: True})
        else:
            cached = engine.execution_options(**{READ_ONLY: True}, isolation_level="AUTOCOMMIT")
        engine._rectify_reader = cached  # type: ignore[attr-defined]
    return cached


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine is on a SQLite file."""
    return engine.dialect.name == "sqlite"
