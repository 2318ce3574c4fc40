#!/usr/bin/env python
"""Benchmark one persisted transition: the service layer against the raw-driver floor.

service  `workflow.services.fire(...)`: one unit of work that loads the measure and the actor
         (and the new owner on a reassign), checks permission, runs the guard through
         `transitions`, seals the hash-chained record, does the conditional
         `UPDATE measure … WHERE id=? AND version=?`, INSERTs the history row (and, on a submit,
         the evidence row) and commits.
floor    the same UPDATE and INSERTs (same columns, same values, same SHA-256 chain hash computed
         in the same canonical form) straight through the driver (stdlib `sqlite3`, `psycopg`),
         one transaction per transition, no reads: state is kept in memory.

Same durability for both layers: SQLite WAL, synchronous=FULL, BEGIN IMMEDIATE; PostgreSQL
with the server's settings (READ COMMITTED, synchronous_commit as configured).

Workload: a generated plan of --measures measures (owners, verifiers, leaders); every measure
is started (untimed warm-up), then cycles forever through
    owner submit (summary + one evidence note) -> verifier reject (reason) -> leader reassign
    to another owner -> new owner submit -> ...
i.e. one third each of submit-with-evidence, reject, reassign, round-robin over the measures.
Floor and service run on their own measures of the same fresh database, in alternating
chunks (--rounds), so disk and cache drift hit both alike. Afterwards every chain is verified
with `workflow.audit.verify` (untimed), so the floor's rows are proven equivalent.

    .venv/bin/python bench/transitions.py                 # sqlite + postgres, 2000 each
    .venv/bin/python bench/transitions.py --backend sqlite --n 5000
    .venv/bin/python bench/transitions.py --skip-postgres-if-down
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# this file is called transitions.py: keep bench/ off the path or it shadows the `transitions` library
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402

from states.chain import utc_text  # noqa: E402
from states.model import Event  # noqa: E402
from storage import migrate  # noqa: E402
from storage.blobs import EvidenceStore, note_hash  # noqa: E402
from storage.engine import make_engine  # noqa: E402
from workflow import audit, importer, services  # noqa: E402
from workflow.app import App  # noqa: E402
from workflow.plan import Plan  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1"  # --pg-url; the script creates and drops <server>/<fresh db>
TARGET = 3.0  # service within 3x of the floor on SQLite WAL synchronous=FULL

# ---------------------------------------------------------------------------------------------
# the plan and the workload


def build_plan(measures: int, owners: int = 12, verifiers: int = 4, leaders: int = 3) -> Plan:
    """Two bodies ("svc" for the service layer, "raw" for the floor), `measures` measures each."""
    people: list[dict[str, Any]] = []
    people += [{"id": f"owner{i}", "name": f"责任人{i}", "roles": ["owner"]} for i in range(owners)]
    people += [{"id": f"verifier{i}", "name": f"核验人{i}", "roles": ["verifier"]} for i in range(verifiers)]
    people += [{"id": f"leader{i}", "name": f"责任领导{i}", "roles": ["leader"]} for i in range(leaders)]
    per_problem = 10
    bodies = []
    for body in ("svc", "raw"):
        problems = []
        for p in range((measures + per_problem - 1) // per_problem):
            ms = []
            for k in range(min(per_problem, measures - p * per_problem)):
                i = p * per_problem + k
                ms.append({"ref": f"({k + 1})", "title": f"措施{i}", "kind": "deadline",
                           "owner": f"owner{i % owners}", "verifier": f"verifier{i % verifiers}",
                           "leader": f"leader{i % leaders}", "due": "2030-12-31"})
            problems.append({"ref": str(p + 1), "text": f"问题{p + 1}", "measures": ms})
        bodies.append({"code": body, "name": f"bench body {body}",
                       "headings": [{"ref": "一", "title": "基准", "problems": problems}]})
    return Plan.model_validate({
        "inspection": {"code": "bench", "name": "benchmark round", "feedback_date": "2024-08-13"},
        "people": people, "bodies": bodies,
    })


@dataclass
class Track:
    """What the workload needs to know of one measure (and the floor's in-memory copy of it)."""

    id: int
    code: str
    state: str
    owner: str
    verifier: str
    leader: str
    due: date
    version: int
    head: str
    evidence_count: int
    overdue: bool
    rebounds: int
    phase: int = 0


@dataclass(frozen=True)
class Step:
    """One transition to fire."""

    track: Track
    event: Event
    actor: str
    reason: str = ""
    note: str = ""
    new_owner: str | None = None


CYCLE = (Event.SUBMIT, Event.REJECT, Event.REASSIGN)


@dataclass
class Workload:
    """Round-robin over the measures; each one cycles submit -> reject -> reassign -> submit …"""

    tracks: list[Track]
    owners: list[str]
    i: int = 0

    def next(self) -> Step:
        t = self.tracks[self.i % len(self.tracks)]
        self.i += 1
        event = CYCLE[t.phase % len(CYCLE)]
        t.phase += 1
        n = self.i
        if event is Event.SUBMIT:
            return Step(t, event, t.owner, reason=f"整改完成 #{n}", note=f"佐证材料 #{n}: 会议纪要、制度文件")
        if event is Event.REJECT:
            return Step(t, event, t.verifier, reason=f"佐证不足 #{n}")
        other = self.owners[(self.owners.index(t.owner) + 1) % len(self.owners)]
        return Step(t, event, t.leader, new_owner=other)


def load_tracks(app: App, body: str) -> list[Track]:
    with app.uow(read_only=True) as uow:
        rows = [r for r in uow.measures.all_rows() if r.code.startswith(body + "-")]
    return [Track(id=r.id or 0, code=r.code, state=r.state, owner=r.owner, verifier=r.verifier, leader=r.leader,
                  due=r.due, version=r.version, head=r.head, evidence_count=r.evidence_count,
                  overdue=bool(r.overdue), rebounds=r.rebounds) for r in rows]


# ---------------------------------------------------------------------------------------------
# the service layer


def service_step(app: App, s: Step) -> None:
    services.fire(app, s.event, s.track.code, actor=s.actor, reason=s.reason,
                  notes=(s.note,) if s.note else (), new_owner=s.new_owner)
    if s.event is Event.REASSIGN:  # the workload's own bookkeeping (who owns it now)
        s.track.owner = s.new_owner or s.track.owner


# ---------------------------------------------------------------------------------------------
# the floor: the same writes, straight through the driver

UPDATE_COLS = ("state", "owner", "due", "version", "head", "evidence_count", "overdue", "rebounds", "updated_at")
HISTORY_COLS = ("measure_id", "seq", "event", "from_state", "to_state", "actor", "role", "at", "reason",
                "evidence", "request_id", "data", "prev_hash", "hash")
EVIDENCE_COLS = ("measure_id", "seq", "sha256", "kind", "name", "size", "note", "added_by", "added_at")
ROLE_OF = {Event.SUBMIT: "owner", Event.REJECT: "verifier", Event.REASSIGN: "leader"}


def chain_hash(prev: str, body: dict[str, Any]) -> str:
    """states.chain.Record.computed_hash, written out: sha256(prev + canonical JSON)."""
    canon = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(prev.encode() + canon).hexdigest()


@dataclass
class Write:
    """Everything one transition writes, computed in memory (the domain logic the floor skips)."""

    update: dict[str, Any]
    where_id: int
    where_version: int
    history: dict[str, Any]
    evidence: dict[str, Any] | None


def floor_write(s: Step, request_id: str) -> Write:
    t = s.track
    at = datetime.now(UTC)
    before = t.state
    after = {Event.SUBMIT: "submitted", Event.REJECT: "in_progress", Event.REASSIGN: before}[s.event]
    evidence = [note_hash(s.note)] if s.note else []
    data = {"new_owner": s.new_owner, "old_owner": t.owner} if s.event is Event.REASSIGN else {}
    seq = t.version + 1
    h = chain_hash(t.head, {
        "measure_id": t.id, "seq": seq, "event": str(s.event), "from": before, "to": after, "actor": s.actor,
        "role": ROLE_OF[s.event], "at": utc_text(at), "reason": s.reason, "evidence": evidence,
        "request_id": request_id, "data": data,
    })
    history = {"measure_id": t.id, "seq": seq, "event": str(s.event), "from_state": before, "to_state": after,
               "actor": s.actor, "role": ROLE_OF[s.event], "at": at, "reason": s.reason, "evidence": evidence,
               "request_id": request_id, "data": data, "prev_hash": t.head, "hash": h}
    ev = None
    if s.note:
        ev = {"measure_id": t.id, "seq": seq, "sha256": evidence[0], "kind": "note", "name": "",
              "size": len(s.note.encode()), "note": s.note, "added_by": s.actor, "added_at": at}
    t.state, t.version, t.head = after, seq, h
    t.evidence_count += len(evidence)
    if s.new_owner:
        t.owner = s.new_owner
    update = {"state": t.state, "owner": t.owner, "due": t.due, "version": t.version, "head": t.head,
              "evidence_count": t.evidence_count, "overdue": t.overdue, "rebounds": t.rebounds, "updated_at": at}
    return Write(update, t.id, seq - 1, history, ev)


def _sqlite_ts(at: datetime) -> str:
    # what SQLAlchemy's SQLite DateTime stores for UTCDateTime: naive UTC text with microseconds
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteFloor:
    """stdlib sqlite3, the engine's connection settings, BEGIN IMMEDIATE … COMMIT per transition."""

    def __init__(self, path: str, synchronous: str):
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "foreign_keys=ON", "busy_timeout=60000"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.upd = (f"UPDATE measure SET {', '.join(f'{c}=?' for c in UPDATE_COLS)} WHERE id=? AND version=?")
        self.hist = f"INSERT INTO history ({', '.join(HISTORY_COLS)}) VALUES ({', '.join('?' * len(HISTORY_COLS))})"
        self.evid = f"INSERT INTO evidence ({', '.join(EVIDENCE_COLS)}) VALUES ({', '.join('?' * len(EVIDENCE_COLS))})"

    def step(self, s: Step, request_id: str) -> None:
        w = floor_write(s, request_id)
        u = dict(w.update, due=w.update["due"].isoformat(), overdue=int(w.update["overdue"]),
                 updated_at=_sqlite_ts(w.update["updated_at"]))
        h = dict(w.history, at=_sqlite_ts(w.history["at"]), evidence=json.dumps(w.history["evidence"]),
                 data=json.dumps(w.history["data"]))
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            if c.execute(self.upd, [u[k] for k in UPDATE_COLS] + [w.where_id, w.where_version]).rowcount != 1:
                raise RuntimeError(f"floor: version conflict on measure {w.where_id}")
            c.execute(self.hist, [h[k] for k in HISTORY_COLS])
            if w.evidence:
                e = dict(w.evidence, added_at=_sqlite_ts(w.evidence["added_at"]))
                c.execute(self.evid, [e[k] for k in EVIDENCE_COLS])
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
        self.upd = f"UPDATE measure SET {', '.join(f'{c}=%s' for c in UPDATE_COLS)} WHERE id=%s AND version=%s"
        self.hist = (f"INSERT INTO history ({', '.join(HISTORY_COLS)}) "
                     f"VALUES ({', '.join(['%s'] * len(HISTORY_COLS))})")
        self.evid = (f"INSERT INTO evidence ({', '.join(EVIDENCE_COLS)}) "
                     f"VALUES ({', '.join(['%s'] * len(EVIDENCE_COLS))})")

    def step(self, s: Step, request_id: str) -> None:
        w = floor_write(s, request_id)
        h = dict(w.history, evidence=self.Json(w.history["evidence"]), data=self.Json(w.history["data"]))
        c = self.conn
        with c.transaction(), c.cursor() as cur:
            cur.execute(self.upd, [w.update[k] for k in UPDATE_COLS] + [w.where_id, w.where_version])
            if cur.rowcount != 1:
                raise RuntimeError(f"floor: version conflict on measure {w.where_id}")
            cur.execute(self.hist, [h[k] for k in HISTORY_COLS])
            if w.evidence:
                cur.execute(self.evid, [w.evidence[k] for k in EVIDENCE_COLS])

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class Result:
    backend: str
    layer: str
    latencies: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.latencies)

    @property
    def seconds(self) -> float:
        return sum(self.latencies)

    @property
    def ms(self) -> float:
        return 1000 * self.seconds / self.n

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        return 1000 * xs[min(len(xs) - 1, int(p * len(xs)))]


