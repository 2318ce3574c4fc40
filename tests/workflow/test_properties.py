"""Properties of the services on a real SQLite file: whatever anyone tries, state and history agree.

Each example imports a fresh round (three measures) into one shared database, then fires a
sequence of events by any people, sensible or not. After every step: a success moved the
measure by exactly one history row, a refusal wrote nothing but its access-log line. After
the sequence: each measure row is the replay of its history, its version is the number of its
history rows, and every chain in the database verifies.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from states.errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RectificationError,
    TransitionRefused,
)
from states.measure import replay
from states.model import Event, State
from storage import migrate
from storage.repositories import to_record
from storage.tables import HistoryRow
from workflow import audit, importer, outcomes, services, sweeps
from workflow.app import App
from workflow.clock import ManualClock

from ..support import PEOPLE, START, codes, count, history_rows, make_plan, measure_row, open_test_app

EVENTS = [e for e in Event if e not in (Event.CREATE, Event.OVERDUE, Event.REBOUND)]  # those are rectify's own
SWEEP = "sweep"  # a step that runs the overdue and reminder sweeps instead of a person's event
ANYONE = (*PEOPLE, "ghost")  # ghost is nobody in the ledger
OUTCOME = {PermissionDenied: "denied", TransitionRefused: "refused", ConcurrentUpdate: "conflict",
           NotFound: "not_found", InvalidInput: "invalid"}

# what tends to move a measure on from each state, so sequences get past the first steps
LIKELY = {
    State.ASSIGNED: [Event.START, Event.EXTEND_REQUEST, Event.REASSIGN],
    State.IN_PROGRESS: [Event.SUBMIT, Event.EVIDENCE, Event.EXTEND_REQUEST, Event.EXTEND_APPROVE],
    State.SUBMITTED: [Event.VERIFY, Event.REJECT, Event.REASSIGN],
    State.VERIFIED: [Event.CLOSE, Event.REOPEN],
    State.CLOSED: [Event.REOPEN, Event.RECHECK],
}
PART = {Event.START: "owner", Event.SUBMIT: "owner", Event.EVIDENCE: "owner", Event.EXTEND_REQUEST: "owner",
        Event.REJECT: "verifier", Event.VERIFY: "verifier", Event.REOPEN: "leader", Event.CLOSE: "leader",
        Event.REASSIGN: "leader", Event.EXTEND_APPROVE: "leader", Event.EXTEND_REFUSE: "leader",
        Event.RECHECK: "verifier", Event.OUTCOME: "owner"}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, ManualClock, Iterator[int]]]:
    """One database for all examples; each example brings its own round."""
    clock = ManualClock(START)
    app = open_test_app(str(tmp_path_factory.mktemp("properties") / "ledger.db"), clock=clock, synchronous="NORMAL")
    migrate.upgrade(app.engine)
    yield app, clock, itertools.count(1)
    app.engine.dispose()


def attempt(app: App, event: Event, code: str, actor: str, d: Any, row: dict[str, Any]) -> None:
    """Fire `event` on `code` with arguments drawn from `d` (some sensible, some not)."""
    reason = d.draw(st.sampled_from(["已整改", "", "  "]), label="reason")
    stale = d.draw(st.sampled_from([None, None, None, row["version"], row["version"] - 1]), label="expected_version")
    if event is Event.EVIDENCE:
        notes = d.draw(st.sampled_from([["会议记录"], [], ["  "]]), label="notes")
        services.add_evidence(app, code, actor=actor, notes=notes, reason=reason, expected_version=stale)
    elif event is Event.EXTEND_REQUEST:
        days = d.draw(st.sampled_from([30, 7, 0, -3]), label="days later")
        services.request_extension(app, code, actor=actor, new_due=row["due"] + timedelta(days=days), reason=reason,
                                   expected_version=stale)
    elif event is Event.RECHECK:
        held = d.draw(st.booleans(), label="held")
        services.recheck(app, code, actor=actor, held=held, reason=reason, expected_version=stale)
    elif event is Event.OUTCOME:
        rules = d.draw(st.sampled_from([2, 0, -1, None]), label="rules")
        outcomes.record_outcome(app, code, actor=actor, changes={"rules": rules}, reason=reason,
                                expected_version=stale)
    elif event in (Event.EXTEND_APPROVE, Event.EXTEND_REFUSE):
        services.decide_extension(app, code, actor=actor, approve=event is Event.EXTEND_APPROVE, reason=reason,
                                  expected_version=stale)
    else:
        notes = d.draw(st.sampled_from([["佐证材料"], []]), label="notes") if event is Event.SUBMIT else []
        new_owner = d.draw(st.sampled_from(["bob", "alice", "checker", "ghost", None]), label="new owner") \
            if event is Event.REASSIGN else None
        services.fire(app, event, code, actor=actor, reason=reason, notes=notes, new_owner=new_owner,
                      expected_version=stale)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=st.data())
def test_any_sequence_of_events_keeps_state_history_and_chains_in_agreement(
    ledger: tuple[App, ManualClock, Iterator[int]], d: st.DataObject
) -> None:
    app, clock, numbers = ledger
    n = next(numbers)
    importer.import_plan(app, make_plan(f"round-{n}", f"p{n}", measures=3), f"round-{n}.yaml")
    measures = codes(f"p{n}", 3)

    for _ in range(d.draw(st.integers(0, 25), label="steps")):
        if d.draw(st.integers(0, 9), label="sweep?") == 0:
            _sweep_and_check(app, clock, measures, d)
            continue
        code = d.draw(st.sampled_from(measures), label="measure")
        row = measure_row(app, code)
        state = State(row["state"])
        event = d.draw(st.one_of(st.sampled_from(LIKELY[state]), st.sampled_from(EVENTS)), label="event")
        actor = d.draw(st.one_of(st.just(row[PART[event]]), st.sampled_from(ANYONE)), label="actor")
        history, logged = history_rows(app, code), count(app, "access_log")
        clock.advance(timedelta(minutes=d.draw(st.integers(1, 3000), label="minutes later")))
        try:
            attempt(app, event, code, actor, d, row)
        except RectificationError as e:
            assert measure_row(app, code) == row, f"{event} refused ({e}) but the measure changed"
            assert history_rows(app, code) == history, f"{event} refused ({e}) but the history changed"
            assert count(app, "access_log") == logged + 1
            last = _last_logged(app)
            assert (last["outcome"], last["message"]) == (OUTCOME[type(e)], str(e))
        else:
            after, now = measure_row(app, code), history_rows(app, code)
            assert after["version"] == row["version"] + 1 == len(now)
            assert now[:-1] == history, "earlier history is never touched"
            fired = Event.REOPEN if event is Event.RECHECK and after["state"] != row["state"] else event
            assert (now[-1]["event"], now[-1]["actor"], now[-1]["from_state"]) == (str(fired), actor, row["state"])
            assert (now[-1]["to_state"], now[-1]["hash"]) == (after["state"], after["head"])
            assert count(app, "access_log") == logged

    for code in measures:
        row, rows = measure_row(app, code), history_rows(app, code)
        rebuilt = replay([to_record(_history(r)) for r in rows], code)
        assert row["version"] == len(rows) == rebuilt.version
        assert (row["state"], row["owner"], row["due"], row["head"]) == (
            str(rebuilt.state), rebuilt.owner, rebuilt.due, rebuilt.head)
        assert (row["evidence_count"], row["rebounds"]) == (rebuilt.evidence_count, rebuilt.rebounds)
    report = audit.verify(app)
    assert report.ok, report.breaks


def _last_logged(app: App) -> dict[str, Any]:
    with app.uow(read_only=True) as uow:
        last = uow.access_log.query()[-1]
    return {"outcome": last.outcome, "message": last.message}


def _history(row: dict[str, Any]) -> HistoryRow:
    return HistoryRow(**row)


def test_the_likely_events_can_walk_a_measure_through_every_state(tmp_path: Path) -> None:
    """So the property explores every state, not only the first ones."""
    app = open_test_app(str(tmp_path / "walk.db"))
    try:
        migrate.upgrade(app.engine)
        importer.import_plan(app, make_plan("walk", "w1", measures=1), "walk.yaml")
        (code,) = codes("w1", 1)
        seen = {State.ASSIGNED}
        for _ in range(4):
            row = measure_row(app, code)
            event = LIKELY[State(row["state"])][0]
            services.fire(app, event, code, actor=row[PART[event]], reason="已整改", notes=["佐证"])
            seen.add(State(measure_row(app, code)["state"]))
        assert seen == set(State)
    finally:
        app.engine.dispose()


def _sweep_and_check(app: App, clock: ManualClock, measures: list[str], d: Any) -> None:
    """Run the sweeps (maybe twice): each measure gains at most one `overdue` record, by the system."""
    clock.advance(timedelta(hours=d.draw(st.integers(1, 24 * 20), label="hours later")))
    before = {c: (measure_row(app, c), history_rows(app, c)) for c in measures}
    for _ in range(d.draw(st.integers(1, 2), label="sweeps")):
        sweeps.flag_overdue(app)
        sweeps.remind(app)
    for code, (row, history) in before.items():
        after, now = measure_row(app, code), history_rows(app, code)
        assert now[: len(history)] == history
        added = now[len(history):]
        assert len(added) <= 1, f"{code}: a sweep added {len(added)} records"
        if added:
            assert (added[0]["event"], added[0]["actor"], added[0]["role"]) == ("overdue", "system", "system")
            assert added[0]["from_state"] == added[0]["to_state"] == row["state"] == after["state"]
            local_today = clock().astimezone(ZoneInfo("Asia/Shanghai")).date()  # the round's day, not UTC's
            assert after["overdue"] and not row["overdue"] and after["due"] < local_today
