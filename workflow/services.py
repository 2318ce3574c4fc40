"""The commands on measures: each one transaction that loads, asks the domain, saves, commits.

A refused attempt (not permitted, illegal, stale, unknown) is written to the access log in a
transaction of its own, then raised for the caller to show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from states.chain import Record
from states.errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RectificationError,
    TransitionRefused,
)
from states.measure import Measure
from states.model import MACHINE_EVENTS, Event, Kind, Role
from states.permissions import Actor
from states.policy import Policy, rebound_checks
from storage.blobs import Stored, note_hash
from storage.schedule import InRound
from storage.tables import AccessLogRow, EvidenceRow, ExtensionRow
from storage.uow import UnitOfWork

from .app import App

T = TypeVar("T")
RECHECK_RULES = ("recheck", "recheck_late")

_OUTCOMES: dict[type[RectificationError], str] = {
    PermissionDenied: "denied",
    TransitionRefused: "refused",
    ConcurrentUpdate: "conflict",
    NotFound: "not_found",
    InvalidInput: "invalid",
}


def _logged(app: App, actor: str, event: Event, measure_ref: str | int, work: Callable[[], T]) -> T:
    """Run `work`; if it is refused, record the attempt for the auditors and re-raise."""
    try:
        return work()
    except RectificationError as e:
        outcome = next((o for cls, o in _OUTCOMES.items() if isinstance(e, cls)), "refused")
        with app.uow() as uow:
            uow.access_log.add(AccessLogRow(at=app.clock(), actor=actor, event=str(event), measure=str(measure_ref),
                                            outcome=outcome, message=str(e), request_id=app.request_id))
            uow.commit()
        raise


def _evidence_rows(measure: Measure, seq: int, actor: str, app: App,
                   notes: Sequence[str], files: Sequence[Stored]) -> list[EvidenceRow]:
    at = app.clock()
    rows = [EvidenceRow(measure_id=measure.id, seq=seq, sha256=note_hash(n), kind="note", name="", size=len(n.encode()),
                        note=n, added_by=actor, added_at=at) for n in notes]
    rows += [EvidenceRow(measure_id=measure.id, seq=seq, sha256=f.sha256, kind="file", name=f.name, size=f.size,
                         added_by=actor, added_at=at) for f in files]
    return rows


def _store_files(app: App, files: Sequence[Path]) -> list[Stored]:
    # kept before the transaction: content-addressed, so a file left by a failed command is harmless
    return [app.evidence.put(Path(f)) for f in files]


def _clean_notes(notes: Sequence[str]) -> list[str]:
    out = [n.strip() for n in notes]
    if any(not n for n in out):
        raise InvalidInput("--note", "an evidence note must not be empty")
    return out


def fire(
    app: App,
    event: Event,
    measure_ref: str | int,
    *,
    actor: str,
    reason: str = "",
    notes: Sequence[str] = (),
    files: Sequence[Path] = (),
    new_owner: str | None = None,
    expected_version: int | None = None,
) -> Measure:
    """Fire a state-machine event (start, submit, reject, verify, close, reopen, reassign)."""
    if event not in MACHINE_EVENTS:
        raise InvalidInput("event", f"{event!s} is not a state-machine event")

    def work() -> Measure:
        notes_ = _clean_notes(notes)
        stored = _store_files(app, files)
        with app.uow() as uow:
            measure, who = _load(uow, measure_ref, expected_version, actor)
            data: dict[str, str] = {}
            if event is Event.REASSIGN:
                data = _new_owner(uow, measure, new_owner)
            evidence = tuple(note_hash(n) for n in notes_) + tuple(f.sha256 for f in stored)
            record = measure.apply(event, by=who, at=app.clock(), reason=reason, evidence=evidence,
                                   request_id=app.request_id, data=data)
            uow.measures.save(measure, [record], app.clock())
            uow.evidence.add(_evidence_rows(measure, record.seq, actor, app, notes_, stored))
            _follow_up(uow, app, measure, record)
            uow.commit()
        return measure

    return _logged(app, actor, event, measure_ref, work)


def _follow_up(uow: UnitOfWork, app: App, measure: Measure, record: Record) -> None:
    """What an event changes in the schedule, in the same transaction: reminders and rebound checks."""
    event = Event(record.event)
    if event is Event.CLOSE:
        item = uow.schedule.in_round(measure.id)
        closed_on = app.clock().astimezone(ZoneInfo(item.timezone)).date()
        checks = rebound_checks(measure.kind, closed_on, _policy(item))
        uow.schedule.schedule_checks(measure.id, record.seq, checks)
    elif event is Event.VERIFY:
        uow.schedule.cancel_reminders(measure.id, "verified", deadline=True)
    elif event is Event.EXTEND_APPROVE:
        uow.schedule.cancel_reminders(measure.id, "due date extended", deadline=True)
    elif event is Event.REASSIGN:
        uow.schedule.cancel_reminders(measure.id, "reassigned", recipient=record.data.get("old_owner"))
    elif event is Event.REOPEN:
        uow.schedule.cancel_checks(measure.id, "reopened")
        uow.schedule.cancel_reminders(measure.id, "reopened", rules=RECHECK_RULES)


def _policy(item: InRound) -> Policy:
    """The policy of the measure's round, as read with it (`ScheduleRepository.in_round`)."""
    from .sweeps import policy_of

    return policy_of(item)


