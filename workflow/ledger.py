"""The ledger (整改台账): measures with their problem, people, due dates and state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from states.errors import InvalidInput, NotFound
from states.model import Event, Kind, State
from states.results import is_overdue, problem_result_by_kind
from storage.tables import BodyRow, InspectionRow, MeasureRow, PersonRow, ProblemRow

from .app import App


@dataclass(frozen=True)
class LedgerFilter:
    """What the ledger is narrowed to; every given filter must hold."""

    state: State | None = None
    owner: str | None = None
    unit: str | None = None
    problem: str | None = None  # "1" (heading), "1.2" (problem), or with the body: "tcj-1.2"
    overdue: bool = False
    inspection: str | None = None


@dataclass(frozen=True)
class LedgerRow:
    """One line of the ledger."""

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
    owner: str
    owner_name: str
    verifier: str
    leader: str
    unit: str | None
    due: date
    overdue: bool
    rebounds: int
    version: int
    repeats: str | None = None  # the earlier round's problem or measure this problem repeats

    @property
    def state_label(self) -> str:
        """状态 in Chinese."""
        return State(self.state).label

    @property
    def kind_label(self) -> str:
        """The kind in Chinese."""
        return Kind(self.kind).label

    def as_json(self) -> dict[str, Any]:
        """A plain dict for JSON output."""
        d = dict(self.__dict__)  # every field is a plain value: no deep copy needed
        d["due"] = self.due.isoformat()
        d["state_label"] = self.state_label
        return d


def today_in(app: App, zone: str = "Asia/Shanghai") -> date:
    """Today's local date in the inspection's time zone, from the app's clock."""
    return app.clock().astimezone(ZoneInfo(zone)).date()


@cache
def _base() -> tuple[Any, Any, Any]:
    """The ledger's SELECT with its joins, and the heading and problem it joins; built once."""
    heading = aliased(ProblemRow)
    problem = aliased(ProblemRow)
    owner = aliased(PersonRow)
    stmt = (
        select(MeasureRow, problem, heading, BodyRow, InspectionRow, owner.name)  # type: ignore[call-overload]
        .join(problem, col(problem.id) == MeasureRow.problem_id)
        .join(heading, col(heading.id) == problem.parent_id)
        .join(BodyRow, col(BodyRow.id) == problem.body_id)
        .join(InspectionRow, col(InspectionRow.id) == BodyRow.inspection_id)
        .join(owner, col(owner.handle) == MeasureRow.owner, isouter=True)
    )
    return stmt, heading, problem


def _tree_filters(f: LedgerFilter, heading: Any, problem: Any) -> list[Any]:
    """The conditions of `f` on the problem tree: the round, the heading, the problem, the body."""
    out: list[Any] = []
    if f.inspection:
        out.append(InspectionRow.code == f.inspection)
    if f.problem:
        body_code, _, path = f.problem.rpartition("-")
        parts = path.split(".")
        if not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts) or len(parts) > 2:
            raise InvalidInput("--problem", f"{f.problem!r} is not a problem number like 1, 1.2 or tcj-1.2")
        out.append(heading.position == int(parts[0]))
        if len(parts) == 2:
            out.append(problem.position == int(parts[1]))
        if body_code:
            out.append(BodyRow.code == body_code)
    return out


def _statement(f: LedgerFilter) -> tuple[Any, tuple[Any, ...]]:
    """The ledger's SELECT narrowed by `f` (all but the overdue filter), unordered."""
    stmt, heading, problem = _base()
    for condition in _measure_filters(f) + _tree_filters(f, heading, problem):
        stmt = stmt.where(condition)
    order = (col(BodyRow.id), col(heading.position), col(problem.position), col(MeasureRow.position))
    return stmt, order


def _problem_ids(f: LedgerFilter) -> Any:
    """A SELECT of the ids of the problems the tree filters of `f` leave."""
    _, heading, problem = _base()
    return (select(col(problem.id)).join(heading, col(heading.id) == problem.parent_id)
            .join(BodyRow, col(BodyRow.id) == problem.body_id)
            .join(InspectionRow, col(InspectionRow.id) == BodyRow.inspection_id)
            .where(*_tree_filters(f, heading, problem)))


def _row(app: App, m: MeasureRow, p: ProblemRow, h: ProblemRow, b: BodyRow, ins: InspectionRow,
         owner_name: str | None, today: date | None = None) -> LedgerRow:
    today = today or today_in(app, ins.timezone)
    late = m.overdue or is_overdue(State(m.state), m.due, today)
    assert m.id is not None
    return LedgerRow(
        id=m.id, code=m.code, inspection=ins.code, body=b.name, heading_ref=h.ref, heading=h.text,
        problem_ref=p.ref, problem=p.text, ref=m.ref, title=m.title, kind=m.kind, state=m.state,
        owner=m.owner, owner_name=owner_name or m.owner, verifier=m.verifier, leader=m.leader, unit=m.unit,
        due=m.due, overdue=late, rebounds=m.rebounds, version=m.version, repeats=p.repeats)


