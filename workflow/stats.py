"""Statistics of a round: per inspected body and summed for the whole round, as the inspection office publishes.

A round's figures are sums over its bodies, and its rates are recomputed from those sums (never
an average of the bodies' rates): 整改完成率 = completed problems / problems; on-time rate =
measures first verified by the due date in force then (approved extensions move it) / measures
verified or past their due date; average days to close = over every closed measure, from its
交办 to its last 销号 (local days).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from states.chain import Record
from states.model import Event, State
from states.outcome import Figures, total
from states.results import DONE

from .asof import Snapshot, closed_on, local_day
from .chart import Progress, daily
from .ledger import LedgerRow, problems


@dataclass(frozen=True)
class Timing:
    """What a measure's history says about its pace."""

    created: date | None
    closed: date | None  # its last close-out, if it is closed now
    on_time: bool | None  # first verified by its due date then; None when not yet due nor verified
    extensions: int  # approved
    extension_requests: int


def timing(records: list[Record], zone: ZoneInfo, day: date) -> Timing:
    """Pace of one measure from its history up to `day`."""
    created = local_day(records[0].at, zone) if records else None
    due: date | None = None
    on_time: bool | None = None
    for r in records:
        if r.event == Event.CREATE:
            due = date.fromisoformat(r.data["due"])
        elif r.event == Event.EXTEND_APPROVE:
            due = date.fromisoformat(r.data["new_due"])
        elif r.event == Event.VERIFY and on_time is None and due is not None:
            on_time = local_day(r.at, zone) <= due
    if on_time is None and due is not None and due < day:
        on_time = False
    events = Counter(r.event for r in records)
    return Timing(created, closed_on(records, zone), on_time, events[Event.EXTEND_APPROVE],
                  events[Event.EXTEND_REQUEST])