def recheck(app: App, measure_ref: str | int, *, actor: str, held: bool, reason: str, notes: Sequence[str] = (),
            files: Sequence[Path] = (), expected_version: int | None = None) -> Measure:
    """Answer the rebound check that is due: it held (recorded), or the problem came back (reopened)."""
    event = Event.RECHECK if held else Event.REOPEN

    def work() -> Measure:
        if not reason.strip():
            raise InvalidInput("--reason", "say what the check found")
        notes_ = _clean_notes(notes)
        stored = _store_files(app, files)
        with app.uow() as uow:
            measure, who = _load(uow, measure_ref, expected_version, actor)
            item = uow.schedule.in_round(measure.id)
            today = app.clock().astimezone(ZoneInfo(item.timezone)).date()
            check = uow.schedule.due_check(measure.id, today)
            if check is None:
                raise TransitionRefused(measure.code, "recheck", str(measure.state),
                                        "no rebound check is due for it (see `rectify rechecks`)")
            evidence = tuple(note_hash(n) for n in notes_) + tuple(f.sha256 for f in stored)
            record = measure.apply(event, by=who, at=app.clock(), reason=reason, evidence=evidence,
                                   request_id=app.request_id,
                                   data={"check_id": str(check.id), "due_on": check.due_on.isoformat(),
                                         "outcome": "held" if held else "rebounded"})
            uow.measures.save(measure, [record], app.clock())
            uow.evidence.add(_evidence_rows(measure, record.seq, actor, app, notes_, stored))
            uow.schedule.answer_check(check.id, "held" if held else "rebounded", actor, app.clock(), reason)
            if held:
                uow.schedule.cancel_reminders(measure.id, "answered", rules=RECHECK_RULES)
            if held and measure.kind is Kind.LONG_TERM:  # long-term: checked every period, for good
                policy = _policy(item)
                uow.schedule.schedule_checks(measure.id, check.close_seq, rebound_checks(measure.kind, today, policy))
            if not held:
                _follow_up(uow, app, measure, record)
            uow.commit()
        return measure

    return _logged(app, actor, Event.RECHECK, measure_ref, work)


def _load(uow: UnitOfWork, measure_ref: str | int, expected_version: int | None, actor: str
          ) -> tuple[Measure, Actor]:
    """The measure a command acts on, at the version the client saw if it said one, and who acts (NotFound
    for a measure or a person that does not exist, a stale version before an unknown person)."""
    measure, who = uow.measures.get_for(measure_ref, actor)
    if expected_version is not None and measure.version != expected_version:
        raise ConcurrentUpdate(measure.code, expected_version, measure.version)
    if who is None:
        raise NotFound("person", actor)
    return measure, who


