"""A plain-Python model of the ledger of the small plan: what each attempt should do, written from the rules
of the README (who may, from which state, under which guard, what an extension or a rebound check does),
not from rectify's code.

`predict_*` return the error class an attempt must raise, or None when it must succeed; `apply_*` then
move the model as the success would. Where several things are wrong at once, the first is named, in the
order rectify checks them: the input, a stale version, a stranger, a part not held, the state and guards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from states.errors import ConcurrentUpdate, InvalidInput, NotFound, PermissionDenied, RectificationError
from states.errors import TransitionRefused as Refused
from states.model import Event, Kind, State

ZONE = ZoneInfo("Asia/Shanghai")  # the round's time zone: due dates and "today" are its local dates
OWNERS = {"alice", "bob"}  # the people with the owner role
ADMINS = {"root"}
PEOPLE = {"boss", "deputy", "checker", "alice", "bob", "audrey", "root"}
# who may fire each event: the parts of the measure they hold
PARTS = {
    Event.START: ("owner",), Event.SUBMIT: ("owner",), Event.EVIDENCE: ("owner",), Event.EXTEND_REQUEST: ("owner",),
    Event.REJECT: ("verifier",), Event.VERIFY: ("verifier",), Event.CLOSE: ("leader",),
    Event.EXTEND_APPROVE: ("leader",), Event.EXTEND_REFUSE: ("leader",), Event.REASSIGN: ("leader",),
    Event.REOPEN: ("verifier", "leader"), Event.RECHECK: ("verifier", "leader"),
}
S = State
MOVES: dict[Event, tuple[set[State], State | None]] = {  # from which states, to which (None: stays)
    Event.START: ({S.ASSIGNED}, S.IN_PROGRESS),
    Event.SUBMIT: ({S.IN_PROGRESS}, S.SUBMITTED),
    Event.REJECT: ({S.SUBMITTED}, S.IN_PROGRESS),
    Event.VERIFY: ({S.SUBMITTED}, S.VERIFIED),
    Event.CLOSE: ({S.VERIFIED}, S.CLOSED),
    Event.REOPEN: ({S.VERIFIED, S.CLOSED}, S.IN_PROGRESS),
    Event.REASSIGN: ({S.ASSIGNED, S.IN_PROGRESS, S.SUBMITTED, S.VERIFIED}, None),
}
RECHECK_DAYS = (30, 90, 180)  # after a close-out (immediate and deadline measures)
RECHECK_MONTHS = 3  # long-term measures: every quarter, for good

Outcome = type[RectificationError] | None


def local_day(at: datetime) -> date:
    """The round's local date at `at`."""
    return at.astimezone(ZONE).date()


def months_later(d: date, months: int) -> date:
    """The same day `months` later, the 28th at most."""
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, min(d.day, 28))


def _blank(text: str) -> bool:
    return not text.strip()


