"""From a document's outline to a plan: with an assignment file, or as a draft plan file to edit.

A document names problems and measures but no people and, mostly, no deadlines. Those come
from an assignment file (`rectify import DOC --assign FILE.yaml`):

    inspection: {code: lc-tcj-2024, name: …, feedback_date: 2024-08-13, …}   # as in a plan
    units: [{code: office, name: 办公室}]                                     # as in a plan
    people: [{id: alice, name: 办公室主任, roles: [owner]}, …]                # as in a plan
    body: {code: tcj, name: 区投促局党组}
    defaults: {owner: alice, verifier: checker, leader: boss, due: 2024-11-13}  # unit, kind optional
    measures:                                 # optional, by measure code (tcj-1.2.3 or 1.2.3)
      tcj-1.1.2: {owner: bob, due: 2024-08-30, kind: immediate}

or from a draft (`rectify plan draft DOC`): a whole plan with placeholder people, to edit.
"""

from __future__ import annotations

import calendar
import json
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field

from states.errors import InvalidPlan
from states.model import Kind

from .outline_model import Note, NoteKind, Outline
from .plan import Handle, InspectionPlan, PersonPlan, Plan, Strict, UnitPlan, check, read


class BodyRef(Strict):
    """The inspected body the document is about."""

    code: Handle
    name: str = Field(min_length=1)


class Defaults(Strict):
    """What every measure of the document gets unless overridden."""

    owner: Handle
    verifier: Handle
    leader: Handle
    due: date
    unit: Handle | None = None
    kind: Kind = Kind.DEADLINE


class Override(Strict):
    """One measure's own people, unit, deadline, kind or title."""

    owner: Handle | None = None
    verifier: Handle | None = None
    leader: Handle | None = None
    due: date | None = None
    unit: Handle | None = None
    kind: Kind | None = None
    title: str | None = Field(None, min_length=1)


class Assignment(Strict):
    """The assignment file: a plan's inspection, units and people, plus who does the document's measures."""

    inspection: InspectionPlan
    units: list[UnitPlan] = Field(default_factory=list)
    people: list[PersonPlan] = Field(min_length=1)
    body: BodyRef
    defaults: Defaults
    measures: dict[str, Override] = Field(default_factory=dict, description="overrides by measure code")


def load_assignment(path: str | Path) -> Assignment:
    """Read and check an assignment file (YAML or JSON)."""
    return check(str(path), read(path), Assignment)


def build_plan(outline: Outline, assignment: Assignment, assign_name: str) -> Plan:
    """The plan of a document's tree with the assignment's people and deadlines; InvalidPlan on a misfit."""
    body = assignment.body.code
    codes = {code for code, _ in outline.measures()}
    overrides: dict[str, Override] = {}
    for key, o in assignment.measures.items():
        code = key.removeprefix(f"{body}-")
        if code not in codes:
            raise InvalidPlan(assign_name, f"measures.{key}", f"no measure {key} in {outline.source} "
                              f"(its measures run {body}-1.1.1 … {body}-{max(codes, default='?')})")
        overrides[code] = o
    d = assignment.defaults
    headings = []
    for hi, h in enumerate(outline.headings, start=1):
        problems = []
        for pi, p in enumerate(h.problems, start=1):
            measures = []
            for mi, m in enumerate(p.measures, start=1):
                o = overrides.get(f"{hi}.{pi}.{mi}") or Override(title=None)
                measures.append({
                    "ref": m.ref, "title": o.title or m.title, "text": m.text, "kind": o.kind or d.kind,
                    "owner": o.owner or d.owner, "verifier": o.verifier or d.verifier, "leader": o.leader or d.leader,
                    "unit": o.unit or d.unit, "due": o.due or d.due})
            problems.append({"ref": p.ref, "text": p.text, "points": p.points, "measures": measures})
        headings.append({"ref": h.ref, "title": h.title, "problems": problems})
    data = {
        "inspection": assignment.inspection.model_dump(exclude_none=True),
        "units": [u.model_dump(exclude_none=True) for u in assignment.units],
        "people": [p.model_dump(exclude_none=True) for p in assignment.people],
        "bodies": [{"code": body, "name": assignment.body.name, "headings": headings}],
    }
    return check(f"{assign_name} (with {outline.source})", data, Plan)


# -- the draft plan file ------------------------------------------------------------------------------

PLACEHOLDERS = (("todo-owner", "待定责任人", "owner"), ("todo-verifier", "待定核验人", "verifier"),
                ("todo-leader", "待定责任领导", "leader"))


