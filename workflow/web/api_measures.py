"""REST: the ledger (整改台账) and a measure: list with filters and pages, summary, detail, history, figures."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from states.model import State

from .. import ledger
from ..asof import ledger_as_of
from ..ledger import LedgerFilter, LedgerRow
from . import access
from .api_history import history_items
from .commands import etag, measure_out
from .deps import ActorDep, AppDep
from .schemas import ERRORS, HistoryItem, LedgerItem, LedgerPage, Me, MeasureOut, Outcome, Summary

router = APIRouter(prefix="/api", tags=["measures"], responses=ERRORS)

Text = Annotated[str | None, Query(max_length=128)]
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Skip this many items first.")]


def _filter(state: State | None, owner: str | None, unit: str | None, problem: str | None, overdue: bool,
            inspection: str | None) -> LedgerFilter:
    return LedgerFilter(state=state, owner=owner or None, unit=unit or None, problem=problem or None,
                        overdue=overdue, inspection=inspection or None)


def item(r: LedgerRow) -> LedgerItem:
    """A ledger line as the API shows it."""
    return LedgerItem(**r.as_json())


def next_offset(offset: int, shown: int, total: int) -> int | None:
    """Where the next page starts, if there is one."""
    return offset + shown if shown and offset + shown < total else None


@router.get("/me", response_model=Me, tags=["people"])
def me(app: AppDep, actor: ActorDep) -> Me:
    """Who you are signed in as, with your roles."""
    with app.uow(read_only=True) as uow:
        name = uow.people.row(actor.handle).name
    return Me(handle=actor.handle, name=name, roles=sorted(str(r) for r in actor.roles),
              oversees=access.oversees(actor))


@router.get("/measures", response_model=LedgerPage)
def list_measures(
    app: AppDep, actor: ActorDep,
    state: State | None = None, owner: Text = None, unit: Text = None,
    problem: Annotated[str | None, Query(max_length=128, description="A heading or problem: 1, 1.2 or tcj-1.2.")
                       ] = None,
    overdue: bool = False, inspection: Text = None,
    as_of: Annotated[date | None, Query(description="As it stood at the end of this day, rebuilt from the "
                                        "history (slower: the whole ledger is rebuilt).")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Response:
    """The ledger, in problem-tree order, narrowed by every filter given; everyone signed in may read it."""
    f = _filter(state, owner, unit, problem, overdue, inspection)
    if as_of is None:
        p = ledger.page(app, f, limit=limit, offset=offset)
        rows, total = p.rows, p.total
    else:
        every = ledger_as_of(app, as_of, f)
        rows, total = every[offset:offset + limit], len(every)
    page = LedgerPage(total=total, limit=limit, offset=offset, next_offset=next_offset(offset, len(rows), total),
                      items=[item(r) for r in rows])
    # serialized once, by pydantic-core: the hot path of the API skips FastAPI's second validation
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/summary", response_model=Summary)
def summary(app: AppDep, actor: ActorDep, state: State | None = None, owner: Text = None, unit: Text = None,
            problem: Text = None, overdue: bool = False, inspection: Text = None) -> Summary:
    """Counts by state, problems by result and the completion rate of the measures the filters leave."""
    s = ledger.summary_of(app, _filter(state, owner, unit, problem, overdue, inspection))
    return Summary(**s, sentence=ledger.summary_sentence(s))


@router.get("/measures/{ref}", response_model=MeasureOut)
def get_measure(ref: str, app: AppDep, actor: ActorDep) -> JSONResponse:
    """One measure with its extensions and the events you may fire now; its evidence if it is yours to see
    (else null). The ETag is its version: send it back as `If-Match` with a command."""
    m = measure_out(app, actor, ref)
    return JSONResponse(m.model_dump(mode="json"), headers=etag(m.version))


@router.get("/measures/{ref}/history", response_model=list[HistoryItem])
def measure_history(ref: str, app: AppDep, actor: ActorDep) -> list[HistoryItem]:
    """The measure's history, oldest first: for its owner, verifier and leader, and leaders, auditors, admins."""
    with app.uow(read_only=True) as uow:
        row = uow.measures.find(ref)
    access.ensure_inside(app, actor, "read_history", row.code, row.owner, row.verifier, row.leader)
    from ..history_export import HistoryQuery, history_rows

    rows, notes = history_rows(app, HistoryQuery(measure=row.code))
    return history_items(rows, notes)


@router.get("/measures/{ref}/outcome", response_model=Outcome)
def get_outcome(ref: str, app: AppDep, actor: ActorDep) -> Outcome:
    """The measure's outcome figures (整改成效) as last recorded; everyone signed in may read them."""
    return outcome_of(app, ref)


def outcome_of(app: AppDep, ref: str) -> Outcome:
    """A measure's figures as the API shows them."""
    with app.uow(read_only=True) as uow:
        row = uow.measures.row(ref)
        assert row.id is not None
        f = uow.outcomes.of(row.id)
    return Outcome(measure=row.code, rules=f.rules, funds_yuan=f.funds_yuan, funds_wan=f.funds_text,
                   criticised=f.criticised, admonished=f.admonished, org_handled=f.org_handled,
                   disciplined=f.disciplined, people=f.people, text=f.text, version=row.version)
