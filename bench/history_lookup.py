#!/usr/bin/env python
"""Benchmark one measure's history among millions of history rows: the service layer against the raw-SQL floor.

Ledger    --measures measures x --per-measure history records each (default 100,000 x 100 = 10,000,000
          rows), plus the same at the other --sizes (default 10x, 100x and 1000x fewer rows: fewer measures,
          each still with --per-measure records). Every measure has a valid, replayable hash chain:
          create, start, then cycles of submit (summary + 2 evidence hashes) -> reject (reason) ->
          evidence (1 hash) -> submit -> reject -> extend_request -> extend_approve (the due date
          moves) -> reassign (another owner). The measure row is what the chain says (state,
          owner, due, version, head, evidence_count). The rows are written in time order, as a
          ledger fills up while many measures progress at once: all create records first (the
          import), then one day at a time, each measure moving at its own pace (at most one record
          per measure per day), so one measure's rows are spread over the whole table. The evidence
          table stays empty: the service's evidence SELECT runs (the records name evidence hashes) and
          finds nothing, so reading real evidence rows (~60 a measure here) is not counted.
          The schema comes from the real migrations (`storage.migrate.upgrade`); the rows are bulk
          loaded straight through the driver (executemany on SQLite, COPY … FREEZE on PostgreSQL),
          one pass that feeds every backend at once. The load is timed apart and not counted.
service   one measure's history through the service layer, timed around exactly this call:
              rows, notes = workflow.history_export.history_rows(app, HistoryQuery(measure=code))
          which is what `rectify history CODE` and the API's history endpoints call: one read-only unit
          of work (Session, pool checkout; SQLite: BEGIN … ROLLBACK; PostgreSQL: autocommit), the measure
          joined to its history by code in one SELECT (HistoryRepository.of_measure: plain rows decoded
          into HistoryEntry tuples, JSON and UTC times included), then the evidence notes of the records
          that name evidence (HistoryRepository.evidence). Printing is not timed.
floor     the SQL the service sends (captured from the engine and checked again before timing), through the
          driver (stdlib `sqlite3`, `psycopg`) on an open connection, a fresh cursor per lookup, 2 x fetchall,
          autocommit, plain tuples (sqlite3 returns the JSON and time columns as text; psycopg the JSON as
          text, since the service's SQL casts it, and times as datetimes).
Lookups   --lookups random measures per layer (default 1000) after --warmup untimed ones (default 200),
          each measure looked up once per layer and the layers on disjoint measures (so neither warms
          the other's pages), in alternating blocks of 100, on one loaded database per backend, which
          is first read into the OS page cache (--cache warm; --cache asis skips that).
          p50/p95/p99/max of the wall time per layer and the service/floor ratio, at every size;
          beside them the lookup's CPU time in this process and how many lookups were preempted (an
          involuntary context switch) or ran a full gc collection, to tell the code's cost from the
          machine's other load. gc.freeze() before the timed lookups, as a server would do once started
          (--no-freeze: without).

The app's own engine (`storage.engine.make_engine`): SQLite in WAL with a deferred BEGIN for read-only
units of work and its page cache at the default; PostgreSQL with the server's settings, read-only units of
work in autocommit, a pooled connection pinged only after it sat idle (never here: the lookups run back to
back). --keep DIR keeps the built ledgers and reuses them next time (a 10M ledger takes minutes to build).

    .venv/bin/python bench/history_lookup.py                     # 100k, 1M, 10M rows on sqlite + postgres (~5-7 min)
    .venv/bin/python bench/history_lookup.py --backend sqlite --sizes 100000,1000000
    .venv/bin/python bench/history_lookup.py --skip-postgres-if-down
    .venv/bin/python bench/history_lookup.py --measures 10000 --per-measure 1000 --sizes 10000000
    .venv/bin/python bench/history_lookup.py --sizes 10000000 --profile /tmp/lookup.prof   # /tmp/lookup.sqlite.prof, …
    .venv/bin/python bench/history_lookup.py --sizes 10000000 --keep /var/tmp/ledgers     # build once, rerun in ~1 min
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# bench/ off the path: this script loads its siblings by file path (_bench_module), as modules of their own
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402

from states.chain import GENESIS  # noqa: E402
from storage import migrate  # noqa: E402
from storage.blobs import EvidenceStore  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from workflow import audit  # noqa: E402
from workflow.app import App  # noqa: E402
from workflow.history_export import HistoryQuery, history_rows  # noqa: E402


def _bench_module(name: str, as_name: str) -> Any:
    """bench/<name>.py as the module `as_name` (bench/ itself stays off sys.path)."""
    spec = importlib.util.spec_from_file_location(as_name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


common = _bench_module("common", "common")  # pg_admin; overdue.py imports it by this name
overdue = _bench_module("overdue", "bench_overdue")  # its ledger's small tables and problem tree, load()

PG_SERVER = "postgresql://postgres@127.0.0.1"  # --pg-url; the script creates and drops <server>/<fresh db>
TARGET_MS = 2.0  # one measure's history among 10,000,000 rows, p99
START = datetime(2026, 8, 13, 1, 0, tzinfo=UTC)  # the import: every create record
FIRST_DAY = date(2026, 8, 14)  # the days after it, one bucket of records each
OWNERS, VERIFIERS, LEADERS, UNITS = overdue.OWNERS, overdue.VERIFIERS, overdue.LEADERS, overdue.UNITS
PER_PROBLEM, PER_HEADING = overdue.PER_PROBLEM, overdue.PER_HEADING
RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
CHUNK = 50_000  # rows per executemany / COPY write
BLOCK = 100  # lookups per layer before the other layer's turn
LEDGER_VERSION = 1  # --keep: bump when the generated ledger changes, so that kept ones are built anew
KEPT = "rectify bench ledger, loaded to the end"  # --keep: the PostgreSQL database's comment once complete

# ---------------------------------------------------------------------------------------------
# the ledger's history, as rows

# (event, from, to, role, reason pool); after create and start, the cycle repeats
CYCLE = ("submit", "reject", "evidence", "submit", "reject", "extend_request", "extend_approve", "reassign")
SUMMARIES = (
    "已修订《公务接待管理办法》并印发执行,组织全体干部职工集中学习2次,建立接待台账,逐月公示接待费用支出情况。",
    "对2025年以来的37笔大额资金支出逐笔复核,追回违规发放补贴4.6万元,相关责任人已作书面检查,整改台账同步更新。",
    "召开专题民主生活会,班子成员逐一对照检视问题,制定个人整改清单12项,已完成9项,其余3项明确时限持续推进。",
    "完成合同管理系统上线,历史合同全部录入并补签审批手续,新增合同一律线上审批,杜绝先履行后签订。",
    "梳理内部控制流程23项,修订采购、报销、资产管理制度5项,经党委会审议通过后印发。",
    "对下属单位开展专项检查,发现问题8个,已督促整改到位,形成检查报告报上级主管部门备案。",
    "已完成整改,相关材料见附件。",
    "组织开展警示教育大会,通报典型案例3起,全体党员签订廉洁承诺书,建立廉政谈话常态化机制,每季度开展一次。",
)
REJECTS = (
    "佐证材料不完整,缺少会议记录和签到表,请补充后重新提交。",
    "整改措施与问题对应不够具体,请说明制度修订的具体条款及执行情况。",
    "追缴资金的银行回单未提供,无法核实到账情况。",
    "请补充整改前后的对比材料。",
    "整改仍停留在表面,未触及根本原因,请进一步查找深层次问题,细化整改措施并明确完成时限和责任人。",
)
EVIDENCE_NOTES = ("补充会议纪要扫描件。", "补充银行回单及财务凭证。", "补充制度文件正式印发稿及学习签到表。",
                  "补充整改前后对比照片。")
EXTENSIONS = ("涉及跨部门协调和制度修订,需提交党委会审议,申请延期一个月。",
              "因上级政策调整,相关工作需重新部署,申请延期。",
              "资金追缴涉及诉讼程序,需等待法院判决,申请延长完成时限。")
APPROVALS = ("", "同意延期,请按新时限完成。", "")
REASSIGNS = ("人员岗位调整,改由新任责任人负责。", "原责任人交流任职,工作移交。")
HISTORY_COLS = ("id",) + overdue.Ledger.HISTORY_COLS
MEASURE_COLS = overdue.Ledger.MEASURE_COLS
# the hashed body (states.chain.Record.canonical): sorted keys, compact, ensure_ascii=False
CANON = ('{"actor":"%s","at":"%s","data":%s,"event":"%s","evidence":%s,"from":%s,"measure_id":%d,'
         '"reason":"%s","request_id":"%s","role":"%s","seq":%d,"to":"%s"}')
EVIDENCE_HASHES = tuple(hashlib.sha256(f"evidence {i}".encode()).hexdigest() for i in range(4093))


def _q(s: str | None) -> str:
    return "null" if s is None else f'"{s}"'


@dataclass(frozen=True)
class Layout:
    """`measures` measures with `per_measure` history records each, written day by day."""

    measures: int
    per_measure: int
    seed: int = 4

    @property
    def rows(self) -> int:
        return self.measures * self.per_measure

    @property
    def days(self) -> int:
        return max(400, 2 * self.per_measure)

    def code(self, i: int) -> str:  # i from 0; as in bench/overdue.py
        p = i // PER_PROBLEM
        return f"B-{p // PER_HEADING + 1}.{p % PER_HEADING + 1}.{i % PER_PROBLEM + 1}"

    def schedule(self) -> list[array[int]]:
        """Per day (after the import day), the measures (ids) that write a record that day.

        Measure m writes its k-th record (k >= 2) on day int(off + (k - 2) * gap), gap >= 1 day: some
        measures move fast and finish early, others take the whole period; at most one record per
        measure per day, so consecutive records of a measure are a day's worth of rows apart. Within
        a day the measures write in id order: that does not change how far apart one measure's rows
        are, and it turns the (measure_id, seq) index's inserts into one sweep a day instead of random
        inserts, which made the bulk load about 1.8x faster.
        """
        rnd = random.Random(self.seed)
        days = [array("i") for _ in range(self.days)]
        steps = self.per_measure - 1
        for m in range(1, self.measures + 1):
            if steps <= 0:
                continue
            gap = rnd.uniform(1.0, (self.days - 1) / max(steps, 1))
            off = rnd.uniform(0.0, self.days - 1 - (steps - 1) * gap - 1e-9)
            for k in range(steps):
                days[int(off + k * gap)].append(m)
        return days


@dataclass
class Chains:
    """Per measure, what its chain says so far (index = measure id)."""

    n: int
    prev: list[str] = field(default_factory=list)
    seq: array[int] = field(default_factory=lambda: array("i"))
    owner: list[str] = field(default_factory=list)
    due: array[int] = field(default_factory=lambda: array("i"))  # date ordinal
    evidence: array[int] = field(default_factory=lambda: array("i"))
    last_at: list[str] = field(default_factory=list)
    state: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.n + 1
        self.prev = [GENESIS] * n
        self.seq = array("i", [0]) * n
        self.owner = [""] * n
        self.due = array("i", [0]) * n
        self.evidence = array("i", [0]) * n
        self.last_at = [""] * n
        self.state = ["assigned"] * n


def verifier_of(m: int) -> str:
    return f"verifier{m % VERIFIERS}"


def leader_of(m: int) -> str:
    return f"leader{m % LEADERS}"


def history_chunks(lay: Layout, ch: Chains, size: int = CHUNK) -> Iterator[list[tuple[Any, ...]]]:
    """Every history row in insertion order, in lists of `size`: (id, measure_id, seq, event, from, to, actor,
    role, at (text, UTC, no zone), reason, evidence (stored JSON), request_id, data (stored JSON), prev_hash,
    hash). Ids run from 1 in this order.

    `at` is 'YYYY-MM-DD HH:MM:SS.ffffff'; the hash covers 'YYYY-MM-DDTHH:MM:SS.ffffffZ' as
    `states.chain.utc_text` writes it. JSON is stored as `json.dumps` writes it (what SQLAlchemy's JSON
    type stores) and hashed in the canonical form (sorted keys, compact).
    """
    sha = hashlib.sha256
    n_ev = len(EVIDENCE_HASHES)
    rid = 0
    out: list[tuple[Any, ...]] = []
    # the import: every create record, in id order, at the same instant
    at_text = START.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    at_db = START.strftime("%Y-%m-%d %H:%M:%S.%f")
    for m in range(1, lay.measures + 1):
        i = m - 1
        owner, verifier, leader = f"owner{i % OWNERS}", verifier_of(i), leader_of(i)
        due = FIRST_DAY + timedelta(days=30 + (i * 7919) % 336)
        due_s = due.isoformat()
        canon_data = (f'{{"due":"{due_s}","kind":"deadline","leader":"{leader}","owner":"{owner}",'
                      f'"source":"bench","verifier":"{verifier}"}}')
        stored = (f'{{"owner": "{owner}", "verifier": "{verifier}", "leader": "{leader}", "due": "{due_s}", '
                  f'"kind": "deadline", "source": "bench"}}')
        canon = CANON % ("system", at_text, canon_data, "create", "[]", "null", m, "", "", "system", 1, "assigned")
        h = sha((GENESIS + canon).encode()).hexdigest()
        rid += 1
        out.append((rid, m, 1, "create", None, "assigned", "system", "system", at_db, "", "[]", "", stored, GENESIS, h))
        if len(out) >= size:
            yield out
            out = []
        ch.prev[m], ch.seq[m], ch.owner[m], ch.due[m], ch.last_at[m] = h, 1, owner, due.toordinal(), at_db
    prev, seqs, owners, dues, evcount, last_at, states = (ch.prev, ch.seq, ch.owner, ch.due, ch.evidence,
                                                         ch.last_at, ch.state)
    events = [""] * 3 + [CYCLE[(k - 3) % len(CYCLE)] for k in range(3, lay.per_measure + 1)]
    events[2] = "start"
    verifiers = [verifier_of(i) for i in range(VERIFIERS)]
    leaders = [leader_of(i) for i in range(LEADERS)]
    req = [f"{random.Random(i).getrandbits(64):016x}" for i in range(1 << 16)]  # request ids (one per command)
    schedule = lay.schedule()
    busiest = max(map(len, schedule), default=1)
    step = (9 * 3600 * 1_000_000) // max(busiest, 1)  # a day's records from 08:00 Beijing (00:00 UTC) on
    times = []
    for j in range(busiest):
        sec, us = divmod(j * step, 1_000_000)
        times.append(f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{us:06d}")
    for d, ids in enumerate(schedule):
        day = (FIRST_DAY + timedelta(days=d)).isoformat()
        day_t, day_s = day + "T", day + " "
        for j, m in enumerate(ids):
            k = seqs[m] + 1
            seqs[m] = k
            rid += 1
            x = rid * 2654435761
            owner = owners[m]
            event = events[k]
            ev = ev_stored = "[]"
            data = data_stored = "{}"
            if event == "submit":
                actor, role, reason = owner, "owner", SUMMARIES[x % 8]
                a, b = EVIDENCE_HASHES[x % n_ev], EVIDENCE_HASHES[(x >> 13) % n_ev]
                ev = f'["{a}","{b}"]'
                ev_stored = f'["{a}", "{b}"]'
                evcount[m] += 2
                frm, to = "in_progress", "submitted"
            elif event == "reject":
                actor, role, reason = verifiers[(m - 1) % VERIFIERS], "verifier", REJECTS[x % 5]
                frm, to = "submitted", "in_progress"
            else:
                frm = to = "in_progress"
                if event == "evidence":
                    actor, role, reason = owner, "owner", EVIDENCE_NOTES[x % 4]
                    ev = ev_stored = f'["{EVIDENCE_HASHES[x % n_ev]}"]'
                    evcount[m] += 1
                elif event == "extend_request":
                    actor, role, reason = owner, "owner", EXTENSIONS[x % 3]
                    old, new = date.fromordinal(dues[m]).isoformat(), date.fromordinal(dues[m] + 30).isoformat()
                    data = f'{{"new_due":"{new}","old_due":"{old}"}}'
                    data_stored = f'{{"old_due": "{old}", "new_due": "{new}"}}'
                elif event == "extend_approve":
                    actor, role, reason = leaders[(m - 1) % LEADERS], "leader", APPROVALS[x % 3]
                    old, new = date.fromordinal(dues[m]).isoformat(), date.fromordinal(dues[m] + 30).isoformat()
                    ext = m * 100 + k
                    data = f'{{"extension_id":"{ext}","new_due":"{new}","old_due":"{old}"}}'
                    data_stored = f'{{"extension_id": "{ext}", "old_due": "{old}", "new_due": "{new}"}}'
                    dues[m] += 30
                elif event == "reassign":
                    actor, role, reason = leaders[(m - 1) % LEADERS], "leader", REASSIGNS[x % 2]
                    new_owner = f"owner{(int(owner[5:]) + 1 + x % 7) % OWNERS}"
                    data = f'{{"new_owner":"{new_owner}","old_owner":"{owner}"}}'
                    data_stored = f'{{"new_owner": "{new_owner}", "old_owner": "{owner}"}}'
                    owners[m] = new_owner
                else:  # start
                    actor, role, reason, frm = owner, "owner", "", "assigned"
            tp = times[j]
            request_id = req[rid & 0xFFFF]
            p = prev[m]
            h = sha((p + CANON % (actor, day_t + tp + "Z", data, event, ev, f'"{frm}"', m, reason, request_id, role,
                                  k, to)).encode()).hexdigest()
            prev[m] = h
            at = day_s + tp
            last_at[m] = at
            states[m] = to
            out.append((rid, m, k, event, frm, to, actor, role, at, reason, ev_stored, request_id, data_stored, p, h))
            if len(out) >= size:
                yield out
                out = []
    if out:
        yield out


def measure_rows(lay: Layout, ch: Chains) -> Iterator[tuple[Any, ...]]:
    """The measure rows as their chains left them (MEASURE_COLS; due as ISO text, times as text)."""
    h = (lay.measures + PER_PROBLEM - 1) // PER_PROBLEM
    headings = (h + PER_HEADING - 1) // PER_HEADING
    for m in range(1, lay.measures + 1):
        i = m - 1
        p = i // PER_PROBLEM
        yield (m, lay.code(i), headings + p + 1, i % PER_PROBLEM + 1, f"({i % PER_PROBLEM + 1})", f"整改措施{m}", "",
               "deadline", ch.state[m], ch.owner[m], verifier_of(i), leader_of(i), f"U{i % UNITS}",
               date.fromordinal(ch.due[m]).isoformat(), ch.seq[m], ch.prev[m], ch.evidence[m], False, 0,
               ch.last_at[m])


def _check_pools() -> None:
    """The text pools go into COPY text and hand-built JSON as they are: no escapes needed."""
    for s in (*SUMMARIES, *REJECTS, *EVIDENCE_NOTES, *EXTENSIONS, *APPROVALS, *REASSIGNS):
        if any(c in s for c in '\\\t\n\r"'):
            raise SystemExit(f"text pool: {s!r} would need escaping")


# ---------------------------------------------------------------------------------------------
# bulk load (setup, timed apart): one pass over the generated rows feeds every backend


class Sink:
    """One backend's database being loaded."""

    name = ""
    seconds = 0.0  # time spent inside this sink (the rest of the pass is generating rows)

    def history(self, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def finish(self, measures: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError


class SqliteSink(Sink):
    name = "sqlite"

    def __init__(self, path: str, lay: Layout):
        engine = make_engine(path)
        migrate.upgrade(engine)
        engine.dispose()
        self.conn = c = sqlite3.connect(path, isolation_level=None)
        # setup only: no journal (the rows would go through the WAL and then again into the file), no fsync,
        # a cache that holds the indexes; finish() puts the file back in WAL mode
        c.execute("PRAGMA journal_mode=OFF")
        c.execute("PRAGMA synchronous=OFF")
        c.execute("PRAGMA cache_size=-1000000")
        c.execute("BEGIN")
        led = overdue.Ledger(lay.measures)

        def conv(v: Any) -> Any:
            if isinstance(v, datetime):
                return overdue._sqlite_ts(v)
            if isinstance(v, date):
                return v.isoformat()
            return int(v) if isinstance(v, bool) else v

        for table, (cols, rows) in led.small_rows().items():
            self._ins(table, cols, ([conv(v) for v in r] for r in rows))
        self._ins("problem", overdue.Ledger.PROBLEM_COLS, led.problem_rows())
        self.hsql = self._sql("history", HISTORY_COLS)

    @staticmethod
    def _sql(table: str, cols: tuple[str, ...]) -> str:
        return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    def _ins(self, table: str, cols: tuple[str, ...], rows: Any) -> None:
        self.conn.executemany(self._sql(table, cols), rows)

    def history(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(self.hsql, rows)

    def finish(self, measures: list[tuple[Any, ...]]) -> None:
        c = self.conn
        self._ins("measure", MEASURE_COLS, ((*r[:17], int(r[17]), *r[18:]) for r in measures))
        c.execute("COMMIT")
        if c.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise SystemExit("sqlite: could not put the loaded file back in WAL mode")
        c.close()


class PostgresSink(Sink):
    name = "postgres"

    def __init__(self, url: str, lay: Layout):
        import psycopg
        from psycopg.copy import QueuedLibpqWriter
        from psycopg.types.json import Json

        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        self.url = url
        self.conn = c = psycopg.connect(url)
        # setup only: no foreign-key triggers while loading (the generator makes every measure_id valid;
        # the measure rows, which need the finished chains, go in last)
        c.execute("SET session_replication_role = replica")
        led = overdue.Ledger(lay.measures)
        for table, (cols, rows) in led.small_rows().items():
            quoted = ", ".join(f'"{k}"' for k in cols)
            with c.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))})",
                                [tuple(Json(json.loads(v)) if k in ("notify", "policy") and v is not None else v
                                       for k, v in zip(cols, r, strict=True)) for r in rows])
        with c.cursor() as cur, cur.copy(f"COPY problem ({', '.join(overdue.Ledger.PROBLEM_COLS)}) FROM STDIN") as cp:
            for r in led.problem_rows():
                cp.write_row(r)
        # emptied in this transaction, so COPY can write the rows frozen (no hint-bit writes on first read,
        # all-visible in the visibility map: the later VACUUM skips them)
        c.execute("TRUNCATE history")
        self.cur = c.cursor()
        # a writer thread sends the data, so the server loads one chunk while this process builds the next
        self.copy_cm = self.cur.copy(f"COPY history ({', '.join(HISTORY_COLS)}) FROM STDIN (FREEZE)",
                                     writer=QueuedLibpqWriter(self.cur))
        self.cp = self.copy_cm.__enter__()

    def history(self, rows: list[tuple[Any, ...]]) -> None:
        self.cp.write("".join([
            f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4] or chr(92) + 'N'}\t{r[5]}\t{r[6]}\t{r[7]}\t{r[8]}+00\t{r[9]}\t"
            f"{r[10]}\t{r[11]}\t{r[12]}\t{r[13]}\t{r[14]}\n" for r in rows]))

    def finish(self, measures: list[tuple[Any, ...]]) -> None:
        self.copy_cm.__exit__(None, None, None)
        c = self.conn
        with self.cur.copy(f"COPY measure ({', '.join(MEASURE_COLS)}) FROM STDIN") as cp:
            for r in measures:
                cp.write_row((*r[:19], r[19] + "+00"))
        for table in ("inspection", "unit", "person", "body", "problem", "measure", "history"):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                      f"(SELECT coalesce(max(id), 1) FROM {table}))")
        c.commit()
        c.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as a:
            a.execute("VACUUM ANALYZE")  # settled tables, as autovacuum leaves them (history: all frozen already)
            a.execute("CHECKPOINT")


