"""A client process SIGKILLed at random moments during transitions, hundreds of times, on SQLite and PostgreSQL.

The child of tests/storage/test_crash.py (`crash_loop`) moves measures round their whole life and
appends each step it saw committed to a journal; here it is killed after a short random delay, 200
times per database. After every kill, reopened as after a restart: every step the child saw succeed
is in the database with its hash; each measure's version is its number of history rows and its row
is the replay of its history; every chain verifies; SQLite's integrity_check is ok and every
evidence file is whole.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from workflow import importer
from workflow.app import App

from ..conftest import AppFactory
from ..storage.test_crash import _journal, kill_rounds, reported_are_stored
from ..storage.workers import crash_loop, processes
from ..support import codes, count, make_plan, open_test_app
from .checks import assert_ledger_whole

ROUNDS = 200
MEASURES = 4
MAX_DELAY_S = 0.08  # short delays keep 200 rounds quick; the child commits every few milliseconds anyway


def _check(app: App, journal: list[str], why: str) -> None:
    """The ledger is whole and every step the child reported committed is in it."""
    assert_ledger_whole(app, why)
    reported_are_stored(app, journal, codes("k1", MEASURES), why)


@pytest.mark.slow
def test_a_client_killed_at_random_moments_hundreds_of_times_loses_nothing_it_saw_committed(
        make_app: AppFactory, db_url: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("RECTIFY_CRASH_SEED", random.randrange(2**32)))
    setup = make_app(db_url, plan_file=None)
    importer.import_plan(setup, make_plan("kill", "k1", measures=MEASURES), "kill.yaml")
    setup.engine.dispose()
    sqlite = "://" not in db_url
    # on SQLite every 5th step also writes an evidence file beside the database; a server database has no
    # "beside", and the child (not ours to change) would write into the working folder, so no files there
    evidence_every = 5 if sqlite else 10**9
    journal = tmp_path / "journal.txt"
    ctx = processes()
    # a child on PostgreSQL would import the driver afresh each round (a quarter second); the fork server has it
    ctx.set_forkserver_preload([crash_loop.__module__, "psycopg", "sqlalchemy.dialects.postgresql.psycopg"])

    kill_rounds(ctx, db_url, codes("k1", MEASURES), journal, ROUNDS, seed, MAX_DELAY_S, evidence_every, _check)

    reported = _journal(journal)
    app = open_test_app(db_url)
    try:
        assert count(app, "history") >= MEASURES + len(reported) >= MEASURES + ROUNDS
        if sqlite:
            assert count(app, "evidence", "kind = 'file'") > 0, "the kills had file writes to land in"
    finally:
        app.engine.dispose()
