"""Set-based writes of many rows at once, straight through the driver.

The sweeps write tens of thousands of rows in one transaction. Through SQLAlchemy's executemany
every parameter of every row goes through a type processor and a dict (0.7 s of a 2 s sweep over
a million measures); through psycopg's executemany each row is still one statement in the pipeline.
Here each value is converted once with the column type's own bind processor (the conversion
SQLAlchemy would have made, so what is stored is the same), and then:

- SQLite: one executemany of plain tuples (sqlite3 prepares the statement once);
- PostgreSQL: one statement per call over `unnest()` of one array per column, the arrays sent in
  binary (`%b`): in text, psycopg quotes every string of an array with a regular expression.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Table
from sqlalchemy.engine import Connection

from states.chain import as_utc

from .engine import driver_cursor


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                on_conflict_do_nothing: Sequence[str] = ()) -> int:
    """Insert `rows` (dicts with the same keys); with a key given, a row whose key exists is skipped.

    Returns how many rows were inserted.
    """
    if not rows:
        return 0
    names = list(rows[0])
    columns = [table.c[n] for n in names]
    q = conn.dialect.identifier_preparer.quote
    target = f"{q(table.name)} ({', '.join(q(n) for n in names)})"
    conflict = f" ON CONFLICT ({', '.join(q(n) for n in on_conflict_do_nothing)}) DO NOTHING" \
        if on_conflict_do_nothing else ""
    values = [[r[n] for r in rows] for n in names]  # column by column: a few lists, not one per row
    if conn.dialect.name == "postgresql":
        source, params = _unnest(conn, columns, values)
        sql = f"INSERT INTO {target} SELECT * FROM {source}{conflict}"
        return _count(_execute(conn, sql, params), len(rows))
    sql = f"INSERT INTO {target} VALUES ({', '.join('?' * len(names))}){conflict}"
    return _count(_executemany(conn, sql, columns, values), len(rows))


def update_many(conn: Connection, table: Table, set_columns: Sequence[str], where_columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> int:
    """`UPDATE table SET set_columns WHERE where_columns` once per row (values: the set ones, then the where ones).

    Returns how many rows matched.
    """
    if not rows:
        return 0
    q = conn.dialect.identifier_preparer.quote
    names = [*set_columns, *where_columns]
    columns = [table.c[n] for n in names]
    values = [list(c) for c in zip(*rows, strict=True)]
    if conn.dialect.name == "postgresql":
        aliases = [f"v{i}" for i in range(len(names))]
        source, params = _unnest(conn, columns, values, aliases)
        sets = ", ".join(f"{q(n)} = v.{a}" for n, a in zip(set_columns, aliases, strict=False))
        where = " AND ".join(f"t.{q(n)} = v.{a}" for n, a in zip(where_columns, aliases[len(set_columns):],
                                                                 strict=True))
        sql = f"UPDATE {q(table.name)} AS t SET {sets} FROM {source} WHERE {where}"
        return _count(_execute(conn, sql, params), len(rows))
    sets = ", ".join(f"{q(n)} = ?" for n in set_columns)
    where = " AND ".join(f"{q(n)} = ?" for n in where_columns)
    sql = f"UPDATE {q(table.name)} SET {sets} WHERE {where}"
    return _count(_executemany(conn, sql, columns, values), len(rows))


def _execute(conn: Connection, sql: str, params: tuple[Any, ...]) -> int:
    """PostgreSQL: one statement on the transaction's own connection; the rows it changed."""
    with driver_cursor(conn) as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _executemany(conn: Connection, sql: str, columns: Sequence[Column[Any]], values: list[list[Any]]) -> int:
    """SQLite: convert each column's values, then one executemany over the rows; the rows it changed."""
    for i, col in enumerate(columns):
        convert = _converter(conn, col)
        if convert is not None:
            values[i] = [convert(v) for v in values[i]]
    cursor = driver_cursor(conn)
    try:
        cursor.executemany(sql, zip(*values, strict=True))  # rows as tuples, made as they are sent
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _unnest(conn: Connection, columns: Sequence[Column[Any]], values: list[list[Any]],
            aliases: Sequence[str] | None = None) -> tuple[str, tuple[Any, ...]]:
    """PostgreSQL: `unnest(%b::type[], …) AS v(…)` over one array per column, and those arrays."""
    casts: list[str] = []
    params: list[list[Any]] = []
    for col, vals in zip(columns, values, strict=True):
        if isinstance(col.type, JSON):  # sent as text, cast per element
            casts.append("%b::text[]")
            params.append([json_text(v) for v in vals])
        else:
            casts.append(f"%b::{col.type.compile(conn.dialect)}[]")
            params.append([None if v is None else as_utc(v) for v in vals] if _python_type(col) is datetime else vals)
    names = list(aliases or [f"v{i}" for i in range(len(columns))])
    source = f"unnest({', '.join(casts)}) AS v({', '.join(names)})"
    if any(isinstance(c.type, JSON) for c in columns):  # the JSON columns: text → json in a subquery
        cols = ", ".join(f"v.{n}::json" if isinstance(c.type, JSON) else f"v.{n}"
                         for c, n in zip(columns, names, strict=True))
        source = f"(SELECT {cols} FROM {source}) AS v({', '.join(names)})"
    return source, tuple(params)


def json_text(value: Any) -> str | None:
    """A JSON column's value as the text stored (json.dumps, as SQLAlchemy's JSON type writes it); the empty
    list and dict, most history rows' evidence and data, without calling the encoder."""
    if value is None:
        return None
    if not value and isinstance(value, list | dict):
        return "[]" if isinstance(value, list) else "{}"
    return json.dumps(value)


def _converter(conn: Connection, col: Column[Any]) -> Callable[[Any], Any] | None:
    """The column type's bind processor; for times and dates memoised, since a sweep writes one `now` many times."""
    process = col.type._cached_bind_processor(conn.dialect)  # the very function SQLAlchemy would call
    if isinstance(col.type, JSON) and process is not None and \
            conn.dialect._json_serializer in (None, json.dumps):
        # what the bind processor gives (json.dumps), with the empty values short-cut; None as it would
        return lambda v: process(v) if v is None else json_text(v)
    if process is None or _python_type(col) not in (datetime, date):
        return process
    seen: dict[Any, Any] = {}

    def memo(v: Any) -> Any:
        if v not in seen:
            seen[v] = process(v)
        return seen[v]
    return memo


def _python_type(col: Column[Any]) -> type | None:
    """The Python type of a column's values (for a TypeDecorator such as UTCDateTime: of the type it wraps)."""
    try:
        return getattr(col.type, "impl_instance", col.type).python_type
    except NotImplementedError:
        return None


def _count(rowcount: int, rows: int) -> int:
    if rowcount < 0:  # a driver that does not sum rowcount over an executemany
        raise RuntimeError(f"bulk write of {rows} rows: the database driver did not report how many it changed")
    return rowcount
