#!/usr/bin/env python
"""Persisted transitions per second: rectify's service layer beside the raw-SQL floor and a peer
(django-fsm-2 with django-fsm-log), with 1 and 4 processes, on SQLite and PostgreSQL.

The life   every measure goes assigned → in_progress → submitted → verified → closed:
           start (owner), submit (owner: a summary and one evidence note; guarded), verify
           (verifier; the owner may not), close (leader; the owner may not). 4 transitions a measure.
service    `workflow.services.fire(...)`: one unit of work that loads the measure and the actor,
           checks permission, runs the guard through `transitions`, seals the hash-chained record,
           `UPDATE measure … WHERE id=? AND version=?`, INSERTs the history row (and the evidence row
           on submit; cancels pending deadline reminders on verify; schedules 3 rebound checks on
           close, after reading the round's policy), commits.
floor      the same writes with the same values (same SHA-256 chain hash over the same canonical
           JSON) straight through stdlib sqlite3 / psycopg, one transaction per transition, no reads:
           the state is kept in memory.
peer       bench/peer_django.py: Django + django-fsm-2 (FSMField, @transition with conditions and
           permissions, ConcurrentTransitionMixin) + django-fsm-log (@fsm_log_by: a StateLog row per
           transition), one transaction.atomic() per transition, in a database of its own.

Same durability everywhere: SQLite WAL, synchronous=FULL, BEGIN IMMEDIATE, 60 s busy timeout;
PostgreSQL with the server's settings. With N processes, each process works its own measures (no
conflicts), starts at a shared barrier after an untimed warm-up, and the rate is all transitions /
(last finish − first start). Layers and process counts alternate within each repeat; the best
repeat is reported. Afterwards (untimed) every rectify chain is verified with `workflow.audit.verify`
and the peer's tables are counted: every measure closed, 4 StateLog rows each.

    .venv/bin/python bench/transition_rate.py                         # sqlite + postgres, 1 and 4 processes
    .venv/bin/python bench/transition_rate.py --backend sqlite --measures 50 --repeat 1
    .venv/bin/python bench/transition_rate.py --skip-postgres-if-down --json bench/results/transition_rate.json
    .venv/bin/python bench/transition_rate.py --backend sqlite --procs 1 --layers service --profile /tmp/svc.prof
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from transition_floor import PostgresFloor, SqliteFloor, Track, floor_write

LAYERS = ("floor", "service", "peer")
LIFE = ("start", "submit", "verify", "close")
TARGET_FLOOR = 3.0  # service within 3x of the floor
WARM = 10  # measures per process lived through untimed first (connections, caches, prepared statements)

# ---------------------------------------------------------------------------------------------
# the plan


def people(owners: int = 12, verifiers: int = 4, leaders: int = 3) -> list[dict[str, Any]]:
    """The round's people, as the plan takes them."""
    return ([{"id": f"owner{i}", "name": f"责任人{i}", "roles": ["owner"]} for i in range(owners)]
            + [{"id": f"verifier{i}", "name": f"核验人{i}", "roles": ["verifier"]} for i in range(verifiers)]
            + [{"id": f"leader{i}", "name": f"责任领导{i}", "roles": ["leader"]} for i in range(leaders)])


