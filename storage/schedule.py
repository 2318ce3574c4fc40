"""What the sweeps read and write: breach candidates, the reminder outbox, rebound checks, sweep locks.

Everything here is written to be run twice, late, or in two processes at once with the effect
of running once: unique keys with ON CONFLICT DO NOTHING, conditional updates on versions, and
on PostgreSQL an advisory lock per sweep and `FOR UPDATE SKIP LOCKED` to claim deliveries.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, text, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from states.errors import ConcurrentUpdate
from states.measure import Measure
from states.model import Kind, State

from .repositories import MeasureRepository, to_domain
from .tables import (
    BodyRow,
    DeliveryAttemptRow,
    EvidenceRow,
    InspectionRow,
    MeasureRow,
    PersonRow,
    ProblemRow,
    ReboundCheckRow,
    ReminderRow,
    UnitRow,
)

_M = MeasureRow.__table__  # type: ignore[attr-defined]
_P = ProblemRow.__table__  # type: ignore[attr-defined]
_B = BodyRow.__table__  # type: ignore[attr-defined]
_I = InspectionRow.__table__  # type: ignore[attr-defined]
_R = ReminderRow.__table__  # type: ignore[attr-defined]
_C = ReboundCheckRow.__table__  # type: ignore[attr-defined]
_E = EvidenceRow.__table__  # type: ignore[attr-defined]
_A = DeliveryAttemptRow.__table__  # type: ignore[attr-defined]
NOT_DEADLINE = ("progress", "recheck", "recheck_late")  # the rules that do not warn about a due date
OPEN = [str(State.ASSIGNED), str(State.IN_PROGRESS), str(State.SUBMITTED)]
# the same text as the partial index ix_measure_breach, so both databases use it
BREACH = text("NOT measure.overdue AND measure.state IN ('assigned', 'in_progress', 'submitted')")


@dataclass(frozen=True)
class InRound:
    """A measure with what a sweep needs of its round: the time zone and the policy."""

    measure: Measure
    title: str
    unit: str | None
    inspection_id: int
    timezone: str
    policy: dict[str, Any] | None


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _in_round(row: Any) -> InRound:
    return InRound(to_domain(row), row.title, row.unit, row.inspection_id, row.timezone, row.policy)


_WITH_ROUND = (
    core_select(_M, _I.c.id.label("inspection_id"), _I.c.timezone, _I.c.policy)
    .select_from(_M.join(_P, _P.c.id == _M.c.problem_id).join(_B, _B.c.id == _P.c.body_id)
                 .join(_I, _I.c.id == _B.c.inspection_id))
)


class ScheduleRepository:
    """Reads for the sweeps and the writes they make."""

    def __init__(self, session: Session):
        self.session = session

    # -- sweep locks -------------------------------------------------------------------------------

    def try_lock(self, name: str) -> bool:
        """Take this transaction's lock on sweep `name`; False when another process holds it.

        PostgreSQL: `pg_try_advisory_xact_lock`, released at commit. SQLite: the write
        transaction (BEGIN IMMEDIATE) already lets one writer at a time, so always True.
        """
        conn = self.session.connection()
        if conn.dialect.name != "postgresql":
            return True
        key = zlib.crc32(f"rectify:{name}".encode())
        return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar())

    # -- measures ----------------------------------------------------------------------------------

    def breach_candidates(self, before: date) -> list[InRound]:
        """Open measures not yet flagged whose due date is before `before` (through the partial index)."""
        stmt = _WITH_ROUND.where(BREACH, _M.c.due < bindparam("before")).order_by(_M.c.id)
        return [_in_round(r) for r in self.session.connection().execute(stmt, {"before": before})]

    def open_due_by(self, until: date) -> list[InRound]:
        """Open measures due on or before `until` (deadline warnings and weekly overdue repeats)."""
        stmt = _WITH_ROUND.where(_M.c.state.in_(OPEN), _M.c.due <= bindparam("until")).order_by(_M.c.id)
        return [_in_round(r) for r in self.session.connection().execute(stmt, {"until": until})]

    def long_term(self) -> list[InRound]:
        """Long-term measures that owe periodic progress notes."""
        stmt = _WITH_ROUND.where(_M.c.kind == str(Kind.LONG_TERM),
                                 _M.c.state == str(State.IN_PROGRESS)).order_by(_M.c.id)
        return [_in_round(r) for r in self.session.connection().execute(stmt)]

    def in_round(self, measure_id: int) -> InRound:
        """One measure with its round's time zone and policy."""
        row = self.session.connection().execute(_WITH_ROUND.where(_M.c.id == measure_id)).one()
        return _in_round(row)

    def last_evidence_at(self, measure_ids: Sequence[int]) -> dict[int, datetime]:
        """When each measure last received evidence."""
        if not measure_ids:
            return {}
        stmt = (core_select(_E.c.measure_id, func.max(_E.c.added_at)).where(_E.c.measure_id.in_(measure_ids))
                .group_by(_E.c.measure_id))
        return {mid: _utc(at) if isinstance(at, datetime) else datetime.fromisoformat(str(at)).replace(tzinfo=UTC)
                for mid, at in self.session.connection().execute(stmt)}

    def save_many(self, pairs: Sequence[tuple[Measure, Any]], at: datetime) -> None:
        """Write many measures with one record each, set-based; ConcurrentUpdate if any moved on."""
        if not pairs:
            return
        conn = self.session.connection()
        result = conn.execute(
            update(_M).where(_M.c.id == bindparam("where_id"), _M.c.version == bindparam("where_version"))
            .values(overdue=bindparam("new_overdue"), version=bindparam("new_version"), head=bindparam("new_head"),
                    updated_at=bindparam("new_updated_at")),
            [{"where_id": m.id, "where_version": rec.seq - 1, "new_overdue": m.overdue, "new_version": m.version,
              "new_head": m.head, "new_updated_at": _utc(at)} for m, rec in pairs],
        )
        if result.rowcount != len(pairs):
            raise ConcurrentUpdate(f"{len(pairs) - result.rowcount} of {len(pairs)} measures", -1)
        MeasureRepository(self.session).append_history([rec for _, rec in pairs])

    # -- people ------------------------------------------------------------------------------------

    def contacts(self) -> dict[str, tuple[str | None, list[str]]]:
        """Each person's e-mail address and notification URLs."""
        t = PersonRow.__table__  # type: ignore[attr-defined]
        return {r.handle: (r.email, list(r.notify or [])) for r in
                self.session.connection().execute(core_select(t.c.handle, t.c.email, t.c.notify))}

    def unit_heads(self) -> dict[str, str | None]:
        """Each unit's head."""
        t = UnitRow.__table__  # type: ignore[attr-defined]
        return {r.code: r.head for r in self.session.connection().execute(core_select(t.c.code, t.c.head))}

    # -- the outbox --------------------------------------------------------------------------------

    def add_reminders(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert reminders; one whose key exists already is left alone. Returns how many were new."""
        if not rows:
            return 0
        conn = self.session.connection()
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(_R).on_conflict_do_nothing(
            index_elements=["measure_id", "rule", "window", "recipient", "channel"])
        # a plain executemany, counted by its rowcount (sqlite3 and psycopg sum it over the rows; a row
        # skipped by ON CONFLICT counts 0). With RETURNING, SQLAlchemy batched the rows into 1000-row
        # multi-VALUES statements whose 14,000 placeholders psycopg re-parsed on every batch: 30,000
        # reminders took ~6 s on PostgreSQL (bench/overdue.py).
        new = conn.execute(stmt.execution_options(preserve_rowcount=True), list(rows)).rowcount
        if new < 0:  # a driver that does not sum rowcount over an executemany
            raise RuntimeError("add_reminders: the database driver did not report how many rows it inserted")
        return int(new)

    def cancel_reminders(self, measure_id: int, why: str, *, rules: Sequence[str] | None = None,
                         deadline: bool = False, recipient: str | None = None) -> None:
        """Cancel the measure's pending reminders: of these rules, or the deadline warnings, or all; to one
        recipient if given."""
        cond = [_R.c.measure_id == measure_id, _R.c.status == "pending"]
        if rules is not None:
            cond.append(_R.c.rule.in_(list(rules)))
        if deadline:
            cond.append(_R.c.rule.not_in(list(NOT_DEADLINE)))
        if recipient:
            cond.append(_R.c.recipient == recipient)
        self.session.connection().execute(update(_R).where(*cond).values(status="cancelled", cancelled_reason=why))

    def claim(self, worker: str, now: datetime, lease_until: datetime, limit: int) -> list[Any]:
        """Claim up to `limit` reminders due for sending: pending ones, or ones whose lease ran out."""
        conn = self.session.connection()
        due = and_(_R.c.next_attempt_at <= now,
                   or_(_R.c.status == "pending",
                       and_(_R.c.status == "sending", _R.c.claimed_until < now)))
        stmt = core_select(_R.c.id).where(due).order_by(_R.c.next_attempt_at, _R.c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        ids = [r.id for r in conn.execute(stmt)]
        if not ids:
            return []
        conn.execute(update(_R).where(_R.c.id.in_(ids), due)
                     .values(status="sending", claimed_by=worker, claimed_until=lease_until))
        return list(conn.execute(core_select(_R).where(_R.c.id.in_(ids), _R.c.claimed_by == worker,
                                                       _R.c.status == "sending").order_by(_R.c.id)))

    def record_attempt(self, reminder_id: int, worker: str, at: datetime, ok: bool, error: str,
                       retry_at: datetime | None) -> bool:
        """Record one send attempt; False if this worker no longer held the reminder."""
        conn = self.session.connection()
        values: dict[str, Any] = {"attempts": _R.c.attempts + 1, "claimed_by": None, "claimed_until": None}
        if ok:
            values.update(status="sent", sent_at=at, last_error="")
        else:
            values.update(status="pending", next_attempt_at=retry_at, last_error=error[:500])
        result = conn.execute(update(_R).where(_R.c.id == reminder_id, _R.c.claimed_by == worker,
                                               _R.c.status == "sending").values(**values))
        conn.execute(_A.insert(), {"reminder_id": reminder_id, "at": at, "worker": worker, "ok": ok,
                                   "error": error[:500]})
        return bool(result.rowcount)

    def reminders(self, status: str | None = None, measure_id: int | None = None) -> list[Any]:
        """Reminders with their measure code, newest first."""
        stmt = core_select(_R, _M.c.code).select_from(_R.join(_M, _M.c.id == _R.c.measure_id))
        if status:
            stmt = stmt.where(_R.c.status == status)
        if measure_id:
            stmt = stmt.where(_R.c.measure_id == measure_id)
        return list(self.session.connection().execute(stmt.order_by(_R.c.created_at, _R.c.id)))

    # -- rebound checks ------------------------------------------------------------------------------

    def schedule_checks(self, measure_id: int, close_seq: int, dates: Sequence[date]) -> None:
        """Add rebound checks after a close-out (idempotent by measure, close and date)."""
        if not dates:
            return
        conn = self.session.connection()
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(_C).on_conflict_do_nothing(index_elements=["measure_id", "close_seq", "due_on"]),
                     [{"measure_id": measure_id, "close_seq": close_seq, "due_on": d, "status": "pending",
                       "reason": ""} for d in dates])

    def due_check(self, measure_id: int, today: date) -> Any | None:
        """The measure's earliest pending rebound check that is due by `today`."""
        stmt = (core_select(_C).where(_C.c.measure_id == measure_id, _C.c.status == "pending",
                                      _C.c.due_on <= today).order_by(_C.c.due_on).limit(1))
        return self.session.connection().execute(stmt).first()

    def answer_check(self, check_id: int, status: str, by: str, at: datetime, reason: str) -> None:
        """Record a rebound check's outcome."""
        self.session.connection().execute(
            update(_C).where(_C.c.id == check_id, _C.c.status == "pending")
            .values(status=status, answered_by=by, answered_at=at, reason=reason))

    def cancel_checks(self, measure_id: int, why: str) -> None:
        """Cancel a measure's pending rebound checks (it was reopened)."""
        self.session.connection().execute(
            update(_C).where(_C.c.measure_id == measure_id, _C.c.status == "pending")
            .values(status="cancelled", reason=why))

    def checks_due(self, today: date) -> list[Any]:
        """Pending rebound checks due by `today`, with their measure."""
        stmt = (core_select(_C.c.id.label("check_id"), _C.c.due_on, _M)
                .select_from(_C.join(_M, _M.c.id == _C.c.measure_id))
                .where(_C.c.status == "pending", _C.c.due_on <= today).order_by(_C.c.due_on, _C.c.id))
        return list(self.session.connection().execute(stmt))

    def checks(self, measure_id: int | None = None) -> list[Any]:
        """Rebound checks with their measure code."""
        stmt = core_select(_C, _M.c.code).select_from(_C.join(_M, _M.c.id == _C.c.measure_id))
        if measure_id:
            stmt = stmt.where(_C.c.measure_id == measure_id)
        return list(self.session.connection().execute(stmt.order_by(_C.c.due_on, _C.c.id)))