def _new_owner(uow: UnitOfWork, measure: Measure, new_owner: str | None) -> dict[str, str]:
    if not new_owner:
        return {}
    person = uow.people.actor(new_owner)
    if Role.OWNER not in person.roles:
        raise InvalidInput("--to", f"{new_owner!r} does not have the owner role")
    return {"new_owner": new_owner, "old_owner": measure.owner}


def add_evidence(app: App, measure_ref: str | int, *, actor: str, notes: Sequence[str] = (),
                 files: Sequence[Path] = (), reason: str = "", expected_version: int | None = None) -> Measure:
    """Attach notes or files as evidence (补充佐证), recorded in the history."""

    def work() -> Measure:
        notes_ = _clean_notes(notes)
        if not notes_ and not files:
            raise InvalidInput("evidence", "give at least one --note or --evidence FILE")
        stored = _store_files(app, files)
        with app.uow() as uow:
            measure, who = _load(uow, measure_ref, expected_version, actor)
            evidence = tuple(note_hash(n) for n in notes_) + tuple(f.sha256 for f in stored)
            record = measure.apply(Event.EVIDENCE, by=who, at=app.clock(), reason=reason, evidence=evidence,
                                   request_id=app.request_id)
            uow.measures.save(measure, [record], app.clock())
            uow.evidence.add(_evidence_rows(measure, record.seq, actor, app, notes_, stored))
            uow.commit()
        return measure

    return _logged(app, actor, Event.EVIDENCE, measure_ref, work)


def request_extension(app: App, measure_ref: str | int, *, actor: str, new_due: date, reason: str,
                      expected_version: int | None = None) -> Measure:
    """The owner asks to move the due date; a leader decides. The date does not move yet."""

    def work() -> Measure:
        if not reason.strip():
            raise InvalidInput("--reason", "say why the deadline should move")
        with app.uow() as uow:
            measure, who = _load(uow, measure_ref, expected_version, actor)
            pending = uow.extensions.pending(measure.id)
            old_due = measure.due
            record = measure.apply(Event.EXTEND_REQUEST, by=who, at=app.clock(), reason=reason,
                                   request_id=app.request_id,
                                   data={"old_due": old_due.isoformat(), "new_due": new_due.isoformat(),
                                         **({"pending": "yes"} if pending else {})})
            uow.measures.save(measure, [record], app.clock())
            uow.extensions.add(ExtensionRow(measure_id=measure.id, status="pending", old_due=old_due,
                                            new_due=new_due, reason=reason, requested_by=actor,
                                            requested_at=app.clock()))
            uow.commit()
        return measure

    return _logged(app, actor, Event.EXTEND_REQUEST, measure_ref, work)


def decide_extension(app: App, measure_ref: str | int, *, actor: str, approve: bool, reason: str = "",
                     expected_version: int | None = None) -> Measure:
    """A leader approves (the due date moves, in the history) or refuses a pending request."""
    event = Event.EXTEND_APPROVE if approve else Event.EXTEND_REFUSE

    def work() -> Measure:
        if not approve and not reason.strip():
            raise InvalidInput("--reason", "say why the extension is refused")
        with app.uow() as uow:
            measure, who = _load(uow, measure_ref, expected_version, actor)
            pending = uow.extensions.pending(measure.id)
            data = {} if pending is None else {
                "extension_id": str(pending.id), "old_due": pending.old_due.isoformat(),
                "new_due": pending.new_due.isoformat()}
            record = measure.apply(event, by=who, at=app.clock(), reason=reason, request_id=app.request_id,
                                   data=data)
            uow.measures.save(measure, [record], app.clock())
            _follow_up(uow, app, measure, record)
            assert pending is not None  # apply refuses when nothing is pending
            pending.status = "approved" if approve else "refused"
            pending.decided_by, pending.decided_at, pending.decision_reason = actor, app.clock(), reason
            uow.extensions.add(pending)
            uow.commit()
        return measure

    return _logged(app, actor, event, measure_ref, work)
