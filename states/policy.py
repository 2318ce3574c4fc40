"""Escalation (三色预警) and rebound-check policies as data, and what they ask for on a given day.

Every reminder is keyed by (measure, rule, window): the window names the occasion (the due date
it warns about, the week of lateness, the quarter of a progress note, the rebound check), so
running a sweep twice, late, or in two processes yields the same keys and so the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from .calendar import Calendar
from .model import Kind, State

Part = Literal["owner", "verifier", "leader", "unit_head"]
OPEN = (State.ASSIGNED, State.IN_PROGRESS, State.SUBMITTED)


@dataclass(frozen=True)
class Rule:
    """One colour of warning: when it fires and whom it tells."""

    name: str
    to: tuple[Part, ...]
    days_before: int | None = None  # fires when this many counted days or fewer are left
    overdue: bool = False  # fires once the due date has passed
    every: int | None = None  # while overdue, once more every this many natural days
    label: str = ""


@dataclass(frozen=True)
class Policy:
    """The reminder and rebound-check policy of an inspection round."""

    rules: tuple[Rule, ...] = (
        Rule("yellow", ("owner",), days_before=5, label="黄色预警"),
        Rule("orange", ("owner", "leader"), days_before=2, label="橙色预警"),
        Rule("red", ("owner", "leader", "unit_head"), overdue=True, every=7, label="红色预警"),
    )
    working_days: bool = True
    progress_every_months: int = 3  # long-term measures need a progress note each period
    progress_grace_days: int = 15  # remind this many days before the period ends
    recheck_after_days: dict[str, tuple[int, ...]] = field(default_factory=lambda: {
        Kind.IMMEDIATE.value: (30, 90, 180), Kind.DEADLINE.value: (30, 90, 180)})
    recheck_long_term_every_months: int = 3
    recheck_answer_days: int = 10  # an unanswered check escalates after this many counted days

    def calendar(self, holidays: frozenset[date] = frozenset(), workdays: frozenset[date] = frozenset()) -> Calendar:
        """The calendar this policy counts days in."""
        return Calendar(working=self.working_days, holidays=holidays, workdays=workdays)


@dataclass(frozen=True)
class Due:
    """A reminder a measure is owed today: which rule, for which window, to which parts."""

    rule: str
    window: str
    to: tuple[Part, ...]
    label: str


def deadline_reminders(state: State, due: date, today: date, policy: Policy, cal: Calendar) -> list[Due]:
    """The deadline warning a measure is owed today: only the strictest rule that applies."""
    if state not in OPEN:
        return []
    if today > due:
        for r in policy.rules:
            if r.overdue:
                late = (today - due).days - 1  # the first day past due is day 0 of week 0
                window = f"due:{due}" + (f":{late // r.every}" if r.every else "")
                return [Due(r.name, window, r.to, r.label)]
        return []
    left = cal.days_until(today, due)
    ahead = sorted((r for r in policy.rules if r.days_before is not None), key=lambda r: r.days_before or 0)
    for r in ahead:
        if left <= (r.days_before or 0):
            return [Due(r.name, f"due:{due}", r.to, r.label)]
    return []


def period_of(day: date, months: int) -> tuple[date, date]:
    """The period (of `months` months, aligned to the year) that holds `day`: first and last day."""
    start_month = (day.month - 1) // months * months + 1
    start = date(day.year, start_month, 1)
    end_month = start_month + months
    end = date(day.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def progress_reminder(kind: Kind, state: State, last_note: date | None, today: date, policy: Policy) -> list[Due]:
    """A long-term measure owes a progress note each period; remind near the period's end if none came."""
    # a closed long-term measure is followed by its periodic rebound checks instead
    if kind is not Kind.LONG_TERM or state is not State.IN_PROGRESS:
        return []
    start, end = period_of(today, policy.progress_every_months)
    if (end - today).days > policy.progress_grace_days or (last_note is not None and last_note >= start):
        return []
    return [Due("progress", f"progress:{start}", ("owner",), "进展报告提醒")]


def rebound_checks(kind: Kind, closed_on: date, policy: Policy) -> list[date]:
    """When to check that a closed measure has not come back (防止问题反弹).

    Long-term measures are checked every period for good: this gives the next one, and each
    answered check schedules the one after it.
    """
    if kind is Kind.LONG_TERM:
        return [add_months(closed_on, policy.recheck_long_term_every_months)]
    return [closed_on + timedelta(days=n) for n in policy.recheck_after_days.get(kind.value, ())]


def add_months(d: date, months: int) -> date:
    """The same day `months` later (the 28th at most, so every month has it)."""
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, min(d.day, 28))
