"""A hypothesis state machine against a model of the ledger: 1,000 runs of up to 20 steps each.

Each run copies a prepared SQLite file (the small plan imported) and fires events through the real
service layer: machine events, evidence, extension requests and decisions, rebound-check answers, and
the overdue sweep after the clock moved on; by the right people and by anyone, with good and bad input
and stale versions. The model (ledger_model.py) predicts each outcome: which error, or success and the
new state, owner, due date, version, evidence count, overdue flag, rebounds, pending extension and
rebound checks. After every step the database must equal the model, each version must be its number
of history rows and every refusal must have its access-log line; after every run every chain must verify.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import event as tally
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import text

from states.errors import RectificationError
from states.model import MACHINE_EVENTS, Event, State
from storage.engine import reader
from workflow import audit, services, sweeps
from workflow.app import App
from workflow.clock import ManualClock

from ..conftest import AppFactory
from ..support import START, open_test_app
from .ledger_model import PARTS, ZONE, MeasureModel, Outcome, small_plan

EXAMPLES = 1000
STEPS = 20

ANYONE = ["boss", "deputy", "checker", "alice", "bob", "audrey", "root", "ghost"]  # ghost is nobody
CODES = st.sampled_from(sorted(small_plan()))
LIKELY = {  # the usual ways on from each state, so runs get past the first steps
    State.ASSIGNED: [Event.START, Event.START, Event.REASSIGN],
    State.IN_PROGRESS: [Event.SUBMIT],
    State.SUBMITTED: [Event.VERIFY, Event.VERIFY, Event.REJECT],
    State.VERIFIED: [Event.CLOSE, Event.CLOSE, Event.REOPEN],
    State.CLOSED: [Event.REOPEN],
}
LEDGER = text(
    "SELECT m.code, m.state, m.version, m.owner, m.due, m.overdue, m.evidence_count, m.rebounds, "
    "(SELECT count(*) FROM history h WHERE h.measure_id = m.id), "
    "(SELECT group_concat(x.new_due) FROM extension x WHERE x.measure_id = m.id AND x.status = 'pending'), "
    "(SELECT group_concat(c.due_on) FROM (SELECT due_on FROM rebound_check WHERE measure_id = m.id "
    "AND status = 'pending' ORDER BY due_on) c) FROM measure m")


class LedgerMachine(RuleBasedStateMachine):
    """The real ledger on a SQLite file, stepped beside its model."""

    template: Path  # the prepared file each run starts from
    db: Path  # the file of the runs, always opened by one engine (its compiled statements are kept)
    app: App

    def __init__(self) -> None:
        super().__init__()
        self.app.engine.dispose()  # no connection may outlive the file it was opened on
        for leftover in (self.db, self.db.with_name(self.db.name + "-wal"), self.db.with_name(self.db.name + "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(self.template, self.db)
        self.clock = ManualClock(START)
        self.app = replace(self.app, clock=self.clock)
        self.model = small_plan()
        self.refusals = 0

    def teardown(self) -> None:
        # the history is append-only, so chains that verify at the end verified at every step
        report = audit.verify(self.app)
        assert report.ok, report.breaks

    def _attempt(self, what: str, expected: Outcome, call: Callable[[], Any]) -> bool:
        """Make the attempt; it must fail with the expected error, or succeed when none is expected."""
        tally(f"{what}: {expected.__name__ if expected else 'done'}")  # see --hypothesis-show-statistics
        try:
            call()
        except RectificationError as e:
            assert expected is not None and type(e) is expected, f"the model expected {expected}, got {e!r}"
            self.refusals += 1
            return False
        assert expected is None, f"the model expected {expected.__name__}, but it succeeded"
        return True

    def _sensible(self, data: st.DataObject) -> bool:
        """Whether this attempt is made the way a careful person would (else: anyone, any input)."""
        return data.draw(st.booleans(), label="sensible")

    def _version(self, m: MeasureModel, data: st.DataObject, sensible: bool) -> tuple[bool, int | None]:
        """The version the attempt expects: none, the current one, or a stale one (someone else came first)."""
        if not sensible and data.draw(st.booleans(), label="stale"):
            return True, m.version - 1
        return False, data.draw(st.sampled_from([None, m.version]), label="expected_version")

    def _person(self, m: MeasureModel, event: Event, data: st.DataObject, sensible: bool) -> str:
        holders: list[str] = [getattr(m, part) for part in PARTS[event]]
        return data.draw(st.sampled_from(holders if sensible else ANYONE), label="person")

    def _reason(self, data: st.DataObject, sensible: bool) -> str:
        return "已整改" if sensible else data.draw(st.sampled_from(["已整改", "", "  "]), label="reason")

    def _fire(self, code: str, event: Event, data: st.DataObject, sensible: bool) -> None:
        m = self.model[code]
        person, reason = self._person(m, event, data, sensible), self._reason(data, sensible)
        notes: list[str] = []
        if event is Event.SUBMIT:
            notes = ["佐证材料"] if sensible else data.draw(st.sampled_from([["佐证材料"], [], ["  "]]), label="notes")
        new_owner = None
        if event is Event.REASSIGN:
            new_owner = ({"alice": "bob", "bob": "alice"}[m.owner] if sensible else
                         data.draw(st.sampled_from(["alice", "bob", "checker", "ghost", None]), label="new owner"))
        stale, version = self._version(m, data, sensible)
        expected = m.predict_fire(event, person, reason, notes, new_owner, stale)
        if self._attempt(str(event), expected, lambda: services.fire(self.app, event, code, actor=person, reason=reason,
                                                         notes=notes, new_owner=new_owner, expected_version=version)):
            m.apply_fire(event, notes, new_owner, self.clock())

    @rule(code=CODES, steps=st.integers(1, 4), data=st.data())
    def work_on(self, code: str, steps: int, data: st.DataObject) -> None:
        """The measure's people take it a few steps along its usual way."""
        for _ in range(steps):
            event = data.draw(st.sampled_from(LIKELY[self.model[code].state]), label="event")
            self._fire(code, event, data, sensible=True)

    @rule(code=CODES, event=st.sampled_from(MACHINE_EVENTS), data=st.data())
    def fire(self, code: str, event: Event, data: st.DataObject) -> None:
        """Anyone tries any event."""
        self._fire(code, event, data, self._sensible(data))

    @rule(code=CODES, data=st.data())
    def add_evidence(self, code: str, data: st.DataObject) -> None:
        m, sensible = self.model[code], self._sensible(data)
        person = self._person(m, Event.EVIDENCE, data, sensible)
        notes = ["会议记录"] if sensible else data.draw(st.sampled_from([["纪要", "照片"], [], ["  "]]), label="notes")
        stale, version = self._version(m, data, sensible)
        if self._attempt("evidence", m.predict_evidence(person, notes, stale), lambda: services.add_evidence(
                self.app, code, actor=person, notes=notes, expected_version=version)):
            m.apply_evidence(notes)

    @rule(code=CODES, days=st.sampled_from([30, 7, 0, -3]), data=st.data())
    def request_extension(self, code: str, days: int, data: st.DataObject) -> None:
        m, sensible = self.model[code], self._sensible(data)
        person, reason = self._person(m, Event.EXTEND_REQUEST, data, sensible), self._reason(data, sensible)
        new_due = m.due + timedelta(days=days)
        stale, version = self._version(m, data, sensible)
        expected = m.predict_extension(person, new_due, reason, stale)
        if self._attempt("extension", expected, lambda: services.request_extension(
                self.app, code, actor=person, new_due=new_due, reason=reason, expected_version=version)):
            m.apply_extension(new_due)

    @rule(code=CODES, approve=st.booleans(), data=st.data())
    def decide_extension(self, code: str, approve: bool, data: st.DataObject) -> None:
        """Anyone decides on an extension of any measure, asked for or not."""
        self._decide(code, approve, data)

    @precondition(lambda self: any(m.pending for m in self.model.values()))
    @rule(approve=st.booleans(), data=st.data())
    def decide_a_pending_request(self, approve: bool, data: st.DataObject) -> None:
        """Someone decides on an extension that was asked for."""
        code = data.draw(st.sampled_from(sorted(c for c, m in self.model.items() if m.pending)), label="measure")
        self._decide(code, approve, data)

    def _decide(self, code: str, approve: bool, data: st.DataObject) -> None:
        m, sensible = self.model[code], self._sensible(data)
        event = Event.EXTEND_APPROVE if approve else Event.EXTEND_REFUSE
        person, reason = self._person(m, event, data, sensible), self._reason(data, sensible)
        stale, version = self._version(m, data, sensible)
        expected = m.predict_decision(person, approve, reason, stale)
        if self._attempt(str(event), expected, lambda: services.decide_extension(
                self.app, code, actor=person, approve=approve, reason=reason, expected_version=version)):
            m.apply_decision(approve)

    @rule(code=CODES, held=st.booleans(), data=st.data())
    def answer_recheck(self, code: str, held: bool, data: st.DataObject) -> None:
        """Anyone answers a rebound check of any measure, due or not."""
        self._recheck(code, held, data)

    @precondition(lambda self: any(m.checks for m in self.model.values()))
    @rule(held=st.booleans(), data=st.data())
    def answer_check_when_due(self, held: bool, data: st.DataObject) -> None:
        """A closed measure's check comes due, and someone answers it."""
        code = data.draw(st.sampled_from(sorted(c for c, m in self.model.items() if m.checks)), label="measure")
        self.clock.set(max(self.clock(), datetime.combine(min(self.model[code].checks), time(9), ZONE)))
        self._recheck(code, held, data)

    def _recheck(self, code: str, held: bool, data: st.DataObject) -> None:
        m, sensible = self.model[code], self._sensible(data)
        person, reason = self._person(m, Event.RECHECK, data, sensible), self._reason(data, sensible)
        stale, version = self._version(m, data, sensible)
        now = self.clock()
        if self._attempt("recheck", m.predict_recheck(person, held, reason, stale, now), lambda: services.recheck(
                self.app, code, actor=person, held=held, reason=reason, expected_version=version)):
            m.apply_recheck(held, now)

    @rule(days=st.integers(0, 100), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        self.clock.advance(timedelta(days=days, hours=hours))

    @rule(days=st.integers(0, 40), twice=st.booleans())
    def sweep(self, days: int, twice: bool) -> None:
        """The overdue sweep after `days` (the one sweep that writes history); a second run adds nothing."""
        self.clock.advance(timedelta(days=days))
        for _ in range(1 + twice):
            sweeps.flag_overdue(self.app)
        for m in self.model.values():
            m.sweep(self.clock())

    @invariant()
    def the_ledger_is_the_model(self) -> None:
        with reader(self.app.engine).connect() as conn:
            rows = conn.execute(LEDGER).all()
            logged = conn.execute(text("SELECT count(*) FROM access_log")).scalar_one()
        for code, state, version, owner, due, overdue, evidence, rebounds, history, pending, checks in rows:
            m = self.model[code]
            assert (state, version, owner, str(due), bool(overdue), evidence, rebounds) == (
                m.state, m.version, m.owner, str(m.due), m.overdue, m.evidence, m.rebounds), code
            assert history == version, f"{code}: version {version}, {history} history rows"
            assert (pending, checks) == (str(m.pending) if m.pending else None,
                                         ",".join(map(str, sorted(m.checks))) or None), code
        assert logged == self.refusals, "every refusal, and only a refusal, has its access-log line"


def test_the_ledger_behaves_as_its_model_through_any_sequence_of_events(make_app: AppFactory, tmp_path: Path) -> None:
    made = make_app(str(tmp_path / "template.db"))
    made.engine.dispose()  # folds the WAL into the file, so copying the file copies the ledger
    db = tmp_path / "run.db"
    app = open_test_app(str(db), synchronous="OFF")  # durability is not what is asked here
    run = type("Run", (LedgerMachine,), {"template": tmp_path / "template.db", "db": db, "app": app})
    try:
        run_state_machine_as_test(run, settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
            suppress_health_check=[HealthCheck.too_slow]))
    finally:
        app.engine.dispose()
