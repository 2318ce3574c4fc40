"""A process killed at any moment (SIGKILL, mid-transaction or mid-file) leaves nothing half-written.

A child moves measures round their whole life on a SQLite file, with evidence files now and
then, and appends each committed step to a journal. It is killed at a random moment, many
times over. After every kill, reopened as after a restart: the file is intact, state and
history agree, every chain verifies, every evidence file is whole, and every step the child
reported committed is in the database.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from storage.engine import reader
from workflow import audit, importer
from workflow.app import App

from ..conftest import AppFactory
from ..support import codes, count, history_rows, make_plan, open_test_app, versions_match_history
from .workers import crash_loop, processes

ROUNDS = 30
MEASURES = 4


def _journal(path: Path) -> list[str]:
    """The complete lines of the journal (a kill may cut the last one short)."""
    content = path.read_text(encoding="utf-8") if path.exists() else ""
    return content.split("\n")[:-1]


def _wait_for_progress(path: Path, size: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (path.stat().st_size if path.exists() else 0) <= size:
        assert time.monotonic() < deadline, "the child made no progress"
        time.sleep(0.002)


def reported_are_stored(app: App, journal: list[str], measures: list[str], why: str) -> None:
    """Every step the child reported committed is in the database with its hash, it reported no refusal,
    and every evidence file is whole."""
    assert [line for line in journal if line.startswith("refused")] == [], why
    chains = {code: {h["seq"]: h["hash"] for h in history_rows(app, code)} for code in measures}
    for line in journal:
        code, version, head = line.split()
        assert chains[code].get(int(version)) == head, f"{why}: reported {line!r} is not in the database"
    with reader(app.engine).connect() as conn:
        files = conn.execute(text("SELECT sha256 FROM evidence WHERE kind = 'file'")).scalars().all()
    assert all(app.evidence.verify(sha) for sha in files), f"{why}: an evidence file is not whole"


def kill_rounds(ctx: Any, url: str, measures: list[str], journal: Path, rounds: int, seed: int, max_delay_s: float,
                evidence_every: int, check: Callable[[App, list[str], str], None]) -> None:
    """`rounds` times: start the child on `measures`, let it make progress, SIGKILL it after a random delay
    (seeded), then reopen the database as after a restart and `check` it against the journal."""
    rng = random.Random(seed)
    for round_ in range(1, rounds + 1):
        why = f"after kill {round_} (RECTIFY_CRASH_SEED={seed})"
        size = journal.stat().st_size if journal.exists() else 0
        child = ctx.Process(target=crash_loop, args=(url, measures, str(journal), evidence_every))
        child.start()
        _wait_for_progress(journal, size)
        time.sleep(rng.uniform(0, max_delay_s))
        child.kill()
        child.join(timeout=10)
        assert child.exitcode == -9, why

        app = open_test_app(url)  # as after a restart
        try:
            check(app, _journal(journal), why)
        finally:
            app.engine.dispose()


def _check(app: App, journal: list[str], why: str) -> None:
    with app.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok", why
    assert versions_match_history(app) == [], why
    report = audit.verify(app)
    assert report.ok, f"{why}: {report.breaks}"
    reported_are_stored(app, journal, codes("c1", MEASURES), why)


def test_a_process_killed_at_random_moments_never_leaves_a_half_written_ledger(make_app: AppFactory,
                                                                                tmp_path: Path) -> None:
    seed = int(os.environ.get("RECTIFY_CRASH_SEED", random.randrange(2**32)))
    url = str(tmp_path / "crash.db")
    setup = make_app(url, plan_file=None)
    importer.import_plan(setup, make_plan("crash", "c1", measures=MEASURES), "crash.yaml")
    setup.engine.dispose()
    journal = tmp_path / "journal.txt"
    kill_rounds(processes(), url, codes("c1", MEASURES), journal, ROUNDS, seed, 0.15, 5, _check)

    reported = _journal(journal)
    app = open_test_app(url)
    try:
        assert count(app, "history") >= MEASURES + len(reported) >= MEASURES + ROUNDS
        assert count(app, "evidence", "kind = 'file'") > 0, "the kills had file writes to land in"
    finally:
        app.engine.dispose()
