#!/usr/bin/env python
"""Benchmark importing an Excel ledger (整改台账) of 10,000 measures, against the raw-SQL floor.

Workbook  a plan generated in code (--measures measures: 1 body, headings of 20 problems of 10
          measures, two points per problem, 24 people in 12 units) is imported into a scratch
          database and written with `workflow.excel.export_ledger` (untimed): the workbook a
          user would get from `rectify export ledger`.
service   what `rectify import FILE.xlsx` does: `workflow.excel_import.read_workbook` (openpyxl
          read-only, every cell checked, names resolved to ids, the plan validated by pydantic)
          then `workflow.importer.import_plan` (one transaction: inspection, units, people, the
          problem tree, the measures and each measure's first hash-chained history record),
          with a rich progress bar as the CLI shows it.
floor     the same rows straight through stdlib sqlite3 executemany in one transaction, ids
          assigned in memory, with the same SHA-256 chain hash over the same canonical JSON
          for each measure's create record. No workbook reading, no validation.
Both on fresh SQLite files with the schema of the real migrations, WAL, synchronous=FULL.
Afterwards `workflow.audit.verify` checks every chain of both databases (untimed), and the
two ledgers are compared row by row.

    .venv/bin/python bench/import_ledger.py                 # 10, 100, 1,000, 10,000 measures, best of 3
    .venv/bin/python bench/import_ledger.py --sizes 50000 --repeat 1
    .venv/bin/python bench/import_ledger.py --json bench/results/import_ledger.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import common
from rich.console import Console
from rich.progress import Progress

from states.chain import GENESIS, utc_text
from storage import migrate
from workflow import importer
from workflow.app import App, open_app
from workflow.audit import verify
from workflow.clock import ManualClock
from workflow.excel import export_ledger
from workflow.excel_import import read_workbook
from workflow.ledger import LedgerFilter, ledger
from workflow.plan import Plan
from workflow.settings import Settings

AT = datetime(2024, 8, 13, 2, 0, tzinfo=UTC)
console = Console(stderr=True)


def build_plan(measures: int) -> Plan:
    """One body; headings of 20 problems of 10 measures; 12 units, each with an owner, 4 verifiers, 3 leaders."""
    units = [{"code": f"u{i}", "name": f"第{i}科"} for i in range(12)]
    people: list[dict[str, Any]] = [{"id": f"owner{i}", "name": f"第{i}科科长", "unit": f"u{i}", "roles": ["owner"]}
                                    for i in range(12)]
    people += [{"id": f"verifier{i}", "name": f"核验人{i}", "roles": ["verifier"]} for i in range(4)]
    people += [{"id": f"leader{i}", "name": f"分管领导{i}", "roles": ["leader"]} for i in range(3)]
    headings: list[dict[str, Any]] = []
    n = 0
    while n < measures:
        problems = []
        for p in range(20):
            ms = []
            for m in range(10):
                if n >= measures:
                    break
                ms.append({"ref": f"({m + 1})", "title": f"措施{n + 1}:完善制度并抓好落实",
                           "text": "对照问题逐项整改,建立工作台账,明确责任人和完成时限,定期调度推进。" * 2,
                           "kind": ("immediate", "deadline", "long_term")[n % 3], "owner": f"owner{n % 12}",
                           "unit": f"u{n % 12}", "verifier": f"verifier{n % 4}", "leader": f"leader{n % 3}",
                           "due": (date(2024, 9, 30) + timedelta(days=n % 90)).isoformat()})
                n += 1
            if ms:
                text = f"问题{len(headings) + 1}.{p + 1}:一是学习不够;二是落实不够。"
                problems.append({"ref": str(p + 1), "text": text, "points": ["学习不够", "落实不够"], "measures": ms})
        hn = len(headings) + 1
        headings.append({"ref": str(hn), "title": f"反馈问题第{hn}类", "problems": problems})
    return Plan.model_validate({
        "inspection": {"code": "bench", "name": "基准测试巡察", "feedback_date": "2024-08-13"},
        "units": units, "people": people, "bodies": [{"code": "bb", "name": "基准单位", "headings": headings}]})


def fresh_app(folder: Path, name: str) -> App:
    path = folder / name
    settings = Settings(database_url=str(path), evidence_dir=folder / f"{name}.evidence", sqlite_synchronous="FULL")
    app = open_app(str(path), clock=ManualClock(AT), settings=settings)
    migrate.upgrade(app.engine)
    return app


def service(workbook: Path, app: App) -> tuple[float, float, int]:
    """rectify import FILE.xlsx, in process: read and check the workbook, then import; seconds for each."""
    with Progress(console=console, transient=True) as bar:
        reading = bar.add_task("reading workbook", total=None)
        t0 = time.perf_counter()
        plan = read_workbook(workbook, progress=lambda k: bar.advance(reading, k))
        t1 = time.perf_counter()
        n = sum(len(p.measures) for b in plan.bodies for h in b.headings for p in h.problems)
        task = bar.add_task("importing measures", total=n)
        importer.import_plan(app, plan, workbook.name, progress=lambda k: bar.advance(task, k))
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, n


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def floor(plan: Plan, path: Path, source: str) -> float:
    """The same rows through sqlite3 executemany, one transaction, hashes computed here."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    t0 = time.perf_counter()
    ins = plan.inspection
    at = _ts(AT)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO unit (code, name, head) VALUES (?, ?, ?)",
                     [(u.code, u.name, u.head) for u in plan.units])
    conn.executemany("INSERT INTO person (handle, name, unit, roles, email, notify) VALUES (?, ?, ?, ?, ?, '[]')",
                     [(p.id, p.name, p.unit, ",".join(str(r) for r in p.roles), p.email) for p in plan.people])
    conn.execute("INSERT INTO inspection (id, code, name, kind, group_name, feedback_date, timezone, imported_at) "
                 "VALUES (1, ?, ?, ?, ?, ?, ?, ?)", (ins.code, ins.name, ins.kind, ins.group,
                                                     ins.feedback_date.isoformat(), ins.timezone, at))
    problems, measures, history = [], [], []
    pid = mid = 0
    for bi, body in enumerate(plan.bodies, start=1):
        conn.execute("INSERT INTO body (id, inspection_id, code, name) VALUES (?, 1, ?, ?)", (bi, body.code, body.name))
        for hi, h in enumerate(body.headings, start=1):
            pid += 1
            hid = pid
            problems.append((hid, bi, None, "heading", hi, h.ref, h.title, None))
            for pi, p in enumerate(h.problems, start=1):
                pid += 1
                ppid = pid
                problems.append((ppid, bi, hid, "problem", pi, p.ref, p.text, p.repeats))
                for ti, point in enumerate(p.points, start=1):
                    pid += 1
                    problems.append((pid, bi, ppid, "point", ti, str(ti), point, None))
                for mi, m in enumerate(p.measures, start=1):
                    mid += 1
                    code = f"{body.code}-{hi}.{pi}.{mi}"
                    data = {"owner": m.owner, "verifier": m.verifier, "leader": m.leader, "due": m.due.isoformat(),
                            "kind": str(m.kind), "source": source}
                    canon = json.dumps({"measure_id": mid, "seq": 1, "event": "create", "from": None, "to": "assigned",
                                        "actor": "system", "role": "system", "at": utc_text(AT), "reason": "",
                                        "evidence": [], "request_id": "", "data": data},
                                       sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
                    digest = hashlib.sha256(GENESIS.encode() + canon).hexdigest()
                    measures.append((mid, code, ppid, mi, m.ref, m.title, m.text, str(m.kind), "assigned", m.owner,
                                     m.verifier, m.leader, m.unit, m.due.isoformat(), 1, digest, at))
                    history.append((mid, 1, "create", None, "assigned", "system", "system", at, "", "[]", "",
                                    json.dumps(data, ensure_ascii=False), GENESIS, digest))
    conn.executemany("INSERT INTO problem (id, body_id, parent_id, level, position, ref, text, repeats) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", problems)
    conn.executemany("INSERT INTO measure (id, code, problem_id, position, ref, title, text, kind, state, owner, "
                     "verifier, leader, unit, due, version, head, evidence_count, overdue, rebounds, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?)", measures)
    conn.executemany("INSERT INTO history (measure_id, seq, event, from_state, to_state, actor, role, at, reason, "
                     "evidence, request_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     history)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def run_size(folder: Path, size: int, repeat: int) -> tuple[float, float, float, float]:
    """Best of `repeat` at one size: (read s, import s, floor s, workbook MB); both ledgers checked each time."""
    plan = build_plan(size)
    t = time.perf_counter()
    source = fresh_app(folder, f"source-{size}.db")
    importer.import_plan(source, plan, "generated")
    workbook = folder / f"ledger-{size}.xlsx"
    export_ledger(source, LedgerFilter(), "xlsx", workbook)
    source.engine.dispose()
    mb = workbook.stat().st_size / 1e6
    common.say(f"workbook: {size:,} measures, {mb:.2f} MB, written in {time.perf_counter() - t:.1f} s (untimed)")
    runs: list[tuple[float, float]] = []
    floors: list[float] = []
    for i in range(repeat):
        app = fresh_app(folder, f"service-{size}-{i}.db")
        read_s, import_s, n = service(workbook, app)
        assert n == size
        runs.append((read_s, import_s))
        floor_app = fresh_app(folder, f"floor-{size}-{i}.db")
        floor_app.engine.dispose()
        floors.append(floor(plan, folder / f"floor-{size}-{i}.db", workbook.name))
        for a in (app, floor_app):
            report = verify(a)
            assert report.ok and report.measures == size, report.breaks[:3]
        keys = ("code", "title", "kind", "owner", "verifier", "leader", "unit", "due", "state")
        same = [[{k: asdict(r)[k] for k in keys} for r in ledger(a)] for a in (app, floor_app)]
        assert same[0] == same[1], "the floor wrote another ledger"
        app.engine.dispose()
        floor_app.engine.dispose()
    read_s, import_s = min(runs, key=sum)
    return read_s, import_s, min(floors), mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=common.sizes, default=[10, 100, 1000, 10_000],
                    help="measures in the workbook (default 10,100,1000,10000); the target is judged at 10,000")
    ap.add_argument("--measures", type=int, help=argparse.SUPPRESS)  # the old spelling of one size
    ap.add_argument("--repeat", type=int, default=3, help="runs of each layer; the best is reported")
    ap.add_argument("--target", type=float, default=5.0, help="seconds for the whole service import of 10,000")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--json", metavar="PATH", help="write the results file (see bench/common.py)")
    args = ap.parse_args()
    sizes = [args.measures] if args.measures else args.sizes
    m = common.machine(None)
    common.print_machine(m)
    columns = [("size", "measures"), ("mb", "workbook MB"), ("service", "service s"), ("read", "read + check s"),
               ("import", "import s"), ("floor", "floor s"), ("ratio", "service/floor"),
               ("import_ratio", "import/floor"), ("rate", "measures/s")]
    res = common.Results("import_ledger", "Importing an Excel ledger (rectify import) vs the executemany floor",
                         columns, m, settings={"sizes": sizes, "repeat": args.repeat, "target": args.target})
    with tempfile.TemporaryDirectory(prefix="rectify-bench-", dir=args.tmpdir) as tmp:
        for size in sizes:
            read_s, import_s, best_floor, mb = run_size(Path(tmp), size, args.repeat)
            total = read_s + import_s
            res.rows.append({"size": size, "mb": round(mb, 2), "service": round(total, 3), "read": round(read_s, 3),
                             "import": round(import_s, 3), "floor": round(best_floor, 3),
                             "ratio": round(total / best_floor, 1), "import_ratio": round(import_s / best_floor, 1),
                             "rate": round(size / total)})
            common.say(f"{size:,} measures: service {total:.2f} s (read {read_s:.2f} + import {import_s:.2f}), "
                       f"floor {best_floor:.2f} s")
    print(f"best of {args.repeat}; service = read and check the workbook + import_plan; floor = sqlite3 "
          f"executemany with the hashes, no workbook, no checks")
    common.print_table(columns, res.rows)
    at = next((r for r in res.rows if r["size"] == 10_000), None)
    res.target(f"whole import of 10,000 measures under {args.target:g} s", at["service"] < args.target if at else None,
               f"{at['service']:.2f} s" if at else "10,000 not in --sizes")
    res.save(args.json)


if __name__ == "__main__":
    main()
