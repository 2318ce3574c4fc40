"""Working days of the Chinese calendar, a user's holiday file, and the weekend fallback."""

from __future__ import annotations

from datetime import date

import pytest

from states.calendar import Calendar, natural


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2024, 9, 29), True),  # a Sunday made a workday (调休) before National Day
        (date(2024, 10, 1), False),
        (date(2024, 10, 7), False),  # a Monday inside the holiday
        (date(2024, 10, 8), True),
        (date(2024, 10, 12), True),  # a Saturday made a workday
        (date(2024, 10, 13), False),
        (date(2025, 1, 28), False),  # Spring Festival eve, 2025
    ],
)
def test_statutory_holidays_and_make_up_workdays_of_a_known_year(day: date, working: bool) -> None:
    assert Calendar().is_workday(day) is working


def test_working_days_until_a_due_date_skip_the_golden_week() -> None:
    cal = Calendar()
    assert cal.days_until(date(2024, 9, 27), date(2024, 10, 8)) == 3  # 9/29, 9/30, 10/8
    assert cal.add(date(2024, 9, 27), 3) == date(2024, 10, 8)
    assert cal.days_until(date(2024, 10, 8), date(2024, 9, 27)) == -3


def test_a_natural_calendar_counts_every_day() -> None:
    assert natural().days_until(date(2024, 9, 27), date(2024, 10, 8)) == 11
    assert natural().add(date(2024, 9, 27), 3) == date(2024, 9, 30)


def test_a_year_the_package_does_not_know_falls_back_to_weekends_and_is_remembered() -> None:
    cal = Calendar()
    assert cal.is_workday(date(2027, 1, 4)) is True  # a Monday
    assert cal.is_workday(date(2027, 1, 2)) is False  # a Saturday
    assert cal.fallback_years == {2027}


def test_a_holiday_file_extends_the_calendar_to_a_new_year() -> None:
    cal = Calendar(holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset({date(2027, 1, 9)}))
    assert cal.is_workday(date(2027, 1, 1)) is False  # a Friday, off by the file
    assert cal.is_workday(date(2027, 1, 9)) is True  # a Saturday, worked by the file
    assert cal.fallback_years == set()  # the file knows 2027


def test_a_holiday_file_overrides_the_package() -> None:
    cal = Calendar(holidays=frozenset({date(2024, 10, 8)}))
    assert cal.is_workday(date(2024, 10, 8)) is False