@dataclass
class Loaded:
    """What the bulk load took."""

    rows: int
    seconds: float
    sinks: dict[str, float]
    finish: dict[str, float]

    def line(self) -> str:
        gen = self.seconds - sum(self.sinks.values()) - sum(self.finish.values())
        parts = [f"generating rows + hashes {gen:.1f}"]
        parts += [f"{k} {v:.1f} (+ {self.finish[k]:.1f} commit/indexes/analyze)" for k, v in self.sinks.items()]
        return (f"bulk load {self.rows:,} rows in {self.seconds:.1f} s ({self.rows / self.seconds:,.0f} rows/s, "
                f"one pass for {' + '.join(self.sinks)}): " + ", ".join(parts))


def bulk_load(lay: Layout, sinks: list[Sink], say: Callable[[str], None]) -> Loaded:
    t0 = time.perf_counter()
    ch = Chains(lay.measures)
    done, next_say = 0, 2_000_000

    def flush(buf: list[tuple[Any, ...]]) -> None:
        for s in sinks:
            t = time.perf_counter()
            s.history(buf)
            s.seconds += time.perf_counter() - t

    for buf in history_chunks(lay, ch):
        flush(buf)
        done += len(buf)
        if done >= next_say:
            say(f"loaded {done:,}/{lay.rows:,} history rows ({time.perf_counter() - t0:.0f} s)")
            next_say += 2_000_000
    measures = list(measure_rows(lay, ch))
    finish: dict[str, float] = {}
    for s in sinks:
        t = time.perf_counter()
        s.finish(measures)
        finish[s.name] = time.perf_counter() - t
    return Loaded(lay.rows, time.perf_counter() - t0, {s.name: s.seconds for s in sinks}, finish)


