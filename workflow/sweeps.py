"""The sweeps: flag deadline breaches, write due reminders to the outbox, ask for rebound checks.

Each sweep is one transaction that takes the sweep's lock (an advisory lock on PostgreSQL; the
write lock on SQLite), reads what is due through an index, and writes set-based with keys that
make a second run, a late run or a run in another process add nothing.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from states.calendar import Calendar
from states.errors import InvalidInput
from states.model import Event
from states.permissions import SYSTEM
from states.policy import Due, Policy, deadline_reminders, progress_reminder
from storage.schedule import NOT_DEADLINE, InRound
from storage.uow import UnitOfWork

from . import reminders
from .app import App
from .plan import policy_from


@dataclass
class SweepResult:
    """What one run of a sweep did."""

    name: str
    examined: int = 0
    flagged: int = 0
    reminders: int = 0
    skipped: bool = False  # another process held the sweep's lock
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One log line."""
        if self.skipped:
            return f"{self.name}: skipped, another process is running it"
        parts = [f"{self.name}: examined {self.examined}"]
        if self.name == "overdue":
            parts.append(f"flagged {self.flagged} overdue")
        parts.append(f"{self.reminders} new reminder(s)")
        return ", ".join(parts) + f" in {self.seconds:.2f} s" + "".join(f"; warning: {w}" for w in self.warnings)


@dataclass(frozen=True)
class Holidays:
    """A user's holiday file: extra days off and make-up workdays (for years the package lacks)."""

    off: frozenset[date] = frozenset()
    work: frozenset[date] = frozenset()


def load_holidays(path: Path | None) -> Holidays:
    """Read a holiday file (YAML: `holidays: [dates]`, `workdays: [dates]`)."""
    if path is None:
        return Holidays()
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Holidays(frozenset(_dates(data.get("holidays", []))), frozenset(_dates(data.get("workdays", []))))
    except FileNotFoundError:
        raise InvalidInput("holiday file", f"no such file {str(path)!r}") from None
    except (yaml.YAMLError, ValueError, TypeError, AttributeError) as e:
        raise InvalidInput("holiday file", f"{str(path)!r}: {e}") from None


def _dates(items: list[Any]) -> list[date]:
    return [x if isinstance(x, date) else date.fromisoformat(str(x)) for x in items]


@lru_cache(maxsize=64)
def _policy(stored: str | None) -> Policy:
    import json

    return policy_from(json.loads(stored) if stored else None)


def policy_of(item: InRound) -> Policy:
    """The policy of the measure's round (parsed once per distinct policy)."""
    import json

    return _policy(json.dumps(item.policy, sort_keys=True) if item.policy else None)


def local_today(now: datetime, zone: str) -> date:
    """The local date in `zone` at `now`."""
    return now.astimezone(ZoneInfo(zone)).date()


class _Context:
    """What one sweep run shares: the time, calendars by policy, contacts, unit heads."""

    def __init__(self, uow: UnitOfWork, now: datetime, holidays: Holidays):
        self.uow, self.now, self.holidays = uow, now, holidays
        self._calendars: dict[bool, Calendar] = {}
        self._contacts: dict[str, tuple[str | None, list[str]]] | None = None
        self._heads: dict[str, str | None] | None = None

    def calendar(self, policy: Policy) -> Calendar:
        if policy.working_days not in self._calendars:
            self._calendars[policy.working_days] = policy.calendar(self.holidays.off, self.holidays.work)
        return self._calendars[policy.working_days]

    def rows(self, item: InRound, due: Due, today: date, extra: str = "") -> list[dict[str, Any]]:
        if self._contacts is None:
            self._contacts, self._heads = self.uow.schedule.contacts(), self.uow.schedule.unit_heads()
        assert self._heads is not None
        due_on = item.measure.due
        days_left = None if due.rule in NOT_DEADLINE or today > due_on else \
            self.calendar(policy_of(item)).days_until(today, due_on)
        return reminders.rows(item, due, today, self.now, self._contacts, self._heads, days_left, extra)

    def warnings(self) -> list[str]:
        years = sorted({y for c in self._calendars.values() for y in c.fallback_years})
        return [f"no holiday data for {', '.join(map(str, years))}: counted weekends only; "
                "supply a holiday file (RECTIFY_HOLIDAYS_FILE)"] if years else []


def _latest_today(uow: UnitOfWork, now: datetime) -> date:
    zones = {i.timezone for i in uow.tree.inspections()} or {"Asia/Shanghai"}
    return max(local_today(now, z) for z in zones)


