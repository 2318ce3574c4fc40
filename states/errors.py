"""The errors of rectify, one root with context kept as attributes.

RectificationError
 ├── NotFound             (also LookupError) a measure, person, … that does not exist
 ├── TransitionRefused    wrong state, or a guard said no; says which and why
 ├── PermissionDenied     this actor may not do this to this measure
 ├── ConcurrentUpdate     someone else changed it first; reload and retry
 ├── InvalidPlan          an import file that does not fit; says file, path and field
 └── InvalidInput         a bad argument (a date, a file, a filter)
"""

from __future__ import annotations


class RectificationError(Exception):
    """Root of every error rectify raises on purpose."""


class NotFound(RectificationError, LookupError):
    """Something named by the user does not exist."""

    def __init__(self, kind: str, key: object):
        self.kind = kind
        self.key = key
        super().__init__(f"No {kind} {key!r} was found")


class TransitionRefused(RectificationError):
    """The event cannot happen to the measure in its current state, or a guard refused it."""

    def __init__(self, measure: str, event: str, state: str, why: str):
        self.measure = measure
        self.event = event
        self.state = state
        self.why = why
        super().__init__(f"Cannot {event} measure {measure} (state {state}): {why}")


class PermissionDenied(RectificationError):
    """The actor is not allowed to fire this event on this measure."""

    def __init__(self, actor: str, event: str, measure: str, why: str):
        self.actor = actor
        self.event = event
        self.measure = measure
        self.why = why
        super().__init__(f"{actor} may not {event} measure {measure}: {why}")


class ConcurrentUpdate(RectificationError):
    """The measure changed between reading and writing it."""

    def __init__(self, measure: str, expected_version: int, actual_version: int | None = None):
        self.measure = measure
        self.expected_version = expected_version
        self.actual_version = actual_version
        now = "" if actual_version is None else f", it is now at version {actual_version}"
        super().__init__(
            f"Measure {measure} was changed by someone else (expected version "
            f"{expected_version}{now}); reload it and try again"
        )


class InvalidPlan(RectificationError):
    """A plan or import file that does not fit; names the file, where in it, and what."""

    def __init__(self, file: str, where: str, problem: str):
        self.file = file
        self.where = where
        self.problem = problem
        loc = f"{file}: {where}: " if where else f"{file}: "
        super().__init__(f"{loc}{problem}")


class InvalidInput(RectificationError):
    """A command argument that cannot be used as given."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")
