"""A measure (整改措施) as a domain object: applying an event yields its next history record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .chain import GENESIS, Record
from .errors import TransitionRefused
from .machine import MACHINE, Attempt, fire
from .model import MACHINE_EVENTS, Event, Kind, State
from .permissions import Actor, Assignment, may, role_for


@dataclass
class Measure:
    """One measure of a problem, with the parts people hold on it and its place in history."""

    id: int
    code: str
    state: State
    kind: Kind
    owner: str
    verifier: str
    leader: str
    due: date
    version: int = 0  # equals the number of history records
    head: str = GENESIS  # hash of the last history record
    evidence_count: int = 0
    overdue: bool = False
    rebounds: int = 0

    @property
    def assignment(self) -> Assignment:
        """Who holds each part, for permission checks."""
        return Assignment(self.code, self.owner, self.verifier, self.leader)

    def apply(
        self,
        event: Event,
        *,
        by: Actor,
        at: datetime,
        reason: str = "",
        evidence: tuple[str, ...] = (),
        request_id: str = "",
        data: dict[str, Any] | None = None,
    ) -> Record:
        """Check and apply `event`; change this measure and return the sealed history record.

        Raises PermissionDenied or TransitionRefused and leaves the measure as it was.
        """
        role = role_for(by, event, self.assignment)
        data = dict(data or {})
        before = self.state
        after = before
        if event in MACHINE_EVENTS:
            attempt = Attempt(
                state=str(before),
                measure=self.code,
                actor=by.handle,
                owner=self.owner,
                reason=reason,
                evidence_count=self.evidence_count + len(evidence),
                new_owner=data.get("new_owner"),
            )
            after = fire(event, attempt)
        else:
            self._check_fact(event, data)
        record = Record(
            measure_id=self.id,
            seq=self.version + 1,
            event=str(event),
            from_state=str(before),
            to_state=str(after),
            actor=by.handle,
            role=str(role),
            at=at,
            reason=reason,
            evidence=evidence,
            request_id=request_id,
            data=data,
            prev_hash=self.head,
        ).sealed()
        self._absorb(record)
        return record

    def _check_fact(self, event: Event, data: dict[str, Any]) -> None:
        """Guards of the recorded facts that leave the state as it is."""
        done = self.state in (State.VERIFIED, State.CLOSED)
        if event is Event.EVIDENCE and done:
            self._refuse(event, "it is already verified; reopen it first")
        if event is Event.EXTEND_REQUEST:
            if done:
                self._refuse(event, "it is already verified, there is no deadline left to move")
            if data.get("pending"):
                self._refuse(event, "an extension request is already waiting for a decision")
            if date.fromisoformat(data["new_due"]) <= self.due:
                self._refuse(event, f"the new due date must be after the current one ({self.due})")
        if event in (Event.EXTEND_APPROVE, Event.EXTEND_REFUSE) and not data.get("extension_id"):
            self._refuse(event, "there is no extension request waiting for a decision")
        if event is Event.OVERDUE and (self.overdue or done):
            self._refuse(event, "it is already flagged overdue, or already verified")
        if event is Event.RECHECK and (self.state is not State.CLOSED or not data.get("check_id")):
            self._refuse(event, "only a closed measure with a rebound check due can be rechecked")

    def _refuse(self, event: Event, why: str) -> None:
        raise TransitionRefused(self.code, str(event), str(self.state), why)

    def _absorb(self, record: Record) -> None:
        """Move this measure to what `record` says happened."""
        self.state = State(record.to_state) if record.to_state else self.state
        self.version = record.seq
        self.head = record.hash
        self.evidence_count += len(record.evidence)
        if record.event == Event.REASSIGN:
            self.owner = record.data["new_owner"]
        if record.event == Event.EXTEND_APPROVE:
            self.due = date.fromisoformat(record.data["new_due"])
            self.overdue = False
        if record.event == Event.VERIFY:
            self.overdue = False
        if record.event == Event.OVERDUE:
            self.overdue = True
        if record.event == Event.REBOUND or (record.event == Event.REOPEN and record.from_state == State.CLOSED):
            self.rebounds += 1

    def available(self, actor: Actor) -> list[Event]:
        """The machine events `actor` may try now (guards such as evidence aside)."""
        return [
            e
            for e in MACHINE_EVENTS
            if str(self.state) in MACHINE.events[str(e)].transitions and may(actor, e, self.assignment)
        ]

def replay(records: list[Record], code: str = "") -> Measure:
    """Rebuild a measure from its history alone: the create record, then every later one."""
    if not records or records[0].event != Event.CREATE:
        raise ValueError("a history starts with its create record")
    first = records[0]
    d = first.data
    m = Measure(id=first.measure_id, code=code, state=State.ASSIGNED, kind=Kind(d["kind"]), owner=d["owner"],
                verifier=d["verifier"], leader=d["leader"], due=date.fromisoformat(d["due"]), version=1,
                head=first.hash)
    for rec in records[1:]:
        m._absorb(rec)
    return m

def created(
    *, id: int, code: str, kind: Kind, owner: str, verifier: str, leader: str, due: date, at: datetime,
    by: Actor, request_id: str = "", data: dict[str, Any] | None = None,
) -> tuple[Measure, Record]:
    """A new measure in state assigned, with its first history record (交办)."""
    m = Measure(id=id, code=code, state=State.ASSIGNED, kind=kind, owner=owner, verifier=verifier,
                leader=leader, due=due)
    rec = Record(
        measure_id=id, seq=1, event=str(Event.CREATE), from_state=None, to_state=str(State.ASSIGNED),
        actor=by.handle, role=str(role_for(by, Event.CREATE, m.assignment)), at=at, request_id=request_id,
        data={"owner": owner, "verifier": verifier, "leader": leader, "due": due.isoformat(), "kind": str(kind),
              **(data or {})},
    ).sealed()
    m.version, m.head = 1, rec.hash
    return m, rec