def timed(step: Callable[[], None], count: int, into: Result) -> None:
    clock = time.perf_counter
    for _ in range(count):
        t0 = clock()
        step()
        into.latencies.append(clock() - t0)


def chunks(total: int, rounds: int) -> Iterator[int]:
    base, extra = divmod(total, rounds)
    for r in range(rounds):
        yield base + (r < extra)


def run_backend(backend: str, app: App, floor: SqliteFloor | PostgresFloor, args: argparse.Namespace,
                profile: Any = None) -> tuple[Result, Result]:
    migrate.upgrade(app.engine)
    plan = build_plan(args.measures)
    owners = [p.id for p in plan.people if "owner" in p.roles]
    importer.import_plan(app, plan, "bench")
    # warm-up, untimed: start every measure (assigned -> in_progress) through the service
    for body in ("svc", "raw"):
        for t in load_tracks(app, body):
            services.fire(app, Event.START, t.code, actor=t.owner)
    svc = Workload(load_tracks(app, "svc"), owners)
    raw = Workload(load_tracks(app, "raw"), owners)
    rid = uuid.uuid4().hex[:16]

    def svc_step() -> None:
        service_step(app, svc.next())

    def raw_step() -> None:
        floor.step(raw.next(), rid)

    for _ in range(args.warmup):  # a few of each, untimed (caches, prepared statements)
        raw_step()
        svc_step()
    r_floor, r_svc = Result(backend, "floor"), Result(backend, "service")
    for k in chunks(args.n, args.rounds):
        timed(raw_step, k, r_floor)
        if profile is not None:
            profile.enable()
        timed(svc_step, k, r_svc)
        if profile is not None:
            profile.disable()
    report = audit.verify(app)  # untimed: every chain (service and floor rows) must hold
    if not report.ok:
        raise SystemExit(f"{backend}: chain verification failed: {report.breaks[:3]}")
    print(f"  {backend}: verified {report.records} history records on {report.measures} measures, all chains hold")
    return r_floor, r_svc


