"""Bulk reads for exports and audit packets: what the ledger view does not carry, for many measures at once."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import Session

from .tables import BodyRow, EvidenceRow, HistoryRow, MeasureRow, ProblemRow, ReboundCheckRow

_M = MeasureRow.__table__  # type: ignore[attr-defined]
_P = ProblemRow.__table__  # type: ignore[attr-defined]
_B = BodyRow.__table__  # type: ignore[attr-defined]
_H = HistoryRow.__table__  # type: ignore[attr-defined]
_E = EvidenceRow.__table__  # type: ignore[attr-defined]
_C = ReboundCheckRow.__table__  # type: ignore[attr-defined]
_CHUNK = 500  # ids per IN (...): well under every database's limit on bound parameters


@dataclass(frozen=True)
class PlanParts:
    """What a plan needs of a measure beyond its ledger row."""

    body_code: str
    text: str
    points: tuple[str, ...]


@dataclass(frozen=True)
class Progress:
    """The latest word on a measure's work: a submit summary or evidence, and when it was recorded."""

    seq: int
    at: datetime
    text: str


def _chunks(ids: Collection[int]) -> Iterator[list[int]]:
    items = sorted(ids)
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


class ExportReader:
    """Reads for the Excel ledger and the audit packet; never writes."""

    def __init__(self, session: Session):
        self.session = session

    def _rows(self, stmt: Any, column: Any, ids: Collection[int]) -> Iterator[Any]:
        conn = self.session.connection()
        for chunk in _chunks(ids):
            yield from conn.execute(stmt.where(column.in_(chunk)))

    def plan_parts(self, measure_ids: Collection[int]) -> dict[int, PlanParts]:
        """Each measure's body code, full text and its problem's points (一是/二是) in order."""
        stmt = (core_select(_M.c.id, _M.c.text, _M.c.problem_id, _B.c.code)
                .select_from(_M.join(_P, _P.c.id == _M.c.problem_id).join(_B, _B.c.id == _P.c.body_id)))
        found = list(self._rows(stmt, _M.c.id, measure_ids))
        points: dict[int, list[str]] = {}
        pstmt = core_select(_P.c.parent_id, _P.c.text).where(_P.c.level == "point").order_by(_P.c.position, _P.c.id)
        for parent, text in self._rows(pstmt, _P.c.parent_id, {r.problem_id for r in found}):
            points.setdefault(parent, []).append(text)
        return {r.id: PlanParts(r.code, r.text, tuple(points.get(r.problem_id, ()))) for r in found}

    def progress(self, measure_ids: Collection[int]) -> dict[int, Progress]:
        """The latest submit summary or evidence (a note, or a file by name) of each measure."""
        latest: dict[int, Progress] = {}

        def offer(mid: int, p: Progress) -> None:
            if p.text and (mid not in latest or p.seq >= latest[mid].seq):
                latest[mid] = p

        estmt = core_select(_E.c.measure_id, _E.c.seq, _E.c.kind, _E.c.name, _E.c.note, _E.c.added_at).order_by(_E.c.id)
        by_seq: dict[tuple[int, int], list[str]] = {}
        at_of: dict[tuple[int, int], datetime] = {}
        for r in self._rows(estmt, _E.c.measure_id, measure_ids):
            by_seq.setdefault((r.measure_id, r.seq), []).append(r.note if r.kind == "note" else f"附件:{r.name}")
            at_of[(r.measure_id, r.seq)] = r.added_at
        for (mid, seq), texts in by_seq.items():
            offer(mid, Progress(seq, at_of[(mid, seq)], ";".join(texts)))
        hstmt = (core_select(_H.c.measure_id, _H.c.seq, _H.c.at, _H.c.reason)
                 .where(_H.c.event == "submit", _H.c.reason != "").order_by(_H.c.seq))
        for r in self._rows(hstmt, _H.c.measure_id, measure_ids):
            offer(r.measure_id, Progress(r.seq, r.at, r.reason))  # at the same seq the summary wins
        return latest

    def closed_at(self, measure_ids: Collection[int]) -> dict[int, datetime]:
        """When each measure was last closed (销号), for those ever closed."""
        stmt = core_select(_H.c.measure_id, _H.c.at).where(_H.c.event == "close").order_by(_H.c.seq)
        return {r.measure_id: r.at for r in self._rows(stmt, _H.c.measure_id, measure_ids)}

    def rechecks(self, measure_ids: Collection[int]) -> dict[int, list[tuple[date, str]]]:
        """Each measure's rebound checks (复查) as (due date, status), in date order."""
        stmt = core_select(_C.c.measure_id, _C.c.due_on, _C.c.status).order_by(_C.c.due_on, _C.c.id)
        found: dict[int, list[tuple[date, str]]] = {}
        for r in self._rows(stmt, _C.c.measure_id, measure_ids):
            found.setdefault(r.measure_id, []).append((r.due_on, r.status))
        return found

    def evidence(self, measure_ids: Collection[int]) -> Sequence[Any]:
        """Every evidence item of these measures, oldest first (plain rows with the evidence columns)."""
        stmt = core_select(_E).order_by(_E.c.id)
        return sorted(self._rows(stmt, _E.c.measure_id, measure_ids), key=lambda r: r.id)
