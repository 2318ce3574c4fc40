"""REST: commands on a measure (events, evidence, extensions, outcome figures).

Every command answers with the measure as the caller now sees it (its version as the ETag), takes
`If-Match: <version>` (stale: 409, nothing done) and `Idempotency-Key: <key>` (a retry gets the
first answer and changes nothing). The domain checks who may fire what; an auditor is refused here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import JSONResponse

from states.errors import InvalidInput
from states.measure import Measure
from states.permissions import Actor

from .. import outcomes, services
from ..app import App
from .api_measures import outcome_of
from .commands import Command, run, uploaded
from .deps import ActorDep, AppDep
from .schemas import ERRORS, DecisionIn, EventIn, EventName, EvidenceIn, ExtensionIn, MeasureOut, Outcome, OutcomeIn

router = APIRouter(prefix="/api/measures", tags=["commands"], responses=ERRORS)

IfMatch = Annotated[str | None, Header(alias="If-Match", description="The version you read (the ETag); a stale "
                                       "one gets 409 and changes nothing.")]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128, description="Makes a retry "
                                       "harmless: the same key gets the first answer back.")]


def _fire(ev: EventName, ref: str, actor: Actor, body: EventIn, files: list[Path]) -> Any:
    def work(a: App, expected: int | None) -> Measure:
        if ev is EventName.recheck:
            if body.outcome is None:
                raise InvalidInput("outcome", "say what the rebound check found: held or rebounded")
            return services.recheck(a, ref, actor=actor.handle, held=body.outcome == "held", reason=body.reason,
                                    notes=body.notes, files=files, expected_version=expected)
        if body.outcome is not None:
            raise InvalidInput("outcome", "only a recheck has an outcome")
        return services.fire(a, ev.event, ref, actor=actor.handle, reason=body.reason, notes=body.notes,
                             files=files, new_owner=body.new_owner, expected_version=expected)

    return work


@router.post("/{ref}/events/{event}", response_model=MeasureOut)
def fire_event(ref: str, event: EventName, request: Request, app: AppDep, actor: ActorDep,
               body: EventIn | None = None, if_match: IfMatch = None, idempotency_key: IdemKey = None
               ) -> JSONResponse:
    """Fire an event: start, submit, reject, verify, close, reopen, reassign (`new_owner`), or answer the
    rebound check that is due (`recheck` with `outcome` held or rebounded). Notes go in as evidence."""
    body = body or EventIn()
    c = Command(app, actor, request, ref, str(event), body.model_dump(), if_match, idempotency_key)
    return run(c, _fire(event, ref, actor, body, []))


def _no_nul(*texts: str | None) -> None:
    if any(t and "\x00" in t for t in texts):
        raise InvalidInput("form", "text must not contain NUL characters")


@router.post("/{ref}/events/{event}/upload", response_model=MeasureOut)
def fire_event_with_files(
    ref: str, event: EventName, request: Request, app: AppDep, actor: ActorDep,
    files: Annotated[list[UploadFile], File(description="Evidence files.")],
    reason: Annotated[str, Form(max_length=4000)] = "",
    notes: Annotated[list[str] | None, Form(description="Evidence notes (repeat the field).")] = None,
    new_owner: Annotated[str | None, Form(max_length=64)] = None,
    outcome: Annotated[Literal["held", "rebounded"] | None, Form()] = None,
    if_match: IfMatch = None, idempotency_key: IdemKey = None,
) -> JSONResponse:
    """The same event with evidence files (multipart/form-data)."""
    _no_nul(reason, new_owner, *(notes or []))
    body = EventIn(reason=reason, notes=notes or [], new_owner=new_owner or None,
                   outcome=outcome)
    with uploaded(files) as (paths, hashes):
        c = Command(app, actor, request, ref, str(event), {**body.model_dump(), "files": hashes}, if_match,
                    idempotency_key)
        return run(c, _fire(event, ref, actor, body, paths))


def _evidence(ref: str, actor: Actor, notes: list[str], reason: str, files: list[Path]) -> Any:
    def work(a: App, expected: int | None) -> Measure:
        return services.add_evidence(a, ref, actor=actor.handle, notes=notes, files=files, reason=reason,
                                     expected_version=expected)

    return work


@router.post("/{ref}/evidence", response_model=MeasureOut)
def add_evidence(ref: str, body: EvidenceIn, request: Request, app: AppDep, actor: ActorDep,
                 if_match: IfMatch = None, idempotency_key: IdemKey = None) -> JSONResponse:
    """Attach evidence notes (补充佐证; the owner), recorded in the history."""
    c = Command(app, actor, request, ref, "evidence", body.model_dump(), if_match, idempotency_key)
    return run(c, _evidence(ref, actor, body.notes, body.reason, []))


@router.post("/{ref}/evidence/upload", response_model=MeasureOut)
def upload_evidence(
    ref: str, request: Request, app: AppDep, actor: ActorDep,
    files: Annotated[list[UploadFile], File(description="Evidence files.")],
    notes: Annotated[list[str] | None, Form()] = None, reason: Annotated[str, Form(max_length=4000)] = "",
    if_match: IfMatch = None, idempotency_key: IdemKey = None,
) -> JSONResponse:
    """Attach evidence files (multipart/form-data; the owner), kept by their SHA-256."""
    _no_nul(reason, *(notes or []))
    with uploaded(files) as (paths, hashes):
        c = Command(app, actor, request, ref, "evidence", {"notes": notes or [], "reason": reason, "files": hashes},
                    if_match, idempotency_key)
        return run(c, _evidence(ref, actor, notes or [], reason, paths))


@router.post("/{ref}/extensions", response_model=MeasureOut)
def request_extension(ref: str, body: ExtensionIn, request: Request, app: AppDep, actor: ActorDep,
                      if_match: IfMatch = None, idempotency_key: IdemKey = None) -> JSONResponse:
    """Ask to move the due date (the owner); it moves only when the leader approves."""
    def work(a: App, expected: int | None) -> Measure:
        return services.request_extension(a, ref, actor=actor.handle, new_due=body.new_due, reason=body.reason,
                                          expected_version=expected)

    c = Command(app, actor, request, ref, "extend_request", body.model_dump(mode="json"), if_match, idempotency_key)
    return run(c, work)


def _decide(approve: bool) -> Any:
    def decide(ref: str, request: Request, app: AppDep, actor: ActorDep, body: DecisionIn | None = None,
               if_match: IfMatch = None, idempotency_key: IdemKey = None) -> JSONResponse:
        reason = (body or DecisionIn()).reason

        def work(a: App, expected: int | None) -> Measure:
            return services.decide_extension(a, ref, actor=actor.handle, approve=approve, reason=reason,
                                             expected_version=expected)

        action = "extend_approve" if approve else "extend_refuse"
        return run(Command(app, actor, request, ref, action, {"reason": reason}, if_match, idempotency_key), work)

    return decide


router.post("/{ref}/extensions/approve", response_model=MeasureOut, name="approve_extension",
            summary="Approve the pending extension (the leader): the due date moves.")(_decide(True))
router.post("/{ref}/extensions/refuse", response_model=MeasureOut, name="refuse_extension",
            summary="Refuse the pending extension (the leader; give a reason).")(_decide(False))


@router.post("/{ref}/outcome", response_model=Outcome)
def record_outcome(ref: str, body: OutcomeIn, request: Request, app: AppDep, actor: ActorDep,
                   if_match: IfMatch = None, idempotency_key: IdemKey = None) -> JSONResponse:
    """Set outcome figures (整改成效; the owner): the ones given replace the earlier, kept in the history."""
    changes = body.model_dump(exclude={"reason"})

    def work(a: App, expected: int | None) -> Measure:
        m, _ = outcomes.record_outcome(a, ref, actor=actor.handle, changes=changes, reason=body.reason,
                                       expected_version=expected)
        return m

    def answer(a: App, _actor: Actor, m: Measure) -> dict[str, Any]:
        return outcome_of(a, m.code).model_dump(mode="json")

    c = Command(app, actor, request, ref, "outcome", body.model_dump(), if_match, idempotency_key)
    return run(c, work, answer)
