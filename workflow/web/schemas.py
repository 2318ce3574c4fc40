"""The API's request and response bodies (pydantic), so that the OpenAPI document says what comes back."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from states.model import Event


class ErrorOut(BaseModel):
    """Every error: the same one line the CLI prints, and the error's class."""

    detail: str
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in ((401, "Not signed in"), (403, "Not permitted (recorded for the auditors)"),
                       (404, "No such thing"), (409, "Refused by the state machine, or changed by someone else"),
                       (422, "Bad input"))
}


class Input(BaseModel):
    """A request body: unknown fields are an error, not ignored; no text may hold a NUL character."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_nul(self) -> Input:
        def has_nul(v: Any) -> bool:
            if isinstance(v, str):
                return "\x00" in v
            if isinstance(v, list):
                return any(has_nul(x) for x in v)
            return False

        if any(has_nul(getattr(self, name)) for name in type(self).model_fields):
            raise ValueError("text must not contain NUL characters")
        return self


class EventName(StrEnum):
    """The events a person fires on a measure through `POST /api/measures/{ref}/events/{event}`."""

    start = "start"
    submit = "submit"
    reject = "reject"
    verify = "verify"
    close = "close"
    reopen = "reopen"
    reassign = "reassign"
    recheck = "recheck"

    @property
    def event(self) -> Event:
        """The domain event."""
        return Event(self.value)


class EventIn(Input):
    """What goes with an event: why, evidence notes, the new owner (reassign), the check's outcome (recheck)."""

    reason: str = Field(default="", max_length=4000)
    notes: list[str] = Field(default_factory=list, max_length=50)
    new_owner: str | None = Field(default=None, max_length=64)
    outcome: Literal["held", "rebounded"] | None = None


class EvidenceIn(Input):
    """Evidence notes to attach (files go as multipart)."""

    notes: list[str] = Field(default_factory=list, max_length=50)
    reason: str = Field(default="", max_length=4000)


class ExtensionIn(Input):
    """An owner's request to move the due date."""

    new_due: date
    reason: str = Field(max_length=4000)


class DecisionIn(Input):
    """A leader's decision on the pending extension; refusing needs a reason."""

    reason: str = Field(default="", max_length=4000)


class OutcomeIn(Input):
    """Outcome figures to set (the ones given replace the earlier ones); funds in 元."""

    rules: int | None = Field(default=None, ge=0, le=1_000_000)
    funds_yuan: int | None = Field(default=None, ge=0, le=10**15)
    criticised: int | None = Field(default=None, ge=0, le=1_000_000)
    admonished: int | None = Field(default=None, ge=0, le=1_000_000)
    org_handled: int | None = Field(default=None, ge=0, le=1_000_000)
    disciplined: int | None = Field(default=None, ge=0, le=1_000_000)
    reason: str = Field(default="", max_length=4000)


class Me(BaseModel):
    """Who is asking."""

    handle: str
    name: str
    roles: list[str]
    oversees: bool


class LedgerItem(BaseModel):
    """One line of the ledger (整改台账)."""

    id: int
    code: str
    inspection: str
    body: str
    heading_ref: str
    heading: str
    problem_ref: str
    problem: str
    ref: str
    title: str
    kind: str
    state: str
    state_label: str
    owner: str
    owner_name: str
    verifier: str
    leader: str
    unit: str | None
    due: date
    overdue: bool
    rebounds: int
    version: int
    repeats: str | None = None


class Summary(BaseModel):
    """Counts by state, problems by result and the completion rate."""

    measures: int
    by_state: dict[str, int]
    overdue: int
    problems: int
    problems_done: int
    problems_open: int
    completion_rate: int
    sentence: str


class LedgerPage(BaseModel):
    """A page of the ledger."""

    total: int
    limit: int
    offset: int
    next_offset: int | None
    items: list[LedgerItem]


class EvidenceItem(BaseModel):
    """An evidence note, or a file (download it at `url`)."""

    kind: str
    sha256: str
    name: str
    size: int
    note: str
    added_by: str
    added_at: datetime
    seq: int
    url: str | None


class ExtensionItem(BaseModel):
    """A deadline extension and its decision."""

    status: str
    old_due: date
    new_due: date
    reason: str
    requested_by: str
    decided_by: str | None
    decision_reason: str


class MeasureOut(LedgerItem):
    """A measure with its text, points, evidence (null: not yours to see), extensions, and what you may do now."""

    text: str
    points: list[str]
    evidence: list[EvidenceItem] | None
    extensions: list[ExtensionItem]
    available_events: list[str]


class Outcome(BaseModel):
    """A measure's outcome figures (整改成效)."""

    measure: str
    rules: int
    funds_yuan: int
    funds_wan: str
    criticised: int
    admonished: int
    org_handled: int
    disciplined: int
    people: int
    text: str
    version: int  # the measure's


class HistoryItem(BaseModel):
    """One hash-chained history record."""

    measure: str
    seq: int
    event: str
    event_label: str
    from_state: str | None
    to_state: str | None
    actor: str
    role: str
    at: datetime
    reason: str
    evidence: list[str]
    evidence_named: list[str]
    request_id: str
    data: dict[str, Any]
    hash: str
    prev_hash: str


class HistoryPage(BaseModel):
    """A page of history, oldest first."""

    total: int
    limit: int
    offset: int
    next_offset: int | None
    narrowed: bool  # only the measures you hold a part in
    items: list[HistoryItem]


class RefusedItem(BaseModel):
    """A refused attempt (access log)."""

    at: datetime
    actor: str
    event: str
    measure: str
    outcome: str
    message: str
    request_id: str


class RefusedPage(BaseModel):
    """A page of refused attempts, oldest first."""

    total: int
    limit: int
    offset: int
    next_offset: int | None
    narrowed: bool  # only your own
    items: list[RefusedItem]


class ReminderItem(BaseModel):
    """A reminder in the outbox to one recipient on one channel (robot URLs shown by their scheme only)."""

    id: int
    target: int
    measure: str
    rule: str
    window: str
    recipient: str
    channel: str
    address: str
    status: str
    attempts: int
    subject: str
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str
    cancelled_reason: str


class CheckItem(BaseModel):
    """A rebound check after close-out (防止问题反弹)."""

    id: int
    measure: str
    close_seq: int
    due_on: date
    status: str
    answered_by: str | None
    answered_at: datetime | None
    reason: str


class BodyOut(BaseModel):
    """An inspected body (被巡察单位)."""

    code: str
    name: str


class InspectionOut(BaseModel):
    """An inspection round."""

    code: str
    name: str
    kind: str
    group: str
    feedback_date: date
    rectification_start: date | None
    rectification_end: date | None
    timezone: str
    bodies: list[BodyOut]


class InspectionDetail(InspectionOut):
    """An inspection round with its summary."""

    summary: Summary


class ProblemOut(BaseModel):
    """A problem of the tree with its points, its measures and its derived result (整改结果)."""

    ref: str
    inspection: str
    body: str
    body_name: str
    heading_ref: str
    heading: str
    problem_ref: str
    text: str
    points: list[str]
    repeats: str | None
    result: str
    measures: list[str]


class ProblemPage(BaseModel):
    """A page of problems, in tree order."""

    total: int
    limit: int
    offset: int
    next_offset: int | None
    items: list[ProblemOut]


class ProblemDetail(ProblemOut):
    """A problem with its measures' ledger lines."""

    lines: list[LedgerItem]


class ImportOut(BaseModel):
    """What a plan import added (or, dry run, would add)."""

    inspection: str
    bodies: int
    problems: int
    points: int
    measures: int
    people: int
    dry_run: bool
