"""Import a checked plan into the ledger: all of it in one transaction, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from states.errors import InvalidPlan
from states.measure import created
from states.model import Event, Kind
from states.permissions import SYSTEM
from storage.tables import BodyRow, InspectionRow, PersonRow, ProblemRow, UnitRow
from storage.uow import UnitOfWork

from .app import App
from .plan import BodyPlan, Plan


@dataclass(frozen=True)
class ImportResult:
    """What an import added."""

    inspection: str
    bodies: int
    problems: int
    points: int
    measures: int
    people: int


def measure_code(body: str, heading: int, problem: int, measure: int) -> str:
    """The code users type for a measure: body, then 1-based heading.problem.measure."""
    return f"{body}-{heading}.{problem}.{measure}"


def import_plan(app: App, plan: Plan, source: str, progress: Callable[[int], None] | None = None) -> ImportResult:
    """Add the plan's inspection, people, units, problem tree and measures; InvalidPlan leaves no trace."""
    at = app.clock()
    with app.uow() as uow:
        if uow.tree.inspection(plan.inspection.code) is not None:
            raise InvalidPlan(source, "inspection.code", f"inspection {plan.inspection.code!r} was already imported")
        _merge_units(uow, plan, source)
        people = _merge_people(uow, plan, source)
        ins = plan.inspection
        inspection = uow.tree.add(InspectionRow(
            code=ins.code, name=ins.name, kind=ins.kind, group_name=ins.group,
            period_start=ins.period.start if ins.period else None, period_end=ins.period.end if ins.period else None,
            feedback_date=ins.feedback_date,
            rectification_start=ins.rectification_period.start if ins.rectification_period else None,
            rectification_end=ins.rectification_period.end if ins.rectification_period else None,
            timezone=ins.timezone, imported_at=at,
            policy=ins.policy.model_dump(mode="json", exclude_none=True) if ins.policy else None))
        counts = [0, 0, 0]
        for bi, body in enumerate(plan.bodies):
            _add_body(uow, inspection.id, body, f"bodies[{bi}]", source, at, counts, progress)
        uow.commit()
    return ImportResult(ins.code, len(plan.bodies), counts[0], counts[1], counts[2], people)


def _merge_units(uow: UnitOfWork, plan: Plan, source: str) -> None:
    existing = {u.code: u for u in uow.tree.units()}
    for i, u in enumerate(plan.units):
        old = existing.get(u.code)
        if old is None:
            uow.session.add(UnitRow(code=u.code, name=u.name, head=u.head))
        elif old.name != u.name:
            raise InvalidPlan(source, f"units[{i}].code", f"unit {u.code!r} already exists as {old.name!r}")


def _merge_people(uow: UnitOfWork, plan: Plan, source: str) -> int:
    existing = {p.handle: p for p in uow.people.all()}
    added = 0
    for i, p in enumerate(plan.people):
        roles = [str(r) for r in p.roles]
        old = existing.get(p.id)
        if old is None:
            uow.session.add(PersonRow(handle=p.id, name=p.name, unit=p.unit, roles=",".join(roles), email=p.email,
                                      notify=list(p.notify)))
            added += 1
        elif old.name != p.name:
            raise InvalidPlan(source, f"people[{i}].id", f"person {p.id!r} already exists as {old.name!r}")
        else:  # the same person in another round: keep every role they hold
            old.roles = ",".join(sorted(set(old.roles.split(",")) | set(roles)))
            old.email = p.email or old.email
            old.notify = list(dict.fromkeys([*old.notify, *p.notify]))
            uow.session.add(old)
    uow.session.flush()
    return added


def _add_body(uow: UnitOfWork, inspection_id: int | None, body: BodyPlan, where: str, source: str, at: datetime,
              counts: list[int], progress: Callable[[int], None] | None) -> None:
    assert inspection_id is not None
    if uow.tree.body(body.code) is not None:
        raise InvalidPlan(source, f"{where}.code", f"body {body.code!r} is already in the ledger (from another round)")
    b = uow.tree.add(BodyRow(inspection_id=inspection_id, code=body.code, name=body.name))
    pending: list[dict[str, Any]] = []
    for hi, h in enumerate(body.headings, start=1):
        heading = uow.tree.add(ProblemRow(body_id=b.id, level="heading", position=hi, ref=h.ref, text=h.title))
        for pi, p in enumerate(h.problems, start=1):
            problem = uow.tree.add(ProblemRow(body_id=b.id, parent_id=heading.id, level="problem", position=pi,
                                              ref=p.ref, text=p.text, repeats=p.repeats))
            if p.repeats:
                _add_measures(uow, pending, source, at, counts, progress)  # a repeat may name one of them
                _count_rebound(uow, p.repeats, f"{body.code}-{hi}.{pi}", source, f"{where}.headings[{hi - 1}]"
                               f".problems[{pi - 1}].repeats", at)
            counts[0] += 1
            for ti, point in enumerate(p.points, start=1):
                uow.session.add(ProblemRow(body_id=b.id, parent_id=problem.id, level="point", position=ti,
                                           ref=str(ti), text=point))
                counts[1] += 1
            for mi, m in enumerate(p.measures, start=1):
                pending.append({
                    "code": measure_code(body.code, hi, pi, mi), "problem_id": problem.id, "position": mi,
                    "ref": m.ref, "title": m.title, "text": m.text, "kind": str(m.kind), "state": "assigned",
                    "owner": m.owner, "verifier": m.verifier, "leader": m.leader, "unit": m.unit, "due": m.due,
                    "version": 0, "head": "", "evidence_count": 0, "overdue": False, "rebounds": 0, "updated_at": at})
                if len(pending) >= _BATCH:
                    _add_measures(uow, pending, source, at, counts, progress)
    _add_measures(uow, pending, source, at, counts, progress)


_BATCH = 500  # measures inserted per statement: few round trips, and a progress bar that still moves


def _add_measures(uow: UnitOfWork, pending: list[dict[str, Any]], source: str, at: datetime, counts: list[int],
                  progress: Callable[[int], None] | None) -> None:
    """Insert the pending measures with their first history records (交办), then forget them."""
    if not pending:
        return
    ids = uow.measures.add_many(pending)
    measures, records = [], []
    for mid, row in zip(ids, pending, strict=True):
        measure, record = created(id=mid, code=row["code"], kind=Kind(row["kind"]), owner=row["owner"],
                                  verifier=row["verifier"], leader=row["leader"], due=row["due"], at=at, by=SYSTEM,
                                  data={"source": source})
        measures.append(measure)
        records.append(record)
    uow.measures.seal_many(measures)
    uow.measures.append_history(records)
    counts[2] += len(pending)
    if progress:
        progress(len(pending))
    pending.clear()


def _count_rebound(uow: UnitOfWork, repeats: str, by: str, source: str, where: str, at: datetime) -> None:
    """A problem of this round repeats an earlier one: each earlier measure counts a rebound."""
    earlier = uow.measures.codes_under(repeats)
    if not earlier:
        raise InvalidPlan(source, where, f"no earlier problem or measure {repeats!r} in the ledger")
    for code in earlier:
        measure = uow.measures.get(code)
        record = measure.apply(Event.REBOUND, by=SYSTEM, at=at, reason=f"下轮巡察反馈问题{by}与其重复(整改不彻底)",
                               data={"repeated_by": by, "source": source})
        uow.measures.save(measure, [record], at)