# ---------------------------------------------------------------------------------------------
# the lookups


def service_lookup(app: App, code: str) -> list[tuple[Any, str]]:
    """What is timed for the service: one measure's history as `rectify history CODE` and the API read it
    (`workflow.history_export.history_rows`: the measure, its history entries, its evidence notes)."""
    rows, _notes = history_rows(app, HistoryQuery(measure=code))
    return rows


def statements_sent(app: App, code: str) -> list[tuple[str, Any]]:
    """The SQL and parameters the service sends for one lookup (transaction control and pings aside)."""
    seen: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cur: Any, statement: str, parameters: Any, *_a: Any) -> None:
        seen.append((statement, parameters))

    sqlalchemy.event.listen(app.engine, "before_cursor_execute", hook)
    try:
        service_lookup(app, code)
    finally:
        sqlalchemy.event.remove(app.engine, "before_cursor_execute", hook)
    return [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT") and s.strip().upper() != "SELECT 1"]


class Floor:
    """The SQL the service sends, through the driver: an open connection, autocommit, a fresh cursor per lookup.

    The service's two SELECTs take one value each: the first the measure's code (it returns the history,
    measure_id in its second column), the second that measure's id (its evidence).
    """

    conn: Any

    def __init__(self, sent: list[tuple[str, Any]]):
        if len(sent) != 2 or any(len(p) != 1 for _, p in sent):
            raise SystemExit(f"expected 2 SELECTs of one parameter each from the service, got {sent!r}")
        self.sql = [s for s, _ in sent]
        self.keys = [next(iter(p)) if isinstance(p, dict) else None for _, p in sent]  # psycopg: named

    def bind(self, i: int, value: Any) -> Any:
        key = self.keys[i]
        return (value,) if key is None else {key: value}

    def lookup(self, code: str) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        cur.execute(self.sql[0], self.bind(0, code))
        rows: list[tuple[Any, ...]] = cur.fetchall()
        cur.execute(self.sql[1], self.bind(1, rows[0][1]))
        cur.fetchall()
        cur.close()
        return rows

    def plan(self, code: str) -> str:
        raise NotImplementedError

    def close(self) -> None:
        self.conn.close()


class SqliteFloor(Floor):
    def __init__(self, sent: list[tuple[str, Any]], path: str):
        super().__init__(sent)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # autocommit
        self.conn.execute("PRAGMA journal_mode=WAL")

    def plan(self, code: str) -> str:
        return "; ".join(r[-1] for r in self.conn.execute("EXPLAIN QUERY PLAN " + self.sql[0], self.bind(0, code)))


class PostgresFloor(Floor):
    def __init__(self, sent: list[tuple[str, Any]], url: str):
        import psycopg

        super().__init__(sent)
        self.conn = psycopg.connect(url, autocommit=True, options="-c timezone=UTC")  # as the app's engine sets it

    def plan(self, code: str) -> str:
        rows = self.conn.execute("EXPLAIN " + self.sql[0], self.bind(0, code)).fetchall()
        return " | ".join(r[0].strip() for r in rows if "Scan" in r[0] or "Sort" in r[0] or "Loop" in r[0]
                          or "Join" in r[0])


def percentiles(xs: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) and max, in ms."""
    s = sorted(xs)

    def pick(q: int) -> float:
        return s[max(0, min(len(s) - 1, -(-len(s) * q // 100) - 1))]

    return {"p50": 1000 * pick(50), "p95": 1000 * pick(95), "p99": 1000 * pick(99), "max": 1000 * s[-1]}


@dataclass
class Result:
    """One backend at one size."""

    backend: str
    rows: int
    measures: int
    per_measure: int
    svc: Samples = None  # type: ignore[assignment]
    floor: Samples = None  # type: ignore[assignment]
    plan: str = ""
    checked: str = ""
    load: str = ""
    gc: str = ""


class FullCollections:
    """A gc callback: how many full (generation 2) collections ran, how long, during which layer's lookups."""

    def __init__(self) -> None:
        self.count, self.t0, self.ms = 0, 0.0, []  # type: ignore[var-annotated]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self.t0 = time.perf_counter()
        else:
            self.count += 1
            self.ms.append(1000 * (time.perf_counter() - self.t0))

    def line(self) -> str:
        if not self.count:
            return "no full gc collection"
        return f"{self.count} full gc collections ({min(self.ms):.0f}-{max(self.ms):.0f} ms each)"


class Samples:
    """One layer's timed lookups: wall time (what counts), this thread's CPU time, and whether the lookup was
    preempted (an involuntary context switch: another process took the CPU) or ran a full gc collection."""

    def __init__(self, full: FullCollections):
        self.full = full
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.preempted = self.collected = 0

    def time(self, fn: Callable[..., Any], *a: Any) -> Any:
        gcs, r0 = self.full.count, resource.getrusage(RUSAGE_THREAD).ru_nivcsw
        c0 = time.thread_time()
        t0 = time.perf_counter()
        out = fn(*a)
        t1 = time.perf_counter()
        c1 = time.thread_time()
        self.preempted += resource.getrusage(RUSAGE_THREAD).ru_nivcsw != r0
        self.collected += self.full.count != gcs
        self.wall.append(t1 - t0)
        self.cpu.append(c1 - c0)
        return out

    def __getitem__(self, k: str) -> float:  # wall-time percentile in ms
        return percentiles(self.wall)[k]

    def cpu_ms(self, k: str) -> float:
        return percentiles(self.cpu)[k]


def pick_codes(lay: Layout, n: int, rnd: random.Random) -> list[str]:
    """n random measure codes, each once while the ledger has enough measures."""
    ids = rnd.sample(range(lay.measures), n) if n <= lay.measures else [rnd.randrange(lay.measures) for _ in range(n)]
    return [lay.code(i) for i in ids]


def check(app: App, floor: Floor, lay: Layout, rnd: random.Random) -> str:
    """Untimed: the service keeps sending the floor's SQL, and both get the same rows; a sample of chains hold
    and replay to their measure rows (`workflow.audit.verify_measures`); the row count is what was loaded."""
    sent = [s for s, _ in statements_sent(app, lay.code(lay.measures - 1))]
    if sent != floor.sql:
        raise SystemExit(f"the service sent {sent!r}, the floor runs {floor.sql!r}")
    sample = sorted({0, lay.measures - 1, *rnd.sample(range(lay.measures), min(lay.measures, 30))})
    for i in sample[:8]:
        svc = service_lookup(app, lay.code(i))
        raw = floor.lookup(lay.code(i))
        if [(h.id, h.seq, h.hash) for h, _ in svc] != [(r[0], r[2], r[14]) for r in raw]:
            raise SystemExit(f"service and floor disagree on measure {lay.code(i)}")
        if [h.seq for h, _ in svc] != list(range(1, lay.per_measure + 1)):
            raise SystemExit(f"measure {lay.code(i)}: {len(svc)} history rows, expected seq 1..{lay.per_measure}")
    report = audit.verify_measures(app, [i + 1 for i in sample])
    if not report.ok:
        raise SystemExit(f"chains: {report.breaks[:3]}")
    with app.uow(read_only=True) as uow:
        conn = uow.session.connection()
        top = conn.execute(sqlalchemy.text("SELECT max(id) FROM history")).scalar()
        ms = conn.execute(sqlalchemy.text("SELECT max(id) FROM measure")).scalar()
    if (top, ms) != (lay.rows, lay.measures):
        raise SystemExit(f"loaded {top} history rows and {ms} measures, expected {lay.rows} and {lay.measures}")
    return (f"service SQL == floor SQL; same rows on {len(sample[:8])} measures; {report.measures} chains "
            f"({report.records} records) verified and replayed")


def resident(path: str) -> str:
    """How much of a file is in the OS page cache (util-linux `fincore`), as text."""
    if not shutil.which("fincore"):
        return "?"
    import subprocess

    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path], capture_output=True,
                         text=True, check=False).stdout.strip()
    return f"{int(out) / os.path.getsize(path):.0%}" if out.isdigit() else "?"


