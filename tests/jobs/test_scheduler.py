"""The scheduler: its jobs, its log lines, its commands, and real scheduler processes.

Several processes on one PostgreSQL database flag each breach once and create each reminder once and
deliver it once to each of its targets; a scheduler killed mid-sweep, or frozen across many ticks,
catches up once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from jobs.progress import Board
from jobs.scheduler import Failed, Scheduler, Sweep, run_once, run_sweep, sweeps
from storage.engine import reader
from storage.tables import ReminderRow
from tests.cli.helpers import rectify
from tests.conftest import AppFactory
from tests.support import count, plan_data, versions_match_history
from workflow import importer
from workflow.app import App
from workflow.clock import ManualClock
from workflow.plan import Plan
from workflow.settings import Settings

from .scheduler_workers import TICK_S, loop_once, processes, serve, set_time

ROOT = Path(__file__).resolve().parents[2]
REMINDER = ReminderRow.__table__  # type: ignore[attr-defined]


def local(day: date, hour: int = 9) -> datetime:
    """`hour` o'clock in Shanghai on `day`, in UTC."""
    return datetime.combine(day, clock_time(hour), ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def settings_for(url: str, **kw: Any) -> Settings:
    """Settings with nothing from the environment: the log channel only, no SMTP server."""
    return Settings(database_url=url, smtp_url=None, mailbox_dir=None, **kw)


@dataclass
class Line:
    """A stand-in sweep result."""

    text: str
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        return self.text


def scheduler_lines(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[str]:
    """What the scheduler logged (at `level`, if given)."""
    return [r.getMessage() for r in caplog.records
            if r.name == "rectify.scheduler" and (level is None or r.levelno == level)]


def until(what: Callable[[], Any], expected: Any, timeout: float = 20.0) -> None:
    """Wait until `what()` gives `expected`; fail with the last value when it does not in time."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = what()
        if last == expected:
            return
        time.sleep(0.05)
    pytest.fail(f"waited {timeout} s for {expected!r}, still {last!r}")


# -- the jobs -----------------------------------------------------------------------------------------------


def test_each_sweep_is_an_interval_job_that_coalesces_never_overlaps_and_is_never_too_late(app: App) -> None:
    settings = settings_for("unused", overdue_interval_s=300, reminder_interval_s=600, delivery_interval_s=30)
    jobs = Scheduler(sweeps(app, settings)).jobs()
    assert [(j.id, j.trigger.interval.total_seconds()) for j in jobs] == [
        ("overdue", 300), ("reminders", 600), ("delivery", 30)]
    assert {(j.coalesce, j.max_instances, j.misfire_grace_time) for j in jobs} == {(True, 1, None)}


def test_a_sweep_slower_than_its_interval_never_runs_twice_at_once() -> None:
    running, most, runs = 0, 0, 0
    lock = threading.Lock()

    def slow(_progress: Callable[[int], None]) -> Line:
        nonlocal running, most, runs
        with lock:
            running, runs = running + 1, runs + 1
            most = max(most, running)
        time.sleep(0.25)
        with lock:
            running -= 1
        return Line("slow: done")

    scheduler = Scheduler([Sweep("slow", 0.02, slow)])
    threading.Timer(0.9, scheduler.stop).start()
    scheduler.run(handle_signals=False)
    assert most == 1
    assert 2 <= runs <= 5  # 45 ticks in 0.9 s; one run at a time, each taking 0.25 s


def test_run_once_runs_every_sweep_in_order_and_logs_one_line_each(app: App, clock: ManualClock,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock.set(local(date(2024, 10, 2)))
    outcomes = run_once(app, settings_for("unused"))
    assert [o.line().split(":")[0] for o in outcomes] == ["overdue", "reminders", "delivery"]
    assert scheduler_lines(caplog) == [o.line() for o in outcomes]
    # a red reminder per breach, each to its owner (e-mail) and its leader (the log)
    assert outcomes[0].line().startswith("overdue: examined 2, flagged 2 overdue, 2 new reminder(s)")
    assert targets(app) == Counter({("email", "pending"): 2, ("log", "sent"): 2})
    # the owners have e-mail and no SMTP server is configured: those wait for a retry, the log channel went out
    assert outcomes[2].line().startswith("delivery: claimed 2, sent 2, failed 2 (retried later)")
    assert [o.line().split(" in ")[0] for o in run_once(app, settings_for("unused"))] == [
        "overdue: examined 0, flagged 0 overdue, 0 new reminder(s)", "reminders: examined 2, 0 new reminder(s)",
        "delivery: claimed 0, sent 0, failed 0 (retried later)"]


def test_a_sweep_that_raises_is_logged_in_one_line_and_the_scheduler_keeps_running(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    calls: Counter[str] = Counter()

    def flaky(_progress: Callable[[int], None]) -> Line:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("could not connect to server\nIs the server running on that host?")
        return Line("flaky: fine")

    def steady(_progress: Callable[[int], None]) -> Line:
        calls["steady"] += 1
        return Line("steady: fine", warnings=["no holiday data for 2027"])

    failed = run_sweep(Sweep("flaky", 1, flaky))
    assert failed == Failed("flaky", "RuntimeError: could not connect to server")
    scheduler = Scheduler([Sweep("flaky", 0.05, flaky), Sweep("steady", 0.05, steady)])
    threading.Timer(0.5, scheduler.stop).start()
    scheduler.run(handle_signals=False)
    assert scheduler_lines(caplog, logging.ERROR) == ["flaky: failed: RuntimeError: could not connect to server"]
    assert calls["flaky"] >= 4 and calls["steady"] >= 3
    assert "flaky: fine" in scheduler_lines(caplog, logging.INFO)
    assert "steady: fine" in scheduler_lines(caplog, logging.WARNING)  # a sweep's warnings raise its line's level


def test_run_once_goes_on_past_a_failed_sweep(app: App, clock: ManualClock, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_args: Any) -> Any:
        raise ValueError("the policy is broken")

    monkeypatch.setattr("jobs.scheduler.flag_overdue", broken)
    clock.set(local(date(2024, 10, 2)))
    outcomes = run_once(app, settings_for("unused"))
    assert outcomes[0] == Failed("overdue", "ValueError: the policy is broken")
    assert [o.line().split(":")[0] for o in outcomes[1:]] == ["reminders", "delivery"]
    assert scheduler_lines(caplog, logging.ERROR) == ["overdue: failed: ValueError: the policy is broken"]


def test_a_long_sweep_shows_its_progress(app: App, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock.set(local(date(2024, 12, 1)))
    (overdue, *_rest) = sweeps(app, settings_for("unused"))
    run_sweep(overdue, Board(terminal=False, log_every_s=0))  # as if each measure took long
    assert [m.split(",")[0] for m in scheduler_lines(caplog)[:3]] == [f"overdue: {n} done so far" for n in (1, 2, 3)]

    # on a terminal: one live display for every sweep showing at once, taken down when they end
    board = Board(terminal=True, after_s=0)
    with board.track("overdue") as one, board.track("reminders") as two:
        for _ in range(3):
            one(1)
            two(1)
            time.sleep(0.11)
        assert board._live is not None and len(board._live.tasks) == 2
        assert [t.completed for t in board._live.tasks] == [3, 3]
    assert board._live is None


# -- the commands -------------------------------------------------------------------------------------------


def test_the_sweep_commands_print_their_line_and_the_scheduler_runs_once(
        app: App, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from workflow.cli import app as cli

    caplog.set_level(logging.INFO)
    db = str(app.engine.url.database)
    runner = CliRunner(env={"RECTIFY_DATABASE_URL": None, "RECTIFY_SMTP_URL": None})
    # the commands run on today's date: every measure of the small plan (2024) is long overdue
    shown = runner.invoke(cli, ["sweep", "overdue", "--db", db])
    assert (shown.exit_code, shown.stdout.split(" in ")[0]) == (0, "overdue: examined 3, flagged 3 overdue, "
                                                                     "3 new reminder(s)")
    assert sum(targets(app).values()) == 6  # each to its owner and its leader
    shown = runner.invoke(cli, ["sweep", "reminders", "--db", db])
    assert (shown.exit_code, shown.stdout.split(" in ")[0]) == (0, "reminders: examined 3, 0 new reminder(s)")
    once = runner.invoke(cli, ["scheduler", "--once", "--db", db])
    assert once.exit_code == 0
    assert [m.split(":")[0] for m in scheduler_lines(caplog)] == ["overdue", "reminders", "delivery"]
    monkeypatch.setattr("jobs.scheduler.remind", lambda *_a: 1 / 0)
    assert runner.invoke(cli, ["scheduler", "--once", "--db", db]).exit_code == 1
    assert scheduler_lines(caplog, logging.ERROR) == ["reminders: failed: ZeroDivisionError: division by zero"]


def test_only_picks_the_sweeps_a_process_runs(app: App, caplog: pytest.LogCaptureFixture) -> None:
    from workflow.cli import app as cli

    caplog.set_level(logging.INFO)
    db = str(app.engine.url.database)
    runner = CliRunner(env={"RECTIFY_DATABASE_URL": None, "RECTIFY_SMTP_URL": None})
    assert runner.invoke(cli, ["scheduler", "--once", "--only", "delivery", "--db", db]).exit_code == 0
    assert [m.split(":")[0] for m in scheduler_lines(caplog)] == ["delivery"]
    assert count(app, "history", "event = 'overdue'") == 0  # the overdue sweep did not run
    wrong = rectify(Path(db).parent, "scheduler", "--once", "--only", "overdeu", "--db", db, ok=False)
    assert (wrong.returncode, wrong.stdout) == (2, "")
    assert wrong.stderr.strip() == "error: --only: no sweep named 'overdeu' (choose from overdue, reminders, delivery)"


def test_rectify_scheduler_runs_until_sigterm(app: App, tmp_path: Path) -> None:
    db = str(app.engine.url.database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    env |= {f"RECTIFY_{job}_INTERVAL_S": "0.2" for job in ("OVERDUE", "REMINDER", "DELIVERY")}
    log = tmp_path / "scheduler.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "workflow", "scheduler", "--db", db], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            until(lambda: log.read_text().count(" delivery: ") >= 2, True)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = log.read_text().splitlines()
    assert any(ln.endswith("scheduler: SIGTERM, stopping once the running sweeps are done") for ln in lines)
    assert lines[-1].endswith("scheduler: stopped")
    first = [ln for ln in lines if " overdue: " in ln][0]
    assert first.split(" in ")[0].endswith("flagged 3 overdue, 3 new reminder(s)")
    assert count(app, "history", "event = 'overdue'") == 3
    assert sum(targets(app).values()) == 6


# -- real scheduler processes -------------------------------------------------------------------------------


def import_round(app: App, measures: int, dues: dict[int, str] | None = None, notify: str | None = None) -> None:
    """One round of `measures` measures due 9/30 (or as `dues` says, by number); people get `notify`/<id>."""
    data = plan_data("r1", "b", measures)
    for person in data["people"]:
        person["notify"] = [f"{notify}/{person['id']}"] if notify else []
    for i, m in enumerate(data["bodies"][0]["headings"][0]["problems"][0]["measures"], start=1):
        m["due"] = (dues or {}).get(i, m["due"])
    importer.import_plan(app, Plan.model_validate(data), "test")


def outbox(app: App) -> list[Any]:
    """The reminder rows, their targets decoded (on either database)."""
    with reader(app.engine).connect() as conn:
        return list(conn.execute(select(REMINDER).order_by(REMINDER.c.id)).all())


def targets(app: App) -> Counter[tuple[str, str]]:
    """The reminders' targets (one message each) by channel and status."""
    return Counter((t["channel"], t["status"]) for r in outbox(app) for t in r.targets)


def state(app: App) -> tuple[int, int, int, int, int]:
    """Overdue records, reminders, reminders sent, their targets (the messages owed), targets sent."""
    rows = outbox(app)
    return (count(app, "history", "event = 'overdue'"), len(rows), sum(r.status == "sent" for r in rows),
            sum(len(r.targets) for r in rows), sum(t["status"] == "sent" for r in rows for t in r.targets))


def _rows(app: App, sql: str) -> list[Any]:
    with reader(app.engine).connect() as conn:
        return list(conn.execute(text(sql)).all())


def breaches_per_measure(app: App) -> set[int]:
    """How many `overdue` records the measures have (a set: {1} when each has one)."""
    return {n for (n,) in _rows(app, "SELECT (SELECT count(*) FROM history h WHERE h.measure_id = m.id "
                                     "AND h.event = 'overdue') FROM measure m")}


def delivered_once(app: App) -> bool:
    """Every reminder went out in one round, to each of its targets in one successful attempt, and none failed."""
    rows = outbox(app)
    tried = Counter((i, to, channel) for i, to, channel in _rows(
        app, "SELECT reminder_id, recipient, channel FROM delivery_attempt"))
    owed = Counter((r.id, t["to"], t["channel"]) for r in rows for t in r.targets)
    return (all(r.status == "sent" and r.attempts == 1 for r in rows)
            and all(t["status"] == "sent" and t["attempts"] == 1 for r in rows for t in r.targets)
            and count(app, "delivery_attempt", "NOT ok") == 0
            and tried == owed and set(owed.values()) == {1})


class Webhook:
    """A local JSON webhook that counts what arrives, by (path, title, message)."""

    def __init__(self) -> None:
        self.arrived: Counter[tuple[str, str, str]] = Counter()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.arrived[(self.path, body["title"], body["message"])] += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A webhook receiving on a free local port."""
    hook = Webhook()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()
    thread.join()


def stop(children: list[Any], how: signal.Signals | None = signal.SIGTERM) -> None:
    """Stop child processes (with `how`, or let them end) and wait for them; kill any that does not stop."""
    for child in children:
        if child.is_alive() and how is not None:
            os.kill(child.pid, how)
    for child in children:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
            child.join()


@pytest.mark.postgres
def test_four_scheduler_processes_on_one_database_flag_each_breach_once_and_create_and_deliver_each_reminder_once(
        make_app: AppFactory, pg_url: str, tmp_path: Path, webhook: Webhook, clock: ManualClock) -> None:
    app = make_app(pg_url, plan_file=None)
    import_round(app, 9, {i: "2024-10-14" for i in range(7, 10)}, notify=webhook.url)
    shared, halt = tmp_path / "clock", tmp_path / "halt"
    set_time(shared, local(date(2024, 10, 2)))
    ctx = processes()
    logs = [tmp_path / f"child-{i}.log" for i in range(4)]
    children = [ctx.Process(target=serve, args=(pg_url, str(shared), str(logs[i]))) for i in (0, 1)]
    children += [ctx.Process(target=loop_once, args=(pg_url, str(shared), str(logs[i]), str(halt))) for i in (2, 3)]
    for child in children:
        child.start()
    try:
        # 10/2: 6 breaches, each with red week 0 to owner and leader; 10/9: red week 1, and yellow to the owner
        # for the three due 10/14 (4 working days left); 10/15: red week 2, and the three due 10/14 breached
        for day, expected in ((date(2024, 10, 2), (6, 6, 6, 12, 12)), (date(2024, 10, 9), (6, 15, 15, 27, 27)),
                              (date(2024, 10, 15), (9, 24, 24, 45, 45))):
            set_time(shared, local(day))
            until(lambda: state(app), expected)
            time.sleep(0.4)  # every process runs over the same day again
    finally:
        halt.touch()  # the run-once loops end after their run; the schedulers on SIGTERM
        stop(children[:2])
        stop(children[2:], None)
    assert [c.exitcode for c in children] == [0, 0, 0, 0]
    assert state(app) == (9, 24, 24, 45, 45)
    assert count(app, "measure", "overdue") == 9 and versions_match_history(app) == []
    assert breaches_per_measure(app) == {1}
    assert delivered_once(app)
    assert len(webhook.arrived) == 45 and set(webhook.arrived.values()) == {1}
    colours = Counter(title[1:5] for _p, title, _m in webhook.arrived)
    assert colours == {"红色预警": 42, "黄色预警": 3}
    for log in logs:  # each process took part, and none failed
        text = log.read_text()
        assert text.count(" overdue: ") >= 5 and ": failed: " not in text and "Traceback" not in text
    clock.set(local(date(2024, 10, 15), 10))  # and once more, here
    assert [o.line().split(" in ")[0] for o in run_once(app, settings_for(pg_url))] == [
        "overdue: examined 0, flagged 0 overdue, 0 new reminder(s)", "reminders: examined 9, 0 new reminder(s)",
        "delivery: claimed 0, sent 0, failed 0 (retried later)"]


def test_a_scheduler_killed_mid_sweep_then_down_and_frozen_across_many_ticks_catches_up_once(
        make_app: AppFactory, db_url: str, tmp_path: Path) -> None:
    app = make_app(db_url, plan_file=None)
    import_round(app, 6)  # due 9/30; red to owner and leader, on the log channel
    clock, marker = tmp_path / "clock", tmp_path / "in-transaction"
    set_time(clock, local(date(2024, 10, 2)))
    ctx = processes()
    doomed = ctx.Process(target=serve, args=(db_url, str(clock), str(tmp_path / "doomed.log"), str(marker)))
    doomed.start()
    until(marker.exists, True)
    time.sleep(0.2)
    stop([doomed], signal.SIGKILL)
    # killed between flagging and committing: nothing of the sweep is left
    assert state(app) == (0, 0, 0, 0, 0) and count(app, "measure", "overdue") == 0

    set_time(clock, local(date(2024, 10, 16)))  # down for two weeks of ticks
    log = tmp_path / "again.log"
    again = ctx.Process(target=serve, args=(db_url, str(clock), str(log)))
    again.start()
    try:
        until(lambda: state(app), (6, 6, 6, 12, 12))  # flagged once, red week 2 only
        time.sleep(0.3)
        os.kill(again.pid, signal.SIGSTOP)  # frozen across 15 ticks while a week passes
        set_time(clock, local(date(2024, 10, 23)))
        time.sleep(15 * TICK_S)
        frozen_at = log.stat().st_size
        os.kill(again.pid, signal.SIGCONT)
        thawed = time.monotonic()
        until(lambda: state(app), (6, 12, 12, 24, 24))
        time.sleep(0.3)
        ran_s = time.monotonic() - thawed
    finally:
        stop([again])
    assert again.exitcode == 0
    assert state(app) == (6, 12, 12, 24, 24) and delivered_once(app)
    windows = Counter(r.window for r in outbox(app))
    assert windows == {"due:2024-09-30:2": 6, "due:2024-09-30:3": 6}
    assert {len(r.targets) for r in outbox(app)} == {2}  # to the owner and the leader
    assert breaches_per_measure(app) == {1}
    after = log.read_text()[frozen_at:]
    # the 15 missed ticks ran as one (coalesced), not 15 in a row, and none was dropped as too late
    assert after.count(" overdue: ") <= ran_s / TICK_S + 5
    assert "was missed by" not in after and ": failed: " not in log.read_text()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_scheduler_stopped_mid_sweep_commits_the_sweep_first(make_app: AppFactory, tmp_path: Path,
                                                               how: signal.Signals) -> None:
    app = make_app(plan_file=None)
    import_round(app, 4)
    url, clock, marker, log = str(app.engine.url.database), tmp_path / "clock", tmp_path / "in-sweep", tmp_path / "log"
    set_time(clock, local(date(2024, 10, 2)))
    child = processes().Process(target=serve, args=(url, str(clock), str(log), str(marker), 0.5))
    child.start()
    until(marker.exists, True)
    stop([child], how)
    assert child.exitcode == 0
    # the sweep that was running when the signal came finished and committed
    assert state(app)[:2] == (4, 4) and state(app)[3] == 8
    lines = log.read_text().splitlines()
    assert f"scheduler: {how.name}, stopping once the running sweeps are done" in "\n".join(lines)
    assert lines[-1].endswith("scheduler: stopped")
