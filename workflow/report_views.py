"""The progress report as plain view objects, built from a snapshot of a round: one report per inspected body.

整改结果 per problem is derived, never typed in: 完成 when every measure is closed (long-term
ones included, as the reference report prints them; their periodic checks go on and section 三
names them), 基本完成 when all are at least verified, 长期坚持 when only started long-term
measures are left open, else 正在推进.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from states.model import Event, Kind, State
from states.outcome import Figures, total
from states.results import problem_result_by_kind

from .asof import Snapshot, closed_on
from .chart import Progress
from .ledger import LedgerRow, summary, summary_sentence

ORG_WORDS = ("党工委", "党委", "党组", "党总支", "党支部")
CN_DIGITS = "零一二三四五六七八九"


@dataclass(frozen=True)
class MeasureView:
    """A measure as the report tells it: (1)… in 整改情况."""

    code: str
    ref: str
    title: str
    text: str
    kind: Kind
    state: State
    due: date
    closed_on: date | None
    overdue: bool
    notes: list[str]
    figures: Figures

    @property
    def body(self) -> str:
        """Its text, or its title when it has none, ending in a full stop."""
        t = (self.text or self.title).strip()
        return t if t.endswith(("。", ".", "!", "?", "!", "?")) else t + "。"

    @property
    def closed(self) -> bool:
        """Crossed off (销号)."""
        return self.state is State.CLOSED

    @property
    def long_term(self) -> bool:
        """A measure to keep up for good (长期坚持)."""
        return self.kind is Kind.LONG_TERM

    @property
    def state_label(self) -> str:
        """The state in Chinese."""
        return self.state.label


@dataclass(frozen=True)
class ProblemView:
    """A problem (1. 2. …) with its points, derived result and measures."""

    ref: str
    text: str
    points: tuple[str, ...]
    result: str
    measures: list[MeasureView]

    @property
    def line(self) -> str:
        """The problem as printed: "1.一是…;二是…。" (its points spelled out when its text lacks them)."""
        text = self.text.strip()
        if self.points and "一是" not in text:
            points = (p.rstrip("。").rstrip(";").rstrip(";") for p in self.points)
            text = ";".join(f"{cn_number(i)}是{p}" for i, p in enumerate(points, 1)) + "。"
        return f"{self.ref}.{text}" if self.ref else text


@dataclass(frozen=True)
class HeadingView:
    """A heading of the feedback: (一)反馈问题:…"""

    ref: str
    title: str
    problems: list[ProblemView]


@dataclass(frozen=True)
class Round:
    """The inspection round as the opening paragraph tells it."""

    name: str
    kind: str  # 巡察, 巡视, 审计
    group: str  # 区委第二巡察组
    authority: str  # 区委 (who sent the group), or ""
    period_start: date | None
    period_end: date | None
    feedback_date: date
    rectification_start: date | None
    rectification_end: date | None


@dataclass(frozen=True)
class Report:
    """One inspected body's progress report at a day."""

    code: str  # the body's code
    body: str
    org: str  # 党组, 党委, … (from the body's name)
    leader: str  # who heads the leading group, e.g. 党组书记
    round: Round
    day: date
    rebuilt: bool
    headings: list[HeadingView]
    summary: dict[str, Any]
    sentence: str
    figures: Figures
    counts: dict[str, int]
    by_kind: dict[str, int]
    contact: str = ""
    with_evidence: bool = False
    measures: list[MeasureView] = field(default_factory=list)
    chart: Progress | None = None  # measures closed by day, drawn when asked for (--chart)

    @property
    def all_done(self) -> bool:
        """Every problem 完成."""
        return bool(self.summary["problems_done"] == self.summary["problems"])

    @property
    def open_measures(self) -> list[MeasureView]:
        """Measures still to finish (long-term ones aside: section 三 names those apart)."""
        return [m for m in self.measures if not m.closed and not m.long_term]

    @property
    def long_term(self) -> list[MeasureView]:
        """Measures to keep up for good, closed or not."""
        return [m for m in self.measures if m.long_term]


