"""REST: files offices use: the progress report (md, html, docx), the ledger (xlsx, csv), and a plan import."""

from __future__ import annotations

import io
import tempfile
from datetime import date
from enum import StrEnum
from pathlib import Path as FsPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from states.errors import InvalidInput, InvalidPlan
from states.model import Role, State

from ..ledger import LedgerFilter
from . import access
from .commands import uploaded
from .deps import ActorDep, AppDep
from .schemas import ERRORS, ImportOut

router = APIRouter(prefix="/api", tags=["reports, exports and imports"], responses=ERRORS)

Text = Annotated[str | None, Query(max_length=128)]
MEDIA = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def attachment(data: bytes, name: str, fmt: str) -> Response:
    """A file to download."""
    return Response(data, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


def _file_response(*formats: str) -> dict[int | str, dict[str, object]]:
    return {200: {"description": "The file", "content": {MEDIA[f]: {} for f in formats}}}


class ReportFormat(StrEnum):
    """Report formats."""

    md = "md"
    html = "html"
    docx = "docx"


@router.get("/report", response_class=Response, responses=_file_response("md", "html", "docx"))
def report(app: AppDep, actor: ActorDep, inspection: Text = None, as_of: date | None = None,
           format: ReportFormat = ReportFormat.md,  # noqa: A002
           body: Annotated[str | None, Query(max_length=128, description="Only this inspected body (code or name).")
                           ] = None,
           chart: bool = False,
           evidence: Annotated[bool, Query(description="List each measure's evidence (leaders, auditors, admins).")
                               ] = False) -> Response:
    """The progress report, 整改进展情况, in the published structure (default: the newest round, today)."""
    from .. import asof
    from ..report import ReportFormat as Fmt
    from ..report import build, render

    if evidence:
        access.ensure_role(app, actor, access.OVERSEERS, "read_evidence", "put evidence in a report")
    rounds = asof.inspections(app, inspection or None)
    ins = max(rounds, key=lambda i: (i.feedback_date, i.id or 0))
    snap = asof.snapshot(app, ins, as_of)
    reports = build(snap, with_evidence=evidence, chart=chart)
    if body:
        reports = [r for r in reports if body in (r.body, r.code)]
        if not reports:
            raise InvalidInput("body", f"no inspected body {body!r} in round {ins.code}")
    result = render(reports, Fmt(format.value))
    data = result if isinstance(result, bytes) else result.encode()
    return attachment(data, f"整改进展情况-{ins.code}-{snap.day}.{format.value}", format.value)


class LedgerFormat(StrEnum):
    """Ledger export formats."""

    xlsx = "xlsx"
    csv = "csv"


@router.get("/export/ledger", response_class=Response, responses=_file_response("xlsx", "csv"))
def export_ledger(app: AppDep, actor: ActorDep, format: LedgerFormat = LedgerFormat.xlsx,  # noqa: A002
                  state: State | None = None, owner: Text = None, unit: Text = None, problem: Text = None,
                  overdue: bool = False, inspection: Text = None) -> Response:
    """The ledger (整改台账) as a workbook that holds the whole plan (xlsx: leaders, auditors and admins, since
    it lists people with their addresses) or as CSV (the ledger sheet only: everyone signed in)."""
    from ..excel import export_ledger as export

    if format is LedgerFormat.xlsx:
        access.ensure_role(app, actor, access.OVERSEERS, "export_ledger", "export the ledger workbook")
    f = LedgerFilter(state=state, owner=owner or None, unit=unit or None, problem=problem or None, overdue=overdue,
                     inspection=inspection or None)
    if format is LedgerFormat.xlsx:
        with tempfile.TemporaryDirectory() as d:
            path = FsPath(d) / "ledger.xlsx"
            export(app, f, "xlsx", path)
            data = path.read_bytes()
    else:
        buf = io.StringIO()
        export(app, f, "csv", buf)
        data = "\ufeff".encode() + buf.getvalue().encode()
    return attachment(data, f"整改台账.{format.value}", format.value)


PLAN_SUFFIXES = (".yaml", ".yml", ".json", ".xlsx")


@router.post("/import", response_model=ImportOut)
def import_plan(app: AppDep, actor: ActorDep,
                file: Annotated[UploadFile, File(description="A plan: YAML, JSON, or an Excel ledger (.xlsx) as "
                                                 "the export writes it.")],
                dry_run: Annotated[bool, Form(description="Check it and say what it holds; write nothing.")] = False
                ) -> ImportOut:
    """Import a plan: its inspection, people, problem tree and measures, all of it or nothing (admins)."""
    from ..excel_import import load_any, located
    from ..importer import import_plan as run_import

    access.ensure_role(app, actor, frozenset({Role.ADMIN}), "import", "import a plan")
    name = FsPath((file.filename or "plan").replace("\\", "/")).name or "plan"
    if FsPath(name).suffix.lower() not in PLAN_SUFFIXES:
        raise InvalidInput("file", f"{name!r}: send a plan as .yaml, .yml, .json or .xlsx")
    with uploaded([file]) as (paths, _):
        try:
            plan = load_any(paths[0])
        except InvalidPlan as e:
            raise InvalidPlan(name, e.where, e.problem) from None
        n = [sum(len(p.measures) for b in plan.bodies for h in b.headings for p in h.problems)]
        if dry_run:
            problems = sum(len(h.problems) for b in plan.bodies for h in b.headings)
            points = sum(len(p.points) for b in plan.bodies for h in b.headings for p in h.problems)
            return ImportOut(inspection=plan.inspection.code, bodies=len(plan.bodies), problems=problems,
                             points=points, measures=n[0], people=len(plan.people), dry_run=True)
        try:
            r = run_import(app, plan, name)
        except InvalidPlan as e:
            raise located(plan, e) from None
    return ImportOut(inspection=r.inspection, bodies=r.bodies, problems=r.problems, points=r.points,
                     measures=r.measures, people=r.people, dry_run=False)