def build_plan(per_body: int) -> Any:
    """Two bodies, "svc" (the service layer's measures) and "raw" (the floor's), `per_body` measures each."""
    from workflow.plan import Plan

    ps = people()
    owners = [p["id"] for p in ps if p["roles"] == ["owner"]]
    bodies = []
    for body in ("svc", "raw"):
        problems = []
        for p in range((per_body + 9) // 10):
            ms = [{"ref": f"({k + 1})", "title": f"措施{p * 10 + k}", "kind": "deadline",
                   "owner": owners[(p * 10 + k) % len(owners)], "verifier": f"verifier{(p * 10 + k) % 4}",
                   "leader": f"leader{(p * 10 + k) % 3}", "due": "2030-12-31"}
                  for k in range(min(10, per_body - p * 10))]
            problems.append({"ref": str(p + 1), "text": f"问题{p + 1}", "measures": ms})
        bodies.append({"code": body, "name": f"bench body {body}",
                       "headings": [{"ref": "一", "title": "基准", "problems": problems}]})
    return Plan.model_validate({"inspection": {"code": "bench", "name": "benchmark round",
                                               "feedback_date": "2024-08-13"},
                                "people": ps, "bodies": bodies})


def load_tracks(app: Any, body: str) -> list[Track]:
    """The body's measures as imported."""
    with app.uow(read_only=True) as uow:
        rows = [r for r in uow.measures.all_rows() if r.code.startswith(body + "-")]
    return [Track(r.id, r.code, r.owner, r.verifier, r.leader, r.due, r.state, r.version, r.head,
                  r.evidence_count) for r in rows]


def step_args(t: Track, event: str, n: int) -> tuple[str, str, str]:
    """Actor, reason and evidence note of one step of the life."""
    if event == "submit":
        return t.owner, f"整改完成 #{n}:已修订制度并组织学习", f"佐证材料 #{n}: 会议纪要、制度文件"
    return {"start": t.owner, "verify": t.verifier, "close": t.leader}[event], "", ""


# ---------------------------------------------------------------------------------------------
# one worker process: a layer's way to fire a step, the warm-up, the barrier, the timed lives

Step = Callable[[Track, str, int], None]


def open_layer(layer: str, backend: str, target: str, tmp: str) -> tuple[Step, Callable[[], None]]:
    """The layer's step function and how to close it, opened in this (child) process."""
    if layer == "service":
        from states.model import Event
        from storage.blobs import EvidenceStore
        from storage.engine import make_engine
        from workflow import services
        from workflow.app import App

        app = App(engine=make_engine(target), evidence=EvidenceStore(Path(tmp) / f"ev-{os.getpid()}"))

        def service_step(t: Track, event: str, n: int) -> None:
            actor, reason, note = step_args(t, event, n)
            services.fire(app, Event(event), t.code, actor=actor, reason=reason, notes=(note,) if note else ())

        return service_step, app.engine.dispose
    if layer == "floor":
        floor: SqliteFloor | PostgresFloor = SqliteFloor(target) if backend == "sqlite" else PostgresFloor(target)
        rid = uuid.uuid4().hex[:16]

        def floor_step(t: Track, event: str, n: int) -> None:
            actor, reason, note = step_args(t, event, n)
            floor.step(floor_write(t, event, actor, reason, note, rid))

        return floor_step, floor.close
    import peer_django

    peer_django.configure(backend, target)

    def peer_step(t: Track, event: str, n: int) -> None:
        actor, reason, note = step_args(t, event, n)
        peer_django.fire(t.code, event, actor, reason, note)

    return peer_step, lambda: None


def worker(layer: str, backend: str, target: str, tmp: str, warm: list[Track], timed: list[Track],
           barrier: Any, out: Any, profile: str | None) -> None:
    """Warm up, wait for the others, live every measure's life; report (start, end, transitions)."""
    try:
        step, close = open_layer(layer, backend, target, tmp)
        n = 0
        for t in warm:
            for event in LIFE:
                n += 1
                step(t, event, n)
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile(time.process_time)  # CPU, not wall: waits and other load stay out
        barrier.wait(timeout=300)
        if prof:
            prof.enable()
        t0, c0 = time.perf_counter(), time.process_time()  # perf_counter: CLOCK_MONOTONIC, shared on Linux
        for t in timed:
            for event in LIFE:
                n += 1
                step(t, event, n)
        t1, c1 = time.perf_counter(), time.process_time()
        if prof and profile:
            prof.disable()
            prof.dump_stats(profile)
        close()
        out.put(("ok", t0, t1, len(timed) * len(LIFE), c1 - c0))
    except BaseException:
        barrier.abort()  # the others must not wait for us
        out.put(("error", traceback.format_exc()))


def run_processes(ctx: Any, layer: str, backend: str, target: str, tmp: str, slices: list[tuple[list[Track],
                  list[Track]]], profile: str | None) -> tuple[int, float, float]:
    """Run one worker per slice at once; (transitions, seconds from first start to last finish, CPU seconds)."""
    barrier = ctx.Barrier(len(slices))
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(layer, backend, target, tmp, warm, timed, barrier, out,
                                              profile if i == 0 else None))
             for i, (warm, timed) in enumerate(slices)]
    for p in procs:
        p.start()
    got = common.collect(out, procs, timeout=900)
    errors = [g[1] for g in got if g[0] == "error"]
    if errors:
        raise SystemExit(f"{backend} {layer}: a worker failed:\n{errors[0]}")
    return sum(g[3] for g in got), max(g[2] for g in got) - min(g[1] for g in got), sum(g[4] for g in got)


# ---------------------------------------------------------------------------------------------
# the peer's database (in child processes: Django configures once per process)


def _peer_child(job: str, backend: str, target: str, tracks: list[dict[str, Any]], out: Any) -> None:
    try:
        import peer_django

        peer_django.configure(backend, target)
        if job == "create":
            peer_django.create([p["id"] for p in people()], tracks)
            out.put(("ok", {}))
        else:
            out.put(("ok", peer_django.counts()))
    except BaseException:
        out.put(("error", traceback.format_exc()))


