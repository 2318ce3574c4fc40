"""Work done in child processes by the delivery tests (importable by a forkserver child).

Each child does its part, then says so by creating a flag file, then hangs until the parent kills it.
"""

from __future__ import annotations

import multiprocessing.context
import os
import time
from datetime import datetime
from pathlib import Path

from jobs.delivery import Message, deliver
from workflow import sweeps
from workflow.clock import ManualClock
from workflow.settings import Settings

from ..support import open_test_app

LEASE_S = 120.0


def processes() -> multiprocessing.context.ForkServerContext:
    """Real, separate processes, forked from a clean server that has imported rectify once."""
    ctx = multiprocessing.context.ForkServerContext()
    ctx.set_forkserver_preload([__name__])
    return ctx


def _flag(path: str, text: str) -> None:
    scratch = Path(path + ".tmp")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)  # the parent never sees half a flag


def _hang() -> None:
    while True:
        time.sleep(60)


def claim_then_hang(url: str, at: str, flag: str) -> None:
    """Claim every due reminder as worker 'doomed', then hang just before the first send (flagged as the
    reminder's id and the target's place, "id:target")."""
    app = open_test_app(url, clock=ManualClock(datetime.fromisoformat(at)))
    settings = Settings(database_url=url, smtp_url=None, mailbox_dir=None, delivery_lease_s=LEASE_S)

    def hang(msg: Message) -> None:
        _flag(flag, f"{msg.id}:{msg.target}")
        _hang()

    deliver(app, settings, "doomed", send=hang)


def sweep_then_hang(url: str, at: str, flag: str) -> None:
    """Flag the breaches (their reminders committed with them), then hang before anything is sent (flagged
    as how many reminders the sweep wrote: one per occasion, whatever its targets)."""
    app = open_test_app(url, clock=ManualClock(datetime.fromisoformat(at)))
    result = sweeps.flag_overdue(app)
    _flag(flag, str(result.reminders))
    _hang()
