"""The SQLModel tables of the ledger, its history and the access log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class InspectionRow(SQLModel, table=True):
    """An inspection round (巡察/巡视/审计)."""

    __tablename__ = "inspection"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=64)
    name: str
    kind: str = "巡察"
    group_name: str = ""
    period_start: date | None = None
    period_end: date | None = None
    feedback_date: date
    rectification_start: date | None = None
    rectification_end: date | None = None
    timezone: str = "Asia/Shanghai"
    imported_at: datetime
    policy: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class UnitRow(SQLModel, table=True):
    """A responsible unit (责任部门)."""

    __tablename__ = "unit"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=64)
    name: str
    head: str | None = None


class PersonRow(SQLModel, table=True):
    """A person, with the round-wide roles they hold (comma separated)."""

    __tablename__ = "person"
    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(unique=True, max_length=64)
    name: str
    unit: str | None = None
    roles: str = ""
    email: str | None = None
    notify: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))


class BodyRow(SQLModel, table=True):
    """An inspected body (被巡察单位) of a round."""

    __tablename__ = "body"
    __table_args__ = (UniqueConstraint("inspection_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int = Field(foreign_key="inspection.id", index=True)
    code: str = Field(max_length=64)
    name: str


class ProblemRow(SQLModel, table=True):
    """A node of the problem tree: a heading, a problem under it, or a point of a problem."""

    __tablename__ = "problem"
    id: int | None = Field(default=None, primary_key=True)
    body_id: int = Field(foreign_key="body.id", index=True)
    parent_id: int | None = Field(default=None, foreign_key="problem.id", index=True)
    level: str  # heading | problem | point
    position: int
    ref: str = ""
    text: str
    repeats: str | None = None  # the earlier round's problem or measure this one repeats


class MeasureRow(SQLModel, table=True):
    """A measure: the state machine's persisted form, guarded by its version."""

    __tablename__ = "measure"
    __table_args__ = (
        # the sweeps read open measures by due date: the overdue sweep's cost follows the measures
        # past their date and still open, not the ledger. No index names `overdue` (a partial index
        # on it did): so flagging a breach changes no indexed column, and on PostgreSQL the update
        # stays on its page without new index entries (HOT; migration 0006 leaves room with a
        # fillfactor of 90).
        Index("ix_measure_open_due", "state", "due"),
        # the ledger in tree order, a page at a time: (problem, position) walks it without sorting
        Index("ix_measure_tree", "problem_id", "position"),
    )
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=96)
    problem_id: int = Field(foreign_key="problem.id")  # indexed by ix_measure_tree
    position: int
    ref: str
    title: str
    text: str = ""
    kind: str
    state: str
    owner: str = Field(index=True)
    verifier: str
    leader: str
    unit: str | None = Field(default=None, index=True)
    due: date
    version: int = 0
    head: str = ""
    evidence_count: int = 0
    overdue: bool = False
    rebounds: int = 0
    updated_at: datetime


class EvidenceRow(SQLModel, table=True):
    """An evidence item: a note, or a file kept by its SHA-256 beside the database."""

    __tablename__ = "evidence"
    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="measure.id", index=True)
    seq: int  # the history record it came with
    sha256: str = Field(max_length=64)
    kind: str  # note | file
    name: str = ""
    size: int = 0
    note: str = ""
    added_by: str
    added_at: datetime


class ExtensionRow(SQLModel, table=True):
    """A deadline extension: requested by the owner, approved or refused by the leader."""

    __tablename__ = "extension"
    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="measure.id", index=True)
    status: str  # pending | approved | refused
    old_due: date
    new_due: date
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str = ""


class HistoryRow(SQLModel, table=True):
    """One append-only, hash-chained history record of a measure."""

    __tablename__ = "history"
    __table_args__ = (UniqueConstraint("measure_id", "seq"), Index("ix_history_at", "at"))
    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="measure.id")
    seq: int
    event: str = Field(max_length=32)
    from_state: str | None = None
    to_state: str | None = None
    actor: str = Field(index=True, max_length=64)
    role: str = Field(max_length=16)
    at: datetime
    reason: str = ""
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    request_id: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AccessLogRow(SQLModel, table=True):
    """A refused attempt (not permitted, illegal, stale, unknown), for the auditors."""

    __tablename__ = "access_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str
    event: str
    measure: str
    outcome: str  # denied | refused | conflict | not_found | invalid
    message: str
    request_id: str = ""