def peer_job(ctx: Any, job: str, backend: str, target: str, tracks: list[Track] | None = None) -> dict[str, int]:
    """Create the peer's tables and rows ("create"), or count what a run left ("counts"), in a child process."""
    out = ctx.Queue()
    rows = [{"code": t.code, "owner": t.owner, "verifier": t.verifier, "leader": t.leader,
             "due": t.due.isoformat()} for t in tracks or []]
    p = ctx.Process(target=_peer_child, args=(job, backend, target, rows, out))
    p.start()
    status, value = common.collect(out, [p], timeout=600)[0]
    if status != "ok":
        raise SystemExit(f"peer ({backend}) {job} failed:\n{value}")
    return dict(value)


# ---------------------------------------------------------------------------------------------
# one backend


@dataclass
class Run:
    """One layer's run with N processes."""

    backend: str
    layer: str
    procs: int
    transitions: int
    seconds: float
    cpu: float  # the workers' CPU seconds (this layer's Python and driver; not the database server's)
    busy: float | None  # cores the whole machine kept busy meanwhile (everyone's work)

    @property
    def rate(self) -> float:
        """Transitions per second, all processes together."""
        return self.transitions / self.seconds


def run_backend(backend: str, targets: dict[str, str], tmp: str, args: argparse.Namespace) -> list[Run]:
    from storage import migrate
    from storage.blobs import EvidenceStore
    from storage.engine import make_engine
    from workflow import audit, importer
    from workflow.app import App

    ctx = multiprocessing.get_context("spawn")  # clean children: no inherited connections, Django set up once each
    per_run = args.measures + WARM
    need = per_run * sum(args.procs) * args.repeat
    common.say(f"{backend}: importing {2 * need:,} measures for rectify and creating {need:,} for the peer")
    app = App(engine=make_engine(targets["rectify"]), evidence=EvidenceStore(Path(tmp) / "ev"))
    migrate.upgrade(app.engine)
    importer.import_plan(app, build_plan(need), "bench")
    pools = {"service": load_tracks(app, "svc"), "floor": load_tracks(app, "raw")}
    app.engine.dispose()
    if "peer" in args.layers:
        pools["peer"] = [Track(0, t.code, t.owner, t.verifier, t.leader, t.due) for t in pools["service"]]
        peer_job(ctx, "create", backend, targets["peer"], pools["peer"])
    runs: list[Run] = []
    for r in range(args.repeat):
        for n in args.procs:
            order = args.layers if r % 2 == 0 else args.layers[::-1]  # alternate who goes first
            for layer in order:
                slices = []
                for _ in range(n):  # each process its own fresh measures: WARM untimed, then the timed ones
                    chunk, pools[layer] = pools[layer][:per_run], pools[layer][per_run:]
                    slices.append((chunk[:WARM], chunk[WARM:]))
                profile = (f"{args.profile}.{backend}.{layer}.prof" if args.profile and n == 1
                           and r == args.repeat - 1 else None)
                ticks = common.cpu_ticks()
                done, secs, cpu = run_processes(ctx, layer, backend,
                                                targets["peer" if layer == "peer" else "rectify"], tmp, slices, profile)
                runs.append(Run(backend, layer, n, done, secs, cpu, common.busy_cores(ticks, common.cpu_ticks())))
                common.say(f"{backend} {layer:7} {n} proc: {done:,} transitions in {secs:.2f} s = "
                           f"{done / secs:,.0f}/s, CPU {1000 * cpu / done:.2f} ms each (repeat {r + 1})")
    # untimed checks: every rectify chain holds; the peer closed everything with 4 log rows each
    app = App(engine=make_engine(targets["rectify"]), evidence=EvidenceStore(Path(tmp) / "ev"))
    report = audit.verify(app)
    app.engine.dispose()
    if not report.ok:
        raise SystemExit(f"{backend}: chain verification failed: {report.breaks[:3]}")
    print(f"{backend}: verified {report.records:,} history records on {report.measures:,} measures, all chains hold")
    if "peer" in args.layers:
        timed = sum(r.transitions for r in runs if r.layer == "peer") // len(LIFE)
        lived = timed + WARM * sum(args.procs) * args.repeat
        c = peer_job(ctx, "counts", backend, targets["peer"])
        if c.get("state closed") != lived or c["statelog"] != len(LIFE) * lived or c["evidence"] != lived:
            raise SystemExit(f"{backend}: the peer left {c}, expected {lived} closed measures")
        print(f"{backend}: peer closed {lived:,} measures with {c['statelog']:,} StateLog rows")
    return runs


