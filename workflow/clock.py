"""Clocks: the system's, and one that tests and the demo move by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that says what it was set to, and moves only when told."""

    def __init__(self, at: datetime):
        self.at = at if at.tzinfo else at.replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        """Jump to `at` (aware, or naive meaning UTC)."""
        self.at = at if at.tzinfo else at.replace(tzinfo=UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta`."""
        self.at += delta
