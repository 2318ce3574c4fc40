"""A measure's page: its problem, people, due date, state, history as a timeline, evidence, and the
forms for what the signed-in person may do now; each form posts to a route that calls the service."""

from __future__ import annotations

import dataclasses
import mimetypes
import tempfile
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response

from states.chain import Record
from states.errors import InvalidInput, NotFound, RectificationError
from states.model import Event, Role
from states.outcome import Figures

from .. import ledger, services
from ..app import App
from . import access
from .deps import AppDep
from .pages import PersonDep, back, check_csrf, flash, gettext_for, page_router, render, state_label_for
from .pages_ledger import Warnings

router = page_router()
RECHECK = "recheck"  # answering a due rebound check: not a machine event, offered beside them


def explain(rec: Record, _: Callable[[str], str]) -> str:
    """What a history record's data adds to its reason, in words."""
    d = rec.data
    if rec.event in (Event.EXTEND_REQUEST, Event.EXTEND_APPROVE, Event.EXTEND_REFUSE) and "new_due" in d:
        return _("完成时限 %(old)s → %(new)s") % {"old": d.get("old_due"), "new": d.get("new_due")}
    if rec.event == Event.OVERDUE:
        return _("完成时限%(due)s已过,尚未核验") % {"due": d.get("due")}
    if rec.event == Event.RECHECK:
        return _("%(day)s复查:未反弹") % {"day": d.get("due_on")}
    if rec.event == Event.REOPEN and d.get("outcome") == "rebounded":
        return _("%(day)s复查:问题反弹") % {"day": d.get("due_on")}
    if rec.event == Event.REASSIGN:
        return _("责任人 %(old)s → %(new)s") % {"old": d.get("old_owner"), "new": d.get("new_owner")}
    if rec.event == Event.OUTCOME:
        return Figures.from_data(d).text
    if rec.event == Event.CREATE and "due" in d:
        return _("完成时限 %(due)s") % {"due": d["due"]}
    return ""


@router.get("/measures/{ref}")
def measure_page(request: Request, ref: str, app: AppDep, person: PersonDep) -> Response:
    """Everything about one measure, and the forms for what this person may do now."""
    d = ledger.detail(app, ref, person.handle)
    row = d.row
    _, st = gettext_for(request), state_label_for(request)
    # evidence and history are for those who hold a part in it and those who read everything
    inside = access.sees_inside(person.actor, row.owner, row.verifier, row.leader)
    with app.uow(read_only=True) as uow:
        records = [rec for _id, rec in uow.measures.history(row.id)] if inside else []
        people = {p.handle: p for p in uow.people.all()}
        units = {u.code: u.name for u in uow.tree.units()}
        reminders = uow.schedule.reminders(measure_id=row.id) if inside else []
        checks = uow.schedule.checks(row.id) if inside else []
        today = ledger.today_in(app, uow.schedule.in_round(row.id).timezone)
        check_due = uow.schedule.due_check(row.id, today)
    actions = list(dict.fromkeys(d.available))
    if check_due is not None and person.handle in (row.verifier, row.leader):
        actions.append(RECHECK)
    evidence = d.evidence if inside else []
    evidence_at: dict[int, list[dict[str, Any]]] = {}
    for e in evidence:
        evidence_at.setdefault(e["seq"], []).append(e)
    timeline = [{"rec": rec, "label": _(Event(rec.event).label), "explain": explain(rec, _),
                 "from": st(rec.from_state) if rec.from_state else "",
                 "to": st(rec.to_state) if rec.to_state else "",
                 "role": _(Role(rec.role).label), "evidence": evidence_at.get(rec.seq, [])}
                 for rec in reversed(records)]
    owners = [(p.handle, p.name) for p in people.values()
              if Role.OWNER.value in p.roles.split(",") and p.handle != row.owner]
    names = {h: p.name for h, p in people.items()}
    return render(request, "measure.html", person=person, d=d, row=row, inside=inside, evidence=evidence,
                  colour=Warnings.of(app).colour(row),
                  timeline=timeline, actions=actions, names=names, unit=units.get(row.unit or "", row.unit),
                  reminders=reminders, checks=checks, check_due=check_due, owners=owners,
                  event_label=lambda e: _(Event(e).label) if e != RECHECK else _("回头看复查"))