@dataclass
class Tally:
    """Counts of a group of measures (a body, a round, a unit, an owner); sums add up."""

    measures: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    problems: int = 0
    problems_done: int = 0
    overdue: int = 0
    on_time: int = 0
    on_time_of: int = 0  # measures verified or past due: the on-time rate's denominator
    closed_days: int = 0  # summed days from 交办 to 销号 of the closed measures
    closed_counted: int = 0
    rebounds: int = 0
    extensions: int = 0
    extension_requests: int = 0
    figures: Figures = field(default_factory=Figures)

    def add(self, other: Tally) -> None:
        """Add another group's counts to these."""
        for name in ("measures", "problems", "problems_done", "overdue", "on_time", "on_time_of", "closed_days",
                     "closed_counted", "rebounds", "extensions", "extension_requests"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.by_state.update(other.by_state)
        self.figures = self.figures + other.figures

    @property
    def problems_open(self) -> int:
        """Problems not yet 完成."""
        return self.problems - self.problems_done

    @property
    def completion_rate(self) -> int:
        """整改完成率, %: completed problems only."""
        return round(100 * self.problems_done / self.problems) if self.problems else 0

    @property
    def on_time_rate(self) -> float | None:
        """Share (%) of the measures due or verified that were verified by their due date."""
        return round(100 * self.on_time / self.on_time_of, 1) if self.on_time_of else None

    @property
    def avg_days_to_close(self) -> float | None:
        """Average days from 交办 to 销号 over the closed measures."""
        return round(self.closed_days / self.closed_counted, 1) if self.closed_counted else None

    def as_json(self) -> dict[str, Any]:
        """A plain dict for JSON output."""
        return {
            "measures": self.measures, "by_state": {s.value: self.by_state.get(s.value, 0) for s in State},
            "problems": self.problems, "problems_done": self.problems_done, "problems_open": self.problems_open,
            "completion_rate": self.completion_rate, "overdue": self.overdue, "on_time": self.on_time,
            "on_time_of": self.on_time_of, "on_time_rate": self.on_time_rate,
            "avg_days_to_close": self.avg_days_to_close, "rebounds": self.rebounds, "extensions": self.extensions,
            "extension_requests": self.extension_requests, "figures": self.figures.as_json(),
        }


def _tally(rows: list[LedgerRow], snap: Snapshot, timings: dict[int, Timing], with_problems: bool) -> Tally:
    t = Tally(measures=len(rows), by_state=Counter(r.state for r in rows))
    if with_problems:
        probs = problems(rows)
        t.problems, t.problems_done = len(probs), sum(1 for p in probs if p.result == DONE)
    for r in rows:
        tm = timings[r.id]
        t.overdue += r.overdue
        t.rebounds += r.rebounds
        t.extensions += tm.extensions
        t.extension_requests += tm.extension_requests
        if tm.on_time is not None:
            t.on_time_of += 1
            t.on_time += tm.on_time
        if tm.closed and tm.created:
            t.closed_days += (tm.closed - tm.created).days
            t.closed_counted += 1
    t.figures = total(snap.figures.get(r.id, Figures()) for r in rows)
    return t


@dataclass(frozen=True)
class RoundStats:
    """A round at a day: each body, the round's sums, units, owners and progress by day."""

    code: str
    name: str
    day: date
    rebuilt: bool
    bodies: dict[str, Tally]
    total: Tally
    units: dict[str, Tally]  # by unit name
    owners: dict[str, Tally]  # by owner name
    progress: Progress

    def as_json(self) -> dict[str, Any]:
        """A plain dict for JSON output."""
        return {
            "inspection": self.code, "name": self.name, "as_of": self.day.isoformat(), "rebuilt": self.rebuilt,
            "total": self.total.as_json(), "bodies": {k: v.as_json() for k, v in self.bodies.items()},
            "units": {k: v.as_json() for k, v in self.units.items()},
            "owners": {k: v.as_json() for k, v in self.owners.items()},
            "progress": [[d.isoformat(), n] for d, n in self.progress.days],
        }


def round_stats(snap: Snapshot, unit_names: dict[str, str] | None = None) -> RoundStats:
    """The statistics of one round's snapshot."""
    zone = snap.zone
    timings = {r.id: timing(snap.history.get(r.id, []), zone, snap.day) for r in snap.rows}
    groups: dict[str, dict[str, list[LedgerRow]]] = {"body": {}, "unit": {}, "owner": {}}
    names = unit_names or {}
    for r in snap.rows:
        groups["body"].setdefault(r.body, []).append(r)
        groups["unit"].setdefault(names.get(r.unit or "", r.unit or "(无)"), []).append(r)
        groups["owner"].setdefault(r.owner_name, []).append(r)
    bodies = {k: _tally(v, snap, timings, True) for k, v in groups["body"].items()}
    whole = Tally()
    for b in bodies.values():  # the round is the sum of its bodies, as the inspection office adds it up
        whole.add(b)
    return RoundStats(
        code=snap.inspection.code, name=snap.inspection.name, day=snap.day, rebuilt=snap.rebuilt, bodies=bodies,
        total=whole, units={k: _tally(v, snap, timings, False) for k, v in sorted(groups["unit"].items())},
        owners={k: _tally(v, snap, timings, False) for k, v in sorted(groups["owner"].items())},
        progress=progress(snap))


def progress(snap: Snapshot, body: str | None = None) -> Progress:
    """Measures closed (销号) at the end of each day, from the feedback to the snapshot's day (one body's, if named)."""
    rows = [r for r in snap.rows if body is None or r.code.rpartition("-")[0] == body]
    changes: Counter[date] = Counter()
    for r in rows:
        for rec in snap.history.get(r.id, []):
            if rec.to_state == State.CLOSED and rec.from_state != State.CLOSED:
                changes[local_day(rec.at, snap.zone)] += 1
            elif rec.from_state == State.CLOSED and rec.to_state != State.CLOSED:
                changes[local_day(rec.at, snap.zone)] -= 1
    start = min([snap.inspection.feedback_date, *changes], default=snap.day)
    title = f"{rows[0].body} 整改进度" if body and rows else f"{snap.inspection.name} 整改进度"
    return Progress(title=title, label="已销号整改措施",
                    days=daily(start, max(snap.day, start), dict(changes)), total=len(rows),
                    title_en=f"{snap.inspection.code}: rectification progress")
