"""Problem-level results, derived from the measures: never typed in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from .model import Kind, State

DONE = "完成"
MOSTLY_DONE = "基本完成"
UNDER_WAY = "正在推进"
LONG_TERM = "长期坚持"


def problem_result(states: Iterable[State]) -> str:
    """完成 when every measure is closed (销号); 基本完成 when all are at least verified; else 正在推进."""
    s = list(states)
    if s and all(x is State.CLOSED for x in s):
        return DONE
    if s and all(x in (State.VERIFIED, State.CLOSED) for x in s):
        return MOSTLY_DONE
    return UNDER_WAY


def problem_result_by_kind(measures: Iterable[tuple[State, Kind]]) -> str:
    """As `problem_result`, and 长期坚持 when only long-term measures are left open, each under way.

    Every measure closed is 完成 even when some are long-term: their periodic rebound checks go on
    (the reference report prints 完成 for such problems). 长期坚持 needs every other measure at
    least verified and every open long-term one started (a long-term measure not yet begun is 正在推进).
    """
    m = list(measures)
    result = problem_result(s for s, _ in m)
    if result != UNDER_WAY:
        return result
    done = (State.VERIFIED, State.CLOSED)
    open_long = [s for s, k in m if k is Kind.LONG_TERM and s not in done]
    others_done = all(s in done for s, k in m if k is not Kind.LONG_TERM)
    if open_long and others_done and State.ASSIGNED not in open_long:
        return LONG_TERM
    return UNDER_WAY


def is_overdue(state: State, due: date, today: date) -> bool:
    """Past its due date (a local date) and not yet verified."""
    return due < today and state in (State.ASSIGNED, State.IN_PROGRESS, State.SUBMITTED)
