"""Rebound checks through the services: scheduled at close, answered held or rebounded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from states.errors import PermissionDenied, TransitionRefused
from states.model import Event, State
from workflow import services
from workflow.app import App
from workflow.clock import ManualClock


def _close(app: App, code: str = "b1-2.1.1") -> None:
    services.fire(app, Event.START, code, actor="bob")
    services.fire(app, Event.SUBMIT, code, actor="bob", reason="已修订", notes=["新制度"])
    services.fire(app, Event.VERIFY, code, actor="checker")
    services.fire(app, Event.CLOSE, code, actor="deputy")


def _checks(app: App, code: str) -> list[tuple[str, str]]:
    with app.uow(read_only=True) as uow:
        mid = uow.measures.row(code).id
        return [(str(c.due_on), c.status) for c in uow.schedule.checks(mid)]


def test_a_held_check_is_recorded_and_the_measure_stays_closed(app: App, clock: ManualClock) -> None:
    _close(app)
    with pytest.raises(TransitionRefused, match="no rebound check is due"):
        services.recheck(app, "b1-2.1.1", actor="checker", held=True, reason="未发现现金报销")
    clock.advance(timedelta(days=31))
    m = services.recheck(app, "b1-2.1.1", actor="checker", held=True, reason="抽查凭证,未发现现金报销")
    assert (m.state, m.rebounds) == (State.CLOSED, 0)
    assert [s for _, s in _checks(app, "b1-2.1.1")] == ["held", "pending", "pending"]


def test_a_rebounded_check_reopens_counts_and_cancels_the_rest(app: App, clock: ManualClock) -> None:
    _close(app)
    clock.advance(timedelta(days=31))
    m = services.recheck(app, "b1-2.1.1", actor="checker", held=False, reason="发现两笔现金报销")
    assert (m.state, m.rebounds) == (State.IN_PROGRESS, 1)
    assert [s for _, s in _checks(app, "b1-2.1.1")] == ["rebounded", "cancelled", "cancelled"]
    # fixed again: closing schedules a fresh set of checks
    services.fire(app, Event.SUBMIT, "b1-2.1.1", actor="bob", reason="已清退", notes=["整改说明"])
    services.fire(app, Event.VERIFY, "b1-2.1.1", actor="checker")
    services.fire(app, Event.CLOSE, "b1-2.1.1", actor="deputy")
    assert [s for _, s in _checks(app, "b1-2.1.1")].count("pending") == 3


def test_only_the_verifier_or_leader_answers_a_check(app: App, clock: ManualClock) -> None:
    _close(app)
    clock.advance(timedelta(days=31))
    with pytest.raises(PermissionDenied):
        services.recheck(app, "b1-2.1.1", actor="bob", held=True, reason="我自己看过了")
    with pytest.raises(PermissionDenied):
        services.recheck(app, "b1-2.1.1", actor="audrey", held=True, reason="看过")


def test_a_long_term_measure_is_checked_every_period_for_good(app: App, clock: ManualClock) -> None:
    code = "b1-1.1.2"  # long-term, owner alice, verifier deputy, leader boss
    services.fire(app, Event.START, code, actor="alice")
    services.fire(app, Event.SUBMIT, code, actor="alice", reason="机制已建立", notes=["制度文件"])
    services.fire(app, Event.VERIFY, code, actor="deputy")
    services.fire(app, Event.CLOSE, code, actor="boss")
    assert len(_checks(app, code)) == 1
    for _ in range(3):
        clock.advance(timedelta(days=95))
        services.recheck(app, code, actor="deputy", held=True, reason="持续执行")
    assert [s for _, s in _checks(app, code)] == ["held", "held", "held", "pending"]