@router.post("/measures/{ref}/act/{action}")
def act(
    request: Request, ref: str, action: str, app: AppDep, person: PersonDep,
    csrf: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
    new_due: Annotated[str, Form()] = "", new_owner: Annotated[str, Form()] = "", held: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None, files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Do one action on the measure as the signed-in person, then go back to its page with a message."""
    check_csrf(request, csrf)
    _ = gettext_for(request)
    page = f"/measures/{quote(ref, safe='')}"
    access.ensure_writer(app, person.actor, action, ref)  # an auditor changes nothing, whatever part they hold
    one = dataclasses.replace(app, request_id=uuid.uuid4().hex[:16])  # each form post is its own request
    try:
        with tempfile.TemporaryDirectory(prefix="rectify-upload-") as tmp:
            paths = _save_uploads(files or [], Path(tmp))
            notes = [note] if note.strip() else []
            m = _do(one, action, ref, person.handle, reason=reason, notes=notes, files=paths, new_due=new_due,
                    new_owner=new_owner, held=held, version=version)
    except RectificationError as e:
        flash(request, str(e), "error")
        return back(page)
    label = _("回头看复查") if action == RECHECK else _(Event(action).label)
    flash(request, _("%(code)s:%(event)s,当前状态:%(state)s") % {
        "code": m.code, "event": label, "state": state_label_for(request)(m.state)})
    return back(page)


def _do(app: App, action: str, ref: str, actor: str, *, reason: str, notes: list[str], files: list[Path],
        new_due: str, new_owner: str, held: str, version: int | None) -> Any:
    """Call the service for `action`."""
    if action == RECHECK:
        if held not in ("yes", "no"):
            raise InvalidInput("held", "say whether the problem has come back")
        return services.recheck(app, ref, actor=actor, held=held == "yes", reason=reason, notes=notes, files=files,
                                expected_version=version)
    try:
        event = Event(action)
    except ValueError:
        raise NotFound("action", action) from None
    if event is Event.EVIDENCE:
        return services.add_evidence(app, ref, actor=actor, notes=notes, files=files, reason=reason,
                                     expected_version=version)
    if event is Event.EXTEND_REQUEST:
        try:
            day = date.fromisoformat(new_due)
        except ValueError:
            raise InvalidInput("new_due", f"{new_due!r} is not a date (YYYY-MM-DD)") from None
        return services.request_extension(app, ref, actor=actor, new_due=day, reason=reason,
                                          expected_version=version)
    if event in (Event.EXTEND_APPROVE, Event.EXTEND_REFUSE):
        return services.decide_extension(app, ref, actor=actor, approve=event is Event.EXTEND_APPROVE,
                                         reason=reason, expected_version=version)
    return services.fire(app, event, ref, actor=actor, reason=reason, notes=notes, files=files,
                         new_owner=new_owner or None, expected_version=version)


def _save_uploads(files: list[UploadFile], folder: Path) -> list[Path]:
    """The uploaded files, kept under their own names (the name is what the evidence list shows)."""
    paths: list[Path] = []
    for i, f in enumerate(files):
        name = Path((f.filename or "").replace("\\", "/")).name.strip()
        if not name:  # a file field left empty
            continue
        target = folder / str(i) / name
        target.parent.mkdir()
        with target.open("wb") as out:
            while chunk := f.file.read(1 << 20):
                out.write(chunk)
        paths.append(target)
    return paths


@router.get("/measures/{ref}/evidence/{sha256}")
def evidence_file(ref: str, sha256: str, app: AppDep, person: PersonDep) -> Response:
    """Download one of the measure's evidence files (checked against its hash first)."""
    d = ledger.detail(app, ref)
    r = d.row
    access.ensure_inside(app, person.actor, "read_evidence", r.code, r.owner, r.verifier, r.leader)
    item = next((e for e in d.evidence if e["kind"] == "file" and e["sha256"] == sha256), None)
    if item is None:
        raise NotFound("evidence file", sha256)
    if not app.evidence.verify(sha256):
        raise NotFound("intact evidence file", sha256)
    media = mimetypes.guess_type(item["name"])[0] or "application/octet-stream"
    return FileResponse(app.evidence.path(sha256), filename=item["name"], media_type=media)
