"""Working days of the Chinese calendar: statutory holidays and make-up workdays (调休).

The `chinese-calendar` package knows the years the State Council has published; a user's
holiday file extends or overrides it (the next year's arrangement comes out late in the year).
A year neither knows falls back to plain weekends, and the year is remembered so the caller
can warn about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar


@dataclass
class Calendar:
    """Which days count: every day (`natural`) or working days (`working`)."""

    working: bool = True
    holidays: frozenset[date] = frozenset()  # extra days off, from the user's file
    workdays: frozenset[date] = frozenset()  # extra make-up workdays, from the user's file
    fallback_years: set[int] = field(default_factory=set)  # years counted by weekends alone
    _known: dict[date, bool] = field(default_factory=dict, repr=False)  # the package's lookups are slow

    def is_workday(self, d: date) -> bool:
        """Whether `d` is a working day (always true for a natural-day calendar)."""
        if not self.working:
            return True
        if d not in self._known:
            self._known[d] = self._lookup(d)
        return self._known[d]

    def _lookup(self, d: date) -> bool:
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            if not self._file_knows(d.year):
                self.fallback_years.add(d.year)
            return d.weekday() < 5

    def _file_knows(self, year: int) -> bool:
        return any(x.year == year for x in self.holidays | self.workdays)

    def days_until(self, today: date, due: date) -> int:
        """Counted days from `today` to `due` (0 on the due date; negative once past)."""
        if due < today:
            return -self.days_until(due, today)
        if not self.working:
            return (due - today).days
        n, d = 0, today
        while d < due:
            d += timedelta(days=1)
            if self.is_workday(d):
                n += 1
        return n

    def add(self, start: date, days: int) -> date:
        """The date `days` counted days after `start` (before it when negative)."""
        step = timedelta(days=1 if days >= 0 else -1)
        d, left = start, abs(days)
        while left:
            d += step
            if self.is_workday(d):
                left -= 1
        return d


def natural() -> Calendar:
    """A calendar where every day counts."""
    return Calendar(working=False)