@dataclass
class MeasureModel:
    """What a measure should be."""

    code: str
    kind: Kind
    owner: str
    verifier: str
    leader: str
    due: date
    state: State = S.ASSIGNED
    version: int = 1
    evidence: int = 0
    overdue: bool = False
    rebounds: int = 0
    pending: date | None = None  # the due date a pending extension request asks for
    checks: list[date] = field(default_factory=list)  # pending rebound checks

    def holds(self, person: str, event: Event) -> bool:
        return person in {getattr(self, part) for part in PARTS[event]} or (
            event is Event.REASSIGN and person in ADMINS)

    def _first(self, person: str, event: Event, stale: bool) -> Outcome:
        """The checks every command makes after its own input: version, stranger, part."""
        if stale:
            return ConcurrentUpdate
        if person not in PEOPLE:
            return NotFound
        return None if self.holds(person, event) else PermissionDenied

    def predict_fire(self, event: Event, person: str, reason: str, notes: list[str], new_owner: str | None,
                     stale: bool) -> Outcome:
        if any(_blank(n) for n in notes):
            return InvalidInput
        if stale or person not in PEOPLE:
            return self._first(person, event, stale)
        if event is Event.REASSIGN and new_owner:
            if new_owner not in PEOPLE:
                return NotFound
            if new_owner not in OWNERS:
                return InvalidInput
        if not self.holds(person, event):
            return PermissionDenied
        sources, _ = MOVES[event]
        if self.state not in sources:
            return Refused
        refused = {
            Event.SUBMIT: _blank(reason) or self.evidence + len(notes) == 0,
            Event.REJECT: _blank(reason),
            Event.REOPEN: _blank(reason),
            Event.VERIFY: person == self.owner,
            Event.CLOSE: person == self.owner,
            Event.REASSIGN: not new_owner or new_owner == self.owner,
        }.get(event, False)
        return Refused if refused else None

    def apply_fire(self, event: Event, notes: list[str], new_owner: str | None, now: datetime) -> None:
        _, to = MOVES[event]
        before, self.state = self.state, to or self.state
        self.version += 1
        self.evidence += len(notes)
        if event is Event.REASSIGN:
            assert new_owner is not None
            self.owner = new_owner
        elif event is Event.VERIFY:
            self.overdue = False
        elif event is Event.CLOSE:
            closed = local_day(now)
            self.checks = [months_later(closed, RECHECK_MONTHS)] if self.kind is Kind.LONG_TERM else [
                closed + timedelta(days=n) for n in RECHECK_DAYS]
        elif event is Event.REOPEN:
            self.rebounds += before is S.CLOSED
            self.checks = []

    def predict_evidence(self, person: str, notes: list[str], stale: bool) -> Outcome:
        if not notes or any(_blank(n) for n in notes):
            return InvalidInput
        first = self._first(person, Event.EVIDENCE, stale)
        return first or (Refused if self.state in (S.VERIFIED, S.CLOSED) else None)

    def apply_evidence(self, notes: list[str]) -> None:
        self.version += 1
        self.evidence += len(notes)

    def predict_extension(self, person: str, new_due: date, reason: str, stale: bool) -> Outcome:
        if _blank(reason):
            return InvalidInput
        first = self._first(person, Event.EXTEND_REQUEST, stale)
        done = self.state in (S.VERIFIED, S.CLOSED)
        return first or (Refused if done or self.pending or new_due <= self.due else None)

    def apply_extension(self, new_due: date) -> None:
        self.version += 1
        self.pending = new_due

    def predict_decision(self, person: str, approve: bool, reason: str, stale: bool) -> Outcome:
        if not approve and _blank(reason):
            return InvalidInput
        event = Event.EXTEND_APPROVE if approve else Event.EXTEND_REFUSE
        return self._first(person, event, stale) or (Refused if self.pending is None else None)

    def apply_decision(self, approve: bool) -> None:
        self.version += 1
        if approve:
            assert self.pending is not None
            self.due, self.overdue = self.pending, False
        self.pending = None

    def due_check(self, now: datetime) -> date | None:
        due = [d for d in self.checks if d <= local_day(now)]
        return min(due) if due else None

    def predict_recheck(self, person: str, held: bool, reason: str, stale: bool, now: datetime) -> Outcome:
        if _blank(reason):
            return InvalidInput
        if stale or person not in PEOPLE:
            return self._first(person, Event.RECHECK, stale)
        if self.due_check(now) is None:  # asked before who asks: there is nothing to answer
            return Refused
        return None if self.holds(person, Event.RECHECK) else PermissionDenied

    def apply_recheck(self, held: bool, now: datetime) -> None:
        if not held:  # the problem came back: reopened, a rebound
            self.apply_fire(Event.REOPEN, [], None, now)
            return
        self.version += 1
        answered = self.due_check(now)
        assert answered is not None
        self.checks.remove(answered)
        if self.kind is Kind.LONG_TERM:
            self.checks.append(months_later(local_day(now), RECHECK_MONTHS))

    def sweep(self, now: datetime) -> None:
        """The overdue sweep: flag an open measure past its due date, once."""
        if self.state in (S.ASSIGNED, S.IN_PROGRESS, S.SUBMITTED) and not self.overdue and self.due < local_day(now):
            self.overdue = True
            self.version += 1


def small_plan() -> dict[str, MeasureModel]:
    """The measures of tests/fixtures/small-plan.yaml as they are imported."""
    return {m.code: m for m in (
        MeasureModel("b1-1.1.1", Kind.DEADLINE, "alice", "checker", "boss", date(2024, 9, 30)),
        MeasureModel("b1-1.1.2", Kind.LONG_TERM, "alice", "deputy", "boss", date(2024, 11, 13)),
        MeasureModel("b1-2.1.1", Kind.IMMEDIATE, "bob", "checker", "deputy", date(2024, 8, 31)),
    )}