def ledger(app: App, f: LedgerFilter = LedgerFilter()) -> list[LedgerRow]:
    """The ledger rows matching `f`, in problem-tree order."""
    stmt, order = _statement(f)
    out: list[LedgerRow] = []
    with app.uow(read_only=True) as uow:
        for m, p, h, b, ins, owner_name in uow.session.exec(stmt.order_by(*order)).all():
            row = _row(app, m, p, h, b, ins, owner_name)
            if f.overdue and not row.overdue:
                continue
            out.append(row)
    return out


@dataclass(frozen=True)
class LedgerPage:
    """A slice of the ledger, and how many rows match in all."""

    rows: list[LedgerRow]
    total: int
    limit: int
    offset: int


def page(app: App, f: LedgerFilter = LedgerFilter(), *, limit: int = 50, offset: int = 0) -> LedgerPage:
    """The ledger rows matching `f` from `offset`, at most `limit`, in problem-tree order, and how many match;
    counted and sliced by the database, so a page of a large ledger costs about what the page holds.

    Tree order is read as (problem id, position): the importer adds a round's bodies, headings and
    problems in their order, so problem ids follow the tree (the same order as `ledger`, checked by
    the tests) and the database walks the measure's problem index instead of sorting the ledger.
    """
    if limit < 1 or offset < 0:
        raise InvalidInput("limit", "give a limit of 1 or more and an offset of 0 or more")
    stmt, _ = _statement(f)
    with app.uow(read_only=True) as uow:
        late: Any = None
        zones: list[str] = []
        if f.overdue:  # past due by each round's local date, or flagged by the sweep
            zones = list(uow.session.exec(select(InspectionRow.timezone).distinct()).all())
            due = [and_(col(InspectionRow.timezone) == z, col(MeasureRow.due) < today_in(app, z)) for z in zones]
            if len(zones) == 1:  # one zone: no need to ask each measure's round
                due = [col(MeasureRow.due) < today_in(app, zones[0])]
            late = or_(col(MeasureRow.overdue), and_(col(MeasureRow.state).in_(_OPEN), or_(*due)))
            stmt = stmt.where(late)
        order = (col(MeasureRow.problem_id), col(MeasureRow.position))
        if len(zones) > 1:  # the overdue filter needs each measure's round
            narrow = stmt.with_only_columns(col(MeasureRow.id))
        else:  # the measure's own columns (and its problem's id) are enough: no joins to count or to skip rows
            narrow = select(col(MeasureRow.id)).where(*_measure_filters(f))
            narrow = narrow.where(late) if late is not None else narrow
            if f.problem or f.inspection:
                narrow = narrow.where(col(MeasureRow.problem_id).in_(_problem_ids(f)))
        total = int(uow.session.scalar(narrow.with_only_columns(func.count(), maintain_column_froms=True)) or 0)
        ids = list(uow.session.scalars(narrow.order_by(*order).limit(limit).offset(offset)))
        found = uow.session.exec(stmt.where(col(MeasureRow.id).in_(ids))).all() if ids else []
        rank = {mid: k for k, mid in enumerate(ids)}  # sorted here: an ORDER BY would walk the whole index
        rows = sorted((_row(app, *r) for r in found), key=lambda r: rank[r.id])
    return LedgerPage(rows, total, limit, offset)


def _measure_filters(f: LedgerFilter) -> list[Any]:
    """The conditions of `f` on the measure's own columns."""
    return [c for c in (MeasureRow.state == str(f.state) if f.state else None,
                        MeasureRow.owner == f.owner if f.owner else None,
                        MeasureRow.unit == f.unit if f.unit else None) if c is not None]


def one(app: App, measure_id: int) -> LedgerRow:
    """The ledger row of one measure (by id), or NotFound."""
    stmt, _ = _statement(LedgerFilter())
    with app.uow(read_only=True) as uow:
        found = uow.session.exec(stmt.where(MeasureRow.id == measure_id)).first()
    if found is None:
        raise NotFound("measure", measure_id)
    return _row(app, *found)


_OPEN = (str(State.ASSIGNED), str(State.IN_PROGRESS), str(State.SUBMITTED))


@dataclass(frozen=True)
class ProblemSummary:
    """A problem with its derived result (整改结果)."""

    body: str
    heading_ref: str
    problem_ref: str
    text: str
    measures: int
    result: str


def problems(rows: list[LedgerRow]) -> list[ProblemSummary]:
    """Group ledger rows by problem and derive each problem's result."""
    groups: dict[tuple[str, str, str, str], list[LedgerRow]] = {}
    for r in rows:  # a measure code is BODY-H.P.M: the problem is everything before the last dot
        groups.setdefault((r.inspection, r.code.rsplit(".", 1)[0], r.heading_ref, r.problem_ref), []).append(r)
    return [ProblemSummary(g[0].body, k[2], k[3], g[0].problem, len(g),
                           problem_result_by_kind((State(x.state), Kind(x.kind)) for x in g))
            for k, g in groups.items()]


