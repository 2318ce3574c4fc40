"""REST: inspection rounds and the problem tree (问题清单), with each problem's derived result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from states.errors import NotFound

from .. import ledger
from ..ledger import LedgerFilter, LedgerRow
from .api_measures import item, next_offset
from .deps import ActorDep, AppDep
from .schemas import ERRORS, BodyOut, InspectionDetail, InspectionOut, ProblemDetail, ProblemOut, ProblemPage, Summary

router = APIRouter(prefix="/api", tags=["inspections and problems"], responses=ERRORS)


def _inspection(i: Any, bodies: list[Any]) -> dict[str, Any]:
    return {"code": i.code, "name": i.name, "kind": i.kind, "group": i.group_name, "feedback_date": i.feedback_date,
            "rectification_start": i.rectification_start, "rectification_end": i.rectification_end,
            "timezone": i.timezone,
            "bodies": [BodyOut(code=b.code, name=b.name) for b in bodies if b.inspection_id == i.id]}


@router.get("/inspections", response_model=list[InspectionOut])
def inspections(app: AppDep, actor: ActorDep) -> list[InspectionOut]:
    """Every inspection round with its inspected bodies, oldest first."""
    with app.uow(read_only=True) as uow:
        rounds, bodies = list(uow.tree.inspections()), list(uow.tree.bodies())
    return [InspectionOut(**_inspection(i, bodies)) for i in rounds]


@router.get("/inspections/{code}", response_model=InspectionDetail)
def inspection(code: str, app: AppDep, actor: ActorDep) -> InspectionDetail:
    """One round with its summary: measures by state, problems done and open, the completion rate."""
    with app.uow(read_only=True) as uow:
        found, bodies = uow.tree.inspection(code), list(uow.tree.bodies())
    if found is None:
        raise NotFound("inspection", code)
    s = ledger.summary_of(app, LedgerFilter(inspection=code))
    return InspectionDetail(**_inspection(found, bodies), summary=Summary(**s, sentence=ledger.summary_sentence(s)))


def _problems(app: AppDep, rows: list[LedgerRow]) -> list[ProblemOut]:
    """The problems of these ledger rows, in tree order, with their points and results."""
    with app.uow(read_only=True) as uow:
        nodes = list(uow.tree.problems())
        bodies = {b.id: b for b in uow.tree.bodies()}
        rounds = {i.id: i.code for i in uow.tree.inspections()}
    by_id = {n.id: n for n in nodes}
    points: dict[int, list[str]] = {}
    for n in nodes:
        if n.level == "point" and n.parent_id is not None:
            points.setdefault(n.parent_id, []).append(n.text)
    problem_of: dict[tuple[str, str], Any] = {}  # (inspection, "body-h.p") → the problem node
    for n in nodes:
        if n.level == "problem" and n.parent_id in by_id:
            b = bodies[n.body_id]
            problem_of[(rounds[b.inspection_id], f"{b.code}-{by_id[n.parent_id].position}.{n.position}")] = n
    groups: dict[tuple[str, str], list[LedgerRow]] = {}
    for r in rows:
        groups.setdefault((r.inspection, r.code.rsplit(".", 1)[0]), []).append(r)
    results = {(g[0].inspection, key[1]): s.result
               for key, g, s in zip(groups, groups.values(), ledger.problems(rows), strict=True)}
    out = []
    for key, g in groups.items():
        node = problem_of.get(key)
        body = bodies[node.body_id] if node is not None else None
        out.append(ProblemOut(
            ref=key[1], inspection=key[0], body=body.code if body else "", body_name=g[0].body,
            heading_ref=g[0].heading_ref, heading=g[0].heading, problem_ref=g[0].problem_ref, text=g[0].problem,
            points=points.get(node.id, []) if node is not None and node.id is not None else [],
            repeats=g[0].repeats, result=results[key], measures=[r.code for r in g]))
    return out


@router.get("/problems", response_model=ProblemPage)
def problems(app: AppDep, actor: ActorDep,
             inspection: Annotated[str | None, Query(max_length=128)] = None,
             problem: Annotated[str | None, Query(max_length=128, description="A heading or problem: 1, 1.2 or "
                                                  "tcj-1.2.")] = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100,
             offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> ProblemPage:
    """The problems with their points, measures and result (完成, 基本完成, 正在推进, 长期坚持), in tree order."""
    every = _problems(app, ledger.ledger(app, LedgerFilter(inspection=inspection or None, problem=problem or None)))
    page = every[offset:offset + limit]
    return ProblemPage(total=len(every), limit=limit, offset=offset,
                       next_offset=next_offset(offset, len(page), len(every)), items=page)


@router.get("/problems/{ref}", response_model=ProblemDetail)
def problem_detail(ref: str, app: AppDep, actor: ActorDep,
                   inspection: Annotated[str | None, Query(max_length=128)] = None) -> ProblemDetail:
    """One problem (its body and number: b1-1.1) with its measures' ledger lines."""
    body, _, path = ref.rpartition("-")
    if not body or path.count(".") != 1:
        raise NotFound("problem", ref)
    rows = ledger.ledger(app, LedgerFilter(problem=ref, inspection=inspection or None))
    found = [p for p in _problems(app, rows) if p.ref == ref]
    if not found:
        raise NotFound("problem", ref)
    return ProblemDetail(**found[0].model_dump(), lines=[item(r) for r in rows if r.inspection == found[0].inspection])
