"""Several processes on one ledger: a lost race is a clear error, never a silent overwrite, never a lock error."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from workflow import audit, importer
from workflow.app import App

from ..conftest import AppFactory
from ..support import codes, count, history_rows, make_plan, measure_row, versions_match_history
from .workers import busy, processes, race

ROUNDS = 8  # measures raced for, one after another, by the same two processes


def run(target: Any, args_per_process: list[tuple[Any, ...]], results_per_process: int, timeout: float = 120) -> list[
        Any]:
    """Start one process per argument tuple (each also gets the barrier and the results queue); gather results."""
    ctx = processes()
    barrier, results = ctx.Barrier(len(args_per_process)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for args in args_per_process]
    for p in procs:
        p.start()
    gathered = []
    try:
        for _ in range(results_per_process * len(procs)):
            item = results.get(timeout=timeout)
            gathered.append(item)
            if item[2] == "crashed":
                pytest.fail(f"a worker crashed:\n{item[3]}")
    except queue.Empty:
        pytest.fail(f"workers gave {len(gathered)} of {results_per_process * len(procs)} results in {timeout} s")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return gathered


def _race_app(make_app: AppFactory, url: str) -> tuple[App, list[str]]:
    app = make_app(url, plan_file=None)
    importer.import_plan(app, make_plan("race", "r1", measures=ROUNDS), "race.yaml")
    return app, codes("r1", ROUNDS)


def _evidence_dir(app: App) -> str | None:
    return None if app.engine.dialect.name == "sqlite" else str(app.evidence.root)


def _outcomes(results: list[Any]) -> dict[str, list[str]]:
    by_code: dict[str, list[str]] = {}
    for _pid, code, outcome, _message in results:
        by_code.setdefault(code, []).append(outcome)
    return {code: sorted(o) for code, o in by_code.items()}


def _exactly_one_start_each(app: App, measures: list[str]) -> None:
    for code in measures:
        assert [h["event"] for h in history_rows(app, code)] == ["create", "start"], code
        assert measure_row(app, code)["version"] == 2
    report = audit.verify(app)
    assert report.ok, report.breaks


def test_two_processes_firing_at_the_same_version_one_wins_the_other_is_told_it_changed(
    make_app: AppFactory, db_url: str
) -> None:
    app, measures = _race_app(make_app, db_url)
    args = (db_url, _evidence_dir(app), measures, True, False)
    results = run(race, [args, args], results_per_process=ROUNDS)

    assert _outcomes(results) == {code: ["conflict", "won"] for code in measures}
    for _pid, _code, outcome, message in results:
        if outcome == "conflict":
            assert "changed by someone else" in message
    _exactly_one_start_each(app, measures)
    assert count(app, "access_log", "outcome = 'conflict'") == ROUNDS


@pytest.mark.postgres
@pytest.mark.parametrize("pause_in_transaction", [False, True], ids=["read-then-race", "both-loaded-then-race"])
def test_two_processes_firing_without_a_version_on_postgresql_never_both_win(
    make_app: AppFactory, pg_url: str, pause_in_transaction: bool
) -> None:
    app, measures = _race_app(make_app, pg_url)
    args = (pg_url, _evidence_dir(app), measures, False, pause_in_transaction)
    results = run(race, [args, args], results_per_process=ROUNDS)

    for code, outcomes in _outcomes(results).items():
        assert outcomes in (["conflict", "won"], ["refused", "won"]), code
    if pause_in_transaction:  # both held version 1 when they wrote: the version guard must catch it
        assert _outcomes(results) == {code: ["conflict", "won"] for code in measures}
    for _pid, _code, outcome, message in results:
        if outcome == "conflict":
            assert "changed by someone else" in message
    _exactly_one_start_each(app, measures)


WORKERS, STEPS = 4, 50


def test_four_processes_busy_on_one_sqlite_file_never_see_a_locked_database(make_app: AppFactory,
                                                                             tmp_path: Path) -> None:
    url = str(tmp_path / "busy.db")
    app = make_app(url, plan_file=None)
    importer.import_plan(app, make_plan("busy", "k1", measures=WORKERS + 2), "busy.yaml")
    measures = codes("k1", WORKERS + 2)
    own, shared = measures[:WORKERS], measures[WORKERS:]
    before = count(app, "history")

    results = run(busy, [(url, own[w], shared, STEPS) for w in range(WORKERS)], results_per_process=1)

    errors = [e for *_, errs in results for e in errs]
    assert errors == [], f"{len(errors)} errors, the first: " + "\n".join(errors[:3])
    done = sum(r[1] for r in results)
    assert done + sum(r[2] for r in results) == WORKERS * STEPS
    assert done >= WORKERS * STEPS // 2, "every own-measure step must succeed"
    assert count(app, "history") == before + done, "every success is in the history, nothing else is"
    assert versions_match_history(app) == []
    report = audit.verify(app)
    assert report.ok, report.breaks
    with app.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
