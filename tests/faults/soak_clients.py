"""The soak's clients: threads firing commands at both API replicas, and pairs racing with one If-Match.

Every answer is kept (`Seen`), so the test can hold the history against what the clients were told.
A client that finds something wrong at once (a replayed answer that differs) notes it in `problems`.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..web.api_support import bearer

READER = "audrey"  # the auditor reads every measure
OTHER_OWNER = {"alice": "bob", "bob": "alice"}
Step = tuple[str, str, dict[str, Any]]  # (event or "evidence", who, body)


@dataclass(frozen=True)
class Seen:
    """One command's answer as its client saw it."""

    code: str
    action: str  # the event, or "evidence"
    actor: str
    status: int
    version: int | None  # the ETag of a 2xx: the seq of the history record it wrote
    replica: int
    error: str = ""


class Gate:
    """Lets the clients work only while open; `close` returns once no client is in the middle of a request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = False
        self._busy = 0
        self.stopping = False

    @contextmanager
    def turn(self) -> Iterator[bool]:
        """One client's turn: waits while closed; False when the clients are to stop."""
        with self._cond:
            while not self._open and not self.stopping:
                self._cond.wait()
            if self.stopping:
                yield False
                return
            self._busy += 1
        try:
            yield True
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def open(self) -> None:
        """Let the clients go on."""
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def close(self) -> None:
        """Hold the clients; returns when none is mid-request."""
        with self._cond:
            self._open = False
            while self._busy:
                self._cond.wait()

    def stop(self) -> None:
        """Release every waiting client for good."""
        with self._cond:
            self.stopping = True
            self._cond.notify_all()


def next_step(m: dict[str, Any], rnd: random.Random) -> Step | None:
    """What a busy office does next with a measure in this state (None: nothing, it is closed for good)."""
    state, owner, verifier, leader = m["state"], m["owner"], m["verifier"], m["leader"]
    r = rnd.random()
    if state == "assigned":
        return "start", owner, {}
    if state == "in_progress":
        if r < 0.25:
            return "evidence", owner, {"notes": [f"进展 {uuid.uuid4().hex[:8]}"]}
        if r < 0.35:
            return "reassign", leader, {"new_owner": OTHER_OWNER[owner]}
        return "submit", owner, {"reason": "已整改", "notes": [f"整改报告 {uuid.uuid4().hex[:8]}"]}
    if state == "submitted":
        return ("reject", verifier, {"reason": "材料不全"}) if r < 0.25 else ("verify", verifier, {})
    if state == "verified":
        return ("reopen", verifier, {"reason": "复核发现问题"}) if r < 0.2 else ("close", leader, {})
    return ("reopen", leader, {"reason": "问题反弹"}) if r < 0.3 else None


def racing_pair(m: dict[str, Any]) -> tuple[Step, Step]:
    """Two commands that cannot both happen to a measure in this state."""
    state, owner, verifier, leader = m["state"], m["owner"], m["verifier"], m["leader"]
    note = {"notes": [f"佐证 {uuid.uuid4().hex[:8]}"]}
    pairs: dict[str, tuple[Step, Step]] = {
        "assigned": (("start", owner, {}), ("start", owner, {})),
        "in_progress": (("submit", owner, {"reason": "已整改", **note}), ("evidence", owner, note)),
        "submitted": (("verify", verifier, {}), ("reject", verifier, {"reason": "材料不全"})),
        "verified": (("close", leader, {}), ("reopen", verifier, {"reason": "复核发现问题"})),
        "closed": (("reopen", leader, {"reason": "问题反弹"}), ("reopen", verifier, {"reason": "复查反弹"})),
    }
    return pairs[state]