def cn_number(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十 (as headings and points number)."""
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[ones] if ones else "")


def cn_date(d: date | None) -> str:
    """2024年3月22日."""
    return f"{d.year}年{d.month}月{d.day}日" if d else ""


def cn_span(start: date | None, end: date | None) -> str:
    """2024年3月22日至6月21日 (the year once when both ends share it)."""
    if not start or not end:
        return cn_date(start or end)
    tail = f"{end.month}月{end.day}日" if end.year == start.year else cn_date(end)
    return f"{cn_date(start)}至{tail}"


def _org_word(body: str) -> str:
    return next((w for w in ORG_WORDS if body.endswith(w)), "党组织")


def _authority(group: str) -> str:
    """区委第二巡察组 → 区委: who sent the group, when its name says so."""
    i = group.find("委")
    return group[: i + 1] if 0 < i < 6 else ""


def _leader(rows: list[LedgerRow], names: dict[str, str]) -> str:
    """Who heads the leading group: a leader whose title says 书记, else the one leading most measures."""
    led = Counter(r.leader for r in rows)
    if not led:
        return "主要负责人"
    ranked = sorted(led, key=lambda h: ("书记" not in names.get(h, ""), -led[h], h))
    title = names.get(ranked[0], ranked[0])
    for sep in ("、", "(", "(", ",", ","):
        title = title.split(sep)[0]
    return title.strip() or "主要负责人"


def _notes(snap: Snapshot, measure_id: int) -> list[str]:
    return [e.note if e.kind == "note" else f"附件《{e.name}》" for e in snap.evidence.get(measure_id, [])]


def build(snap: Snapshot, *, contact: str = "", with_evidence: bool = False, chart: bool = False) -> list[Report]:
    """One report per inspected body of the snapshot's round (with its progress chart if asked)."""
    ins = snap.inspection
    rnd = Round(ins.name, ins.kind, ins.group_name, _authority(ins.group_name), ins.period_start, ins.period_end,
                ins.feedback_date, ins.rectification_start, ins.rectification_end)
    bodies: dict[str, list[LedgerRow]] = {}
    for r in snap.rows:  # a measure code is BODY-H.P.M
        bodies.setdefault(r.code.rpartition("-")[0], []).append(r)
    reports = [_body_report(snap, rnd, code, rows, contact, with_evidence) for code, rows in bodies.items()]
    if chart:
        from dataclasses import replace

        from .stats import progress

        reports = [replace(r, chart=progress(snap, body=r.code)) for r in reports]
    return reports


def _body_report(snap: Snapshot, rnd: Round, code: str, rows: list[LedgerRow], contact: str,
                 with_evidence: bool) -> Report:
    headings: list[HeadingView] = []
    measures: list[MeasureView] = []
    by_heading: dict[tuple[str, str], dict[str, list[LedgerRow]]] = {}
    for r in rows:  # rows come in problem-tree order; a measure code is BODY-H.P.M
        by_heading.setdefault((r.heading_ref, r.heading), {}).setdefault(r.code.rsplit(".", 1)[0], []).append(r)
    for (href, htitle), problems in by_heading.items():
        views: list[ProblemView] = []
        for group in problems.values():
            ms = [_measure_view(snap, r) for r in group]
            measures += ms
            text = snap.texts.get(group[0].id)
            views.append(ProblemView(group[0].problem_ref, group[0].problem, text.points if text else (),
                                     problem_result_by_kind((m.state, m.kind) for m in ms), ms))
        headings.append(HeadingView(href, htitle, views))
    s = summary(rows)  # counts 完成 by the same rule as the problems above
    body = rows[0].body
    return Report(code=code, body=body, org=_org_word(body), leader=_leader(rows, snap.names), round=rnd, day=snap.day,
                  rebuilt=snap.rebuilt, headings=headings, summary=s, sentence=summary_sentence(s),
                  figures=total(m.figures for m in measures), counts=_counts(snap, rows),
                  by_kind={k.label: sum(1 for m in measures if m.kind is k) for k in Kind},
                  contact=contact, with_evidence=with_evidence, measures=measures)


def _measure_view(snap: Snapshot, r: LedgerRow) -> MeasureView:
    text = snap.texts.get(r.id)
    return MeasureView(code=r.code, ref=r.ref, title=r.title, text=text.text if text else "", kind=Kind(r.kind),
                       state=State(r.state), due=r.due, closed_on=closed_on(snap.history.get(r.id, []), snap.zone),
                       overdue=r.overdue, notes=_notes(snap, r.id), figures=snap.figures.get(r.id, Figures()))


def _counts(snap: Snapshot, rows: list[LedgerRow]) -> dict[str, int]:
    """What the leadership section tells in numbers, from the rows and their history up to the day."""
    events = Counter(rec.event for r in rows for rec in snap.history.get(r.id, []))
    states = Counter(r.state for r in rows)
    return {
        "headings": len({(r.body, r.heading_ref) for r in rows}),
        "measures": len(rows),
        "closed": states[State.CLOSED],
        "verified": states[State.VERIFIED],
        "open": len(rows) - states[State.CLOSED] - states[State.VERIFIED],
        "overdue": sum(1 for r in rows if r.overdue),
        "rejected": events[Event.REJECT],
        "extended": events[Event.EXTEND_APPROVE],
        "rechecked": events[Event.RECHECK],
        "rebounds": sum(r.rebounds for r in rows),
        "units": len({r.unit for r in rows if r.unit}),
    }
