"""Problem-level results, derived from the measures: never typed in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from .model import State

DONE = "完成"
MOSTLY_DONE = "基本完成"
UNDER_WAY = "正在推进"


def problem_result(states: Iterable[State]) -> str:
    """完成 when every measure is closed (销号); 基本完成 when all are at least verified; else 正在推进."""
    s = list(states)
    if s and all(x is State.CLOSED for x in s):
        return DONE
    if s and all(x in (State.VERIFIED, State.CLOSED) for x in s):
        return MOSTLY_DONE
    return UNDER_WAY


def is_overdue(state: State, due: date, today: date) -> bool:
    """Past its due date (a local date) and not yet verified."""
    return due < today and state in (State.ASSIGNED, State.IN_PROGRESS, State.SUBMITTED)