def best(runs: list[Run]) -> dict[tuple[str, str, int], Run]:
    """The fastest repeat of each (backend, layer, processes)."""
    out: dict[tuple[str, str, int], Run] = {}
    for r in runs:
        k = (r.backend, r.layer, r.procs)
        if k not in out or r.rate > out[k].rate:
            out[k] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    ap.add_argument("--skip-postgres-if-down", action="store_true")
    ap.add_argument("--pg-url", default=common.PG_SERVER, help="PostgreSQL server, no database (fresh ones are made)")
    ap.add_argument("--measures", type=int, default=250,
                    help="measures each process lives through per run, 4 transitions each (default 250)")
    ap.add_argument("--procs", type=common.ints, default=[1, 4], help="process counts (default 1,4)")
    ap.add_argument("--layers", type=lambda s: [x for x in s.split(",") if x], default=list(LAYERS),
                    help="floor,service,peer (default all three)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each layer and process count; the best counts")
    ap.add_argument("--tmpdir", default=None, help="where the SQLite files go (default: the system temp dir)")
    ap.add_argument("--profile", metavar="PREFIX",
                    help="CPU profile of each layer's 1-process run (last repeat): PREFIX.<backend>.<layer>.prof")
    ap.add_argument("--json", metavar="PATH", help="write the results file (see bench/common.py)")
    args = ap.parse_args()
    if args.measures < 1 or args.repeat < 1 or any(x not in LAYERS for x in args.layers):
        ap.error("--measures and --repeat must be positive; --layers takes floor, service, peer")

    m = common.machine(args.pg_url if args.backend != "sqlite" else None)
    common.print_machine(m)
    print(f"workload: each process lives {args.measures} measures through start → submit (+1 evidence note) → "
          f"verify → close ({4 * args.measures} transitions) after {WARM} untimed; processes {args.procs}; "
          f"best of {args.repeat}")
    columns = [("backend", "backend"), ("procs", "processes"), ("layer", "layer"), ("transitions", "transitions"),
               ("seconds", "seconds"), ("rate", "transitions/s"), ("ms", "ms/transition per process"),
               ("vs_floor", "time vs floor"), ("vs_peer", "rate vs peer"), ("cpu", "CPU ms/transition"),
               ("busy", "machine busy cores")]
    res = common.Results("transition_rate", "Persisted transitions per second (service layer, floor, peer)",
                         columns, m, settings={k: v for k, v in vars(args).items() if k != "json"})
    runs: list[Run] = []
    for backend in common.backends(args.backend, args.pg_url, args.skip_postgres_if_down, m):
        with tempfile.TemporaryDirectory(prefix="rectify-bench-rate-", dir=args.tmpdir) as tmp:
            if backend == "sqlite":
                runs += run_backend(backend, {"rectify": str(Path(tmp) / "rectify.db"),
                                              "peer": str(Path(tmp) / "peer.db")}, tmp, args)
            else:
                with common.scratch_database(args.pg_url, "rectify_bench_rate") as a, \
                        common.scratch_database(args.pg_url, "rectify_bench_peer") as b:
                    runs += run_backend(backend, {"rectify": a, "peer": b}, tmp, args)
    top = best(runs)
    ordered = sorted(top.items(), key=lambda kv: (kv[0][0] != "sqlite", kv[0][2], LAYERS.index(kv[0][1])))
    for (backend, layer, n), r in ordered:
        floor, peer = top.get((backend, "floor", n)), top.get((backend, "peer", n))
        res.rows.append({"backend": backend, "procs": n, "layer": layer, "transitions": r.transitions,
                         "seconds": round(r.seconds, 3), "rate": round(r.rate, 1),
                         "ms": round(1000 * r.seconds * n / r.transitions, 3),
                         "vs_floor": round(floor.rate / r.rate, 2) if floor and layer != "floor" else None,
                         "vs_peer": round(r.rate / peer.rate, 2) if peer and layer != "peer" else None,
                         "cpu": round(1000 * r.cpu / r.transitions, 3), "busy": r.busy})
    print()
    common.print_table(columns, res.rows)
    print()
    for (backend, layer, n), r in ordered:
        if layer != "service":
            continue
        floor, peer = top.get((backend, "floor", n)), top.get((backend, "peer", n))
        if peer:
            res.target(f"service ahead of the peer ({backend}, {n} process{'es' if n > 1 else ''})",
                       r.rate > peer.rate, f"{r.rate:,.0f} vs {peer.rate:,.0f} transitions/s")
        if floor:
            res.target(f"service within {TARGET_FLOOR:g}× of the floor ({backend}, {n} process{'es' if n > 1 else ''})",
                       floor.rate / r.rate <= TARGET_FLOOR, f"{floor.rate / r.rate:.2f}×")
    res.notes.append("rate = all transitions / (last process's finish − first process's start); best of the repeats. "
                     "time vs floor = floor rate / this rate; rate vs peer = this rate / peer rate. CPU = the "
                     "worker processes' own CPU time per transition (not the database server's); machine busy "
                     "cores = the whole machine during that run, other work included.")
    res.save(args.json)


if __name__ == "__main__":
    main()
