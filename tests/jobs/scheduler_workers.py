"""Scheduler processes for the multi-process and crash tests (importable by a forkserver child).

A child reads the time from a file the parent moves, logs to a file of its own, and reports
nothing by raising: the parent judges by the database and the logs.
"""

from __future__ import annotations

import logging
import multiprocessing.context
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs import delivery  # first: it quiets apprise's deprecated imghdr import before the plugins load
from jobs.scheduler import Scheduler, run_once, sweeps
from storage.schedule import ScheduleRepository
from workflow.settings import Settings

from ..support import open_test_app

TICK_S = 0.1  # every sweep's interval in the scheduler children


def _load_apprise_plugins() -> None:
    """Load apprise's plugins once, in the fork server, rather than in every child at its first send."""
    delivery.apprise.Apprise().add("json://127.0.0.1/")


_load_apprise_plugins()


def processes() -> multiprocessing.context.ForkServerContext:
    """Real, separate processes, forked from a clean server that has imported rectify and APScheduler once."""
    ctx = multiprocessing.context.ForkServerContext()
    ctx.set_forkserver_preload([__name__, "apscheduler.schedulers.blocking"])
    return ctx


class FileClock:
    """The time the parent wrote into a file (ISO 8601), read afresh on every call."""

    def __init__(self, path: str):
        self.path = Path(path)

    def __call__(self) -> datetime:
        return datetime.fromisoformat(self.path.read_text(encoding="utf-8"))


def set_time(path: Path, at: datetime) -> None:
    """Move the children's clock (atomically: a child never reads half a time)."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(at.isoformat(), encoding="utf-8")
    os.replace(scratch, path)


def _setup(url: str, clock_file: str, log_file: str) -> tuple[Any, Settings]:
    logging.basicConfig(filename=log_file, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = open_test_app(url, clock=FileClock(clock_file))
    settings = Settings(database_url=url, smtp_url=None, mailbox_dir=None, overdue_interval_s=TICK_S,
                        reminder_interval_s=TICK_S, delivery_interval_s=TICK_S, delivery_batch=4)
    return app, settings


def serve(url: str, clock_file: str, log_file: str, hold_in_transaction: str | None = None,
          hold_s: float = float("inf")) -> None:
    """The real scheduler (BlockingScheduler, short intervals) until SIGTERM or SIGINT.

    `hold_in_transaction`: a file to create the first time a sweep writes reminders, inside its
    transaction; the sweep then holds there for `hold_s` seconds (for ever: to be SIGKILLed mid-sweep).
    """
    app, settings = _setup(url, clock_file, log_file)
    if hold_in_transaction:
        add, marker = ScheduleRepository.add_reminders, Path(hold_in_transaction)

        def held(self: ScheduleRepository, rows: Any) -> int:
            if rows and not marker.exists():
                marker.write_text(str(os.getpid()), encoding="utf-8")
                deadline = time.monotonic() + hold_s
                while time.monotonic() < deadline:
                    time.sleep(0.05)
            return add(self, rows)

        ScheduleRepository.add_reminders = held  # type: ignore[method-assign]
    Scheduler(sweeps(app, settings)).run()
    app.engine.dispose()


def loop_once(url: str, clock_file: str, log_file: str, stop_file: str) -> None:
    """`rectify scheduler --once` over and over, like a cron job every tick, until the stop file appears."""
    app, settings = _setup(url, clock_file, log_file)
    while not Path(stop_file).exists():
        run_once(app, settings)
        time.sleep(TICK_S)
    app.engine.dispose()