@dataclass
class Clients:
    """Busy clients on the worked measures and a racing pair on the raced ones, across both replicas."""

    bases: list[str]
    tokens: dict[str, str]
    worked: list[str]
    raced: list[str]
    busy: int = 3  # threads working the worked measures
    pause_s: float = 0.01  # between one client's requests
    gate: Gate = field(default_factory=Gate)
    seen: list[Seen] = field(default_factory=list)
    races: list[tuple[int, list[Seen]]] = field(default_factory=list)  # (the If-Match both sent, their answers)
    replays: int = 0  # idempotent retries answered with the first answer
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._local = threading.local()
        self._https: list[httpx.Client] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(self._work_once, n), daemon=True)
                         for n in range(self.busy)]
        self._threads.append(threading.Thread(target=self._loop, args=(self._race_once, self.busy), daemon=True))
        self._pair = ThreadPoolExecutor(2)

    def start(self) -> None:
        """Start the threads; they work while the gate is open."""
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop and wait for every thread; close the connections."""
        self.gate.stop()
        for t in self._threads:
            t.join(60)
        self._pair.shutdown()
        for h in self._https:
            h.close()

    # -- requests ---------------------------------------------------------------------------------------

    def _http(self) -> list[httpx.Client]:
        """This thread's keep-alive connections, one per replica."""
        if not hasattr(self._local, "http"):
            self._local.http = [httpx.Client(base_url=b, timeout=60) for b in self.bases]
            with self._lock:
                self._https += self._local.http
        return list(self._local.http)

    def read(self, code: str, replica: int) -> tuple[dict[str, Any], int]:
        """A measure as the auditor sees it, and its version (the ETag)."""
        r = self._http()[replica].get(f"/api/measures/{code}", headers=bearer(self.tokens[READER]))
        r.raise_for_status()
        return r.json(), int(r.headers["ETag"].strip('"'))

    def command(self, replica: int, code: str, step: Step, if_match: int | None = None, key: str | None = None,
                record: bool = True) -> tuple[Seen, httpx.Response]:
        """POST one command; its answer is kept unless `record` is False (an idempotent retry)."""
        action, actor, body = step
        path = f"/api/measures/{code}/evidence" if action == "evidence" else f"/api/measures/{code}/events/{action}"
        headers = bearer(self.tokens[actor])
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if key:
            headers["Idempotency-Key"] = key
        r = self._http()[replica].post(path, json=body, headers=headers)
        if r.is_success:
            seen = Seen(code, action, actor, r.status_code, int(r.headers["ETag"].strip('"')), replica)
        else:
            error = r.json().get("error", "") if r.headers.get("content-type", "").startswith("application/json") \
                else r.text[:200]
            seen = Seen(code, action, actor, r.status_code, None, replica, error)
        if record:
            self.seen.append(seen)
        return seen, r

    # -- what the threads do ----------------------------------------------------------------------------

    def _loop(self, once: Callable[[random.Random], None], n: int) -> None:
        rnd = random.Random(n)
        while True:
            with self.gate.turn() as go:
                if not go:
                    return
                try:
                    once(rnd)
                except Exception as e:  # noted, and the test fails on it: a thread's exception is otherwise lost
                    self.problems.append(f"client {n}: {type(e).__name__}: {e}")
            time.sleep(self.pause_s)

    def _work_once(self, rnd: random.Random) -> None:
        """Read a worked measure, then fire what comes next, sometimes with If-Match or an Idempotency-Key."""
        code = rnd.choice(self.worked)
        m, version = self.read(code, rnd.randrange(2))
        step = next_step(m, rnd)
        if step is None:
            return
        replica = rnd.randrange(2)
        if_match = version if rnd.random() < 0.5 else None
        key = uuid.uuid4().hex if rnd.random() < 0.3 else None
        first, r1 = self.command(replica, code, step, if_match, key)
        if key and first.status == 200:
            # the client did not hear the answer, say, and retries on the other replica
            again, r2 = self.command(1 - replica, code, step, if_match, key, record=False)
            if (again.status, r2.headers.get("Idempotent-Replayed"), r2.json()) != (200, "true", r1.json()):
                self.problems.append(f"{code} {step[0]}: the retry with the same key got {again} "
                                     f"(replayed: {r2.headers.get('Idempotent-Replayed')})")
            self.replays += 1

    def _race_once(self, rnd: random.Random) -> None:
        """Two commands on one raced measure at once, one per replica, both with the version just read."""
        code = rnd.choice(self.raced)
        m, version = self.read(code, rnd.randrange(2))
        steps = list(racing_pair(m))
        rnd.shuffle(steps)
        barrier = threading.Barrier(2)

        def go(replica: int, step: Step) -> Seen:
            self._http()
            barrier.wait(30)  # both connections are open: the two POSTs leave together
            return self.command(replica, code, step, if_match=version)[0]

        answers = [f.result() for f in [self._pair.submit(go, i, s) for i, s in enumerate(steps)]]
        self.races.append((version, answers))