def run_sqlite(args: argparse.Namespace, profile: Any = None) -> tuple[Result, Result]:
    with tempfile.TemporaryDirectory(prefix="rectify-bench-", dir=args.tmpdir) as tmp:
        db = os.path.join(tmp, "bench.db")
        app = App(engine=make_engine(db, synchronous=args.synchronous), evidence=EvidenceStore(Path(tmp) / "ev"))
        floor = SqliteFloor(db, args.synchronous)
        try:
            return run_backend("sqlite", app, floor, args, profile)
        finally:
            floor.close()
            app.engine.dispose()


def pg_admin(server: str, timeout: int = 3) -> Any:
    import psycopg

    return psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=timeout)


def run_postgres(args: argparse.Namespace, profile: Any = None) -> tuple[Result, Result]:
    name = f"rectify_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with pg_admin(args.pg_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg_url}/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="rectify-bench-", dir=args.tmpdir) as tmp:
            app = App(engine=make_engine(url), evidence=EvidenceStore(Path(tmp) / "ev"))
            floor = PostgresFloor(url)
            try:
                return run_backend("postgres", app, floor, args, profile)
            finally:
                floor.close()
                app.engine.dispose()
    finally:
        with pg_admin(args.pg_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def machine(args: argparse.Namespace, want_pg: bool) -> bool:
    """Print what this ran on; return whether PostgreSQL is reachable."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine : {platform.machine()} {platform.system()} {platform.release()}, nproc={cpus}")
    print(f"python  : {platform.python_implementation()} {platform.python_version()}, "
          f"SQLAlchemy {sqlalchemy.__version__}")
    print(f"sqlite  : {sqlite3.sqlite_version} (WAL, synchronous={args.synchronous}, BEGIN IMMEDIATE), "
          f"file in {args.tmpdir or tempfile.gettempdir()}")
    pg_up = False
    if want_pg:
        try:
            import psycopg

            with pg_admin(args.pg_url) as c:
                ver = c.execute("SHOW server_version").fetchone()[0]
                sc = c.execute("SHOW synchronous_commit").fetchone()[0]
                fs = c.execute("SHOW fsync").fetchone()[0]
            print(f"postgres: {ver} at {args.pg_url} (synchronous_commit={sc}, fsync={fs}), "
                  f"psycopg {psycopg.__version__}")
            pg_up = True
        except Exception as e:  # noqa: BLE001
            print(f"postgres: not reachable at {args.pg_url} ({type(e).__name__}: {str(e).strip()[:120]})")
    print(f"workload: {args.measures} measures per layer, round-robin; cycle submit(+1 evidence note) -> reject "
          f"-> reassign; {args.n} timed transitions per layer in {args.rounds} alternating chunks, "
          f"{args.warmup} warm-up each")
    print("floor   : same UPDATE … WHERE id=? AND version=? + history INSERT (+ evidence INSERT on submit), "
          "same SHA-256 chain hash computed, no reads")
    return pg_up


def table(results: list[tuple[Result, Result]]) -> None:
    head = (f"{'backend':<9} {'layer':<8} {'transitions':>11} {'seconds':>8} {'ms/transition':>13} "
            f"{'transitions/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'service/floor':>13}")
    print()
    print(head)
    print("-" * len(head))
    for floor, svc in results:
        ratio = svc.seconds / floor.seconds
        for r in (floor, svc):
            rt = f"{ratio:.2f}x" if r is svc else ""
            print(f"{r.backend:<9} {r.layer:<8} {r.n:>11} {r.seconds:>8.2f} {r.ms:>13.3f} "
                  f"{r.n / r.seconds:>13.0f} {r.pct(0.5):>7.2f} {r.pct(0.99):>7.2f} {rt:>13}")
    print()
    for floor, svc in results:
        ratio = svc.seconds / floor.seconds
        over = 1000 * (svc.seconds - floor.seconds) / svc.n
        line = f"{floor.backend}: service/floor = {ratio:.2f}x (service overhead {over:.3f} ms per transition)"
        if floor.backend == "sqlite":
            ok = "MET" if ratio <= TARGET else "MISSED"
            line += f"; target: service within {TARGET:g}x of the floor on SQLite WAL synchronous=FULL -> {ok}"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="timed transitions per layer per backend (default 2000)")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    ap.add_argument("--skip-postgres-if-down", action="store_true",
                    help="skip PostgreSQL (instead of failing) when the server does not answer")
    ap.add_argument("--pg-url", default=PG_SERVER, help=f"PostgreSQL server, no database (default {PG_SERVER})")
    ap.add_argument("--measures", type=int, default=200, help="measures per layer (default 200)")
    ap.add_argument("--rounds", type=int, default=4, help="alternating floor/service chunks (default 4)")
    ap.add_argument("--warmup", type=int, default=100, help="untimed transitions per layer first (default 100)")
    ap.add_argument("--synchronous", default="FULL", help="SQLite synchronous for both layers (default FULL)")
    ap.add_argument("--tmpdir", default=None, help="where the SQLite file goes (default: the system temp dir)")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the service layer's timed steps into FILE (.prof)")
    args = ap.parse_args()
    if args.n < 1 or args.rounds < 1 or args.measures < 1:
        ap.error("--n, --rounds and --measures must be positive")

    want_pg = args.backend in ("postgres", "all")
    pg_up = machine(args, want_pg)
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
    results: list[tuple[Result, Result]] = []
    if args.backend in ("sqlite", "all"):
        results.append(run_sqlite(args, profile))
    if want_pg:
        if pg_up:
            results.append(run_postgres(args, profile))
        elif args.skip_postgres_if_down:
            print("  postgres: skipped (down, --skip-postgres-if-down)")
        else:
            raise SystemExit("PostgreSQL is not reachable; use --backend sqlite or --skip-postgres-if-down")
    table(results)
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"\nservice-layer profile written to {args.profile} "
              f"(view: python -m pstats {args.profile}, or snakeviz)")


if __name__ == "__main__":
    main()
