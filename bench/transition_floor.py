"""The floor of bench/transition_rate.py: one transition's writes straight through the driver.

The same rows and values as `workflow.services.fire` writes for start, submit, verify and close
(the same SHA-256 chain hash over the same canonical JSON, the evidence row, the reminder
cancelling on verify, the three rebound checks on close), one transaction per transition, through
stdlib sqlite3 (WAL, synchronous=FULL, BEGIN IMMEDIATE) or psycopg. It reads nothing: each
measure's row is kept in memory as a `Track`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from states.chain import utc_text

ROLE_OF = {"start": "owner", "submit": "owner", "verify": "verifier", "close": "leader"}
ZONE = ZoneInfo("Asia/Shanghai")  # the round's time zone (the plan's default): rebound checks count local days
RECHECK_DAYS = (30, 90, 180)  # the default policy's rebound checks for a deadline measure
NOT_DEADLINE = ("progress", "recheck", "recheck_late")


@dataclass
class Track:
    """One measure as the workers need it (and the floor's in-memory copy of its row)."""

    id: int
    code: str
    owner: str
    verifier: str
    leader: str
    due: date
    state: str = "assigned"
    version: int = 1
    head: str = ""
    evidence_count: int = 0


UPDATE_COLS = ("state", "owner", "due", "version", "head", "evidence_count", "overdue", "rebounds", "updated_at")
HISTORY_COLS = ("measure_id", "seq", "event", "from_state", "to_state", "actor", "role", "at", "reason",
                "evidence", "request_id", "data", "prev_hash", "hash")
EVIDENCE_COLS = ("measure_id", "seq", "sha256", "kind", "name", "size", "note", "added_by", "added_at")
NEXT = {"start": "in_progress", "submit": "submitted", "verify": "verified", "close": "closed"}


def chain_hash(prev: str, body: dict[str, Any]) -> str:
    """states.chain.Record.computed_hash, written out: sha256(prev + canonical JSON)."""
    canon = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(prev.encode() + canon).hexdigest()


@dataclass
class Write:
    """Everything one transition writes, computed in memory."""

    update: dict[str, Any]
    where: tuple[int, int]
    history: dict[str, Any]
    evidence: dict[str, Any] | None
    cancel_reminders: bool
    checks: list[tuple[int, int, date]]


def floor_write(t: Track, event: str, actor: str, reason: str, note: str, request_id: str) -> Write:
    at = datetime.now(UTC)
    before, after, seq = t.state, NEXT[event], t.version + 1
    evidence = [hashlib.sha256(note.encode()).hexdigest()] if note else []
    h = chain_hash(t.head, {"measure_id": t.id, "seq": seq, "event": event, "from": before, "to": after,
                            "actor": actor, "role": ROLE_OF[event], "at": utc_text(at), "reason": reason,
                            "evidence": evidence, "request_id": request_id, "data": {}})
    history = {"measure_id": t.id, "seq": seq, "event": event, "from_state": before, "to_state": after,
               "actor": actor, "role": ROLE_OF[event], "at": at, "reason": reason, "evidence": evidence,
               "request_id": request_id, "data": {}, "prev_hash": t.head, "hash": h}
    ev = ({"measure_id": t.id, "seq": seq, "sha256": evidence[0], "kind": "note", "name": "",
           "size": len(note.encode()), "note": note, "added_by": actor, "added_at": at} if note else None)
    t.state, t.version, t.head, t.evidence_count = after, seq, h, t.evidence_count + len(evidence)
    update = {"state": t.state, "owner": t.owner, "due": t.due, "version": t.version, "head": t.head,
              "evidence_count": t.evidence_count, "overdue": False, "rebounds": 0, "updated_at": at}
    closed_on = at.astimezone(ZONE).date()
    checks = [(t.id, seq, closed_on + timedelta(days=d)) for d in RECHECK_DAYS] if event == "close" else []
    return Write(update, (t.id, seq - 1), history, ev, event == "verify", checks)


def _sqlite_ts(at: datetime) -> str:
    # what SQLAlchemy's SQLite DateTime stores for UTCDateTime: naive UTC text with microseconds
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sql(marker: str) -> dict[str, str]:
    def ph(n: int) -> str:
        return ", ".join([marker] * n)

    return {
        "update": f"UPDATE measure SET {', '.join(f'{c}={marker}' for c in UPDATE_COLS)} "
                  f"WHERE id={marker} AND version={marker}",
        "history": f"INSERT INTO history ({', '.join(HISTORY_COLS)}) VALUES ({ph(len(HISTORY_COLS))})",
        "evidence": f"INSERT INTO evidence ({', '.join(EVIDENCE_COLS)}) VALUES ({ph(len(EVIDENCE_COLS))})",
        "cancel": f"UPDATE reminder SET status='cancelled', cancelled_reason='verified' WHERE measure_id={marker} "
                  f"AND status='pending' AND rule NOT IN ({ph(len(NOT_DEADLINE))})",
        "check": f"INSERT INTO rebound_check (measure_id, close_seq, due_on, status, reason) "
                 f"VALUES ({marker}, {marker}, {marker}, 'pending', '') "
                 f"ON CONFLICT (measure_id, close_seq, due_on) DO NOTHING",
    }


class SqliteFloor:
    """stdlib sqlite3 with the engine's connection settings, BEGIN IMMEDIATE … COMMIT per transition."""

    def __init__(self, path: str):
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.sql = _sql("?")

    def step(self, w: Write) -> None:
        u = dict(w.update, due=w.update["due"].isoformat(), overdue=0, updated_at=_sqlite_ts(w.update["updated_at"]))
        h = dict(w.history, at=_sqlite_ts(w.history["at"]), evidence=json.dumps(w.history["evidence"]),
                 data=json.dumps(w.history["data"]))
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            if c.execute(self.sql["update"], [u[k] for k in UPDATE_COLS] + list(w.where)).rowcount != 1:
                raise RuntimeError(f"floor: version conflict on measure {w.where[0]}")
            c.execute(self.sql["history"], [h[k] for k in HISTORY_COLS])
            if w.evidence:
                e = dict(w.evidence, added_at=_sqlite_ts(w.evidence["added_at"]))
                c.execute(self.sql["evidence"], [e[k] for k in EVIDENCE_COLS])
            if w.cancel_reminders:
                c.execute(self.sql["cancel"], [w.where[0], *NOT_DEADLINE])
            if w.checks:
                c.executemany(self.sql["check"], [(m, s, d.isoformat()) for m, s, d in w.checks])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


class PostgresFloor:
    """psycopg 3, one connection, one transaction (READ COMMITTED, the server default) per transition."""

    def __init__(self, url: str):
        import psycopg
        from psycopg.types.json import Json

        self.Json = Json
        self.conn = psycopg.connect(url)
        self.sql = _sql("%s")

    def step(self, w: Write) -> None:
        h = dict(w.history, evidence=self.Json(w.history["evidence"]), data=self.Json(w.history["data"]))
        c = self.conn
        with c.transaction(), c.cursor() as cur:
            cur.execute(self.sql["update"], [w.update[k] for k in UPDATE_COLS] + list(w.where))
            if cur.rowcount != 1:
                raise RuntimeError(f"floor: version conflict on measure {w.where[0]}")
            cur.execute(self.sql["history"], [h[k] for k in HISTORY_COLS])
            if w.evidence:
                cur.execute(self.sql["evidence"], [w.evidence[k] for k in EVIDENCE_COLS])
            if w.cancel_reminders:
                cur.execute(self.sql["cancel"], [w.where[0], *NOT_DEADLINE])
            if w.checks:
                cur.executemany(self.sql["check"], w.checks)

    def close(self) -> None:
        self.conn.close()
