"""Progress of a long sweep: a live line on a terminal, a log line now and then anywhere else.

A sweep reports each item it has done through a callback; nothing shows while a run is short.
The sweeps of one process share one board, because rich draws one live display at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("rectify.scheduler")


class Board:
    """Where the sweeps of one process show their progress."""

    def __init__(self, terminal: bool = False, *, after_s: float = 1.0, log_every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.terminal, self.after_s, self.log_every_s, self.clock = terminal, after_s, log_every_s, clock
        self._lock = threading.Lock()
        self._live: Any = None  # a rich Progress while some sweep shows on it
        self._shown = 0

    @contextmanager
    def track(self, name: str) -> Iterator[Tracker]:
        """A progress callback for one run of sweep `name`, taken down when the run ends."""
        tracker = Tracker(self, name)
        try:
            yield tracker
        finally:
            tracker.close()

    def _show(self, name: str) -> Any:
        with self._lock:
            if self._live is None:
                from rich.console import Console
                from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

                self._live = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                      TextColumn("{task.completed} done"), TimeElapsedColumn(),
                                      console=Console(stderr=True), transient=True)
                self._live.start()
            self._shown += 1
            return self._live.add_task(name, total=None)

    def _update(self, task: Any, done: int) -> None:
        with self._lock:
            self._live.update(task, completed=done)

    def _hide(self, task: Any) -> None:
        with self._lock:
            self._live.remove_task(task)
            self._shown -= 1
            if not self._shown:
                self._live.stop()
                self._live = None


class Tracker:
    """Counts one sweep run's items; shows the count once the run has lasted a while."""

    def __init__(self, board: Board, name: str):
        self.board, self.name, self.done = board, name, 0
        self.started = self._last = board.clock()
        self._task: Any = None

    def __call__(self, n: int = 1) -> None:
        self.done += n
        b = self.board
        now = b.clock()
        if b.terminal:
            if now - self.started < b.after_s or now - self._last < 0.1:
                return
            if self._task is None:
                self._task = b._show(self.name)
            b._update(self._task, self.done)
        elif now - self._last >= b.log_every_s:
            log.info("%s: %d done so far, %.0f s", self.name, self.done, now - self.started)
        else:
            return
        self._last = now

    def close(self) -> None:
        """Take the live line down (the sweep logs its own result line)."""
        if self._task is not None:
            self.board._hide(self._task)
            self._task = None