class ReminderRow(SQLModel, table=True):
    """A reminder in the outbox: written with what caused it, sent later by a delivery worker to each target.

    Its key (measure, rule, window) makes it exist once however often, late or in how many processes
    a sweep runs. Its targets are the people it goes to, one per channel, each with its own state:
    `{"to", "channel", "address", "status": pending|sent|cancelled, "attempts", "at", "error", "reason"}`
    (the last four once they apply; a target added to an existing reminder, such as a new owner, also
    carries its own "subject" and "body"). One row per occasion, not per person and channel: a breach
    writes a third of the rows it used to, and the text once.
    """

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("measure_id", "rule", "window", name="uq_reminder_key"),
        # a delivery claim reads due reminders in (next_attempt_at, id) order: with id in the index
        # that is a range cut by LIMIT, even when a sweep gave thousands the same next_attempt_at
        Index("ix_reminder_due", "status", "next_attempt_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="measure.id")  # indexed by uq_reminder_key
    rule: str = Field(max_length=32)  # yellow | orange | red | progress | recheck | recheck_late
    window: str = Field(max_length=64)  # the occasion: the due date warned about, the week late, …
    targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str
    body: str
    status: str = "pending"  # pending | sending | sent | cancelled: sent once no target is left pending
    attempts: int = 0  # delivery rounds (the backoff counts them); each target counts its own tries
    next_attempt_at: datetime
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    created_at: datetime
    sent_at: datetime | None = None  # when the last target was done
    cancelled_reason: str = ""
    last_error: str = ""


class DeliveryAttemptRow(SQLModel, table=True):
    """One try at sending a reminder to one of its targets, and how it went."""

    __tablename__ = "delivery_attempt"
    id: int | None = Field(default=None, primary_key=True)
    reminder_id: int = Field(foreign_key="reminder.id", index=True)
    recipient: str = Field(default="", max_length=64)
    channel: str = Field(default="", max_length=16)
    at: datetime
    worker: str
    ok: bool
    error: str = ""


class ReboundCheckRow(SQLModel, table=True):
    """A check after close-out that the problem has not come back (防止问题反弹)."""

    __tablename__ = "rebound_check"
    __table_args__ = (
        UniqueConstraint("measure_id", "close_seq", "due_on", name="uq_rebound_check"),
        Index("ix_rebound_check_due", "status", "due_on"),
    )
    id: int | None = Field(default=None, primary_key=True)
    measure_id: int = Field(foreign_key="measure.id", index=True)
    close_seq: int  # the history seq of the close-out it follows
    due_on: date
    status: str = "pending"  # pending | held | rebounded | cancelled
    answered_by: str | None = None
    answered_at: datetime | None = None
    reason: str = ""


class OutcomeRow(SQLModel, table=True):
    """A measure's outcome figures (整改成效) as last recorded; its history keeps every change."""

    __tablename__ = "outcome"
    measure_id: int = Field(foreign_key="measure.id", primary_key=True)
    rules: int = 0  # 制度 written or revised (项)
    funds_yuan: int = Field(default=0, sa_type=BigInteger)  # funds recovered or returned (追缴/清退资金), in 元
    criticised: int = 0  # 批评教育 (人)
    admonished: int = 0  # 诫勉谈话 (人)
    org_handled: int = 0  # 组织处理 (人)
    disciplined: int = 0  # 纪律处分 (人)
    seq: int  # the history record that set these figures
    updated_by: str
    updated_at: datetime


class CredentialRow(SQLModel, table=True):
    """A way for a person to sign in: a password or an API token, kept only as a salted hash."""

    __tablename__ = "credential"
    __table_args__ = (Index("ix_credential_lookup", "kind", "lookup"),)
    id: int | None = Field(default=None, primary_key=True)
    person: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=16)  # password | token
    lookup: str = Field(default="", max_length=32)  # a token's public prefix, to find its row
    secret_hash: str  # scrypt, hex
    salt: str  # hex
    label: str = ""
    created_at: datetime
    last_used_at: datetime | None = None
    revoked: bool = False


class IdempotencyRow(SQLModel, table=True):
    """An `Idempotency-Key` of the HTTP API: claimed before a command runs, marked done in the command's
    own transaction, then holding the response a retry with the same key gets back."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("person", "key", name="uq_idempotency_key"),)
    id: int | None = Field(default=None, primary_key=True)
    person: str = Field(max_length=64)
    key: str = Field(max_length=128)
    method: str = Field(max_length=8)
    path: str = Field(max_length=512)
    fingerprint: str = Field(max_length=64)  # SHA-256 of the request's inputs: a reused key must mean the same
    status: str = Field(default="pending", max_length=16)  # pending | done
    token: str = Field(max_length=32)  # whose claim it is; the command's transaction checks it
    claimed_at: datetime
    response_status: int | None = None
    response_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    completed_at: datetime | None = None
