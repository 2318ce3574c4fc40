"""SQLite transactions as the engine opens them: BEGIN said with the first statement, and waiting for the write lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, exc, text

from storage import bulk
from storage.engine import make_engine, reader

from ..support import lock_is_free

T = Table("t", MetaData(), Column("x", Integer))


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "x.db")
    engine = make_engine(path)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    engine.dispose()
    return path


def rows(path: str) -> list[int]:
    with sqlite3.connect(path) as c:
        return [x for (x,) in c.execute("SELECT x FROM t ORDER BY x")]


def test_a_write_whose_first_statement_goes_past_sqlalchemy_is_still_one_transaction(db: str) -> None:
    engine = make_engine(db)
    with engine.connect() as conn:
        conn.begin()
        assert lock_is_free(db)  # nothing said yet: the BEGIN waits for the first statement
        bulk.insert_many(conn, T, [{"x": 1}, {"x": 2}])  # straight through the driver
        assert not lock_is_free(db)  # … which said BEGIN IMMEDIATE first
        conn.execute(T.insert(), {"x": 3})
        conn.rollback()
    assert rows(db) == []  # all three went with the rollback
    assert lock_is_free(db)
    with engine.begin() as conn:
        bulk.insert_many(conn, T, [{"x": 4}])
    assert rows(db) == [4]


def test_a_transaction_that_ran_nothing_leaves_no_begin_owed_to_the_next(db: str) -> None:
    engine = make_engine(db)
    with engine.connect() as conn:
        conn.begin()
        conn.rollback()
        # the next statement outside a transaction must not open one that nobody ends
        conn.connection.driver_connection.execute("SELECT 1")  # type: ignore[union-attr]
        assert not conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
    with engine.connect() as conn:
        conn.begin()
    with engine.begin() as conn:
        conn.execute(T.insert(), {"x": 1})
    assert rows(db) == [1]


def test_a_reader_does_not_wait_for_a_writer(db: str) -> None:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (9)")
    try:
        with reader(make_engine(db, busy_timeout_s=0.1)).connect() as conn, conn.begin():
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0  # the last committed state
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_writer_waits_for_the_lock_then_writes_after_the_holder(db: str) -> None:
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    held_for = 0.3

    def release() -> None:
        time.sleep(held_for)
        holder.execute("COMMIT")

    engine = make_engine(db, busy_timeout_s=10)
    releaser = threading.Thread(target=release)
    started = time.monotonic()
    releaser.start()
    with engine.begin() as conn:
        conn.execute(T.insert(), {"x": 2})  # waits for the holder, then writes after it
        waited = time.monotonic() - started
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    releaser.join()
    holder.close()
    assert waited >= held_for * 0.9
    assert rows(db) == [1, 2]


def test_a_writer_still_locked_out_after_the_busy_timeout_is_told_the_database_is_locked(db: str) -> None:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = make_engine(db, busy_timeout_s=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(exc.OperationalError, match="database is locked"), engine.begin() as conn:
            conn.execute(T.insert(), {"x": 1})
        assert time.monotonic() - started >= 0.2
        raw = engine.raw_connection()  # the pool's one connection, with its busy timeout back
        assert raw.driver_connection.execute("PRAGMA busy_timeout").fetchone() == (200,)  # type: ignore[union-attr]
        raw.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with engine.begin() as conn:
        conn.execute(T.insert(), {"x": 2})
    assert rows(db) == [2]