def _horizon(uow: UnitOfWork) -> int:
    """How many natural days ahead any round's warnings reach (working days → natural, generously)."""
    policies = [_policy(json.dumps(i.policy, sort_keys=True) if i.policy else None) for i in uow.tree.inspections()]
    return max((r.days_before or 0 for p in policies or [Policy()] for r in p.rules), default=0) * 2 + 21


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Hold Python's cycle collector off while a sweep builds its rows.

    A sweep keeps tens of thousands of small objects alive at once (measures, sealed records, rows),
    and that many survivors set off full collections, each walking every object of the process:
    90 to 400 ms of a one-second sweep over a million measures (bench/overdue.py). The sweep makes
    no reference cycles, so reference counting frees all of it; the collector resumes after.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def flag_overdue(app: App, holidays: Holidays = Holidays(), progress: Callable[[int], None] | None = None
                 ) -> SweepResult:
    """Flag each open measure past its due date, once per breach, with its red reminders, in one transaction."""
    started, result = time.perf_counter(), SweepResult("overdue")
    now = app.clock()
    with _no_cycle_collection(), app.uow() as uow:
        if not uow.schedule.try_lock("overdue"):
            result.skipped = True
            return result
        ctx = _Context(uow, now, holidays)
        candidates = uow.schedule.breach_candidates(_latest_today(uow, now))
        result.examined = len(candidates)
        pairs, outbox = [], []
        for item in candidates:
            m, today = item.measure, local_today(now, item.timezone)
            if not m.due < today:
                continue
            record = m.apply(Event.OVERDUE, by=SYSTEM, at=now, request_id=app.request_id,
                             data={"due": m.due.isoformat(), "today": today.isoformat()})
            pairs.append((m, record))
            policy = policy_of(item)
            for due in deadline_reminders(m.state, m.due, today, policy, ctx.calendar(policy)):
                outbox += ctx.rows(item, due, today)
            if progress:
                progress(1)
        uow.schedule.save_many(pairs, now)
        result.reminders = uow.schedule.add_reminders(outbox)
        result.flagged = len(pairs)
        uow.commit()
    result.warnings, result.seconds = ctx.warnings(), time.perf_counter() - started
    return result


def remind(app: App, holidays: Holidays = Holidays(), progress: Callable[[int], None] | None = None) -> SweepResult:
    """Write the reminders owed today: deadline warnings, weekly overdue repeats, progress notes, rechecks."""
    started, result = time.perf_counter(), SweepResult("reminders")
    now = app.clock()
    with _no_cycle_collection(), app.uow() as uow:
        if not uow.schedule.try_lock("reminders"):
            result.skipped = True
            return result
        ctx = _Context(uow, now, holidays)
        latest = _latest_today(uow, now)
        horizon = _horizon(uow)
        items = uow.schedule.open_due_by(date.fromordinal(latest.toordinal() + horizon))
        outbox: list[dict[str, Any]] = []
        for item in items:
            m, today = item.measure, local_today(now, item.timezone)
            policy = policy_of(item)
            for due in deadline_reminders(m.state, m.due, today, policy, ctx.calendar(policy)):
                # the first overdue warning belongs to the breach: it is written with the flag
                if today > m.due and not m.overdue:
                    continue
                outbox += ctx.rows(item, due, today)
            if progress:
                progress(1)
        long_term = uow.schedule.long_term()
        last = uow.schedule.last_evidence_at([i.measure.id for i in long_term])
        for item in long_term:
            today = local_today(now, item.timezone)
            seen = last.get(item.measure.id)
            for due in progress_reminder(item.measure.kind, item.measure.state,
                                         local_today(seen, item.timezone) if seen else None, today, policy_of(item)):
                outbox += ctx.rows(item, due, today)
        checks = uow.schedule.checks_due(latest)
        for check in checks:
            item = uow.schedule.in_round(check.id)
            today = local_today(now, item.timezone)
            if check.due_on > today:
                continue
            policy = policy_of(item)
            outbox += ctx.rows(item, Due("recheck", f"check:{check.check_id}", ("verifier",), "复查提醒"), today,
                               extra=f"复查日期:{check.due_on}")
            if ctx.calendar(policy).days_until(check.due_on, today) > policy.recheck_answer_days:
                outbox += ctx.rows(item, Due("recheck_late", f"check:{check.check_id}", ("leader", "verifier"),
                                             "复查逾期"), today, extra=f"复查日期:{check.due_on}")
        result.examined = len(items) + len(long_term) + len(checks)
        result.reminders = uow.schedule.add_reminders(outbox)
        uow.commit()
    result.warnings, result.seconds = ctx.warnings(), time.perf_counter() - started
    return result
