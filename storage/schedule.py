"""What the sweeps read and write: breach candidates, the reminder outbox, rebound checks, sweep locks.

Everything here is written to be run twice, late, or in two processes at once with the effect
of running once: unique keys with ON CONFLICT DO NOTHING, conditional updates on versions, and
on PostgreSQL an advisory lock per sweep and `FOR UPDATE SKIP LOCKED` to claim deliveries.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, func, or_, text, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from states.chain import as_utc
from states.errors import ConcurrentUpdate, NotFound
from states.measure import Measure
from states.model import Kind, State

from . import bulk
from .repositories import history_params
from .tables import (
    BodyRow,
    DeliveryAttemptRow,
    EvidenceRow,
    HistoryRow,
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
_H = HistoryRow.__table__  # type: ignore[attr-defined]
REMINDER_KEY = ("measure_id", "rule", "window")  # uq_reminder_key
NOT_DEADLINE = ("progress", "recheck", "recheck_late")  # the rules that do not warn about a due date
OPEN = [str(State.ASSIGNED), str(State.IN_PROGRESS), str(State.SUBMITTED)]
# open and not yet flagged; read through ix_measure_open_due (state, due), then filtered on the row
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



# what a sweep needs of a measure: the domain fields, title and unit (not its long text), and its round
_SWEPT = ("id", "code", "title", "unit", "state", "kind", "owner", "verifier", "leader", "due", "version", "head",
          "evidence_count", "overdue", "rebounds")
_WITH_ROUND = (
    core_select(*(_M.c[c] for c in _SWEPT), _B.c.inspection_id)
    .select_from(_M.join(_P, _P.c.id == _M.c.problem_id).join(_B, _B.c.id == _P.c.body_id))
)


# record_attempts' statements, built once: building them on every call cost ~0.6 ms of CPU per reminder,
# two thirds of a delivery worker's database work (bench/drain.py)
_HELD = and_(_R.c.id == bindparam("reminder_id"), _R.c.claimed_by == bindparam("worker"), _R.c.status == "sending")
_RECORD = update(_R).where(_HELD).values(
    attempts=_R.c.attempts + 1, claimed_by=None, claimed_until=None,
    targets=bindparam("new_targets", type_=_R.c.targets.type), status=bindparam("new_status", type_=_R.c.status.type),
    next_attempt_at=bindparam("retry_at", type_=_R.c.next_attempt_at.type),
    sent_at=bindparam("done_at", type_=_R.c.sent_at.type), last_error=bindparam("error", type_=_R.c.last_error.type))
_PENDING_OF = core_select(_R.c.id, _R.c.targets).where(_R.c.measure_id == bindparam("of_measure"),
                                                      _R.c.status == "pending")
_RETARGET = update(_R).where(_R.c.id == bindparam("reminder_id"), _R.c.status == "pending").values(
    targets=bindparam("new_targets", type_=_R.c.targets.type), status=bindparam("new_status", type_=_R.c.status.type),
    cancelled_reason=bindparam("why_cancelled", type_=_R.c.cancelled_reason.type),
    sent_at=bindparam("done_at", type_=_R.c.sent_at.type))


_IN_BATCH = 500  # ids per IN (…): SQLite takes at most 32766 parameters
_EXISTING = core_select(_R.c.id, _R.c.measure_id, _R.c.rule, _R.c.window, _R.c.status, _R.c.targets, _R.c.subject,
                        _R.c.body).where(_R.c.measure_id.in_(bindparam("measure_ids", expanding=True)),
                                         _R.c.status != "cancelled")
# conditional on the status read: a worker that claimed the reminder meanwhile keeps it (the next sweep adds them)
_ADD_TARGETS = update(_R).where(_R.c.id == bindparam("reminder_id"), _R.c.status == bindparam("was")).values(
    targets=bindparam("new_targets", type_=_R.c.targets.type), status="pending", sent_at=None,
    next_attempt_at=bindparam("due_at", type_=_R.c.next_attempt_at.type))


class ReminderLine(NamedTuple):
    """One target of a reminder as listed: to whom, on which channel, in what state (the reminder's own
    columns, with the target's status, tries, time sent and error in place of the reminder's)."""

    id: int
    target: int  # its place among the reminder's targets, from 0
    measure_id: int
    code: str
    rule: str
    window: str
    recipient: str
    channel: str
    address: str
    status: str  # pending | sending | sent | cancelled
    attempts: int
    subject: str
    body: str
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str
    cancelled_reason: str

    @property
    def file(self) -> str:
        """Its file name in a mailbox folder (the log channel's)."""
        return mailbox_file(self.id, self.target)


def mailbox_file(reminder_id: int, target: int) -> str:
    """The file a message to one target of a reminder is written to in a mailbox folder."""
    return f"reminder-{reminder_id:06d}-{target + 1}.txt"


def outcome(targets: Sequence[dict[str, Any]], tried: Sequence[tuple[int, str]], at: datetime
            ) -> tuple[list[dict[str, Any]], bool]:
    """The targets after these tries (index, error or ""), and whether any is still to be sent."""
    new = [dict(t) for t in targets]
    for i, error in tried:
        t = new[i]
        t["attempts"] = t.get("attempts", 0) + 1
        if error:
            t["error"] = error[:500]
        else:
            t.update(status="sent", at=as_utc(at).isoformat())
            t.pop("error", None)
    return new, any(t["status"] == "pending" for t in new)


def _settled(targets: Sequence[dict[str, Any]]) -> str:
    """A reminder's status once none of its targets is pending: sent if any was, else cancelled."""
    return "sent" if any(t["status"] == "sent" for t in targets) else "cancelled"


# statements a command's follow-up runs (in_round, cancel_reminders, schedule_checks), built once:
# built per call, SQLAlchemy derived a cache key from each (a tenth of a transition's CPU)
# one measure with its round's time zone and policy, in one statement (a command's follow-up reads it)
_ONE_IN_ROUND = (_WITH_ROUND.add_columns(_I.c.timezone, _I.c.policy).join_from(_B, _I, _I.c.id == _B.c.inspection_id)
                 .where(_M.c.id == bindparam("measure_id")))
_ROUNDS = core_select(_I.c.id, _I.c.timezone, _I.c.policy)
_ADD_CHECK = {d.__name__.rsplit(".", 1)[-1]: d.insert(_C).on_conflict_do_nothing(
    index_elements=["measure_id", "close_seq", "due_on"]) for d in (postgresql, sqlite)}


def _conditions(rules: tuple[str, ...] | None, deadline: bool) -> list[Any]:
    """Which of a measure's reminders a cancellation takes: these rules, or the deadline warnings, or all."""
    cond = []
    if rules is not None:
        cond.append(_R.c.rule.in_(list(rules)))
    if deadline:
        cond.append(_R.c.rule.not_in(list(NOT_DEADLINE)))
    return cond


@lru_cache(maxsize=32)
def _cancel_statement(rules: tuple[str, ...] | None, deadline: bool) -> Any:
    """UPDATE that cancels a measure's pending reminders: of these rules, or the deadline warnings, or all."""
    cond = [_R.c.measure_id == bindparam("of_measure"), _R.c.status == "pending", *_conditions(rules, deadline)]
    return update(_R).where(*cond).values(status="cancelled", cancelled_reason=bindparam("why_cancelled"))


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
        """Open measures not yet flagged whose due date is before `before`.

        Through ix_measure_open_due: the cost follows the open measures past their date (the newly
        overdue and those flagged before and still open), not the size of the ledger."""
        stmt = _WITH_ROUND.where(BREACH, _M.c.due < bindparam("before")).order_by(_M.c.id)
        conn = self.session.connection()
        if conn.dialect.name == "postgresql":
            # lock them till the sweep commits: a command on one of them meanwhile waits for the sweep
            # (then gets "changed by someone else"), instead of failing the whole sweep. SQLite needs
            # nothing: the sweep's BEGIN IMMEDIATE holds the only write lock.
            stmt = stmt.with_for_update(of=_M)
        return self._in_rounds(conn.execute(stmt, {"before": before}))

    def open_due_by(self, until: date) -> list[InRound]:
        """Open measures due on or before `until` (deadline warnings and weekly overdue repeats)."""
        stmt = _WITH_ROUND.where(_M.c.state.in_(OPEN), _M.c.due <= bindparam("until")).order_by(_M.c.id)
        return self._in_rounds(self.session.connection().execute(stmt, {"until": until}))

    def long_term(self) -> list[InRound]:
        """Long-term measures that owe periodic progress notes."""
        stmt = _WITH_ROUND.where(_M.c.kind == str(Kind.LONG_TERM),
                                 _M.c.state == str(State.IN_PROGRESS)).order_by(_M.c.id)
        return self._in_rounds(self.session.connection().execute(stmt))

    def in_round(self, measure_id: int) -> InRound:
        """One measure with its round's time zone and policy."""
        row = self.session.connection().execute(_ONE_IN_ROUND, {"measure_id": measure_id}).first()
        if row is None:
            raise NotFound("measure", measure_id)
        *measure, timezone, policy = row
        return self._in_rounds([measure], {measure[-1]: (timezone, policy)})[0]

    def _in_rounds(self, rows: Iterable[Any], rounds: dict[int, tuple[str, Any]] | None = None) -> list[InRound]:
        """Measures from their rows, each with its round's time zone and policy (read once, a small table)."""
        if rounds is None:
            rounds = {r.id: (r.timezone, r.policy) for r in self.session.connection().execute(_ROUNDS)}
        out = []
        for (mid, code, title, unit, state, kind, owner, verifier, leader, due, version, head, evidence_count,
             overdue, rebounds, inspection_id) in rows:
            timezone, policy = rounds[inspection_id]
            m = Measure(id=mid, code=code, state=State(state), kind=Kind(kind), owner=owner, verifier=verifier,
                        leader=leader, due=due, version=version, head=head, evidence_count=evidence_count,
                        overdue=overdue, rebounds=rebounds)
            out.append(InRound(m, title, unit, inspection_id, timezone, policy))
        return out

    def last_evidence_at(self, measure_ids: Sequence[int]) -> dict[int, datetime]:
        """When each measure last received evidence."""
        if not measure_ids:
            return {}
        stmt = (core_select(_E.c.measure_id, func.max(_E.c.added_at)).where(_E.c.measure_id.in_(measure_ids))
                .group_by(_E.c.measure_id))
        return {mid: as_utc(at) if isinstance(at, datetime) else datetime.fromisoformat(str(at)).replace(tzinfo=UTC)
                for mid, at in self.session.connection().execute(stmt)}

    def save_many(self, pairs: Sequence[tuple[Measure, Any]], at: datetime) -> None:
        """Write many measures with one record each, set-based; ConcurrentUpdate if any moved on."""
        if not pairs:
            return
        conn = self.session.connection()
        when = as_utc(at)
        changed = bulk.update_many(conn, _M, ("overdue", "version", "head", "updated_at"), ("id", "version"),
                                   [(m.overdue, m.version, m.head, when, m.id, rec.seq - 1) for m, rec in pairs])
        if changed != len(pairs):
            raise ConcurrentUpdate(f"{len(pairs) - changed} of {len(pairs)} measures", -1)
        bulk.insert_many(conn, _H, [history_params(rec) for _, rec in pairs])

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
        """Insert reminders; one whose key exists already is left alone, but for the people it does not name
        yet (a new owner, a new channel), who are added to it. Returns how many reminders were new."""
        conn = self.session.connection()
        added = bulk.insert_many(conn, _R, rows, on_conflict_do_nothing=REMINDER_KEY)
        if added < len(rows):  # a sweep that ran before: only then can an existing reminder lack someone
            self._add_missing_targets(conn, rows)
        return added

    def _add_missing_targets(self, conn: Any, rows: Sequence[dict[str, Any]]) -> None:
        """Add to existing reminders the targets of `rows` they lack, in this reminder's own words (which
        name today's owner). Each recipient owed an occasion's reminder gets it once, as with a row per
        recipient. A reminder cancelled as a whole stays so; one a worker is sending now is left for the
        next sweep, since the worker writes back the targets it claimed."""
        wanted = {(r["measure_id"], r["rule"], r["window"]): r for r in rows}
        ids = sorted({k[0] for k in wanted})
        for i in range(0, len(ids), _IN_BATCH):
            for e in conn.execute(_EXISTING, {"measure_ids": ids[i:i + _IN_BATCH]}):
                r = wanted.get((e.measure_id, e.rule, e.window))
                if r is None or e.status == "sending":
                    continue
                have = {(t["to"], t["channel"]) for t in e.targets}
                extra = [t for t in r["targets"] if (t["to"], t["channel"]) not in have]
                if not extra:
                    continue
                if (r["subject"], r["body"]) != (e.subject, e.body):
                    extra = [{**t, "subject": r["subject"], "body": r["body"]} for t in extra]
                conn.execute(_ADD_TARGETS, {"reminder_id": e.id, "was": e.status, "new_targets": [*e.targets, *extra],
                                            "due_at": r["next_attempt_at"]})

    def cancel_reminders(self, measure_id: int, why: str, *, rules: Sequence[str] | None = None,
                         deadline: bool = False, recipient: str | None = None) -> None:
        """Cancel the measure's pending reminders: of these rules, or the deadline warnings, or all; with a
        recipient, only what is still to go to that person (the rest of each reminder still goes)."""
        conn = self.session.connection()
        key = tuple(rules) if rules is not None else None
        if recipient is None:
            conn.execute(_cancel_statement(key, deadline), {"of_measure": measure_id, "why_cancelled": why})
            return
        for rid, targets in conn.execute(_PENDING_OF.where(*_conditions(key, deadline)), {"of_measure": measure_id}):
            new = [{**t, "status": "cancelled", "reason": why} if t["to"] == recipient and t["status"] == "pending"
                   else t for t in targets]
            if new == targets:
                continue
            left = any(t["status"] == "pending" for t in new)
            sent = [datetime.fromisoformat(t["at"]) for t in new if t["status"] == "sent" and t.get("at")]
            conn.execute(_RETARGET, {"reminder_id": rid, "new_targets": new,
                                     "new_status": "pending" if left else _settled(new),
                                     "why_cancelled": "" if left else why,
                                     "done_at": max(sent) if sent and not left else None})

    def claim(self, worker: str, now: datetime, lease_until: datetime, limit: int) -> list[Any]:
        """Claim up to `limit` reminders due for sending: pending ones, or ones whose lease ran out."""
        conn = self.session.connection()
        pending = and_(_R.c.status == "pending", _R.c.next_attempt_at <= now)
        lapsed = and_(_R.c.status == "sending", _R.c.next_attempt_at <= now, _R.c.claimed_until < now)
        # two reads, each an ordered range of ix_reminder_due (status, next_attempt_at, id) cut by LIMIT:
        # a claim costs what it takes, not the backlog (one read with OR sorted every due reminder,
        # and a sweep writes its reminders with one next_attempt_at)
        ids: list[int] = []
        for cond in (lapsed, pending):
            stmt = core_select(_R.c.id).where(cond).order_by(_R.c.next_attempt_at, _R.c.id).limit(limit - len(ids))
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            ids += [r.id for r in conn.execute(stmt)]
            if len(ids) >= limit:
                break
        if not ids:
            return []
        conn.execute(update(_R).where(_R.c.id.in_(ids), or_(pending, lapsed))
                     .values(status="sending", claimed_by=worker, claimed_until=lease_until))
        return list(conn.execute(core_select(_R).where(_R.c.id.in_(ids), _R.c.claimed_by == worker,
                                                       _R.c.status == "sending").order_by(_R.c.id)))

    def record_attempts(self, reminder_id: int, worker: str, at: datetime, targets: Sequence[dict[str, Any]],
                        tried: Sequence[tuple[int, str]], retry_at: datetime) -> bool:
        """Record one delivery round of a reminder: each target tried (index, error or "") and its attempt;
        the reminder is sent once no target is left, else due again at `retry_at`. False if this worker no
        longer held it (its lease ran out and another worker took it)."""
        new, left = outcome(targets, tried, at)
        errors = [e for _, e in tried if e]
        conn = self.session.connection()  # on SQLite the write lock comes with the first statement below
        result = conn.execute(_RECORD, {"reminder_id": reminder_id, "worker": worker, "new_targets": new,
                                        "new_status": "pending" if left else _settled(new),
                                        "retry_at": retry_at if left else at, "done_at": None if left else at,
                                        "error": errors[-1][:500] if errors else ""})
        # straight through the driver: on SQLite this runs holding the write lock, which SQLAlchemy's
        # statement machinery would hold for ~0.1 ms more of the ~0.45 ms a delivery keeps it (bench/lock_hold.py)
        bulk.insert_many(conn, _A, [{"reminder_id": reminder_id, "recipient": targets[i]["to"],
                                     "channel": targets[i]["channel"], "at": at, "worker": worker, "ok": not e,
                                     "error": e[:500]} for i, e in tried])
        return bool(result.rowcount)

    def reminders(self, status: str | None = None, measure_id: int | None = None) -> list[ReminderLine]:
        """Reminders with their measure code, oldest first, one line per target; `status` is the target's."""
        stmt = core_select(_R, _M.c.code).select_from(_R.join(_M, _M.c.id == _R.c.measure_id))
        if measure_id:
            stmt = stmt.where(_R.c.measure_id == measure_id)
        if status in ("pending", "sending"):  # a target is so only while its reminder is (sent or cancelled: any)
            stmt = stmt.where(_R.c.status == status)
        out = []
        for r in self.session.connection().execute(stmt.order_by(_R.c.created_at, _R.c.id)):
            for i, t in enumerate(r.targets):
                state = t["status"]
                if state == "pending" and r.status in ("sending", "cancelled"):
                    state = r.status  # claimed by a worker now, or cancelled with the whole reminder
                if status and state != status:
                    continue
                sent = t.get("at")
                out.append(ReminderLine(
                    r.id, i, r.measure_id, r.code, r.rule, r.window, t["to"], t["channel"], t["address"], state,
                    t.get("attempts", 0), t.get("subject", r.subject), t.get("body", r.body), as_utc(r.created_at),
                    as_utc(r.next_attempt_at),
                    as_utc(datetime.fromisoformat(sent)) if sent else None, t.get("error", ""),
                    t.get("reason", r.cancelled_reason) if state == "cancelled" else ""))
        return out

    # -- rebound checks ------------------------------------------------------------------------------

    def schedule_checks(self, measure_id: int, close_seq: int, dates: Sequence[date]) -> None:
        """Add rebound checks after a close-out (idempotent by measure, close and date)."""
        if not dates:
            return
        conn = self.session.connection()
        conn.execute(_ADD_CHECK[conn.dialect.name],
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