def prewarm(backend: str, path: str, url: str) -> str:
    """Read the database into the OS page cache, as a server that keeps its ledger in RAM has it (untimed)."""
    t0 = time.perf_counter()
    if backend == "sqlite":
        before = resident(path)
        with open(path, "rb", buffering=0) as f:
            buf = bytearray(8 << 20)
            while f.readinto(buf):
                pass
        return (f"read the {os.path.getsize(path) / 1e9:.2f} GB file into the OS cache in "
                f"{time.perf_counter() - t0:.1f} s (resident before: {before}, after: {resident(path)})")
    import psycopg

    with psycopg.connect(url, autocommit=True) as c:
        try:
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except psycopg.Error as e:
            return f"not prewarmed: no pg_prewarm ({str(e).strip()[:80]})"
        got = c.execute(
            "SELECT sum(pg_prewarm(c.oid, 'read')) FROM pg_class c WHERE c.relname IN ('history', 'measure') "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN ('history'::regclass, "
            "'measure'::regclass))").fetchone()
        blocks = got[0] if got else 0
        c.execute("DROP EXTENSION pg_prewarm")
    return (f"read history, measure and their indexes ({int(blocks) * 8192 / 1e9:.2f} GB) into the OS cache with "
            f"pg_prewarm in {time.perf_counter() - t0:.1f} s")


def run_lookups(backend: str, url: str, path: str, lay: Layout, args: argparse.Namespace, tmp: str,
                say: Callable[[str], None], profile: Any) -> Result:
    res = Result(backend, lay.rows, lay.measures, lay.per_measure)
    engine = make_engine(url)
    app = App(engine=engine, evidence=EvidenceStore(Path(tmp) / "ev"))
    sent = statements_sent(app, lay.code(0))
    floor: Floor = SqliteFloor(sent, path) if backend == "sqlite" else PostgresFloor(sent, url)
    try:
        rnd = random.Random(f"{args.seed}-{lay.rows}")
        res.checked = check(app, floor, lay, rnd)
        res.plan = floor.plan(lay.code(0))
        codes = pick_codes(lay, 2 * (args.warmup + args.lookups), rnd)
        w, n = args.warmup, args.lookups
        warm_svc, warm_floor = codes[:w], codes[w:2 * w]
        svc_codes, floor_codes = codes[2 * w:2 * w + n], codes[2 * w + n:]
        for c in warm_svc:
            service_lookup(app, c)
        for c in warm_floor:
            floor.lookup(c)
        gc.collect()
        if args.freeze:
            # what a long-running server would do once it has started: the objects alive now (modules,
            # the engine, the app) move out of the collector's sight, so a full collection stays cheap
            gc.freeze()
        full = FullCollections()
        svc, flo = Samples(full), Samples(full)
        per = lay.per_measure
        gc.callbacks.append(full)
        try:
            for b in range(0, n, BLOCK):
                for c in svc_codes[b:b + BLOCK]:
                    if len(rows := svc.time(service_lookup, app, c)) != per:
                        raise SystemExit(f"{c}: {len(rows)} history rows, expected {per}")
                for c in floor_codes[b:b + BLOCK]:
                    if len(raw := flo.time(floor.lookup, c)) != per:
                        raise SystemExit(f"{c}: {len(raw)} history rows (floor), expected {per}")
        finally:
            gc.callbacks.remove(full)
            gc.unfreeze()
        res.svc, res.floor = svc, flo
        res.gc = full.line()
        if profile is not None:  # extra lookups under the profiler (not the timed ones)
            profile.enable()
            for c in pick_codes(lay, args.lookups, rnd):
                service_lookup(app, c)
            profile.disable()
    finally:
        floor.close()
        engine.dispose()
    return res


# ---------------------------------------------------------------------------------------------
# running


def machine(args: argparse.Namespace, want_pg: bool) -> bool:
    """Print what this runs on; return whether PostgreSQL answers."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine : {platform.machine()} {platform.system()} {platform.release()}, nproc={cpus}, "
          f"{overdue.load()}")
    print(f"python  : {platform.python_implementation()} {platform.python_version()}, SQLAlchemy "
          f"{sqlalchemy.__version__}")
    print(f"sqlite  : {sqlite3.sqlite_version} (WAL, the app's engine; files in "
          f"{args.tmpdir or tempfile.gettempdir()})")
    pg_up = False
    if want_pg:
        try:
            import psycopg

            with common.pg_admin(args.pg_url) as c:
                ver = c.execute("SHOW server_version").fetchone()[0]
                sb = c.execute("SHOW shared_buffers").fetchone()[0]
            print(f"postgres: {ver} at {args.pg_url} (shared_buffers={sb}), psycopg {psycopg.__version__}")
            pg_up = True
        except Exception as e:  # noqa: BLE001
            print(f"postgres: not reachable at {args.pg_url} ({type(e).__name__}: {str(e).strip()[:120]})")
    return pg_up


def kept(backend: str, path: str, server: str, db: str) -> bool:
    """Whether --keep left a complete ledger here (loaded to the end, at the newest schema revision)."""
    if backend == "sqlite":
        if not (os.path.exists(path) and os.path.exists(path + ".complete")):
            return False
        url = path
    else:
        with common.pg_admin(server) as admin:
            got = admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                                (db,)).fetchone()
        if not got or got[0] != KEPT:
            return False
        url = f"{server}/{db}"
    engine = make_engine(url)
    try:
        current, head = migrate.status(engine)
    finally:
        engine.dispose()
    return current == head


def run_size(rows: int, backends: list[str], args: argparse.Namespace, started: float,
             profile: dict[str, Any] | None) -> list[Result]:
    lay = Layout(rows // args.per_measure, args.per_measure, args.seed)

    def say(msg: str) -> None:
        print(f"  [{time.perf_counter() - started:6.1f} s] {lay.rows:>11,} rows: {msg}", flush=True)

    tmp = tempfile.mkdtemp(prefix="rectify-bench-history-", dir=args.tmpdir)
    if args.keep:  # named by the layout, reused by the next run with the same one
        db = f"rectify_bench_history_{lay.measures}x{lay.per_measure}_s{lay.seed}_v{LEDGER_VERSION}"
        path = os.path.join(args.keep, db + ".db")
    else:
        db = f"rectify_bench_history_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        path = os.path.join(tmp, "ledger.db")
    pg_url = f"{args.pg_url}/{db}"
    drop_pg = False
    try:
        sinks: list[Sink] = []
        reused = [b for b in backends if args.keep and kept(b, path, args.pg_url, db)]
        if "sqlite" in backends and "sqlite" not in reused:
            for f in (path, path + "-wal", path + "-shm", path + ".complete"):
                if os.path.exists(f):
                    os.remove(f)
            sinks.append(SqliteSink(path, lay))
        if "postgres" in backends and "postgres" not in reused:
            with common.pg_admin(args.pg_url) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{db}"')
            drop_pg = not args.keep
            sinks.append(PostgresSink(pg_url, lay))
        load = f"reused the ledger --keep left in {args.keep} ({' + '.join(reused)})" if reused else ""
        if sinks:
            loaded = bulk_load(lay, sinks, say)
            load = "; ".join(x for x in (loaded.line(), load) if x)
            if args.keep:
                for sink in sinks:
                    if sink.name == "sqlite":
                        Path(path + ".complete").write_text(loaded.line() + "\n")
                    else:
                        with common.pg_admin(args.pg_url) as admin:
                            admin.execute(f"COMMENT ON DATABASE \"{db}\" IS '{KEPT}'")
        say(load)
        del sinks
        gc.collect()
        out = []
        os.sync()  # the load's dirty pages on disk now, not written back under the timed lookups
        for backend in backends:
            if args.cache == "warm":
                say(f"{backend}: {prewarm(backend, path, pg_url)}")
            r = run_lookups(backend, path if backend == "sqlite" else pg_url, path, lay, args, tmp, say,
                            profile.setdefault(backend, cProfile.Profile())
                            if profile is not None and rows == max(args.sizes) else None)
            r.load = load
            say(f"{backend}: service p50 {r.svc['p50']:.2f} / p99 {r.svc['p99']:.2f} ms, floor p50 "
                f"{r.floor['p50']:.2f} / p99 {r.floor['p99']:.2f} ms; {r.gc}; {overdue.load()}")
            say(f"{backend}: plan: {r.plan}; {r.checked}")
            out.append(r)
        return out
    finally:
        if drop_pg:
            with common.pg_admin(args.pg_url) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def table(results: list[Result], args: argparse.Namespace) -> None:
    print(f"\nms per lookup of one measure's {args.per_measure} history rows ({args.lookups} random measures per "
          f"layer after {args.warmup} untimed). service = workflow.history_export.history_rows(HistoryQuery("
          "measure=code)): one read-only unit of work, the measure's history by code (decoded), its evidence "
          "notes; floor = the same 2 SELECTs, raw driver.")
    print("wall time counts; cpu = this process's CPU time for the lookup (PostgreSQL: the client side only); "
          "preempted = lookups during which another process took the CPU; gc = lookups that ran a full collection")
    head = (f"{'backend':<9} {'history rows':>12} {'layer':<8} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>7} "
            f"{'cpu p50':>7} {'cpu p99':>7} {'preempted':>9} {'gc':>3}  {'svc/floor p50':>13} {'p99':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        for layer, d in (("service", r.svc), ("floor", r.floor)):
            ratio = (f"{r.svc['p50'] / r.floor['p50']:>12.1f}x {r.svc['p99'] / r.floor['p99']:>5.1f}x"
                     if layer == "service" else "")
            print(f"{r.backend:<9} {r.rows:>12,} {layer:<8} {d['p50']:>6.2f} {d['p95']:>6.2f} {d['p99']:>6.2f} "
                  f"{d['max']:>7.2f} {d.cpu_ms('p50'):>7.2f} {d.cpu_ms('p99'):>7.2f} {d.preempted:>9} "
                  f"{d.collected:>3}  {ratio}")
    frozen = "after gc.freeze()" if args.freeze else "no gc.freeze()"
    print(f"\nfull gc collections during the timed lookups ({frozen}):")
    for r in results:
        print(f"  {r.backend:<9} {r.rows:>12,}: {r.gc}")
    print()
    top = max(r.rows for r in results)
    for r in results:
        if r.rows == top:
            ok = "MET" if r.svc["p99"] < TARGET_MS else "MISSED"
            print(f"{r.backend}: one measure's history among {r.rows:,} rows: service p99 {r.svc['p99']:.2f} ms "
                  f"(floor {r.floor['p99']:.2f} ms); target under {TARGET_MS:g} ms -> {ok}")


COLUMNS = [("backend", "backend"), ("rows", "history rows"), ("service_p50", "service p50 ms"),
           ("service_p99", "service p99 ms"), ("floor_p50", "floor p50 ms"), ("floor_p99", "floor p99 ms"),
           ("ratio_p50", "service/floor p50"), ("preempted", "service lookups preempted")]


def save(results: list[Result], args: argparse.Namespace, res: Any) -> None:
    """The rows and the target as a JSON result file (--json), for bench/report.py."""
    for r in results:
        res.rows.append({"backend": r.backend, "rows": r.rows, "service_p50": round(r.svc["p50"], 2),
                         "service_p99": round(r.svc["p99"], 2), "floor_p50": round(r.floor["p50"], 2),
                         "floor_p99": round(r.floor["p99"], 2), "ratio_p50": round(r.svc["p50"] / r.floor["p50"], 2),
                         "preempted": r.svc.preempted})
    top = max(r.rows for r in results)
    for r in results:
        if r.rows == top:
            res.target(f"{r.backend}: one measure's history among {top:,} rows under {TARGET_MS:g} ms at p99",
                       r.svc["p99"] < TARGET_MS if top >= 10_000_000 else None,
                       f"p99 {r.svc['p99']:.2f} ms, floor {r.floor['p99']:.2f} ms")
    res.notes.append(f"{args.lookups} random measures per layer after {args.warmup} untimed; p99 on this 2-core VM "
                     "moves with whatever else runs (see 'preempted')")
    res.save(args.json)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--measures", type=int, default=100_000, help="measures at the largest size (default 100000)")
    ap.add_argument("--per-measure", type=int, default=100, help="history records per measure (default 100)")
    ap.add_argument("--sizes", default=None,
                    help="history rows per ledger, comma separated (default: measures x per-measure, and 10x, 100x "
                         "and 1000x fewer)")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    ap.add_argument("--skip-postgres-if-down", action="store_true",
                    help="skip PostgreSQL (instead of failing) when the server does not answer")
    ap.add_argument("--pg-url", default=PG_SERVER, help=f"PostgreSQL server, no database (default {PG_SERVER})")
    ap.add_argument("--lookups", type=int, default=1000, help="timed lookups per layer and size (default 1000)")
    ap.add_argument("--warmup", type=int, default=200, help="untimed lookups per layer first (default 200)")
    ap.add_argument("--cache", choices=("warm", "asis"), default="warm",
                    help="warm (default): read each database into the OS page cache before its lookups, as on a "
                         "server that holds its ledger in RAM; asis: whatever the bulk load left there")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the built ledgers (SQLite files in DIR, PostgreSQL databases named by the layout) and "
                         "reuse them on the next run with the same layout and schema, instead of dropping them")
    ap.add_argument("--no-freeze", dest="freeze", action="store_false",
                    help="no gc.freeze() before the timed lookups (default: freeze, as a server would once started)")
    ap.add_argument("--tmpdir", default=None, help="where the SQLite files go (default: the system temp dir)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON (for bench/report.py)")
    ap.add_argument("--profile", metavar="FILE",
                    help="cProfile --lookups extra service lookups at the largest size into FILE, one file per "
                         "backend (FILE.sqlite.prof, FILE.postgres.prof)")
    args = ap.parse_args()
    if args.per_measure < 2 or args.measures < 1:
        ap.error("--per-measure: at least 2; --measures: at least 1")
    top = args.measures * args.per_measure
    try:
        sizes = ([int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()] if args.sizes
                 else [top // 1000, top // 100, top // 10, top])
    except ValueError:
        ap.error("--sizes: comma-separated whole numbers")
    args.sizes = sorted({s for s in sizes if s // args.per_measure >= 1})
    if not args.sizes:
        ap.error(f"--sizes: at least {args.per_measure} rows (one measure)")
    if args.lookups < 1 or args.warmup < 0:
        ap.error("--lookups must be positive, --warmup not negative")

    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    _check_pools()
    # a plain kill still drops the scratch databases and files (the finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    want_pg = args.backend in ("postgres", "all")
    pg_up = machine(args, want_pg)
    backends = ["sqlite"] if args.backend in ("sqlite", "all") else []
    if want_pg:
        if pg_up:
            backends.append("postgres")
        elif args.skip_postgres_if_down:
            print("postgres: skipped (down, --skip-postgres-if-down)")
        else:
            raise SystemExit("PostgreSQL is not reachable; use --backend sqlite or --skip-postgres-if-down")
    if not backends:
        raise SystemExit("no backend to run")
    print(f"ledger  : sizes {', '.join(f'{s:,}' for s in args.sizes)} history rows, {args.per_measure} per measure "
          f"(create, start, then submit/reject/evidence/extend/reassign cycles; valid chains), written day by day "
          f"as measures progress in parallel")
    profile: dict[str, Any] | None = {} if args.profile else None
    res = common.Results("history_lookup", "One measure's history (100 records) among N history rows, service vs "
                         "raw SQL", COLUMNS, common.machine(args.pg_url if pg_up else None),
                         settings={"sizes": args.sizes, "per_measure": args.per_measure, "lookups": args.lookups,
                                   "cache": args.cache, "freeze": args.freeze})
    started = time.perf_counter()
    results: list[Result] = []
    for rows in args.sizes:
        results += run_size(rows, backends, args, started, profile)
    print(f"  [{time.perf_counter() - started:6.1f} s] done; {overdue.load()}")
    print("\nbulk load (setup, not counted):")
    for rows in args.sizes:
        line = next(r.load for r in results if r.rows == rows // args.per_measure * args.per_measure)
        print(f"  {line}")
    table(results, args)
    save(results, args, res)
    if profile:
        stem, ext = os.path.splitext(args.profile)
        print(f"\nservice profiles ({args.lookups} extra, untimed lookups at the largest size):")
        for backend, prof in profile.items():
            prof.dump_stats(out := f"{stem}.{backend}{ext or '.prof'}")
            print(f"  {backend}: {out} (view: python -m pstats {out})")


if __name__ == "__main__":
    main()
