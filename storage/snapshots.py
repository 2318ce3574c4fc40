"""The read side of reports, statistics and the ledger as it stood: history, evidence and texts by round."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from states.chain import Record, as_utc

from .history import HISTORY_ROWS, entries
from .repositories import to_record
from .tables import BodyRow, EvidenceRow, HistoryRow, MeasureRow, ProblemRow

STREAM_BATCH = 1000  # measures whose history is read at a time when streaming


@dataclass(frozen=True)
class MeasureText:
    """What the ledger row of a measure leaves out: its full text and its problem's points (一是/二是)."""

    text: str
    points: tuple[str, ...]


class SnapshotReader:
    """Everything of some rounds (or all) that a report or a statistic reads, in few queries."""

    def __init__(self, session: Session):
        self.session = session

    @staticmethod
    def _in_rounds(column: Any, inspection_ids: Collection[int]) -> Any:
        """`column IN (the ids of the rounds' measures)`, as one subquery (no long parameter lists)."""
        problem = aliased(ProblemRow)
        ids = (select(MeasureRow.id).join(problem, col(problem.id) == MeasureRow.problem_id)
               .join(BodyRow, col(BodyRow.id) == problem.body_id)
               .where(col(BodyRow.inspection_id).in_(list(inspection_ids))))
        return col(column).in_(ids)

    def history(self, inspection_ids: Collection[int] | None = None, until: datetime | None = None
                ) -> dict[int, list[Record]]:
        """Each measure's history records, in seq order; only those before `until` (UTC, exclusive) if given."""
        stmt = HISTORY_ROWS  # plain rows decoded in one loop: a round's whole history is many rows
        if inspection_ids is not None:
            stmt = stmt.where(self._in_rounds(HistoryRow.measure_id, inspection_ids))
        if until is not None:
            stmt = stmt.where(col(HistoryRow.at) < as_utc(until))
        out: dict[int, list[Record]] = {}
        rows = self.session.connection().execute(stmt.order_by(col(HistoryRow.measure_id), col(HistoryRow.seq)))
        for e, _ in entries(rows.all()):
            out.setdefault(e.measure_id, []).append(to_record(e))
        return out

    def history_stream(self, inspection_ids: Collection[int], until: datetime) -> Iterator[tuple[int, list[Record]]]:
        """Each measure's history records before `until`, in seq order, one measure at a time, read for
        STREAM_BATCH measures at a time (by id span, as `audit verify` walks the chains; no server-side
        cursor, which PostgreSQL's autocommit readers cannot hold): memory stays flat however long the history.
        """
        conn = self.session.connection()
        ids = self._in_rounds(MeasureRow.id, inspection_ids)
        lo, hi = conn.execute(select(func.min(MeasureRow.id), func.max(MeasureRow.id)).where(ids)).one()
        if lo is None or hi is None:
            return
        stmt = (HISTORY_ROWS.where(self._in_rounds(HistoryRow.measure_id, inspection_ids),
                                   col(HistoryRow.at) < as_utc(until),
                                   col(HistoryRow.measure_id) >= bindparam("lo"),
                                   col(HistoryRow.measure_id) < bindparam("hi"))
                .order_by(col(HistoryRow.measure_id), col(HistoryRow.seq)))
        for start in range(lo, hi + 1, STREAM_BATCH):
            current, records = None, []  # type: ignore[var-annotated]
            for e, _ in entries(conn.execute(stmt, {"lo": start, "hi": start + STREAM_BATCH}).all()):
                if e.measure_id != current:
                    if current is not None:
                        yield current, records
                    current, records = e.measure_id, []
                records.append(to_record(e))
            if current is not None:
                yield current, records

    def evidence(self, inspection_ids: Collection[int] | None = None) -> dict[int, list[EvidenceRow]]:
        """Each measure's evidence items, oldest first."""
        stmt = select(EvidenceRow)
        if inspection_ids is not None:
            stmt = stmt.where(self._in_rounds(EvidenceRow.measure_id, inspection_ids))
        out: dict[int, list[EvidenceRow]] = {}
        for e in self.session.exec(stmt.order_by(col(EvidenceRow.measure_id), col(EvidenceRow.id))).all():
            out.setdefault(e.measure_id, []).append(e)
        return out

    def texts(self, inspection_ids: Collection[int] | None = None) -> dict[int, MeasureText]:
        """Each measure's full text with its problem's points."""
        problem = aliased(ProblemRow)
        stmt = (select(MeasureRow.id, MeasureRow.text, MeasureRow.problem_id)
                .join(problem, col(problem.id) == MeasureRow.problem_id)
                .join(BodyRow, col(BodyRow.id) == problem.body_id))
        if inspection_ids is not None:
            stmt = stmt.where(col(BodyRow.inspection_id).in_(list(inspection_ids)))
        measures = self.session.exec(stmt).all()
        points: dict[int, list[str]] = {}
        point_stmt = select(ProblemRow.parent_id, ProblemRow.text).where(ProblemRow.level == "point")
        if inspection_ids is not None:
            point_stmt = point_stmt.where(col(ProblemRow.body_id).in_(
                select(BodyRow.id).where(col(BodyRow.inspection_id).in_(list(inspection_ids)))))
        for pid, text in self.session.exec(point_stmt.order_by(col(ProblemRow.parent_id),
                                                               col(ProblemRow.position))).all():
            points.setdefault(pid or 0, []).append(text)
        return {mid or 0: MeasureText(text, tuple(points.get(pid, ()))) for mid, text, pid in measures}