def add_months(d: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def draft(outline: Outline, *, today: date, inspection_code: str | None = None, body_code: str | None = None,
          body_name: str | None = None) -> str:
    """A plan file (YAML) of the document's tree with placeholder people; it validates as it is written."""
    if not outline.headings:
        raise InvalidPlan(outline.source, "", "found no feedback problems; there is nothing to draft")
    f = outline.facts
    feedback = f.feedback_date or today
    end = add_months(feedback, 3)
    q = _q
    w: list[str] = []
    counts = outline.counts()
    w += [f"# rectify plan drafted from {outline.source} by `rectify plan draft`.",
          f"# Read from the document: {counts[0]} headings, {counts[1]} problems, {counts[2]} points, "
          f"{counts[3]} measures.",
          "# Edit every TODO (people, units, each measure's owner, verifier, leader, kind and due date), then:",
          "#   rectify plan check THIS.yaml && rectify import THIS.yaml",
          "# It validates as it is, with placeholder people (todo-owner, todo-verifier, todo-leader)."]
    w += _notes_block(outline)
    said = "# from the document" if f.feedback_date else "# TODO: the date the feedback was given (not found)"
    w += ["", "inspection:",
          f"  code: {q(inspection_code or f'round-{feedback.year}')}"
          + ("" if inspection_code else "  # TODO: a short ASCII id for this round (--inspection-code)"),
          f"  name: {q(_round_name(outline))}" + ("  # from the document; check" if f.group and f.body
                                                   else "  # TODO: the round's name"),
          f"  kind: {q(f.kind or '巡察')}  # 巡察, 巡视 or 审计",
          f"  group: {q(f.group or '')}" + ("" if f.group else "  # TODO: the inspection group, e.g. 区委第二巡察组")]
    if f.period:
        w.append(f"  period: {{start: {f.period[0]}, end: {f.period[1]}}}  # on site, from the document")
    else:
        w.append("  # period: {start: YYYY-MM-DD, end: YYYY-MM-DD}  # TODO: when the group was on site")
    w += [f"  feedback_date: {feedback}  {said}",
          f"  rectification_period: {{start: {feedback}, end: {end}}}  # TODO: 集中整改期 (assumed three months)",
          "  timezone: Asia/Shanghai", "",
          "units: []  # TODO: the units (责任部门), e.g. - {code: office, name: 办公室, head: office-head}", "",
          "people:  # TODO: the real people; give each measure its own owner, verifier and leader"]
    for handle, name, role in PLACEHOLDERS:
        w.append(f"  - {{id: {handle}, name: {name}, roles: [{role}]}}")
    name = body_name or f.body or Path(outline.source).stem
    w += ["", "bodies:", f"  - code: {q(body_code or 'body')}"
          + ("" if body_code else "  # TODO: a short ASCII id for the body (--body-code); measure codes start with it"),
          f"    name: {q(name)}", "    headings:"]
    for hi, h in enumerate(outline.headings, start=1):
        w += [f"      # ({h.ref}) {outline.unit} {h.no}", f"      - ref: {q(h.ref)}",
              f"        title: {q(h.title or 'TODO')}", "        problems:"]
        if not h.problems:
            w += ["        # TODO: the document gives this heading no problems",
                  *_problem_lines(None, body_code or "body", hi, 1, end, outline.unit)]
        for pi, p in enumerate(h.problems, start=1):
            w += _problem_lines(p, body_code or "body", hi, pi, end, outline.unit)
    return "\n".join(w) + "\n"


def _problem_lines(p: Any, body: str, hi: int, pi: int, due: date, unit: str) -> list[str]:
    q = _q
    where = f"{unit} {p.no}" if p else "TODO"
    extra = "".join(f"; {k}: {v}" for k, v in (p.fields.items() if p else ()))
    result = f"; 整改结果 in the document: {p.result}" if p and p.result else ""
    w = [f"          - ref: {q(p.ref if p else '')}  # {where}{result}{extra}",
         f"            text: {q((p.text if p else '') or 'TODO')}"]
    if p and p.points:
        w.append("            points:")
        w += [f"              - {q(point)}" for point in p.points]
    w.append("            measures:")
    measures = p.measures if p else []
    if not measures:
        w += ["              # TODO: the document gives no measures here; write them",
              *_measure_lines("(1)", "TODO: 整改措施", "", f"{body}-{hi}.{pi}.1", due)]
    seen: set[str] = set()
    for mi, m in enumerate(measures, start=1):
        ref = m.ref if m.ref not in seen else f"#{mi}"  # a repeated number: by position, until edited
        seen.add(ref)
        fields = "".join(f"; {k}: {v}" for k, v in m.fields.items())
        comment = f"{body}-{hi}.{pi}.{mi}, {unit} {m.no}{fields}" + ("" if ref == m.ref else f"; TODO: was {m.ref}")
        w += _measure_lines(ref, m.title or "TODO", m.text, comment, due)
    return w


def _measure_lines(ref: str, title: str, text: str, comment: str, due: date) -> list[str]:
    q = _q
    return [f"              - ref: {q(ref)}  # {comment}",
            f"                title: {q(title)}",
            f"                text: {q(text)}",
            "                kind: deadline  # TODO: immediate (立行立改), deadline (限期整改) or long_term (长期坚持)",
            "                owner: todo-owner",
            "                verifier: todo-verifier",
            "                leader: todo-leader",
            f"                due: {due}"]


def _round_name(outline: Outline) -> str:
    f = outline.facts
    if f.group and f.body:
        return f"{f.group}{f.kind or '巡察'}{f.body}"
    return f"TODO: {f.kind or '巡察'}名称"


def _notes_block(outline: Outline) -> list[str]:
    """The document's unplaced and guessed lines as TODOs, its skipped lines as ranges."""
    w: list[str] = []
    blocking = outline.blocking
    if blocking:
        w += ["#", f"# TODO: {len(blocking)} line(s) of the document were not placed, or placed by a guess; "
                   "check each in the tree below:"]
        w += [f"#   {n}" for n in blocking]
    skipped = [n for n in outline.notes if n.kind is NoteKind.SKIPPED]
    if skipped:
        w += ["#", f"# Not the feedback, not imported ({outline.unit}s {_ranges(skipped)}): the opening, other "
                   "sections, the signature."]
    return w


def _ranges(notes: list[Note]) -> str:
    nos = sorted({n.no for n in notes})
    out: list[str] = []
    start = prev = nos[0]
    for n in [*nos[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out)


def _q(s: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(s, ensure_ascii=False)
