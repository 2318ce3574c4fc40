#!/usr/bin/env python
"""Benchmark the overdue sweep: `workflow.sweeps.flag_overdue` against the raw-driver floor.

Ledger    --sizes measures (default 1k, 10k, 100k, 1M), 1% of them due yesterday (the local
          Asia/Shanghai date of the injected clock), the rest due 30 to 365 days ahead; all
          assigned, version 1, each with its create record in history (a valid hash chain).
          The schema comes from the real migrations (`storage.migrate.upgrade`); the rows are
          bulk-loaded straight through the driver (executemany on SQLite, COPY on PostgreSQL).
          Setup is timed apart and not counted.
service   `workflow.sweeps.flag_overdue(app)` with a ManualClock: one transaction that takes
          the sweep lock, selects the candidates through ix_measure_open_due (on PostgreSQL
          FOR UPDATE OF measure), applies the overdue event to each (sealed, hash-chained
          record), writes them set-based through the driver (storage/bulk.py: one
          `UPDATE measure … WHERE id AND version` over all of them, the history INSERT), and
          writes the red reminders with INSERT … ON CONFLICT DO NOTHING: one outbox row per breach,
          its targets (owner, leader, unit head: a JSON list) in the row.
floor     the same work in raw SQL through the driver (stdlib `sqlite3`, `psycopg`): the lock,
          the same candidate SELECT (same joins, same plan), the same SHA-256 chain hash over
          the same canonical JSON, the same UPDATE/INSERT statements executemany'd (or, with
          --pg-floor unnest, one UPDATE/INSERT … unnest(arrays) per table), the same reminder
          rows (the targets serialised as the service stores them), one transaction.
Each run uses fresh clones of one bulk-loaded database (SQLite: a file copy; PostgreSQL:
CREATE DATABASE … TEMPLATE), one per layer, with the same clock and request id, so both
layers must write the very same rows: the script checks that, re-runs each layer right away
(it must flag nothing), and verifies a sample of hash chains with `states.chain.check_chain`
(and the whole ledger with `workflow.audit.verify` up to --audit-all measures). Checks are
untimed. --repeat runs per size (default 3); the best counts, the range is printed too.

Durability: SQLite WAL, synchronous=FULL, BEGIN IMMEDIATE (both layers); PostgreSQL with the
server's settings.

    .venv/bin/python bench/overdue.py                              # 1k,10k,100k,1M on both (~3.5-5 min)
    .venv/bin/python bench/overdue.py --backend sqlite --sizes 1000,10000
    .venv/bin/python bench/overdue.py --skip-postgres-if-down --layout clustered
    .venv/bin/python bench/overdue.py --backend sqlite --sizes 1000000 --repeat 1 --profile /tmp/sweep.prof
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import common  # noqa: E402  (bench/common.py: machine report, PostgreSQL admin, result files)
import sqlalchemy  # noqa: E402
from sqlalchemy import select  # noqa: E402

from states.chain import GENESIS, Record, check_chain, utc_text  # noqa: E402
from states.measure import created  # noqa: E402
from states.model import STATE_LABELS, Kind, State  # noqa: E402
from states.permissions import SYSTEM  # noqa: E402
from storage import migrate  # noqa: E402
from storage.blobs import EvidenceStore  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from storage.repositories import to_record  # noqa: E402
from storage.tables import HistoryRow, MeasureRow  # noqa: E402
from workflow import audit, sweeps  # noqa: E402
from workflow.app import App  # noqa: E402
from workflow.clock import ManualClock  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1"  # --pg-url; the script creates and drops <server>/<fresh db>
TARGET_S = 1.0  # the sweep over 1,000,000 measures (~1% newly overdue) under 1 s
ZONE = "Asia/Shanghai"
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = NOW.astimezone(ZoneInfo(ZONE)).date()
YESTERDAY = TODAY - timedelta(days=1)
CREATED_AT = datetime(2026, 8, 13, 1, 0, tzinfo=UTC)  # the round's import
REQUEST_ID = "bench-overdue-00"  # both layers seal with the same request id, so their rows are identical
OWNERS, VERIFIERS, LEADERS, UNITS = 200, 20, 10, 10
PER_PROBLEM, PER_HEADING = 10, 100  # measures per problem, problems per heading
CHUNK = 50_000


LAYOUTS = ("spread", "clustered")


def is_due_yesterday(i: int, layout: str) -> bool:
    """1 measure in 100 is due yesterday: every 100th id (spread: one per table page or so, the worst
    case for the writes), or every measure of 1 problem in 100 (clustered: runs of 10 neighbouring
    rows, as when a problem's measures share their due date)."""
    return (i if layout == "spread" else i // PER_PROBLEM) % 100 == 37


def due_of(i: int, layout: str) -> date:
    return YESTERDAY if is_due_yesterday(i, layout) else TODAY + timedelta(days=30 + (i * 7919) % 336)


# ---------------------------------------------------------------------------------------------
# the ledger, as rows


def _sqlite_ts(at: datetime) -> str:
    # what SQLAlchemy stores for UTCDateTime on SQLite: naive UTC text with microseconds
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def canonical_hash(prev: str, body: dict[str, Any]) -> str:
    """states.chain.Record.computed_hash written out: sha256(prev + canonical JSON)."""
    canon = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(prev.encode() + canon).hexdigest()


@dataclass(frozen=True)
class Ledger:
    """The rows of a generated round of `size` measures (ids from 1)."""

    size: int
    layout: str = "spread"

    @property
    def problems(self) -> int:
        return (self.size + PER_PROBLEM - 1) // PER_PROBLEM

    @property
    def headings(self) -> int:
        return (self.problems + PER_HEADING - 1) // PER_HEADING

    @property
    def overdue(self) -> int:
        return sum(1 for i in range(self.size) if is_due_yesterday(i, self.layout))

    def small_rows(self) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        """inspection, units, people, body (dates/datetimes as Python objects)."""
        people: list[tuple[Any, ...]] = []
        people += [(f"owner{k}", f"责任人{k}", f"U{k % UNITS}", "owner", None, "[]") for k in range(OWNERS)]
        people += [(f"verifier{k}", f"核验人{k}", None, "verifier", None, "[]") for k in range(VERIFIERS)]
        # leaders have an e-mail address (their reminders go by e-mail); everyone else gets the log channel
        people += [(f"leader{k}", f"责任领导{k}", None, "leader", f"leader{k}@example.org", "[]")
                   for k in range(LEADERS)]
        people += [(f"head{k}", f"部门负责人{k}", f"U{k}", "leader", None, "[]") for k in range(UNITS)]
        return {
            "inspection": (("id", "code", "name", "kind", "group_name", "feedback_date", "timezone", "imported_at",
                            "policy"),
                           [(1, "bench", "benchmark round", "巡察", "", date(2026, 8, 13), ZONE, CREATED_AT, None)]),
            "unit": (("id", "code", "name", "head"), [(k + 1, f"U{k}", f"部门{k}", f"head{k}") for k in range(UNITS)]),
            "person": (("handle", "name", "unit", "roles", "email", "notify"), people),
            "body": (("id", "inspection_id", "code", "name"), [(1, 1, "B", "bench body")]),
        }

    PROBLEM_COLS = ("id", "body_id", "parent_id", "level", "position", "ref", "text")

    def problem_rows(self) -> Iterator[tuple[Any, ...]]:
        """Headings (ids 1..H), then problems (ids H+1..)."""
        h = self.headings
        for k in range(h):
            yield (k + 1, 1, None, "heading", k + 1, str(k + 1), f"问题类别{k + 1}")
        for p in range(self.problems):
            yield (h + p + 1, 1, p // PER_HEADING + 1, "problem", p % PER_HEADING + 1, str(p % PER_HEADING + 1),
                   f"问题{p + 1}")

    MEASURE_COLS = ("id", "code", "problem_id", "position", "ref", "title", "text", "kind", "state", "owner",
                    "verifier", "leader", "unit", "due", "version", "head", "evidence_count", "overdue", "rebounds",
                    "updated_at")
    HISTORY_COLS = ("measure_id", "seq", "event", "from_state", "to_state", "actor", "role", "at", "reason",
                    "evidence", "request_id", "data", "prev_hash", "hash")

    def measure_chunks(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(measure rows, history rows) in chunks; each measure with its sealed create record."""
        at_text = utc_text(CREATED_AT)
        h = self.headings
        for start in range(0, self.size, CHUNK):
            ms: list[tuple[Any, ...]] = []
            hs: list[tuple[Any, ...]] = []
            for i in range(start, min(self.size, start + CHUNK)):
                mid, p = i + 1, i // PER_PROBLEM
                owner, verifier, leader = f"owner{i % OWNERS}", f"verifier{i % VERIFIERS}", f"leader{i % LEADERS}"
                due = due_of(i, self.layout)
                data = {"owner": owner, "verifier": verifier, "leader": leader, "due": due.isoformat(),
                        "kind": "deadline", "source": "bench"}
                digest = canonical_hash(GENESIS, {
                    "measure_id": mid, "seq": 1, "event": "create", "from": None, "to": "assigned",
                    "actor": "system", "role": "system", "at": at_text, "reason": "", "evidence": [],
                    "request_id": "", "data": data})
                code = f"B-{p // PER_HEADING + 1}.{p % PER_HEADING + 1}.{i % PER_PROBLEM + 1}"
                ms.append((mid, code, h + p + 1, i % PER_PROBLEM + 1, f"({i % PER_PROBLEM + 1})", f"整改措施{mid}",
                           "", "deadline", "assigned", owner, verifier, leader, f"U{i % UNITS}", due, 1, digest, 0,
                           False, 0, CREATED_AT))
                hs.append((mid, 1, "create", None, "assigned", "system", "system", CREATED_AT, "", [], "", data,
                           GENESIS, digest))
            yield ms, hs


def check_generator() -> None:
    """The written-out create hash must be what states.measure.created() seals."""
    led = Ledger(200)
    ms, hs = next(led.measure_chunks())
    for m, hrow in zip(ms[::37], hs[::37], strict=True):
        _, rec = created(id=m[0], code=m[1], kind=Kind.DEADLINE, owner=m[9], verifier=m[10], leader=m[11],
                         due=m[13], at=CREATED_AT, by=SYSTEM, data={"source": "bench"})
        if rec.hash != hrow[-1] or rec.data != hrow[11]:
            raise SystemExit(f"generator: create record of measure {m[0]} differs from states.measure.created()")


# ---------------------------------------------------------------------------------------------
# bulk load (setup, untimed)


def load_sqlite(path: str, led: Ledger, say: Callable[[str], None]) -> None:
    engine = make_engine(path)
    migrate.upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # setup only; the timed layers run with FULL

    def ins(table: str, cols: tuple[str, ...], rows: Any) -> None:
        quoted = ", ".join(f'"{c}"' for c in cols)
        conn.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(cols))})", rows)

    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return _sqlite_ts(v)
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, list | dict):
            return json.dumps(v)
        return int(v) if isinstance(v, bool) else v

    conn.execute("BEGIN")
    for table, (cols, rows) in led.small_rows().items():
        ins(table, cols, ([conv(v) for v in r] for r in rows))
    ins("problem", Ledger.PROBLEM_COLS, led.problem_rows())
    done = 0
    for ms, hs in led.measure_chunks():
        ins("measure", Ledger.MEASURE_COLS, ([conv(v) for v in r] for r in ms))
        ins("history", Ledger.HISTORY_COLS, ([conv(v) for v in r] for r in hs))
        done += len(ms)
        if led.size >= 200_000:
            say(f"loaded {done}/{led.size}")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def load_postgres(url: str, led: Ledger, say: Callable[[str], None]) -> None:
    import psycopg
    from psycopg.types.json import Json

    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    with psycopg.connect(url) as conn, conn.transaction():
        for table, (cols, rows) in led.small_rows().items():
            quoted = ", ".join(f'"{c}"' for c in cols)
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))})",
                                [tuple(Json(json.loads(v)) if c in ("notify", "policy") and v is not None else v
                                       for c, v in zip(cols, r, strict=True)) for r in rows])
        with conn.cursor() as cur, cur.copy(f"COPY problem ({', '.join(Ledger.PROBLEM_COLS)}) FROM STDIN") as cp:
            for r in led.problem_rows():
                cp.write_row(r)
        done = 0
        mcols = ", ".join(Ledger.MEASURE_COLS)
        hcols = ", ".join(Ledger.HISTORY_COLS)
        for ms, hs in led.measure_chunks():
            with conn.cursor() as cur:
                with cur.copy(f"COPY measure ({mcols}) FROM STDIN") as cp:
                    for r in ms:
                        cp.write_row(r)
                with cur.copy(f"COPY history ({hcols}) FROM STDIN") as cp:
                    for r in hs:
                        cp.write_row(r[:9] + (json.dumps(r[9]),) + r[10:11] + (json.dumps(r[11]),) + r[12:])
            done += len(ms)
            if led.size >= 200_000:
                say(f"loaded {done}/{led.size}")
        for table in ("inspection", "unit", "person", "body", "problem", "measure", "history"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT coalesce(max(id), 1) FROM {table}))")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # a settled table, as autovacuum would leave it


# ---------------------------------------------------------------------------------------------
# the floor: the same set-based work, straight through the driver

CANDIDATES = (
    "SELECT measure.id, measure.code, measure.title, measure.state, measure.owner, measure.verifier, "
    "measure.leader, measure.unit, measure.due, measure.version, measure.head, inspection.timezone, "
    "inspection.policy FROM measure JOIN problem ON problem.id = measure.problem_id "
    "JOIN body ON body.id = problem.body_id JOIN inspection ON inspection.id = body.inspection_id "
    "WHERE NOT measure.overdue AND measure.state IN ('assigned', 'in_progress', 'submitted') "
    "AND measure.due < {p} ORDER BY measure.id"
)
HISTORY_INSERT = ("INSERT INTO history (measure_id, seq, event, from_state, to_state, actor, role, at, reason, "
                  "evidence, request_id, data, prev_hash, hash) VALUES ({ps})")
# the columns in the order workflow.reminders.rows writes them; one row per (measure, rule, window), the people
# it goes to in `targets` (JSON: [{"to", "channel", "address", "status"}, …])
REMINDER_COLS = ("measure_id", "rule", "window", "targets", "subject", "body", "status", "attempts",
                 "next_attempt_at", "created_at", "cancelled_reason", "last_error")
REMINDER_INSERT = (f"INSERT INTO reminder ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in REMINDER_COLS)}) "
                   "VALUES ({ps}) ON CONFLICT (measure_id, rule, \"window\") DO NOTHING")
# PostgreSQL, set-based: one statement per table over arrays of column values (binary parameters)
UPDATE_UNNEST = ("UPDATE measure SET overdue = true, version = v.new_version, head = v.head, updated_at = v.at "
                 "FROM unnest(%b::int[], %b::int[], %b::int[], %b::text[], %b::timestamptz[]) "
                 "AS v(id, old_version, new_version, head, at) "
                 "WHERE measure.id = v.id AND measure.version = v.old_version")
HISTORY_UNNEST = HISTORY_INSERT.replace("VALUES ({ps})", "SELECT * FROM unnest({ps})").format(ps=", ".join(
    f"%b::{t}[]" for t in ("int", "int", "text", "text", "text", "text", "text", "timestamptz", "text",
                           "text[]::json", "text", "text[]::json", "text", "text")))
REMINDER_UNNEST = REMINDER_INSERT.replace("VALUES ({ps})", "SELECT * FROM unnest({ps})").format(ps=", ".join(
    f"%b::{t}[]" for t in ("int", "text", "text", "text[]::json", "text", "text", "text", "int", "timestamptz",
                           "timestamptz", "text", "text")))
UPDATE = "UPDATE measure SET overdue={t}, version={p}, head={p}, updated_at={p} WHERE id={p} AND version={p}"


class Laps:
    """Split times of one floor run, by phase."""

    def __init__(self) -> None:
        self.t, self.laps = time.perf_counter(), {}  # type: ignore[var-annotated]

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name], self.t = now - self.t, now

    def __str__(self) -> str:
        return ", ".join(f"{k} {1000 * v:.0f}" for k, v in self.laps.items()) + " ms"


@dataclass
class Flagged:
    """What one floor run computed for the writes."""

    updates: list[tuple[Any, ...]]
    history: list[tuple[Any, ...]]
    reminders: list[tuple[Any, ...]]  # one per breach
    targets: int = 0  # over all its reminders


def floor_compute(rows: list[Any], now: datetime, contacts: dict[str, tuple[str | None, list[str]]],
                  heads: dict[str, str | None], ts: Callable[[datetime], Any], js: Callable[[Any], Any]) -> Flagged:
    """The domain work the service does per candidate, written out (default policy: red, weekly): the flag, the
    sealed record, and one red reminder row whose targets are each recipient on each of their channels."""
    at_text = utc_text(now)
    zones: dict[str, date] = {}
    out = Flagged([], [], [])
    now_db = ts(now)
    for mid, code, title, state, owner, verifier, leader, unit, due, version, head, tz, policy in rows:
        if policy is not None:
            raise SystemExit("floor: the bench round has the default policy")
        due = due if isinstance(due, date) else date.fromisoformat(due)
        today = zones.get(tz) or zones.setdefault(tz, now.astimezone(ZoneInfo(tz)).date())
        if not due < today:
            continue
        seq = version + 1
        data = {"due": due.isoformat(), "today": today.isoformat()}
        digest = canonical_hash(head, {
            "measure_id": mid, "seq": seq, "event": "overdue", "from": state, "to": state, "actor": "system",
            "role": "system", "at": at_text, "reason": "", "evidence": [], "request_id": REQUEST_ID, "data": data})
        out.updates.append((seq, digest, now_db, mid, version))
        out.history.append((mid, seq, "overdue", state, state, "system", "system", now_db, "", js([]), REQUEST_ID,
                            js(data), head, digest))
        late = (today - due).days - 1
        window = f"due:{due}:{late // 7}"
        subject = f"【红色预警】整改措施 {code} 已超过完成时限({due})"
        body = "\n".join([f"整改措施:{code} {title}", f"责任人:{owner}  核验人:{verifier}  责任领导:{leader}",
                          f"完成时限:{due}  当前状态:{STATE_LABELS[State(state)]}", f"日期:{today}", "",
                          "本提醒由 rectify 整改台账自动发出。"])
        to: list[str] = []
        for who in (owner, leader, heads.get(unit) if unit else None):
            if who and who not in to:
                to.append(who)
        targets = []
        for who in to:
            email, notify = contacts.get(who, (None, []))
            chans = ([("email", email)] if email else []) + [("webhook", u) for u in notify] or [("log", "log")]
            targets += [{"to": who, "channel": channel, "address": address, "status": "pending"}
                        for channel, address in chans]
        if targets:
            out.targets += len(targets)
            out.reminders.append((mid, "red", window, js(targets), subject, body, "pending", 0, now_db, now_db, "",
                                  ""))
    return out


class SqliteFloor:
    """stdlib sqlite3 with the engine's settings; BEGIN IMMEDIATE … COMMIT."""

    def __init__(self, path: str, synchronous: str):
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "foreign_keys=ON", "busy_timeout=60000"):
            self.conn.execute(f"PRAGMA {pragma}")

    def sweep(self, now: datetime) -> tuple[int, int]:
        c, lap = self.conn, Laps()
        c.execute("BEGIN IMMEDIATE")
        try:
            zones = [r[0] for r in c.execute("SELECT DISTINCT timezone FROM inspection")] or [ZONE]
            latest = max(now.astimezone(ZoneInfo(z)).date() for z in zones)
            rows = c.execute(CANDIDATES.format(p="?"), (latest.isoformat(),)).fetchall()
            contacts = {h: (e, json.loads(n) if n else []) for h, e, n in
                        c.execute("SELECT handle, email, notify FROM person")}
            heads = dict(c.execute("SELECT code, head FROM unit").fetchall())
            lap("select")
            w = floor_compute(rows, now, contacts, heads, _sqlite_ts, json.dumps)
            lap("compute")
            if w.updates:
                before = c.total_changes
                c.executemany(UPDATE.format(t="1", p="?"), w.updates)
                if c.total_changes - before != len(w.updates):
                    raise RuntimeError("floor: version conflict")
                lap("update")
                c.executemany(HISTORY_INSERT.format(ps=", ".join("?" * 14)), w.history)
                lap("history")
            before = c.total_changes
            if w.reminders:
                c.executemany(REMINDER_INSERT.format(ps=", ".join("?" * len(REMINDER_COLS))), w.reminders)
            new = c.total_changes - before
            lap("reminders")
            c.execute("COMMIT")
            lap("commit")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self.laps = lap
        return len(w.updates), new

    def plan(self) -> str:
        return "; ".join(r[-1] for r in self.conn.execute(
            "EXPLAIN QUERY PLAN " + CANDIDATES.format(p="?"), (TODAY.isoformat(),)))

    def close(self) -> None:
        self.conn.close()


class PostgresFloor:
    """psycopg 3, one transaction (READ COMMITTED), the sweep's advisory lock."""

    def __init__(self, url: str, unnest: bool = False):
        import psycopg
        from psycopg.types.json import Json

        self.Json, self.unnest = Json, unnest
        self.conn = psycopg.connect(url)

    def sweep(self, now: datetime) -> tuple[int, int]:
        import zlib

        c, lap = self.conn, Laps()
        with c.transaction(), c.cursor() as cur:
            if not cur.execute("SELECT pg_try_advisory_xact_lock(%s)",
                               (zlib.crc32(b"rectify:overdue"),)).fetchone()[0]:  # type: ignore[index]
                raise RuntimeError("floor: sweep lock held")
            zones = [r[0] for r in cur.execute("SELECT DISTINCT timezone FROM inspection")] or [ZONE]
            latest = max(now.astimezone(ZoneInfo(z)).date() for z in zones)
            rows = cur.execute(CANDIDATES.format(p="%s"), (latest,)).fetchall()
            contacts = {h: (e, list(n or [])) for h, e, n in cur.execute("SELECT handle, email, notify FROM person")}
            heads: dict[str, str | None] = dict(cur.execute("SELECT code, head FROM unit").fetchall())
            lap("select")
            w = floor_compute(rows, now, contacts, heads, lambda at: at, json.dumps if self.unnest else self.Json)
            lap("compute")
            if self.unnest:  # one statement per table: arrays of column values, sent in binary
                new = self._unnest(cur, w, lap)
            elif w.updates:
                cur.executemany(UPDATE.format(t="true", p="%s"), w.updates)
                if cur.rowcount != len(w.updates):
                    raise RuntimeError(f"floor: version conflict ({cur.rowcount} of {len(w.updates)})")
                lap("update")
                cur.executemany(HISTORY_INSERT.format(ps=", ".join(["%s"] * 14)), w.history)
                lap("history")
            if not self.unnest:
                new = 0
                if w.reminders:
                    cur.executemany(REMINDER_INSERT.format(ps=", ".join(["%s"] * len(REMINDER_COLS))), w.reminders)
                    new = cur.rowcount
                lap("reminders")
        lap("commit")
        self.laps = lap
        return len(w.updates), new

    @staticmethod
    def _unnest(cur: Any, w: Flagged, lap: Laps) -> int:
        if w.updates:
            seq, digest, at, mid, version = (list(c) for c in zip(*w.updates, strict=True))
            cur.execute(UPDATE_UNNEST, (mid, version, seq, digest, at))
            if cur.rowcount != len(w.updates):
                raise RuntimeError(f"floor: version conflict ({cur.rowcount} of {len(w.updates)})")
            lap("update")
            cur.execute(HISTORY_UNNEST, [list(c) for c in zip(*w.history, strict=True)])
            lap("history")
        new = 0
        if w.reminders:
            cur.execute(REMINDER_UNNEST, [list(c) for c in zip(*w.reminders, strict=True)])
            new = cur.rowcount
        lap("reminders")
        return int(new)

    def plan(self) -> str:
        rows = self.conn.execute("EXPLAIN " + CANDIDATES.format(p="%s"), (TODAY,)).fetchall()
        self.conn.rollback()
        return " | ".join(r[0].strip() for r in rows if "Scan" in r[0] or "Join" in r[0] or "Loop" in r[0])

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------------------------------------
# checks (untimed)


def verify(app: App, expect: int, audit_all: int, size: int) -> tuple[str, int]:
    """Counts (and the reminders' targets, as the outbox lists them), then a sample of chains (flagged and not)
    through check_chain; all chains when small. What was checked, and how many targets the reminders hold."""
    M, H = MeasureRow.__table__, HistoryRow.__table__  # type: ignore[attr-defined]
    with app.uow(read_only=True) as uow:
        conn = uow.session.connection()
        flagged = conn.execute(select(sqlalchemy.func.count()).where(M.c.overdue)).scalar()
        records = conn.execute(select(sqlalchemy.func.count()).where(H.c.event == "overdue")).scalar()
        reminders = conn.execute(sqlalchemy.text("SELECT count(*) FROM reminder")).scalar()
        if not flagged == records == reminders == expect:
            raise SystemExit(f"verify: {flagged} flagged, {records} overdue records, {reminders} reminders; "
                             f"expected {expect} of each")
        # one line per target: owner (log), leader (e-mail), unit head (log) of every breach, all pending
        lines = uow.schedule.reminders()
        got = Counter((ln.rule, ln.channel, ln.status, ln.recipient.rstrip("0123456789")) for ln in lines)
        want = Counter({("red", "log", "pending", "owner"): expect, ("red", "email", "pending", "leader"): expect,
                        ("red", "log", "pending", "head"): expect})
        if got != want or len({(ln.id, ln.recipient) for ln in lines}) != 3 * expect:
            raise SystemExit(f"verify: reminder targets {dict(got)}; expected {dict(want)}, 3 people per reminder")
        ids = [r[0] for r in conn.execute(select(M.c.id).where(M.c.overdue).order_by(M.c.id))]
        sample = ids[:: max(1, len(ids) // 200)] + list(range(1, size + 1, max(1, size // 50)))
        rows = {r.id: r for r in conn.execute(select(M).where(M.c.id.in_(sample)))}
        chains: dict[int, list[tuple[int, Record]]] = {}
        for h in conn.execute(select(H).where(H.c.measure_id.in_(sample)).order_by(H.c.measure_id, H.c.seq)):
            chains.setdefault(h.measure_id, []).append((h.id, to_record(h)))  # type: ignore[arg-type]
    for mid in sample:
        brk = check_chain(mid, chains.get(mid, []), head=rows[mid].head, length=rows[mid].version)
        if brk is not None:
            raise SystemExit(f"verify: {brk}")
        if rows[mid].overdue != (chains[mid][-1][1].event == "overdue"):
            raise SystemExit(f"verify: measure {mid}: flag and history disagree")
    line = f"{len(set(sample))} sampled chains hold"
    if size <= audit_all:
        report = audit.verify(app)
        if not report.ok:
            raise SystemExit(f"verify: audit: {report.breaks[:3]}")
        line += f"; audit.verify: all {report.measures} chains ({report.records} records) hold"
    return line, len(lines)


def same_writes(read: Callable[[str], Callable[[str], list[Any]]]) -> None:
    """The floor's database and the service's hold the same flagged measures, history and reminders.

    The reminders' targets are compared as the stored JSON text (json on PostgreSQL keeps it as written), so
    the floor must write the very bytes the service does: same people, channels and addresses, same order,
    same key order, same serialisation."""
    queries = [
        "SELECT id, version, head, overdue FROM measure WHERE overdue ORDER BY id",
        "SELECT measure_id, seq, hash, prev_hash FROM history WHERE event = 'overdue' ORDER BY measure_id",
        'SELECT measure_id, rule, "window", CAST(targets AS TEXT), subject, body, status, attempts, next_attempt_at, '
        'created_at, cancelled_reason, last_error FROM reminder ORDER BY measure_id, rule, "window"',
    ]
    for q in queries:
        a, b = read("svc")(q), read("floor")(q)
        if a != b:
            raise SystemExit(f"floor and service wrote different rows for: {q}")


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class Run:
    """One repetition on fresh clones: both layers, each run twice."""

    svc: float
    svc2: float
    floor: float
    floor2: float
    floor_laps: str


@dataclass
class Row:
    """One backend at one size: the setup, every repetition, what was flagged and checked."""

    backend: str
    size: int
    expect: int
    setup: float = 0.0
    runs: list[Run] = field(default_factory=list)
    flagged: int = 0
    reminders: int = 0  # outbox rows: one per breach
    targets: int = 0  # the messages they hold: 3 per breach
    checked: str = ""

    def best(self, name: str) -> float:
        return float(min(getattr(r, name) for r in self.runs))

    def spread(self, name: str) -> str:
        xs = [getattr(r, name) for r in self.runs]
        return f"{min(xs):.3f}" if len(xs) == 1 else f"{min(xs):.3f}-{max(xs):.3f}"


def timed_sweep(app: App, profile: Any = None) -> tuple[float, sweeps.SweepResult]:
    t0 = time.perf_counter()
    if profile is not None:
        profile.enable()
    r = sweeps.flag_overdue(app)
    if profile is not None:
        profile.disable()
    return time.perf_counter() - t0, r


class Backend:
    """Build one bulk-loaded database, then hand out fresh clones of it for each repetition."""

    name = ""

    def __init__(self, args: argparse.Namespace, led: Ledger, say: Callable[[str], None]):
        self.args, self.led, self.say = args, led, say

    tmp: str  # scratch folder (SQLite files, the evidence folder)

    def build(self) -> None:
        raise NotImplementedError

    def clone(self) -> tuple[str, str]:  # (service URL, floor URL)
        raise NotImplementedError

    def floor(self, url: str) -> SqliteFloor | PostgresFloor:
        raise NotImplementedError

    def read(self, url: str, sql: str) -> list[Any]:
        raise NotImplementedError

    def drop(self) -> None:  # the clones of this repetition
        raise NotImplementedError

    def close(self) -> None:  # everything
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def build(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="rectify-bench-", dir=self.args.tmpdir)
        self.base = os.path.join(self.tmp, "base.db")
        load_sqlite(self.base, self.led, self.say)

    def clone(self) -> tuple[str, str]:
        out = []
        for k in ("svc", "floor"):
            out.append(os.path.join(self.tmp, f"{k}.db"))
            shutil.copyfile(self.base, out[-1])
        os.sync()  # the copies' dirty pages on disk now, not flushed under the timed commits
        return out[0], out[1]

    def floor(self, url: str) -> SqliteFloor:
        return SqliteFloor(url, self.args.synchronous)

    def read(self, url: str, sql: str) -> list[Any]:
        with sqlite3.connect(url) as c:
            return c.execute(sql).fetchall()

    def drop(self) -> None:
        for k in ("svc", "floor"):
            for ext in ("", "-wal", "-shm"):
                if os.path.exists(p := os.path.join(self.tmp, f"{k}.db{ext}")):
                    os.remove(p)

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class PostgresBackend(Backend):
    name = "postgres"

    def build(self) -> None:
        stem = f"rectify_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.names = {k: f"{stem}_{k}" for k in ("base", "svc", "floor")}
        with common.pg_admin(self.args.pg_url) as admin:
            admin.execute(f'CREATE DATABASE "{self.names["base"]}"')
        load_postgres(self.url("base"), self.led, self.say)
        self.tmp = tempfile.mkdtemp(prefix="rectify-bench-", dir=self.args.tmpdir)

    def url(self, k: str) -> str:
        return f"{self.args.pg_url}/{self.names[k]}"

    def clone(self) -> tuple[str, str]:
        with common.pg_admin(self.args.pg_url) as admin:
            for k in ("svc", "floor"):
                admin.execute(f'CREATE DATABASE "{self.names[k]}" TEMPLATE "{self.names["base"]}" STRATEGY FILE_COPY')
            admin.execute("CHECKPOINT")
        os.sync()
        return self.url("svc"), self.url("floor")

    def floor(self, url: str) -> PostgresFloor:
        return PostgresFloor(url, unnest=self.args.pg_floor == "unnest")

    def read(self, url: str, sql: str) -> list[Any]:
        import psycopg

        with psycopg.connect(url) as c:
            return c.execute(sql).fetchall()

    def drop(self) -> None:
        with common.pg_admin(self.args.pg_url) as admin:
            for k in ("svc", "floor"):
                admin.execute(f'DROP DATABASE IF EXISTS "{self.names[k]}" WITH (FORCE)')

    def close(self) -> None:
        if hasattr(self, "names"):
            with common.pg_admin(self.args.pg_url) as admin:
                for n in self.names.values():
                    admin.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        if hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)


def one_run(be: Backend, row: Row, rep: int, profile: Any) -> Run:
    """Both layers on fresh clones (the one that goes first alternates), then every check."""
    args = be.args
    svc_url, floor_url = be.clone()
    try:
        floor = be.floor(floor_url)
        engine = make_engine(svc_url, synchronous=args.synchronous)
        app = App(engine=engine, evidence=EvidenceStore(Path(be.tmp) / "ev"), clock=ManualClock(NOW),
                  request_id=REQUEST_ID)
        with engine.connect() as c:  # a pooled connection, as in a long-running scheduler (the floor's is open)
            c.exec_driver_sql("SELECT 1")
        try:
            if args.verbose and rep == 0:
                be.say(f"candidate plan: {floor.plan()}")
            t: dict[str, float] = {}
            got: dict[str, tuple[int, int]] = {}

            def run_floor() -> None:
                for k in ("floor", "floor2"):
                    t0 = time.perf_counter()
                    got[k] = floor.sweep(NOW)
                    t[k] = time.perf_counter() - t0
                    t[k + "_laps"] = floor.laps  # type: ignore[assignment]

            def run_service() -> None:
                t["svc"], r = timed_sweep(app, profile if rep == 0 else None)
                got["svc"] = (r.flagged, r.reminders)
                t["svc2"], r = timed_sweep(app)
                got["svc2"] = (r.flagged, r.reminders)

            for step in ((run_floor, run_service) if rep % 2 == 0 else (run_service, run_floor)):
                step()
            want = (row.expect, row.expect)  # one red reminder per breach (its 3 targets: verify counts them)
            if got["svc"] != want or got["floor"] != want or got["svc2"] != (0, 0) or got["floor2"] != (0, 0):
                raise SystemExit(f"{be.name} {row.size}: (flagged, reminders) service {got['svc']} then "
                                 f"{got['svc2']}, floor {got['floor']} then {got['floor2']}; expected {want} then "
                                 "(0, 0)")
            row.flagged, row.reminders = got["svc"]
            row.checked, row.targets = verify(app, row.expect, args.audit_all, row.size)
            if args.verbose and be.name == "postgres":  # flagging a breach should update the row in place
                engine.dispose()  # a closed connection sends its table statistics
                time.sleep(1)
                upd, hot = be.read(svc_url, "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                                            "WHERE relname = 'measure'")[0]
                be.say(f"service: {upd} measure rows updated, {hot} of them in place (HOT)")
        finally:
            floor.close()
            engine.dispose()
        same_writes(lambda which: (lambda sql: be.read(svc_url if which == "svc" else floor_url, sql)))
        return Run(t["svc"], t["svc2"], t["floor"], t["floor2"], str(t["floor_laps"]))
    finally:
        be.drop()


def run_size(backend: str, size: int, args: argparse.Namespace, say: Callable[[str], None], profile: Any,
             repeat: int) -> Row:
    led = Ledger(size, args.layout)
    row = Row(backend, size, led.overdue)
    be: Backend = (SqliteBackend if backend == "sqlite" else PostgresBackend)(args, led, say)
    try:
        t0 = time.perf_counter()
        be.build()
        row.setup = time.perf_counter() - t0
        say(f"bulk-loaded in {row.setup:.1f} s; {repeat} run(s) on fresh clones")
        for rep in range(repeat):
            r = one_run(be, row, rep, profile)
            row.runs.append(r)
            if args.verbose:
                say(f"run {rep + 1}: service {r.svc:.3f} s, floor {r.floor:.3f} s ({r.floor_laps}); "
                    f"again {r.svc2:.3f} / {r.floor2:.3f} s")
    finally:
        be.close()
    return row


def machine(args: argparse.Namespace, want_pg: bool) -> dict[str, Any]:
    """Print what this ran on and the ledger; the machine report (its "postgres" is None when down)."""
    m = common.machine(args.pg_url if want_pg else None)
    common.print_machine(m)
    print(f"sqlite  : WAL, synchronous={args.synchronous}, BEGIN IMMEDIATE; files in "
          f"{args.tmpdir or tempfile.gettempdir()}")
    print(f"ledger  : sizes {', '.join(map(str, args.sizes))}; 1% due {YESTERDAY} (today in {ZONE} is {TODAY}), "
          f"the rest 30-365 days ahead ({args.layout}); all assigned; {OWNERS} owners (log channel), {LEADERS} "
          f"leaders (e-mail), {UNITS} unit heads (log): 1 red reminder per breach, to 3 targets")
    return m


COLUMNS = [("backend", "backend"), ("size", "measures"), ("flagged", "flagged"), ("reminders", "reminders"),
           ("targets", "reminder targets"), ("service", "service s"), ("floor", "floor s"), ("ratio", "service/floor"),
           ("service2", "2nd run service s"), ("floor2", "2nd run floor s"), ("setup", "bulk load s")]


def results(args: argparse.Namespace, m: dict[str, Any]) -> common.Results:
    """The result file's frame (its clock starts now)."""
    return common.Results("overdue", "The overdue sweep (flag breaches + red reminders) vs the same work in raw SQL",
                          COLUMNS, m, settings={"sizes": args.sizes, "repeat": args.repeat, "layout": args.layout,
                                                "synchronous": args.synchronous, "pg_floor": args.pg_floor})


def fill(res: common.Results, rows: list[Row], args: argparse.Namespace) -> common.Results:
    """The rows and the target, for bench/report.py."""
    for r in rows:
        svc, flo = r.best("svc"), r.best("floor")
        res.rows.append({"backend": r.backend, "size": r.size, "flagged": r.flagged, "reminders": r.reminders,
                         "targets": r.targets, "service": round(svc, 3), "floor": round(flo, 3),
                         "ratio": round(svc / flo, 2),
                         "service2": round(r.best("svc2"), 3), "floor2": round(r.best("floor2"), 3),
                         "setup": round(r.setup, 1)})
    for backend in dict.fromkeys(r.backend for r in rows):
        at = next((r for r in rows if r.backend == backend and r.size == 1_000_000), None)
        res.target(f"{backend}: sweep over 1,000,000 measures under {TARGET_S:g} s",
                   at.best("svc") < TARGET_S if at else None,
                   f"{at.best('svc'):.3f} s, floor {at.best('floor'):.3f} s" if at else "1,000,000 not in --sizes")
    res.notes.append(f"best of {args.repeat} on fresh clones; 1% of the measures newly overdue ({args.layout} layout), "
                     "each breach one red reminder to 3 targets (owner, leader, unit head); "
                     "the 2nd run right after flags nothing")
    return res


def table(rows: list[Row], repeat: int) -> None:
    best = "best of " + str(repeat) if repeat > 1 else "one run"
    print(f"\nseconds per sweep ({best} on fresh clones; 2nd = the run right after, which flags nothing)")
    head = (f"{'backend':<9} {'measures':>9} {'flagged':>7} {'reminders':>9} {'targets':>7} {'service s':>9} "
            f"{'floor s':>8} "
            f"{'svc/floor':>9} {'2nd svc s':>9} {'2nd floor s':>11} {'setup s':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        svc, flo = r.best("svc"), r.best("floor")
        print(f"{r.backend:<9} {r.size:>9} {r.flagged:>7} {r.reminders:>9} {r.targets:>7} {svc:>9.3f} {flo:>8.3f} "
              f"{svc / flo:>8.2f}x {r.best('svc2'):>9.3f} {r.best('floor2'):>11.3f} {r.setup:>8.1f}")
    if repeat > 1:
        print("\nrange over the runs (min-max), service | floor:")
        for r in rows:
            print(f"  {r.backend:<9} {r.size:>9}: {r.spread('svc')} | {r.spread('floor')}")
    print()
    for r in rows:
        if r.size == 1_000_000:
            svc, flo = r.best("svc"), r.best("floor")
            ok = "MET" if svc < TARGET_S else "MISSED"
            print(f"{r.backend}: sweep over 1,000,000 measures ({r.flagged} newly overdue) in {svc:.3f} s "
                  f"(floor {flo:.3f} s); target under {TARGET_S:g} s -> {ok}")


def warm_up(backend: str, args: argparse.Namespace) -> None:
    """A small untimed round first (imports, SQLAlchemy's statement cache, the driver, the disk)."""
    quiet = argparse.Namespace(**{**vars(args), "audit_all": 0, "verbose": False})
    run_size(backend, 1000, quiet, lambda _m: None, None, 1)


def load() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000",
                    help="ledger sizes, comma separated (default 1000,10000,100000,1000000)")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    ap.add_argument("--skip-postgres-if-down", action="store_true",
                    help="skip PostgreSQL (instead of failing) when the server does not answer")
    ap.add_argument("--pg-url", default=PG_SERVER, help=f"PostgreSQL server, no database (default {PG_SERVER})")
    ap.add_argument("--layout", choices=LAYOUTS, default="spread",
                    help="where the measures due yesterday sit in the table (default spread: every 100th row)")
    ap.add_argument("--synchronous", default="FULL", help="SQLite synchronous for both layers (default FULL)")
    ap.add_argument("--tmpdir", default=None, help="where the SQLite files go (default: the system temp dir)")
    ap.add_argument("--audit-all", type=int, default=10_000,
                    help="run workflow.audit.verify over the whole ledger up to this size (default 10000)")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the service's first run at the largest size into FILE")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per size, each on fresh clones of the loaded database; the best counts (default 3)")
    ap.add_argument("--pg-floor", choices=("executemany", "unnest"), default="unnest",
                    help="PostgreSQL floor: one INSERT/UPDATE … unnest(arrays) per table, as the service "
                         "writes (default), or the same statements executemany'd")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON (for bench/report.py)")
    ap.add_argument("--verbose", action="store_true",
                    help="print the candidate query plan and each run's floor phases")
    args = ap.parse_args()
    try:
        args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        ap.error("--sizes: comma-separated whole numbers")
    if not args.sizes or min(args.sizes) < 100:
        ap.error("--sizes: at least 100 measures each")
    if args.repeat < 1:
        ap.error("--repeat must be positive")

    check_generator()
    want_pg = args.backend in ("postgres", "all")
    m = machine(args, want_pg)
    pg_up = m["postgres"] is not None
    res = results(args, m)
    backends = ["sqlite"] if args.backend in ("sqlite", "all") else []
    if want_pg:
        if pg_up:
            backends.append("postgres")
        elif args.skip_postgres_if_down:
            print("postgres: skipped (down, --skip-postgres-if-down)")
        else:
            raise SystemExit("PostgreSQL is not reachable; use --backend sqlite or --skip-postgres-if-down")
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
    rows: list[Row] = []
    started = time.perf_counter()
    print(f"runs    : {args.repeat} per size on fresh clones (best reported); {load()} at start")
    for backend in backends:
        warm_up(backend, args)
        for size in args.sizes:
            def say(msg: str, b: str = backend, n: int = size) -> None:
                print(f"  [{time.perf_counter() - started:6.1f} s] {b} {n}: {msg}", flush=True)

            row = run_size(backend, size, args, say, profile if size == args.sizes[-1] else None, args.repeat)
            say(f"service {row.spread('svc')} s ({row.flagged} flagged, {row.reminders} reminders to {row.targets} "
                f"targets), floor "
                f"{row.spread('floor')} s; again {row.spread('svc2')} / {row.spread('floor2')} s (0 flagged); "
                f"{row.checked}")
            rows.append(row)
    print(f"  [{time.perf_counter() - started:6.1f} s] done; {load()}")
    table(rows, args.repeat)
    fill(res, rows, args).save(args.json)
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"\nservice profile (largest size, first run, every backend) written to {args.profile} "
              f"(view: python -m pstats {args.profile})")


if __name__ == "__main__":
    main()
