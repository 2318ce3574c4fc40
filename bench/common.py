"""What the benchmark scripts share: the machine report, throwaway PostgreSQL databases, timing,
tables, and the JSON result file that bench/report.py turns into docs/benchmarks.md.

A script run as a file has bench/ first on sys.path, so `import common` finds this module; rectify's
own packages come from the editable install (`pip install -e .`).

The result file (`--json PATH`), format 1:

    {"format": 1, "bench": "drain", "title": "…", "command": "bench/drain.py --sizes …",
     "started": "2026-11-27T10:00:00Z", "seconds": 93.1,
     "machine": {…machine()…}, "settings": {…the arguments…},
     "columns": [["backend", "backend"], ["rate", "reminders/s"], …],   # key, heading; table order
     "rows": [{"backend": "sqlite", "rate": 812.4, …}, …],              # numbers stay numbers
     "targets": [{"target": "2 workers ≥ 1.5× one (sqlite)", "met": true, "detail": "1.62×"}],
     "notes": ["…"]}
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1"  # a server URL without a database; scripts make their own
LIBRARIES = ("sqlalchemy", "sqlmodel", "psycopg", "transitions", "apprise", "openpyxl", "python-calamine",
             "fastapi", "uvicorn", "django", "django-fsm-2", "django-fsm-log")
FORMAT = 1

# ---------------------------------------------------------------------------------------------
# the machine


def pg_admin(server: str = PG_SERVER, timeout: int = 3) -> Any:
    """An autocommit connection to the server's `postgres` database (for CREATE/DROP DATABASE)."""
    import psycopg

    return psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=timeout)


def postgres_info(server: str = PG_SERVER) -> dict[str, str] | None:
    """The server's version and the settings that decide write speed; None when it does not answer."""
    try:
        with pg_admin(server) as c:
            names = ("server_version", "synchronous_commit", "fsync", "shared_buffers", "wal_level")
            return {n: str(c.execute(f"SHOW {n}").fetchone()[0]) for n in names}
    except Exception:  # noqa: BLE001 - any failure to connect means "not there"; the caller says so
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine(pg_url: str | None = PG_SERVER) -> dict[str, Any]:
    """What this runs on: CPU, memory, load, OS, Python, SQLite, PostgreSQL (if asked and up), libraries."""
    libs = {}
    for name in LIBRARIES:
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libs[name] = None
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(), "arch": platform.machine(), "nproc": nproc, "memory_gib": _memory_gib(),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # others' work shows here: read figures with it
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "postgres": postgres_info(pg_url) if pg_url else None,
        "libraries": libs,
    }


def machine_lines(m: dict[str, Any]) -> list[str]:
    """The machine report as a few readable lines."""
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    pg = m.get("postgres")
    pg_text = (f"PostgreSQL {pg['server_version']} (synchronous_commit={pg['synchronous_commit']}, "
               f"fsync={pg['fsync']}, shared_buffers={pg['shared_buffers']})" if pg else "PostgreSQL: not used or down")
    load = " ".join(f"{x:g}" for x in m["load_average"])
    return [f"machine : {m['cpu']} ({m['arch']}), nproc={m['nproc']}, {m['memory_gib']} GiB, {m['os']}, "
            f"load average {load}",
            f"software: {m['python']}, SQLite {m['sqlite']}, {pg_text}",
            f"libs    : {libs}"]


def print_machine(m: dict[str, Any]) -> None:
    print("\n".join(machine_lines(m)), flush=True)


# ---------------------------------------------------------------------------------------------
# throwaway PostgreSQL databases


