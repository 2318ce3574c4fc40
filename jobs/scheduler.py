"""The scheduler: APScheduler 3.11 only ticks; the sweeps in workflow/ and the delivery worker do the work.

The schedule itself is data in rectify's tables (due dates, reminder rows, rebound checks), so
the jobs live in memory: each sweep runs once at start and then every interval, with
`coalesce=True, max_instances=1, misfire_grace_time=None`, and a scheduler that was down or late
catches up with one run. Each run logs one line; a run that raises logs one line with the error
and the scheduler goes on. SIGTERM or SIGINT stops it after the running sweeps have committed.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Protocol

from workflow.app import App
from workflow.settings import Settings
from workflow.sweeps import Holidays, flag_overdue, load_holidays, remind

from .progress import Board

log = logging.getLogger("rectify.scheduler")
JOB_OPTIONS: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


class Outcome(Protocol):
    """What a sweep run returns: anything that says what it did in one line."""

    def line(self) -> str: ...


@dataclass(frozen=True)
class Failed:
    """A sweep run that raised: its error in one line."""

    name: str
    error: str

    def line(self) -> str:
        """One log line."""
        return f"{self.name}: failed: {self.error}"


Progress = Callable[[int], None]


@dataclass(frozen=True)
class Sweep:
    """One scheduled job: its name, how often it runs, and the workflow call it makes."""

    name: str
    interval_s: float
    work: Callable[[Progress], Outcome]


def sweeps(app: App, settings: Settings, *, holidays: Holidays | None = None, worker: str | None = None
           ) -> list[Sweep]:
    """The sweeps, in the order a run-once goes through them: flag breaches, write reminders, send them."""
    days = load_holidays(settings.holidays_file) if holidays is None else holidays
    return [
        Sweep("overdue", settings.overdue_interval_s, lambda progress: flag_overdue(app, days, progress)),
        Sweep("reminders", settings.reminder_interval_s, lambda progress: remind(app, days, progress)),
        Sweep("delivery", settings.delivery_interval_s, lambda progress: _deliver(app, settings, worker)),
    ]


def _deliver(app: App, settings: Settings, worker: str | None) -> Outcome:
    from .delivery import deliver, worker_name  # apprise loads only where reminders are sent

    return deliver(app, settings, worker or worker_name())


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def run_sweep(sweep: Sweep, board: Board | None = None) -> Outcome:
    """Run one sweep and log its line; a failure is logged as one line and returned, not raised."""
    try:
        with (board or Board()).track(sweep.name) as progress:
            outcome = sweep.work(progress)
    except Exception as e:  # the scheduler must go on; the error is logged with its text, not hidden
        failed = Failed(sweep.name, _one_line(e))
        log.error("%s", failed.line())
        log.debug("%s: the failure's traceback", sweep.name, exc_info=True)
        return failed
    log.log(logging.WARNING if getattr(outcome, "warnings", None) else logging.INFO, "%s", outcome.line())
    return outcome


def run_once(app: App, settings: Settings, *, board: Board | None = None,
             only: Sequence[str] | None = None) -> list[Outcome]:
    """Run every sweep (or those named) once, in order (for cron or a systemd timer); a failed one does not stop
    the rest."""
    return [run_sweep(s, board) for s in sweeps(app, settings) if only is None or s.name in only]


class Scheduler:
    """The sweeps on an APScheduler BlockingScheduler: in-memory jobs, a thread per sweep."""

    def __init__(self, jobs: Sequence[Sweep], board: Board | None = None):
        from apscheduler.events import EVENT_SCHEDULER_STARTED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self._executor = ThreadPoolExecutor(max(1, len(jobs)))
        self._stop_asked = threading.Event()
        self.aps = BlockingScheduler(executors={"default": self._executor}, job_defaults=JOB_OPTIONS, timezone=UTC)
        # APScheduler ticks on the wall clock; the sweeps read the app's clock
        first = datetime.now(UTC)
        for s in jobs:
            self.aps.add_job(run_sweep, IntervalTrigger(seconds=s.interval_s, timezone=UTC), args=(s, board),
                             id=s.name, name=s.name, next_run_time=first, **JOB_OPTIONS)
        # a stop asked for while the scheduler was still starting is honoured once it has started
        self.aps.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)

    def jobs(self) -> list[Any]:
        """The APScheduler jobs, one per sweep."""
        return list(self.aps.get_jobs())

    def stop(self) -> None:
        """Stop ticking; running sweeps finish. Safe from a signal handler or another thread."""
        from apscheduler.schedulers import SchedulerNotRunningError

        self._stop_asked.set()
        # a signal and a thread may both ask: the first one stops it
        if self.aps.running:
            with suppress(SchedulerNotRunningError):
                self.aps.shutdown(wait=False)

    def run(self, *, handle_signals: bool = True) -> None:
        """Tick until stopped (by `stop`, SIGTERM or SIGINT); returns once the running sweeps are done."""
        previous: dict[int, Any] = {}
        if handle_signals:
            previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        log.info("scheduler: %s", ", ".join(f"{j.name} every {j.trigger.interval.total_seconds():g} s"
                                            for j in self.jobs()))
        try:
            self.aps.start()
            self._executor.shutdown(wait=True)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        log.info("scheduler: stopped")

    def _on_started(self, _event: Any) -> None:
        if self._stop_asked.is_set():
            self.stop()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("scheduler: %s, stopping once the running sweeps are done", signal.Signals(signum).name)
        # a second signal stops at once
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.stop()


def configure_logging(level: int = logging.INFO) -> None:
    """One line per sweep run on stderr; APScheduler's own chatter only when something is wrong."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
