"""Escalation (三色预警) and rebound-check policy: what a measure is owed on a given day."""

from __future__ import annotations

from datetime import date

import pytest

from states.calendar import Calendar, natural
from states.model import Kind, State
from states.policy import Policy, Rule, deadline_reminders, period_of, progress_reminder, rebound_checks

DUE = date(2024, 10, 8)  # the first working day after National Day 2024


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2024, 9, 20), []),
        (date(2024, 9, 26), [("yellow", "due:2024-10-08")]),  # 4 working days left (9/27, 9/29, 9/30, 10/8)
        (date(2024, 9, 29), [("orange", "due:2024-10-08")]),  # 2 left: 9/30 and 10/8
        (date(2024, 10, 3), [("orange", "due:2024-10-08")]),  # a holiday: still 1 working day left
        (date(2024, 10, 8), [("orange", "due:2024-10-08")]),
        (date(2024, 10, 9), [("red", "due:2024-10-08:0")]),
        (date(2024, 10, 15), [("red", "due:2024-10-08:0")]),
        (date(2024, 10, 16), [("red", "due:2024-10-08:1")]),  # a week late: the red warning again
    ],
)
def test_the_strictest_warning_that_applies_with_a_window_per_occasion(today: date,
                                                                      expected: list[tuple[str, str]]) -> None:
    got = deadline_reminders(State.IN_PROGRESS, DUE, today, Policy(), Calendar())
    assert [(d.rule, d.window) for d in got] == expected


def test_working_days_and_natural_days_warn_on_different_days() -> None:
    working = deadline_reminders(State.IN_PROGRESS, DUE, date(2024, 10, 2), Policy(), Calendar())
    plain = deadline_reminders(State.IN_PROGRESS, DUE, date(2024, 10, 2), Policy(working_days=False), natural())
    assert [d.rule for d in working] == ["orange"]  # one working day left
    assert plain == []  # six natural days left


@pytest.mark.parametrize("state", [State.VERIFIED, State.CLOSED])
def test_a_verified_or_closed_measure_is_owed_no_deadline_warning(state: State) -> None:
    assert deadline_reminders(state, DUE, date(2024, 12, 1), Policy(), Calendar()) == []


def test_the_recipients_come_from_the_rule() -> None:
    policy = Policy(rules=(Rule("red", ("owner", "unit_head"), overdue=True),))
    (due,) = deadline_reminders(State.SUBMITTED, DUE, date(2024, 11, 30), policy, Calendar())
    assert (due.rule, due.window, due.to) == ("red", "due:2024-10-08", ("owner", "unit_head"))


def test_rebound_checks_after_a_close_out_by_kind() -> None:
    assert rebound_checks(Kind.DEADLINE, date(2024, 11, 5), Policy()) == [
        date(2024, 12, 5), date(2025, 2, 3), date(2025, 5, 4)]
    assert rebound_checks(Kind.LONG_TERM, date(2024, 11, 30), Policy()) == [date(2025, 2, 28)]


@pytest.mark.parametrize(
    ("day", "months", "period"),
    [
        (date(2024, 8, 20), 3, (date(2024, 7, 1), date(2024, 9, 30))),
        (date(2024, 12, 31), 3, (date(2024, 10, 1), date(2024, 12, 31))),
        (date(2024, 2, 10), 1, (date(2024, 2, 1), date(2024, 2, 29))),
        (date(2024, 8, 20), 6, (date(2024, 7, 1), date(2024, 12, 31))),
    ],
)
def test_periods_are_aligned_to_the_year(day: date, months: int, period: tuple[date, date]) -> None:
    assert period_of(day, months) == period


def test_a_long_term_measure_without_a_note_this_quarter_is_reminded_near_its_end() -> None:
    p = Policy()
    assert progress_reminder(Kind.LONG_TERM, State.IN_PROGRESS, None, date(2024, 9, 1), p) == []  # too early
    (due,) = progress_reminder(Kind.LONG_TERM, State.IN_PROGRESS, date(2024, 6, 30), date(2024, 9, 20), p)
    assert (due.rule, due.window, due.to) == ("progress", "progress:2024-07-01", ("owner",))
    assert progress_reminder(Kind.LONG_TERM, State.IN_PROGRESS, date(2024, 7, 2), date(2024, 9, 20), p) == []
    assert progress_reminder(Kind.DEADLINE, State.IN_PROGRESS, None, date(2024, 9, 20), p) == []