def summary(rows: list[LedgerRow]) -> dict[str, Any]:
    """Counts by state, problems by result, and the completion rate (completed problems only)."""
    probs = problems(rows)
    done = sum(1 for p in probs if p.result == "完成")
    return {
        "measures": len(rows),
        "by_state": {str(s): c for s, c in Counter(r.state for r in rows).items()},
        "overdue": sum(1 for r in rows if r.overdue),
        "problems": len(probs),
        "problems_done": done,
        "problems_open": len(probs) - done,
        "completion_rate": round(100 * done / len(probs)) if probs else 0,
    }


def summary_of(app: App, f: LedgerFilter = LedgerFilter()) -> dict[str, Any]:
    """`summary(ledger(app, f))` read from five columns of each matching measure, without building the rows:
    what a paginated ledger page shows above its slice."""
    stmt, _ = _statement(f)
    stmt = stmt.with_only_columns(col(MeasureRow.problem_id), col(MeasureRow.state), col(MeasureRow.kind),
                                  col(MeasureRow.overdue), col(MeasureRow.due), col(InspectionRow.timezone))
    by_problem: dict[int, list[tuple[State, Kind]]] = {}
    states: Counter[str] = Counter()
    late = 0
    with app.uow(read_only=True) as uow:
        today = {z: today_in(app, z) for z in set(uow.session.exec(select(InspectionRow.timezone).distinct()).all())}
        for problem_id, state, kind, flagged, due, zone in uow.session.exec(stmt).all():
            overdue = bool(flagged) or is_overdue(State(state), due, today[zone])
            if f.overdue and not overdue:
                continue
            late += overdue
            states[state] += 1
            by_problem.setdefault(problem_id, []).append((State(state), Kind(kind)))
    done = sum(1 for g in by_problem.values() if problem_result_by_kind(g) == "完成")
    n = len(by_problem)
    return {"measures": sum(states.values()), "by_state": dict(states), "overdue": late, "problems": n,
            "problems_done": done, "problems_open": n - done,
            "completion_rate": round(100 * done / n) if n else 0}


def summary_sentence(s: dict[str, Any]) -> str:
    """The sentence published reports carry: 反馈问题N个,已完成整改X个、正在整改Y个,整改完成率Z%."""
    return (f"反馈问题{s['problems']}个,已完成整改{s['problems_done']}个、正在整改{s['problems_open']}个,"
            f"整改完成率{s['completion_rate']}%")


@dataclass(frozen=True)
class MeasureDetail:
    """Everything `rectify show` tells about one measure."""

    row: LedgerRow
    text: str
    points: list[str]
    evidence: list[dict[str, Any]]
    extensions: list[dict[str, Any]]
    available: list[str]  # the events the asking person may fire now

    def as_json(self) -> dict[str, Any]:
        """A plain dict for JSON output."""
        return {**self.row.as_json(), "text": self.text, "points": self.points, "evidence": self.evidence,
                "extensions": self.extensions, "available_events": self.available}


def detail(app: App, ref: str, actor: str | None = None) -> MeasureDetail:
    """One measure with its evidence, extensions and what `actor` may do now."""
    with app.uow(read_only=True) as uow:
        row = uow.measures.row(ref)
        assert row.id is not None
        measure = uow.measures.get(row.id)
        who = uow.people.actor(actor) if actor else None
        points = [p.text for p in uow.session.exec(
            select(ProblemRow).where(ProblemRow.parent_id == row.problem_id).order_by(col(ProblemRow.position))).all()]
        evidence = [{"kind": e.kind, "sha256": e.sha256, "name": e.name, "size": e.size, "note": e.note,
                     "added_by": e.added_by, "added_at": _iso(e.added_at), "seq": e.seq}
                    for e in uow.evidence.of(row.id)]
        extensions = [{"status": x.status, "old_due": x.old_due.isoformat(), "new_due": x.new_due.isoformat(),
                       "reason": x.reason, "requested_by": x.requested_by, "decided_by": x.decided_by,
                       "decision_reason": x.decision_reason} for x in uow.extensions.of(row.id)]
        text = row.text
    available = [str(e) for e in measure.available(who)] if who else []
    if who and who.handle == measure.owner and measure.state not in (State.VERIFIED, State.CLOSED):
        available += [str(Event.EVIDENCE), str(Event.EXTEND_REQUEST)]
    if who and who.handle == measure.leader and any(x["status"] == "pending" for x in extensions):
        available += [str(Event.EXTEND_APPROVE), str(Event.EXTEND_REFUSE)]
    lrow = one(app, row.id)
    return MeasureDetail(lrow, text, points, evidence, extensions, available)


def _iso(at: datetime) -> str:
    return at.isoformat()
