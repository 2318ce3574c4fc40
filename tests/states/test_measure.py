"""The measure as a domain object: applying an event yields its next record, and replay rebuilds it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import pytest

from states.chain import Record
from states.errors import PermissionDenied, TransitionRefused
from states.measure import Measure, created, replay
from states.model import Event, Kind, Role, State
from states.permissions import SYSTEM, Actor

from ..support import START

ALICE, BOB, CHECKER, BOSS = Actor("alice"), Actor("bob", frozenset({Role.OWNER})), Actor("checker"), Actor("boss")
ROOT = Actor("root", frozenset({Role.ADMIN}))
DUE = date(2024, 9, 30)


def new_measure() -> tuple[Measure, list[Record]]:
    m, rec = created(id=1, code="b1-1.1.1", kind=Kind.DEADLINE, owner="alice", verifier="checker", leader="boss",
                     due=DUE, at=START, by=SYSTEM)
    return m, [rec]


def test_a_new_measure_is_assigned_with_a_create_record_as_its_first_link() -> None:
    m, (rec,) = new_measure()
    assert (m.state, m.version, m.head) == (State.ASSIGNED, 1, rec.hash)
    assert (rec.event, rec.seq, rec.from_state, rec.to_state, rec.role) == ("create", 1, None, "assigned", "system")


def test_applying_an_event_chains_a_record_and_moves_the_measure() -> None:
    m, records = new_measure()
    rec = m.apply(Event.START, by=ALICE, at=START + timedelta(hours=1))
    assert (rec.seq, rec.prev_hash, rec.hash) == (2, records[0].hash, rec.computed_hash())
    assert (rec.from_state, rec.to_state, rec.actor, rec.role) == ("assigned", "in_progress", "alice", "owner")
    assert (m.state, m.version, m.head) == (State.IN_PROGRESS, 2, rec.hash)


@pytest.mark.parametrize(("event", "by", "error"), [
    (Event.START, BOB, PermissionDenied),
    (Event.VERIFY, CHECKER, TransitionRefused),
    (Event.EXTEND_APPROVE, BOSS, TransitionRefused),
])
def test_a_refused_event_leaves_the_measure_exactly_as_it_was(event: Event, by: Actor, error: type) -> None:
    m, _ = new_measure()
    before = asdict(m)
    with pytest.raises(error):
        m.apply(event, by=by, at=START)
    assert asdict(m) == before


def test_evidence_counts_towards_the_submit_guard_in_the_same_step() -> None:
    m, _ = new_measure()
    m.apply(Event.START, by=ALICE, at=START)
    with pytest.raises(TransitionRefused, match="evidence"):
        m.apply(Event.SUBMIT, by=ALICE, at=START, reason="done")
    m.apply(Event.SUBMIT, by=ALICE, at=START, reason="done", evidence=("a" * 64,))
    assert (m.state, m.evidence_count) == (State.SUBMITTED, 1)


def _through(m: Measure, records: list[Record], *steps: tuple[Event, Actor, dict[str, Any]]) -> None:
    for event, by, kw in steps:
        records.append(m.apply(event, by=by, at=START, **kw))


def test_reopening_a_closed_measure_counts_a_rebound_but_reopening_a_verified_one_does_not() -> None:
    m, records = new_measure()
    _through(m, records, (Event.START, ALICE, {}), (Event.SUBMIT, ALICE, {"reason": "done", "evidence": ("a" * 64,)}),
             (Event.VERIFY, CHECKER, {}), (Event.REOPEN, CHECKER, {"reason": "复查不合格"}))
    assert m.rebounds == 0
    _through(m, records, (Event.SUBMIT, ALICE, {"reason": "again", "evidence": ("b" * 64,)}),
             (Event.VERIFY, CHECKER, {}), (Event.CLOSE, BOSS, {}), (Event.REOPEN, BOSS, {"reason": "问题反弹"}))
    assert (m.state, m.rebounds) == (State.IN_PROGRESS, 1)


def test_reassigning_hands_the_measure_to_the_new_owner() -> None:
    m, records = new_measure()
    _through(m, records, (Event.REASSIGN, ROOT, {"data": {"new_owner": "bob", "old_owner": "alice"}}))
    assert (m.owner, m.state, records[-1].role) == ("bob", State.ASSIGNED, "admin")
    with pytest.raises(PermissionDenied):
        m.apply(Event.START, by=ALICE, at=START)
    m.apply(Event.START, by=BOB, at=START)


def _extend(new_due: date, **more: str) -> dict[str, Any]:
    return {"data": {"old_due": DUE.isoformat(), "new_due": new_due.isoformat(), **more}, "reason": "需要更多时间"}


def test_an_extension_request_leaves_the_due_date_and_only_approval_moves_it() -> None:
    m, records = new_measure()
    later = DUE + timedelta(days=30)
    _through(m, records, (Event.EXTEND_REQUEST, ALICE, _extend(later)))
    assert (m.due, m.state) == (DUE, State.ASSIGNED)
    _through(m, records, (Event.EXTEND_REFUSE, BOSS, {"data": {"extension_id": "1"}, "reason": "no"}))
    assert m.due == DUE
    _through(m, records, (Event.EXTEND_REQUEST, ALICE, _extend(later)),
             (Event.EXTEND_APPROVE, BOSS, {"data": {"extension_id": "2", "new_due": later.isoformat()}}))
    assert m.due == later


@pytest.mark.parametrize(("state_steps", "data", "why"), [
    ([], _extend(DUE)["data"], "must be after the current one"),
    ([], _extend(DUE - timedelta(days=1))["data"], "must be after the current one"),
    ([], _extend(DUE + timedelta(days=9), pending="yes")["data"], "already waiting"),
    (["verified"], _extend(DUE + timedelta(days=9))["data"], "already verified"),
])
def test_an_extension_request_is_refused_when_it_makes_no_sense(state_steps: list[str], data: dict[str, Any],
                                                               why: str) -> None:
    m, records = new_measure()
    if state_steps:
        _through(m, records, (Event.START, ALICE, {}),
                 (Event.SUBMIT, ALICE, {"reason": "done", "evidence": ("a" * 64,)}), (Event.VERIFY, CHECKER, {}))
    with pytest.raises(TransitionRefused, match=why):
        m.apply(Event.EXTEND_REQUEST, by=ALICE, at=START, reason="r", data=data)


def test_evidence_cannot_be_added_to_a_verified_measure() -> None:
    m, records = new_measure()
    _through(m, records, (Event.START, ALICE, {}), (Event.SUBMIT, ALICE, {"reason": "done", "evidence": ("a" * 64,)}),
             (Event.VERIFY, CHECKER, {}))
    with pytest.raises(TransitionRefused, match="reopen it first"):
        m.apply(Event.EVIDENCE, by=ALICE, at=START, evidence=("b" * 64,))


def test_replaying_the_history_rebuilds_the_measure() -> None:
    m, records = new_measure()
    later = DUE + timedelta(days=10)
    _through(m, records, (Event.START, ALICE, {}), (Event.EVIDENCE, ALICE, {"evidence": ("a" * 64,)}),
             (Event.EXTEND_REQUEST, ALICE, _extend(later)),
             (Event.EXTEND_APPROVE, BOSS, {"data": {"extension_id": "1", "new_due": later.isoformat()}}),
             (Event.REASSIGN, BOSS, {"data": {"new_owner": "bob"}}),
             (Event.SUBMIT, BOB, {"reason": "done", "evidence": ("b" * 64,)}), (Event.VERIFY, CHECKER, {}),
             (Event.CLOSE, BOSS, {}), (Event.REOPEN, BOSS, {"reason": "反弹"}))
    assert replay(records, m.code) == m


def test_a_history_must_start_with_its_create_record() -> None:
    m, records = new_measure()
    records.append(m.apply(Event.START, by=ALICE, at=START))
    with pytest.raises(ValueError, match="create record"):
        replay(records[1:])
    with pytest.raises(ValueError, match="create record"):
        replay([])
