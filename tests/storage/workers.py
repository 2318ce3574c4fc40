"""Work done in child processes by the concurrency and crash tests (importable by a spawned child).

Each worker reports through a queue or a file, never by raising: the parent decides what is wrong.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import traceback
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from states.errors import ConcurrentUpdate, RectificationError, TransitionRefused
from states.measure import Measure
from states.model import Event, State
from storage.repositories import MeasureRepository
from workflow import services
from workflow.app import App

from ..support import open_test_app

# the next step of the work cycle a measure goes round: start, submit, reject, submit, reject, …
CYCLE: dict[State, tuple[Event, str, dict[str, Any]]] = {
    State.ASSIGNED: (Event.START, "owner", {}),
    State.IN_PROGRESS: (Event.SUBMIT, "owner", {"reason": "已整改", "notes": ["整改报告"]}),
    State.SUBMITTED: (Event.REJECT, "verifier", {"reason": "佐证不足"}),
}
# the crash test goes all the way round: … verify, close, reopen
LIFE: dict[State, tuple[Event, str, dict[str, Any]]] = {
    **CYCLE,
    State.SUBMITTED: (Event.VERIFY, "verifier", {}),
    State.VERIFIED: (Event.CLOSE, "leader", {}),
    State.CLOSED: (Event.REOPEN, "leader", {"reason": "回头看发现反弹"}),
}


def processes() -> multiprocessing.context.ForkServerContext:
    """Real, separate processes, started fast: forked from a clean server that has imported rectify once.

    Not forked from pytest (no inherited connections or threads); like 'spawn', but a child is
    ready in milliseconds instead of a second of imports, which lets the crash test run many rounds.
    """
    ctx = multiprocessing.context.ForkServerContext()
    ctx.set_forkserver_preload([__name__])
    return ctx


def _open(url: str, evidence_dir: str | None) -> App:
    return open_test_app(url, evidence_dir=Path(evidence_dir) if evidence_dir else None)


def _read(app: App, code: str) -> Measure:
    with app.uow(read_only=True) as uow:
        return uow.measures.get(code)


def race(url: str, evidence_dir: str | None, codes: list[str], expect_version: bool, pause_in_transaction: bool,
         barrier: Barrier, results: Queue[Any]) -> None:
    """For each measure: read it, wait for the other racer, then start it.

    `pause_in_transaction` waits inside the write transaction instead, after the measure was
    loaded and just before it is saved, so both racers certainly hold the same version.
    """
    try:
        app = _open(url, evidence_dir)
        if pause_in_transaction:
            save = MeasureRepository.save

            def paused_save(self: MeasureRepository, *args: Any, **kwargs: Any) -> None:
                barrier.wait(timeout=60)
                save(self, *args, **kwargs)

            MeasureRepository.save = paused_save  # type: ignore[method-assign]
        for code in codes:
            row = _read(app, code)
            if not pause_in_transaction:
                barrier.wait(timeout=60)
            try:
                services.fire(app, Event.START, code, actor=row.owner,
                              expected_version=row.version if expect_version else None)
                results.put((os.getpid(), code, "won", ""))
            except ConcurrentUpdate as e:
                results.put((os.getpid(), code, "conflict", str(e)))
            except TransitionRefused as e:
                results.put((os.getpid(), code, "refused", str(e)))
        app.engine.dispose()
    except BaseException:
        results.put((os.getpid(), "", "crashed", traceback.format_exc()))


def busy(url: str, own: str, shared: list[str], steps: int, barrier: Barrier, results: Queue[Any]) -> None:
    """Go round the work cycle on an own measure and on shared ones, interleaved; count every outcome.

    On a shared measure another worker may get there first: that is a ConcurrentUpdate or a
    TransitionRefused, both fine. Anything else (above all "database is locked") is an error.
    """
    done, lost, errors = 0, 0, []
    try:
        app = _open(url, None)
        barrier.wait(timeout=60)
        for i in range(steps):
            code = own if i % 2 == 0 else shared[(i // 2) % len(shared)]
            row = _read(app, code)
            event, part, kw = CYCLE[row.state]
            try:
                services.fire(app, event, code, actor=getattr(row, part), expected_version=row.version, **kw)
                done += 1
            except (ConcurrentUpdate, TransitionRefused):
                lost += 1
            except Exception as e:  # the test wants to see every one of these
                errors.append(f"{type(e).__name__}: {e}")
        app.engine.dispose()
    except BaseException:
        errors.append(traceback.format_exc())
    results.put((os.getpid(), done, lost, errors))


def crash_loop(url: str, codes: list[str], journal: str, evidence_every: int) -> None:
    """Move measures round their whole life for ever; after each commit, append `code seq hash` to the journal.

    Every `evidence_every`-th step adds an evidence file instead, so kills also land in file writes.
    The parent kills this process; it never returns on its own.
    """
    app = _open(url, None)
    scratch = Path(journal).with_suffix(".upload")
    with open(journal, "a", encoding="utf-8") as out:
        i = 0
        while True:
            i += 1
            code = codes[i % len(codes)]
            row = _read(app, code)
            try:
                if i % evidence_every == 0 and row.state in (State.ASSIGNED, State.IN_PROGRESS, State.SUBMITTED):
                    scratch.write_bytes(os.urandom(256 * 1024))
                    m = services.add_evidence(app, code, actor=row.owner, files=[scratch],
                                              expected_version=row.version)
                else:
                    event, part, kw = LIFE[row.state]
                    m = services.fire(app, event, code, actor=getattr(row, part), expected_version=row.version, **kw)
            except RectificationError as e:  # not expected with one writer: leave a trace for the parent
                out.write(f"refused {code} {e}\n")
                out.flush()
                continue
            out.write(f"{m.code} {m.version} {m.head}\n")
            out.flush()