@contextmanager
def scratch_database(server: str = PG_SERVER, prefix: str = "rectify_bench") -> Iterator[str]:
    """A fresh database on `server`, dropped afterwards (even if connections are left open); yields its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with pg_admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with pg_admin(server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backends(choice: str, pg_url: str, skip_if_down: bool, m: dict[str, Any]) -> list[str]:
    """The backends to run for --backend sqlite|postgres|all; PostgreSQL down is an error unless skipped."""
    wanted = ["sqlite", "postgres"] if choice == "all" else [choice]
    if "postgres" in wanted and not m.get("postgres"):
        if not skip_if_down:
            raise SystemExit(f"PostgreSQL does not answer at {pg_url}; use --backend sqlite or --skip-postgres-if-down")
        print(f"postgres: skipped (no answer at {pg_url}, --skip-postgres-if-down)")
        wanted.remove("postgres")
    return wanted


# ---------------------------------------------------------------------------------------------
# arguments and timing


def sizes(text: str) -> list[int]:
    """--sizes 10,100,1000 (underscores allowed) as positive integers."""
    out = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    if not out or min(out) < 1:
        raise ValueError(f"sizes must be positive integers, got {text!r}")
    return out


def ints(text: str) -> list[int]:
    """A comma-separated list of positive integers (process or worker counts)."""
    return sizes(text)


def best_of(run: Callable[[], float], repeat: int) -> tuple[float, list[float]]:
    """Run `run` (which returns seconds) `repeat` times: the best, and all of them."""
    times = [run() for _ in range(repeat)]
    return min(times), times


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: …` then t[0] is the seconds it took."""
    box = [0.0]
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - t0


def percentile(xs: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) by the inclusive method; the one value when there is one."""
    if len(xs) == 1:
        return float(xs[0])
    return statistics.quantiles(xs, n=100, method="inclusive")[max(0, min(98, round(p) - 1))]


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat; (0, 0) elsewhere."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """How many cores the whole machine kept busy between two cpu_ticks() (everyone's work, not just ours)."""
    total = after[1] - before[1]
    if total <= 0:
        return None
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return round(nproc * (after[0] - before[0]) / total, 2)


def collect(out: Any, procs: Sequence[Any], timeout: float) -> list[Any]:
    """One report per child process from queue `out`; fails fast if a child died without reporting."""
    import queue

    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < len(procs):
        try:
            got.append(out.get(timeout=1.0))
        except queue.Empty:
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(procs) - len(got)} child process(es) did not report within {timeout:g} s") \
                    from None
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(f"a child process died without reporting (exit code {dead[0].exitcode})") from None
    for p in procs:
        p.join(timeout=60)
    return got


def say(msg: str) -> None:
    """Progress on stderr, so stdout keeps only the report."""
    print(f"  … {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# tables and the result file


def fmt(v: Any) -> str:
    """A cell: thousands separators for counts, 3 significant-ish digits for measures."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    return str(v)


def table(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> list[str]:
    """A plain-text table: text left, numbers right."""
    cells = [[fmt(r.get(k)) for k, _ in columns] for r in rows]
    right = [any(isinstance(r.get(k), int | float) and not isinstance(r.get(k), bool) for r in rows)
             for k, _ in columns]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(vals, widths, right, strict=True))

    head = line([h for _, h in columns])
    return [head, "-" * len(head)] + [line(c) for c in cells]


def print_table(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> None:
    print("\n".join(table(columns, rows)), flush=True)


@dataclass
class Results:
    """One script's results, printed as it goes and saved as the JSON result file."""

    bench: str
    title: str
    columns: list[tuple[str, str]]
    machine: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    _t0: float = field(default_factory=time.perf_counter)

    def target(self, target: str, met: bool | None, detail: str = "") -> None:
        """A target and whether this run met it (None: could not tell); printed at once."""
        self.targets.append({"target": target, "met": met, "detail": detail})
        verdict = {True: "MET", False: "MISSED", None: "not measured"}[met]
        print(f"target: {target}: {verdict}" + (f" ({detail})" if detail else ""), flush=True)

    def save(self, path: str | Path | None) -> None:
        """Write the result file (if a path was given) in the format described at the top of this module."""
        if not path:
            return
        doc = {"format": FORMAT, "bench": self.bench, "title": self.title,
               "command": " ".join(["bench/" + Path(sys.argv[0]).name, *sys.argv[1:]]),
               "started": self.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "seconds": round(time.perf_counter() - self._t0, 1), "machine": self.machine,
               "settings": self.settings, "columns": [list(c) for c in self.columns], "rows": self.rows,
               "targets": self.targets, "notes": self.notes}
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        scratch = p.with_suffix(p.suffix + ".tmp")
        scratch.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(scratch, p)  # a crashed run leaves the previous file, never half of one
        print(f"results written to {p}", flush=True)
