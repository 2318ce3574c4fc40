"""PostgreSQL restarted and connections cut under load: clients get a clear retryable error, never a 500;
nothing is half-written or written twice; the service answers again within seconds of the database.

A live uvicorn serves the small plan from a PostgreSQL server of the test's own. Three clients each keep
sending commands on their own measure (evidence notes, or a measure going round start, submit, reject),
every one with its own Idempotency-Key, retrying it with that key while the answer is 503 (or 409 "still
being processed"). Meanwhile the test cuts every connection with `pg_terminate_backend`, restarts the
server (fast, then as after a crash), and stops it long enough to run the CLI against it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage import migrate
from workflow import importer, plan
from workflow.app import App
from workflow.clock import ManualClock
from workflow.web import idempotency
from workflow.web.server import create_app

from ..support import SMALL_PLAN, START, count, history_rows, open_test_app
from ..web.api_support import bearer, live, make_tokens, one_line
from .checks import assert_ledger_whole
from .pgserver import ThrowawayPostgres

RECOVERY_S = 5.0  # the service must answer again this soon after the database is back
GIVE_UP_S = 120.0  # a client retrying one command longer than this is a failure
# each client's measure, its owner, and its verifier (None: the client adds evidence notes, else it goes round
# start, submit, reject)
CLIENTS = [("b1-1.1.1", "alice", None), ("b1-1.1.2", "alice", None), ("b1-2.1.1", "bob", "checker")]


@dataclass
class Seen:
    """What the clients were answered, shared between their threads."""

    statuses: Counter[int] = field(default_factory=Counter)
    unavailable: list[httpx.Response] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    done: Counter[str] = field(default_factory=Counter)  # commands answered 200, by measure
    notes: list[str] = field(default_factory=list)  # evidence notes answered 200
    lock: threading.Lock = field(default_factory=threading.Lock)


def _send(http: httpx.Client, path: str, token: str, key: str, body: dict[str, Any], seen: Seen) -> httpx.Response:
    """One command, retried with its key until it gets a final answer."""
    deadline = time.monotonic() + GIVE_UP_S
    while time.monotonic() < deadline:
        try:
            r = http.post(path, headers=bearer(token, **{"Idempotency-Key": key}), json=body)
        except httpx.TransportError as e:  # the API itself must stay up whatever the database does
            with seen.lock:
                seen.failures.append(f"{path}: {type(e).__name__}: {e}")
            time.sleep(0.2)
            continue
        with seen.lock:
            seen.statuses[r.status_code] += 1
            if r.status_code == 503:
                seen.unavailable.append(r)
        if r.status_code == 503 or (r.status_code == 409 and r.json().get("error") == "KeyInUse"):
            time.sleep(0.05)
            continue
        return r
    raise AssertionError(f"{path} with key {key!r} got no final answer in {GIVE_UP_S} s")


def _client(base: str, tokens: dict[str, str], n: int, stop: threading.Event, seen: Seen) -> None:
    """Keep sending commands on one measure until told to stop; record what was answered."""
    code, owner, verifier = CLIENTS[n]
    with httpx.Client(base_url=base, timeout=60) as http:
        i = 0
        while not stop.is_set():
            i += 1
            key = f"client{n}-{i}"
            body: dict[str, Any]
            if verifier is None:
                path, token, body = f"/api/measures/{code}/evidence", tokens[owner], {"notes": [key]}
            else:  # start, then submit and reject for ever
                event, person = [("submit", owner), ("reject", verifier)][i % 2] if i > 1 else ("start", owner)
                path, token = f"/api/measures/{code}/events/{event}", tokens[person]
                body = {"reason": key, "notes": [key] if event == "submit" else []}
            try:
                r = _send(http, path, token, key, body, seen)
            except AssertionError as e:
                with seen.lock:
                    seen.failures.append(str(e))
                return
            with seen.lock:
                if r.status_code == 200:
                    seen.done[code] += 1
                    seen.notes += body["notes"]
                else:
                    seen.failures.append(f"{path} ({key}): {r.status_code} {r.text}")


def _until_healthy(base: str, token: str) -> float:
    """Seconds until a read of a measure answers 200 again."""
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=10) as http:
        while time.monotonic() - started < 60:
            if http.get("/api/measures/b1-1.1.1", headers=bearer(token)).status_code == 200:
                return time.monotonic() - started
            time.sleep(0.05)
    return float("inf")


@pytest.fixture
def on_throwaway(throwaway_pg: ThrowawayPostgres, tmp_path: Path) -> Iterator[tuple[App, ManualClock, str]]:
    """The small plan with a token per person, on the throwaway server; and its database URL."""
    url = throwaway_pg.create_database("rectify")
    clock = ManualClock(START)
    app = open_test_app(url, evidence_dir=tmp_path / "evidence", clock=clock)
    migrate.upgrade(app.engine)
    importer.import_plan(app, plan.load(SMALL_PLAN), SMALL_PLAN.name)
    yield app, clock, url
    app.engine.dispose()


def test_restarts_and_cut_connections_under_load_give_503s_and_lose_or_double_nothing(
        throwaway_pg: ThrowawayPostgres, on_throwaway: tuple[App, ManualClock, str]) -> None:
    app, clock, url = on_throwaway
    tokens = make_tokens(app)
    seen, stop, recovery = Seen(), threading.Event(), []
    with live(create_app(app, session_secret="tests")) as base:
        clients = [threading.Thread(target=_client, args=(base, tokens, n, stop, seen)) for n in range(len(CLIENTS))]
        for t in clients:
            t.start()
        time.sleep(1.0)
        cut = 0
        for _ in range(3):
            cut += throwaway_pg.terminate_backends("rectify")
            time.sleep(0.4)  # the clients meet the cut connections
        after_cuts = len(seen.unavailable)
        for mode in ("fast", "immediate"):
            throwaway_pg.restart(mode)
            recovery.append(_until_healthy(base, tokens["alice"]))
            time.sleep(1.0)
        throwaway_pg.stop("fast")
        time.sleep(0.5)  # the clients keep asking while it is down
        ready_down, alive_down = httpx.get(f"{base}/readyz", timeout=10), httpx.get(f"{base}/healthz", timeout=10)
        cli = subprocess.run([str(Path(sys.executable).with_name("rectify")), "ledger", "--db", url],
                             capture_output=True, text=True, timeout=60)
        throwaway_pg.start()
        recovery.append(_until_healthy(base, tokens["alice"]))
        ready_up = httpx.get(f"{base}/readyz", timeout=10)
        # a command cut off with the database keeps its key's claim until the lease runs out (nobody can
        # tell it from a slow one): a minute later a retry with the key takes it over
        clock.advance(idempotency.LEASE + timedelta(seconds=1))
        time.sleep(1.0)
        stop.set()
        for t in clients:
            t.join(GIVE_UP_S + 10)
        assert not any(t.is_alive() for t in clients), "a client hung"

    assert seen.failures == [], seen.statuses
    assert set(seen.statuses) <= {200, 409, 503}, seen.statuses  # never a 500
    assert cut > 0 and after_cuts > 0, "connections cut in the middle of the load must have been seen by clients"
    assert len(seen.unavailable) > after_cuts, "the restarts must have been seen by the clients"
    for r in seen.unavailable:
        assert one_line(r.json()).startswith("the database is unavailable right now; try again")
        assert r.json()["error"] == "DatabaseUnavailable" and r.headers["retry-after"] == "2"
    assert all(s <= RECOVERY_S for s in recovery), f"seconds to answer again after each restart: {recovery}"
    # readiness asks the database, liveness does not: a load balancer takes the replica out, and does not restart it
    assert (ready_down.status_code, ready_down.json()["error"], alive_down.status_code) == (
        503, "DatabaseUnavailable", 200)
    assert (ready_up.status_code, ready_up.json()) == (200, {"status": "ok", "database": "ok"})
    assert cli.returncode != 0 and cli.stdout == ""
    assert len(cli.stderr.strip().splitlines()) == 1 and cli.stderr.startswith("error: database error:"), cli.stderr

    # every command answered 200 is in the database exactly once, and nothing else is
    for code, _, _ in CLIENTS:
        assert len(history_rows(app, code)) == 1 + seen.done[code], code
    assert count(app, "evidence") == len(seen.notes) == len(set(seen.notes))
    assert count(app, "idempotency_key", "status <> 'done'") == 0
    assert_ledger_whole(app, "after the outages")
