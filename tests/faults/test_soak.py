"""Soak: two API replicas, three schedulers and a delivery worker on one PostgreSQL database for half a minute.

Clients fire commands at both replicas (pairs of them racing on one measure with the same If-Match),
the shared clock moves a day at a time so the sweeps find breaches and owe reminders, and the delivery
worker and a scheduler are SIGKILLed and started again. Afterwards:

- every tick's effect once: the measures no client touches have exactly the overdue records and the
  reminders that one process sweeping the same days alone gives them; every breach of any measure is
  flagged once (one overdue record, with its red reminder), and none is missed;
- every reminder exists once, with each of its targets once; each target sent reached the counting
  webhook once (a second copy only of the one reminder a killed worker was sending: delivery is at
  least once), with one successful attempt recorded for it, naming its recipient and channel;
- no measure's history out of order: seq runs 1..version, every chain verifies and replays to its row;
- every 2xx a client saw is in the history as that event by that person, and nothing else was done in
  a client's name (an idempotent retry on the other replica added nothing);
- of two commands sent together with the same If-Match, exactly one wins and the other gets 409.

The scale-out script is tried too: it starts, serves on both replicas, flags each breach once, stops.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from sqlalchemy import select, text

from storage.engine import reader
from storage.tables import DeliveryAttemptRow, ReminderRow
from tests.conftest import PG_ADMIN_URL, AppFactory
from tests.jobs.scheduler_workers import loop_once, serve, set_time
from tests.jobs.test_scheduler import Webhook, import_round, local
from tests.support import HISTORY, MEASURE, codes, versions_match_history
from tests.web.api_support import make_tokens
from workflow import audit
from workflow.app import App
from workflow.clock import ManualClock
from workflow.sweeps import flag_overdue, remind

from .soak_clients import Clients
from .soak_workers import api_replica, delivery_worker, processes

ROOT = Path(__file__).resolve().parents[2]
MEASURES = 24
CODES = codes("b", MEASURES)
UNTOUCHED = CODES[:8]  # no client touches them: one process sweeping alone says what they must get
WORKED = CODES[8:20]  # the clients work them through, with and without If-Match and Idempotency-Key
RACED = CODES[20:]  # raced for by pairs of commands; due long after the soak, so no sweep moves them
SPREAD = ["2024-09-25", "2024-09-27", "2024-09-30", "2024-10-08", "2024-10-09", "2024-10-10", "2024-10-11",
          "2024-10-12"]
DUES = {i + 1: SPREAD[i % len(SPREAD)] for i in range(20)} | {i: "2025-06-30" for i in range(21, MEASURES + 1)}
DAYS = [date(2024, 9, 23) + timedelta(days=n) for n in range(22)]  # the National Day holidays in between
WORKER_KILLED_FROM, SCHEDULER_KILLED_ON = 3, 10  # days (indexes); kills end early enough for leases to run out
DWELL_S = 0.5  # how long the clients work each day
REMINDER = ReminderRow.__table__  # type: ignore[attr-defined]
ATTEMPT = DeliveryAttemptRow.__table__  # type: ignore[attr-defined]


# -- what the database holds ----------------------------------------------------------------------------------


def rows(app: App, stmt: Any, **params: Any) -> list[Any]:
    """Rows of a query, read without taking any write lock."""
    with reader(app.engine).connect() as conn:
        return list(conn.execute(text(stmt) if isinstance(stmt, str) else stmt, params).all())


Effects = tuple[frozenset[tuple[str, ...]], frozenset[tuple[str, str]]]


def targets(app: App) -> list[tuple[Any, ...]]:
    """Every target of every reminder: (reminder id, measure code, rule, window, reminder status, the target)."""
    got = rows(app, select(REMINDER.c.id, MEASURE.c.code, REMINDER.c.rule, REMINDER.c.window, REMINDER.c.status,
                           REMINDER.c.targets).join(MEASURE, MEASURE.c.id == REMINDER.c.measure_id)
               .order_by(REMINDER.c.id))
    return [(i, code, rule, window, status, t) for i, code, rule, window, status, ts in got for t in ts]


def effects(app: App, among: list[str]) -> Effects:
    """The reminder keys, one per target (measure, rule, window, recipient, channel), and the overdue records
    (measure, day) of these measures."""
    keys = [(code, rule, window, t["to"], t["channel"]) for _i, code, rule, window, _s, t in targets(app)]
    overdue = rows(app, select(MEASURE.c.code, HISTORY.c.data).join(MEASURE, MEASURE.c.id == HISTORY.c.measure_id)
                   .where(HISTORY.c.event == "overdue"))
    return (frozenset(tuple(k) for k in keys if k[0] in among),
            frozenset((c, d["today"]) for c, d in overdue if c in among))


def alone(make_app: AppFactory, clock: ManualClock, notify: str) -> list[Effects]:
    """Day by day, what one process sweeping once a day gives the untouched measures (a SQLite file)."""
    app = make_app(plan_file=None)
    import_round(app, MEASURES, DUES, notify=notify)
    out = []
    for day in DAYS:
        clock.set(local(day))
        flag_overdue(app)
        remind(app)
        out.append(effects(app, UNTOUCHED))
    return out


def outbox(app: App) -> Counter[str]:
    """The reminders by status."""
    return Counter(s for (s,) in rows(app, "SELECT status FROM reminder"))


def held_by(app: App, worker: str) -> set[int]:
    """The reminders a worker has claimed and not yet recorded."""
    return {i for (i,) in rows(app, "SELECT id FROM reminder WHERE status = 'sending' AND claimed_by = :w", w=worker)}


def drained(app: App, dead: set[str]) -> bool:
    """Nothing new waits to be sent, and no live worker is sending (a dead one's claims wait for their lease)."""
    return not rows(app, "SELECT id FROM reminder WHERE (status = 'pending' AND attempts = 0) "
                         "OR (status = 'sending' AND NOT claimed_by = ANY(:dead))", dead=list(dead))


def missed_breaches(app: App, today: date) -> list[str]:
    """Open measures past their due date and not flagged overdue."""
    return [c for (c,) in rows(app, "SELECT code FROM measure WHERE NOT overdue AND state IN ('assigned', "
                                    "'in_progress', 'submitted') AND due < :today", today=today)]


def wait_for(what: str, ok: Callable[[], bool], timeout: float = 60.0, steady_s: float = 0.0) -> None:
    """Wait until `ok()` holds (for `steady_s` on end); fail naming `what` if it does not in time."""
    deadline, since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if ok():
            since = since or time.monotonic()
            if time.monotonic() - since >= steady_s:
                return
        else:
            since = None
        time.sleep(0.05)
    pytest.fail(f"waited {timeout} s for {what}")


# -- the processes ----------------------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Fleet:
    """The soak's processes, each started again under its name and stopped or killed by its own pid."""

    url: str
    folder: Path
    ctx: Any = field(default_factory=processes)
    live: dict[str, Any] = field(default_factory=dict)
    ended: list[tuple[str, Any]] = field(default_factory=list)
    runs: Counter[str] = field(default_factory=Counter)

    @property
    def clock(self) -> Path:
        """The file every process reads the time from."""
        return self.folder / "clock"

    def log(self, name: str) -> Path:
        """The log of the latest run of `name`."""
        return self.folder / f"{name}-{self.runs[name]}.log"

    def start(self, name: str, target: Callable[..., None], *args: Any) -> None:
        """Start `target(url, clock, log, *args)` as `name`."""
        self.runs[name] += 1
        child = self.ctx.Process(target=target, args=(self.url, str(self.clock), str(self.log(name)), *args),
                                 name=name)
        child.start()
        self.live[name] = child

    def worker(self, name: str) -> str:
        """The delivery worker name `name` claims reminders under (host and pid, as in jobs.delivery)."""
        return f"{socket.gethostname()}:{self.live[name].pid}"

    def kill(self, name: str) -> None:
        """SIGKILL: no goodbye, whatever it was in the middle of."""
        child = self.live.pop(name)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        self.ended.append((name, child))

    def stop(self, halt: Path) -> None:
        """SIGTERM the schedulers, the worker and the replicas; the run-once loop ends at the halt file."""
        halt.touch()
        for name, child in self.live.items():
            if name != "cron":
                os.kill(child.pid, signal.SIGTERM)
        for name, child in self.live.items():
            child.join(60)
            if child.is_alive():
                child.kill()
                child.join()
            self.ended.append((name, child))
        self.live.clear()

    def logs(self) -> list[Path]:
        """Every log written."""
        return sorted(self.folder.glob("*.log"))


@pytest.fixture
def fleet(pg_url: str, tmp_path: Path) -> Iterator[Fleet]:
    """The processes on the test's database; whatever is still running at the end is stopped."""
    f = Fleet(pg_url, tmp_path)
    yield f
    if f.live:
        f.stop(tmp_path / "halt")


def start_all(fleet: Fleet) -> list[str]:
    """Two schedulers, a run-once loop like cron, the delivery worker and two API replicas; the replicas' URLs."""
    fleet.start("scheduler-1", serve)
    fleet.start("scheduler-2", serve)
    fleet.start("cron", loop_once, str(fleet.folder / "halt"))
    fleet.start("worker", delivery_worker)
    bases = []
    for n in (1, 2):
        port = free_port()
        fleet.start(f"api-{n}", api_replica, port, str(fleet.folder / "evidence"))
        bases.append(f"http://127.0.0.1:{port}")
    wait_for("both replicas to answer", lambda: all(_answers(b) for b in bases), timeout=90)
    return bases


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- the soak ---------------------------------------------------------------------------------------------------


@dataclass
class Kills:
    """Who was SIGKILLed under which worker name, and the reminders each held unrecorded when it died."""

    held: dict[str, set[int]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # worker name → process name

    def kill(self, fleet: Fleet, app: App, name: str, wait_for_claims_s: float) -> None:
        """Kill `name`, as soon as it holds claims if it comes to hold any within the wait."""
        worker, deadline = fleet.worker(name), time.monotonic() + wait_for_claims_s
        while time.monotonic() < deadline and not held_by(app, worker):
            time.sleep(0.005)
        fleet.kill(name)
        self.held[worker], self.names[worker] = held_by(app, worker), name

    def caught(self, name: str) -> bool:
        """Whether `name` was killed while it held claims."""
        return any(held for worker, held in self.held.items() if self.names[worker] == name)


def soak(app: App, fleet: Fleet, clients: Clients, expected: list[Effects]) -> Kills:
    """Move the clock through the days; the clients work each day while the sweeps run; kill and restart."""
    kills, rnd, restarted = Kills(), random.Random(6), 0
    # the days whose sweeps owe the untouched measures alone a few reminders, and not too late for leases
    bursts = {i for i in range(max(1, WORKER_KILLED_FROM), len(DAYS) - 4)
              if len(expected[i][0]) - len(expected[i - 1][0]) >= 2}
    for i, day in enumerate(DAYS):
        set_time(fleet.clock, local(day))
        clients.gate.open()
        if "worker" not in fleet.live:
            fleet.start("worker", delivery_worker)
            restarted = i
        if "scheduler-1" not in fleet.live:
            fleet.start("scheduler-1", serve)
        if i in bursts and i > restarted and not kills.caught("worker"):
            # right after the clock moved the outbox fills up: kill the worker while it holds claims
            kills.kill(fleet, app, "worker", wait_for_claims_s=1.5)
        if i == SCHEDULER_KILLED_ON:
            time.sleep(rnd.uniform(0, 0.3))  # somewhere in its sweeps of the new day
            kills.kill(fleet, app, "scheduler-1", wait_for_claims_s=0)
        wait_for(f"the untouched measures' sweeps of {day}",
                 lambda: effects(app, UNTOUCHED) == expected[i])  # noqa: B023 (called before the loop moves on)
        time.sleep(DWELL_S)
        clients.gate.close()
        # a send in flight when the clock jumps a day would outlive its lease: step only when the outbox is quiet
        wait_for(f"the outbox of {day} to be sent", lambda: drained(app, set(kills.held)), steady_s=0.3)
    return kills


@pytest.mark.postgres
def test_replicas_schedulers_and_a_killed_worker_on_one_database_do_everything_once(
        make_app: AppFactory, pg_url: str, clock: ManualClock, webhook: Webhook, fleet: Fleet) -> None:
    expected = alone(make_app, clock, webhook.url)
    app = make_app(pg_url, plan_file=None)
    import_round(app, MEASURES, DUES, notify=webhook.url)
    set_time(fleet.clock, local(DAYS[0]))
    clients = Clients(start_all(fleet), make_tokens(app), WORKED, RACED)
    clients.start()
    try:
        kills = soak(app, fleet, clients, expected)
        # whatever the last day's commands opened again is flagged, and everything is sent
        wait_for("every breach flagged", lambda: not missed_breaches(app, DAYS[-1]), steady_s=0.5)
        wait_for("the outbox sent", lambda: set(outbox(app)) <= {"sent", "cancelled"}, steady_s=0.5)
    finally:
        clients.stop()
        fleet.stop(fleet.folder / "halt")

    # the processes: killed ones by SIGKILL, every other one stopped cleanly (uvicorn ends a graceful shutdown
    # by raising the SIGTERM it caught again); no sweep failed but for a race lost to a client
    assert {(n, c.exitcode) for n, c in fleet.ended if c.exitcode} == {
        ("scheduler-1", -signal.SIGKILL), ("worker", -signal.SIGKILL), ("api-1", -signal.SIGTERM),
        ("api-2", -signal.SIGTERM)}
    for log in fleet.logs():
        lines = log.read_text(errors="replace")
        assert "Traceback" not in lines, log.name
        failures = [ln for ln in lines.splitlines() if ": failed: " in ln and ": failed: ConcurrentUpdate" not in ln]
        assert failures == [], log.name

    # every tick's effect once: the untouched measures as one process alone has them
    assert effects(app, UNTOUCHED) == expected[-1]
    assert len(expected[-1][1]) == 8 and len(expected[-1][0]) > 40
    # every breach of any measure flagged once: never twice without a verify or approved extension between
    history = rows(app, select(MEASURE.c.code, HISTORY.c.seq, HISTORY.c.event, HISTORY.c.actor, HISTORY.c.data,
                               MEASURE.c.version).join(MEASURE, MEASURE.c.id == HISTORY.c.measure_id)
                   .order_by(MEASURE.c.code, HISTORY.c.seq))
    flagged: dict[str, bool] = {}
    for code, _seq, event, _actor, _data, _v in history:
        if event == "overdue":
            assert not flagged.get(code), f"{code} flagged overdue twice in one breach"
            flagged[code] = True
        elif event in ("verify", "extend_approve"):
            flagged[code] = False
    assert missed_breaches(app, DAYS[-1]) == []
    red = {(c, w) for c, w in rows(app, 'SELECT m.code, r."window" FROM reminder r JOIN measure m '
                                        "ON m.id = r.measure_id WHERE r.rule = 'red'")}
    breaches = [(c, d) for c, _s, e, _a, d, _v in history if e == "overdue"]
    for code, data in breaches:  # each with its red reminder of that week late (the day after due is day 0)
        week = ((date.fromisoformat(data["today"]) - date.fromisoformat(data["due"])).days - 1) // 7
        assert (code, f"due:{data['due']}:{week}") in red, (code, data)

    # every reminder once, and each of its targets once, sent once: one successful attempt each, one arrival
    # at the webhook each
    assert rows(app, 'SELECT measure_id, rule, "window" FROM reminder GROUP BY 1, 2, 3 HAVING count(*) > 1') == []
    every = targets(app)
    assert [k for k, n in Counter((i, t["to"], t["channel"]) for i, *_r, t in every).items() if n > 1] == []
    status = outbox(app)
    assert set(status) <= {"sent", "cancelled"} and status["sent"] > len({k[:3] for k in expected[-1][0]})
    assert sum(t["status"] == "sent" for *_k, t in every) > len(expected[-1][0])
    # a reminder is sent once no target is left pending. One cancelled as a whole (the measure verified or
    # extended) keeps the targets it had reached as sent: a new owner added to a reminder already sent to
    # the others, then the measure verified before his message went, leaves it so
    assert {t["status"] for *_k, rs, t in every if rs == "sent"} <= {"sent", "cancelled"}
    assert {t["status"] for *_k, rs, t in every if rs == "cancelled"} <= {"pending", "cancelled", "sent"}
    ok = Counter((i, to, channel) for i, to, channel in
                 rows(app, select(ATTEMPT.c.reminder_id, ATTEMPT.c.recipient, ATTEMPT.c.channel).where(ATTEMPT.c.ok)))
    assert ok == Counter({(i, t["to"], t["channel"]): 1 for i, *_k, t in every if t["status"] == "sent"})
    assert rows(app, select(ATTEMPT.c.id).where((ATTEMPT.c.recipient == "") | (ATTEMPT.c.channel == ""))) == []
    texts = {i: (subject, body) for i, subject, body in rows(app, select(REMINDER.c.id, REMINDER.c.subject,
                                                                           REMINDER.c.body))}
    # a target added to a reminder later (a measure's new owner) carries its own words
    sent = {(i, t["to"], t["channel"]): (urlsplit(t["address"]).path, t.get("subject", texts[i][0]),
                                         t.get("body", texts[i][1]))
            for i, *_k, t in every if t["status"] == "sent"}
    extra = webhook.arrived - Counter(sent.values())
    assert Counter(sent.values()) - webhook.arrived == Counter()  # none lost
    # a second copy only of what a dead worker held, of one reminder at most per worker (it sends one reminder
    # at a time, to its targets one after the other, and records them together)
    for worker, held in kills.held.items():
        twice = [k for k in sent if k[0] in held and extra[sent[k]]]
        assert len({i for i, _to, _channel in twice}) <= 1, (worker, twice)
        for k in twice:
            extra[sent[k]] -= 1
    assert +extra == Counter()
    assert kills.caught("worker"), "the worker was killed while it held claims"

    # no measure's history out of order: contiguous, chained, and replaying to its row
    seqs: dict[str, list[int]] = {}
    versions = {}
    for code, seq, *_rest, version in history:
        seqs.setdefault(code, []).append(seq)
        versions[code] = version
    assert all(s == list(range(1, versions[c] + 1)) for c, s in seqs.items())
    assert versions_match_history(app) == []
    report = audit.verify(app)
    assert report.ok and report.measures == MEASURES, report.breaks

    # every 2xx the clients saw is in the history, and nothing else was done in a client's name
    won = [s for s in clients.seen if s.status == 200]
    by_client = {(c, seq): (e, a) for c, seq, e, a, _d, _v in history if a != "system" and e != "create"}
    assert {(s.code, s.version): (s.action, s.actor) for s in won} == by_client
    assert len(won) == len(by_client)  # no two answers for one record
    assert clients.problems == []
    assert {s.replica for s in won} == {0, 1} and clients.replays >= 10
    # lost races (409) and commands of an owner whose measure was just reassigned (403); never a 5xx
    assert {s.status for s in clients.seen} <= {200, 403, 409}, Counter(s.status for s in clients.seen)

    # of two commands with the same If-Match, exactly one won
    assert len(clients.races) >= 10
    for version, answers in clients.races:
        assert sorted(a.status for a in answers) == [200, 409], answers
        (winner,) = [a for a in answers if a.status == 200]
        (loser,) = [a for a in answers if a.status == 409]
        assert winner.version == version + 1 and loser.error == "ConcurrentUpdate", answers


# -- the scale-out script ------------------------------------------------------------------------------------------


def test_the_scale_out_script_starts_replicas_schedulers_and_workers_and_stops_them_all(tmp_path: Path) -> None:
    name = f"rectify_scale_out_{os.getpid()}"
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        pytest.skip(f"no PostgreSQL server answers ({str(e).strip().splitlines()[0]})")
    pids: list[int] = []
    out = tmp_path / "out.txt"
    for _ in range(5):  # the ports after a free one may be taken meanwhile (outgoing connections use them too)
        port = free_port()
        with out.open("w") as sink:
            proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "scale_out.py"), "--replicas", "2",
                                     "--schedulers", "2", "--workers", "1", "--port", str(port), "--database", name,
                                     "--admin-url", PG_ADMIN_URL, "--dir", str(tmp_path / "run"), "--interval", "1",
                                     "--status-every", "0"], stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_for("the script to say it is ready, or stop",
                 lambda p=proc: p.poll() is not None or "Ctrl-C stops everything" in out.read_text(),
                 timeout=120)
        if proc.poll() is None or "is in use; pick other ports" not in out.read_text():
            break
    try:
        shown = out.read_text()
        assert proc.poll() is None and "Ctrl-C stops everything" in shown, shown
        pids = [int(p) for p in re.findall(r"pid (\d+)", shown)]
        assert len(pids) == 6  # smtp, 2 replicas, 2 schedulers, 1 worker
        bases = [f"http://127.0.0.1:{port + n}" for n in (0, 1)]
        assert all(httpx.get(f"{b}/healthz").status_code == 200 for b in bases)
        # signed in on one replica, still signed in on the other: they share RECTIFY_SESSION_SECRET
        with httpx.Client(base_url=bases[0]) as first:
            csrf = re.search(r'name="csrf" value="([^"]+)"', first.get("/login").text)
            assert csrf is not None
            first.post("/login", data={"csrf": csrf[1], "handle": "liaison", "password": "rectify-demo"})
            cookies = first.cookies
        assert httpx.get(f"{bases[1]}/ledger", cookies=cookies).status_code == 200  # not a redirect to /login
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        # the reference plan's 33 measures are all long overdue: each flagged once, every reminder sent once
        with psycopg.connect(url) as conn:
            def done() -> bool:
                (flags,) = conn.execute("SELECT count(*) FROM history WHERE event = 'overdue'").fetchone() or (0,)
                (sent,) = conn.execute("SELECT count(*) FROM reminder WHERE status = 'sent'").fetchone() or (0,)
                conn.rollback()
                return bool(flags == 33 and sent > 0)

            wait_for("33 breaches flagged and e-mail sent", done, timeout=120)
            time.sleep(2)  # two more ticks of every process
            assert conn.execute("SELECT count(*) FROM history WHERE event = 'overdue'").fetchone() == (33,)
            assert conn.execute("SELECT count(*) FROM delivery_attempt WHERE ok GROUP BY reminder_id, recipient, "
                                "channel HAVING count(*) > 1").fetchall() == []
        assert list((tmp_path / "run" / "mail" / "new").iterdir())  # the local SMTP server kept what came
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        said = out.read_text()
        assert "SIGINT: stopping 6 processes" in said and f"dropped the database {name}." in said
        for pid in pids:  # every child is gone
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
    finally:
        _clean_up(proc, pids, name)


def _clean_up(proc: subprocess.Popen[bytes], pids: list[int], name: str) -> None:
    """After a failure: stop the script, then any child it left, then drop its database."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
