#!/usr/bin/env python
"""How long one delivery worker holds SQLite's write lock per message, step by step.

Two workers on one SQLite file can only overlap what a worker does outside the write lock; this
script measures the inside. It builds the outbox `drain.py` builds (log channel, --size
reminders), runs the real `jobs.delivery.deliver` with a send that does nothing, and times each
write transaction of a reminder's record from the moment SQLite granted the lock (BEGIN IMMEDIATE
returned) to the end of the commit:

    granted → UPDATE sent        SQLAlchemy preparing the record's UPDATE, if it runs after BEGIN
    UPDATE in SQLite             the UPDATE of the reminder
    UPDATE done → COMMIT sent    the attempt INSERT, and SQLAlchemy's work up to the driver's commit
    COMMIT in SQLite             writing the WAL frames and the fsync (synchronous=FULL)

Medians over every record transaction; the claims (one per batch of 50) are left out.

    .venv/bin/python bench/lock_hold.py
    .venv/bin/python bench/lock_hold.py --size 10000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from drain import build_outbox
from sqlalchemy import event

STEPS = ("granted", "update sent", "update done", "commit sent", "committed")
LABELS = ("granted → UPDATE sent", "UPDATE in SQLite", "UPDATE done → COMMIT sent", "COMMIT in SQLite")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=3000, help="reminders to drain (default 3000)")
    args = ap.parse_args()

    from jobs.delivery import deliver
    from workflow.app import open_app
    from workflow.settings import Settings

    with tempfile.TemporaryDirectory(prefix="rectify-lock-hold-") as tmp:
        url = str(Path(tmp) / "outbox.db")
        build_outbox(url, args.size, "log", 0)
        settings = Settings(database_url=url, smtp_url=None, mailbox_dir=None, delivery_lease_s=120.0)
        app = open_app(url, settings=settings)
        now: dict[str, float] = {}
        records: list[dict[str, float]] = []

        @event.listens_for(app.engine, "before_cursor_execute")
        def _before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            # runs after the engine's own listener, which says the transaction's BEGIN IMMEDIATE first
            now.setdefault("granted", time.perf_counter())
            if statement.lstrip().startswith("UPDATE reminder"):
                now.setdefault("update sent", time.perf_counter())
            elif statement.lstrip().startswith("SELECT reminder.id"):
                now["claimed"] = 1.0  # a claim's transaction, not a record's

        @event.listens_for(app.engine, "after_cursor_execute")
        def _after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().startswith("UPDATE reminder"):
                now.setdefault("update done", time.perf_counter())

        commit = app.engine.dialect.do_commit

        def timed_commit(dbapi_connection: Any) -> None:
            sent = time.perf_counter()
            commit(dbapi_connection)
            if "update done" in now and "claimed" not in now:
                records.append({**now, "commit sent": sent, "committed": time.perf_counter()})
            now.clear()

        app.engine.dialect.do_commit = timed_commit  # type: ignore[method-assign]
        started, cpu = time.perf_counter(), time.process_time()
        sent = 0
        while True:
            result = deliver(app, settings, "w0", send=lambda _msg: None)
            sent += result.sent
            if not result.claimed:
                break
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        app.engine.dispose()

    print(f"{sent:,} reminders drained by one worker (log channel, nothing sent): {1000 * wall / sent:.3f} ms "
          f"each, {1000 * cpu / sent:.3f} ms of CPU")
    print(f"write lock held per record (median of {len(records):,}):")
    for label, a, b in zip(LABELS, STEPS[:-1], STEPS[1:], strict=True):
        print(f"  {label:<27} {1000 * statistics.median(r[b] - r[a] for r in records):7.3f} ms")
    held = [r["committed"] - r["granted"] for r in records]
    print(f"  {'in all':<27} {1000 * statistics.median(held):7.3f} ms (mean {1000 * statistics.mean(held):.3f})")


if __name__ == "__main__":
    main()
