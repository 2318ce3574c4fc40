#!/usr/bin/env python
"""Benchmark the ledger endpoint over HTTP: `GET /api/measures` on 100,000 measures, paginated and filtered,
under concurrent clients, beside `GET /healthz` of the same server as the floor.

Ledger    --size measures (default 100,000) bulk-loaded as bench/overdue.py does (the real migrations,
          then the rows straight through the driver): 10 measures a problem, 100 problems a heading,
          200 owners over 10 units, all assigned, 1% due yesterday (so `overdue=true` finds 1,000).
Server    `rectify`'s ASGI app (create_app) under uvicorn in a child process on a loopback port, with a
          ManualClock at a fixed time (so "overdue" is the same every run), one worker; every ledger
          request carries an API token (checked by scrypt once, then cached for a minute).
Load      from this process: `wrk` when it is installed (--client auto|wrk), else httpx clients in
          threads (--client httpx); --clients connections, each scenario bounded by --seconds and
          (httpx) --requests. Latency is measured by the client: p50, p95, p99 and requests per second.
Scenarios the floor (/healthz, no auth, no database), then the ledger: the first page, a deep page
          (offset 50,000), one owner, state+unit with an offset, overdue, one problem. Each answer is
          checked once (status 200, the expected total) before the timed run.

    .venv/bin/python bench/ledger_http.py                          # sqlite, 100k, ~2 min with the load
    .venv/bin/python bench/ledger_http.py --client httpx --clients 4 --seconds 5
    .venv/bin/python bench/ledger_http.py --backend postgres        # a fresh database, dropped after
    .venv/bin/python bench/ledger_http.py --backend all --sizes 100,1000,10000,100000 --seconds 3 \
        --json bench/results/ledger_http.json                       # growth, both backends (~4 min)
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common

HERE = Path(__file__).resolve().parent
PAGE = 50


def _overdue_module() -> Any:
    """bench/overdue.py, for its ledger generator and bulk loaders."""
    spec = importlib.util.spec_from_file_location("bench_overdue", HERE / "overdue.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_overdue"] = mod
    spec.loader.exec_module(mod)
    return mod


@dataclass(frozen=True)
class Scenario:
    """One URL to load, with the total and the number of items its answer must have (None: the floor)."""

    name: str
    path: str
    total: int | None
    items: int | None = None


def scenarios(size: int) -> list[Scenario]:
    """The floor and the ledger requests, with the totals bench/overdue.py's generated ledger gives."""
    owners, units = 200, 10  # owner i % 200, unit U(i % 10), every 100th measure (i % 100 == 37) due yesterday
    mine = sum(1 for i in range(size) if i % owners == 7)
    in_unit = sum(1 for i in range(size) if i % units == 3)
    late = sum(1 for i in range(size) if i % 100 == 37)
    skip = min(1000, in_unit // 2)
    p = min(406, (size - 1) // 10 // 2)  # problem 7 of heading 5 when there is one, else one in the middle
    in_problem = min(10, size - 10 * p)

    def page(total: int, offset: int = 0) -> int:
        return max(0, min(PAGE, total - offset))

    return [
        Scenario("healthz (floor)", "/healthz", None),
        Scenario("ledger, first page", f"/api/measures?limit={PAGE}", size, page(size)),
        Scenario("ledger, deep page", f"/api/measures?limit={PAGE}&offset={size // 2}", size, page(size, size // 2)),
        Scenario("ledger, one owner", f"/api/measures?owner=owner7&limit={PAGE}", mine, page(mine)),
        Scenario("ledger, state+unit, offset ≤1000",
                 f"/api/measures?state=assigned&unit=U3&limit={PAGE}&offset={skip}", in_unit, page(in_unit, skip)),
        Scenario("ledger, overdue", f"/api/measures?overdue=true&limit={PAGE}", late, page(late)),
        Scenario("ledger, one problem", f"/api/measures?problem=B-{p // 100 + 1}.{p % 100 + 1}&limit={PAGE}",
                 in_problem, page(in_problem)),
    ]


# ---------------------------------------------------------------------------------------------
# the server (child process)


def serve(url: str, port: int, evidence: str) -> None:
    """Run the app on `url` with the benchmark's fixed clock (called in the child process)."""
    import uvicorn

    from storage.blobs import EvidenceStore
    from storage.engine import make_engine
    from workflow.app import App
    from workflow.clock import ManualClock
    from workflow.web.server import create_app

    ov = _overdue_module()
    app = App(engine=make_engine(url), evidence=EvidenceStore(Path(evidence)), clock=ManualClock(ov.NOW))
    uvicorn.run(create_app(app), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", url, "--port", str(port), "--tmpdir", tmp])
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start within 60 s")


# ---------------------------------------------------------------------------------------------
# the load


@dataclass
class Result:
    """What one scenario measured (latencies in ms)."""

    requests: int
    errors: int
    seconds: float
    p50: float
    p95: float
    p99: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def check(base: str, s: Scenario, headers: dict[str, str]) -> None:
    """One request, answered as expected, before the timed run."""
    import httpx

    r = httpx.get(base + s.path, headers=headers, timeout=60)
    if r.status_code != 200:
        raise SystemExit(f"{s.path}: {r.status_code} {r.text[:200]}")
    if s.total is not None:
        body = r.json()
        if body["total"] != s.total or len(body["items"]) != s.items:
            raise SystemExit(f"{s.path}: total {body['total']}, {len(body['items'])} items; "
                             f"expected {s.total} and {s.items}")


def load_httpx(base: str, path: str, headers: dict[str, str], clients: int, requests: int,
               seconds: float) -> Result:
    """`clients` threads with a keep-alive httpx client each, until `requests` or `seconds` run out."""
    import httpx

    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    left = [requests]
    stop_at = [0.0]
    gate = threading.Barrier(clients + 1)

    def worker() -> None:
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            c.get(path)  # connect, and warm this connection
            gate.wait()
            while time.perf_counter() < stop_at[0]:
                with lock:
                    if left[0] <= 0:
                        break
                    left[0] -= 1
                t = time.perf_counter()
                r = c.get(path)
                mine.append((time.perf_counter() - t) * 1000)
                bad += r.status_code != 200
        with lock:
            lat.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + 3600
    gate.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for t in threads:
        t.join()
    took = time.perf_counter() - began
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0] if lat else 0.0] * 99
    return Result(len(lat), errors[0], took, q[49], q[94], q[98])


WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.duration, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def load_wrk(base: str, path: str, headers: dict[str, str], clients: int, seconds: float, tmp: str) -> Result:
    """`wrk` with `clients` connections on 2 threads for `seconds` (latency percentiles from its histogram)."""
    script = Path(tmp) / "report.lua"
    script.write_text(WRK_SCRIPT)
    cmd = ["wrk", "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
           "--timeout", "60s", "-s", str(script)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, base + path], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    n, err, us, p50, p95, p99 = line.split()[1:]
    return Result(int(n), int(err), int(us) / 1e6, float(p50), float(p95), float(p99))


# ---------------------------------------------------------------------------------------------
# the databases


def build_sqlite(ov: Any, size: int, tmp: str) -> str:
    path = str(Path(tmp) / f"ledger-{size}.db")
    ov.load_sqlite(path, ov.Ledger(size), common.say)
    return path


def token_for(url: str, person: str) -> str:
    from storage.blobs import EvidenceStore
    from storage.engine import make_engine
    from workflow.app import App
    from workflow.auth import create_token

    app = App(engine=make_engine(url), evidence=EvidenceStore(Path(tempfile.gettempdir())))
    try:
        return create_token(app, person, "bench")
    finally:
        app.engine.dispose()


def run_one(backend: str, url: str, size: int, tmp: str, client: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Serve the ledger at `url` and load every scenario; the result rows."""
    headers = {"Authorization": f"Bearer {token_for(url, 'leader0')}"}
    proc, base = start_server(url, tmp)
    rows: list[dict[str, Any]] = []
    try:
        floor_p50 = None
        for s in scenarios(size):
            check(base, s, headers)
            if client == "wrk":
                r = load_wrk(base, s.path, headers, args.clients, args.seconds, tmp)
            else:
                r = load_httpx(base, s.path, headers, args.clients, args.requests, args.seconds)
            floor_p50 = floor_p50 or r.p50
            rows.append({"backend": backend, "size": size, "scenario": s.name, "total": s.total,
                         "requests": r.requests, "errors": r.errors, "p50": round(r.p50, 2), "p95": round(r.p95, 2),
                         "p99": round(r.p99, 2), "rps": round(r.rps, 1), "vs_floor": round(r.p50 / floor_p50, 1)})
            common.say(f"{backend} {size:,}: {s.name}: p50 {r.p50:.2f} ms, {r.rps:.0f} req/s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=common.sizes, default=[100_000],
                    help="measures in the ledger (default 100000; growth: 100,1000,10000,100000)")
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)  # the old spelling of one size
    ap.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="sqlite")
    ap.add_argument("--skip-postgres-if-down", action="store_true")
    ap.add_argument("--pg-url", default=common.PG_SERVER, help="the PostgreSQL server (a fresh database is made there)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent connections")
    ap.add_argument("--seconds", type=float, default=8.0, help="at most this long per scenario")
    ap.add_argument("--requests", type=int, default=3000, help="at most this many requests per scenario (httpx)")
    ap.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--json", metavar="PATH", help="write the results file (see bench/common.py)")
    ap.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, str(Path(args.tmpdir or tempfile.gettempdir()) / "evidence"))
        return
    sizes = [args.size] if args.size else args.sizes

    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    if client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --client httpx")

    m = common.machine(args.pg_url if args.backend != "sqlite" else None)
    common.print_machine(m)
    print(f"rectify ledger over HTTP: {', '.join(f'{s:,}' for s in sizes)} measures, {args.clients} concurrent "
          f"clients ({client}, from a second process), ≤{args.seconds:g} s per scenario")
    columns = [("backend", "backend"), ("size", "measures"), ("scenario", "scenario"), ("total", "matches"),
               ("requests", "requests"), ("errors", "errors"), ("p50", "p50 ms"), ("p95", "p95 ms"),
               ("p99", "p99 ms"), ("rps", "req/s"), ("vs_floor", "p50/floor")]
    res = common.Results("ledger_http", f"The ledger endpoint over HTTP ({args.clients} clients, {client})", columns,
                         m, settings={"sizes": sizes, "backend": args.backend, "clients": args.clients,
                                      "seconds": args.seconds, "client": client})
    ov = _overdue_module()
    for backend in common.backends(args.backend, args.pg_url, args.skip_postgres_if_down, m):
        for size in sizes:
            tmp = tempfile.mkdtemp(prefix="rectify-bench-http-", dir=args.tmpdir)
            try:
                t = time.perf_counter()
                if backend == "sqlite":
                    res.rows += run_one(backend, build_sqlite(ov, size, tmp), size, tmp, client, args)
                else:
                    with common.scratch_database(args.pg_url, "rectify_bench_http") as url:
                        ov.load_postgres(url, ov.Ledger(size), common.say)
                        res.rows += run_one(backend, url, size, tmp, client, args)
                common.say(f"{backend} {size:,} done in {time.perf_counter() - t:.0f} s")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    print()
    common.print_table(columns, res.rows)
    res.notes.append("Latency is the client's, with all clients at once; p50/floor compares with /healthz of the "
                     "same server in the same run.")
    res.save(args.json)
    if any(r["errors"] for r in res.rows):
        raise SystemExit("some requests failed")


if __name__ == "__main__":
    main()
