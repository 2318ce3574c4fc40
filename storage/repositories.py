"""Repositories: load and save domain objects; no commits here, the unit of work commits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from states.chain import Record
from states.errors import ConcurrentUpdate, NotFound
from states.measure import Measure
from states.model import Kind, Role, State
from states.permissions import Actor

from .tables import (
    AccessLogRow,
    BodyRow,
    EvidenceRow,
    ExtensionRow,
    HistoryRow,
    InspectionRow,
    MeasureRow,
    PersonRow,
    ProblemRow,
)


def to_domain(row: MeasureRow) -> Measure:
    """The domain measure of a row."""
    assert row.id is not None
    return Measure(
        id=row.id, code=row.code, state=State(row.state), kind=Kind(row.kind), owner=row.owner,
        verifier=row.verifier, leader=row.leader, due=row.due, version=row.version, head=row.head,
        evidence_count=row.evidence_count, overdue=row.overdue, rebounds=row.rebounds,
    )


def to_record(row: HistoryRow) -> Record:
    """The domain record of a history row."""
    return Record(
        measure_id=row.measure_id, seq=row.seq, event=row.event, from_state=row.from_state,
        to_state=row.to_state, actor=row.actor, role=row.role, at=row.at, reason=row.reason,
        evidence=tuple(row.evidence), request_id=row.request_id, data=dict(row.data),
        prev_hash=row.prev_hash, hash=row.hash,
    )


def history_row(rec: Record) -> HistoryRow:
    """The row that stores a record."""
    return HistoryRow(
        measure_id=rec.measure_id, seq=rec.seq, event=rec.event, from_state=rec.from_state,
        to_state=rec.to_state, actor=rec.actor, role=rec.role, at=_utc(rec.at), reason=rec.reason,
        evidence=list(rec.evidence), request_id=rec.request_id, data=rec.data, prev_hash=rec.prev_hash,
        hash=rec.hash,
    )


def _utc(at: datetime) -> datetime:
    """An aware time in UTC, as stored; a naive one is taken to be UTC already."""
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


class MeasureRepository:
    """Measures and their history."""

    def __init__(self, session: Session):
        self.session = session

    def row(self, ref: str | int) -> MeasureRow:
        """The measure row by id or code, or NotFound."""
        text = str(ref).strip()
        stmt = select(MeasureRow).where(
            or_(MeasureRow.code == text, MeasureRow.id == int(text)) if text.isdigit() else MeasureRow.code == text
        )
        row = self.session.exec(stmt).first()
        if row is None:
            raise NotFound("measure", text)
        return row

    def get(self, ref: str | int) -> Measure:
        """The domain measure by id or code, or NotFound."""
        return to_domain(self.row(ref))

    def add(self, row: MeasureRow) -> int:
        """Insert a new measure row; its id is known afterwards."""
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        return row.id

    def save(self, measure: Measure, records: Sequence[Record], at: datetime) -> None:
        """Write the measure's new state with its records, if nobody else changed it first."""
        first = records[0].seq
        values: dict[str, Any] = {
            "state": str(measure.state), "owner": measure.owner, "due": measure.due,
            "version": measure.version, "head": measure.head, "evidence_count": measure.evidence_count,
            "overdue": measure.overdue, "rebounds": measure.rebounds, "updated_at": _utc(at),
        }
        result = self.session.connection().execute(
            update(MeasureRow).where(col(MeasureRow.id) == measure.id, col(MeasureRow.version) == first - 1)
            .values(**values)
        )
        if result.rowcount != 1:
            now = self.session.connection().execute(
                select(MeasureRow.version).where(MeasureRow.id == measure.id)
            ).scalar()
            raise ConcurrentUpdate(measure.code, first - 1, now)
        self.append_history(records)

    def append_history(self, records: Sequence[Record]) -> None:
        """Insert history records (the chain's unique (measure, seq) key refuses a duplicate)."""
        self.session.connection().execute(
            HistoryRow.__table__.insert(),  # type: ignore[attr-defined]
            [history_row(r).model_dump(exclude={"id"}) for r in records],
        )

    def history(self, measure_id: int) -> list[tuple[int, Record]]:
        """One measure's history as (row id, record), in seq order."""
        rows = self.session.exec(
            select(HistoryRow).where(HistoryRow.measure_id == measure_id).order_by(col(HistoryRow.seq), col(HistoryRow.id))
        ).all()
        return [(r.id or 0, to_record(r)) for r in rows]

    def all_rows(self) -> Sequence[MeasureRow]:
        """Every measure row, by id."""
        return self.session.exec(select(MeasureRow).order_by(col(MeasureRow.id))).all()


class PeopleRepository:
    """People and the roles they hold."""

    def __init__(self, session: Session):
        self.session = session

    def row(self, handle: str) -> PersonRow:
        """The person row, or NotFound."""
        row = self.session.exec(select(PersonRow).where(PersonRow.handle == handle)).first()
        if row is None:
            raise NotFound("person", handle)
        return row

    def actor(self, handle: str) -> Actor:
        """The person as an actor with their round-wide roles."""
        row = self.row(handle)
        return Actor(row.handle, frozenset(Role(r) for r in row.roles.split(",") if r))

    def all(self) -> Sequence[PersonRow]:
        """Everybody, by handle."""
        return self.session.exec(select(PersonRow).order_by(col(PersonRow.handle))).all()


@dataclass(frozen=True)
class HistoryFilter:
    """What an auditor narrows the history to."""

    measure_id: int | None = None
    actor: str | None = None
    since: datetime | None = None  # UTC, inclusive
    until: datetime | None = None  # UTC, exclusive
    limit: int | None = None


class HistoryRepository:
    """The append-only history, read side."""

    def __init__(self, session: Session):
        self.session = session

    def query(self, f: HistoryFilter) -> list[tuple[HistoryRow, str]]:
        """History rows with their measure's code, oldest first."""
        stmt = select(HistoryRow, MeasureRow.code).join(MeasureRow, col(MeasureRow.id) == HistoryRow.measure_id)
        if f.measure_id is not None:
            stmt = stmt.where(HistoryRow.measure_id == f.measure_id)
        if f.actor:
            stmt = stmt.where(HistoryRow.actor == f.actor)
        if f.since:
            stmt = stmt.where(col(HistoryRow.at) >= _utc(f.since))
        if f.until:
            stmt = stmt.where(col(HistoryRow.at) < _utc(f.until))
        stmt = stmt.order_by(col(HistoryRow.at), col(HistoryRow.measure_id), col(HistoryRow.seq))
        if f.limit:
            stmt = stmt.limit(f.limit)
        return [(h, code) for h, code in self.session.exec(stmt).all()]

    def chains(self) -> Iterator[tuple[MeasureRow, list[tuple[int, Record]]]]:
        """Every measure with its history, for verification, one measure at a time."""
        measures = self.session.exec(select(MeasureRow).order_by(col(MeasureRow.id))).all()
        rows = self.session.exec(select(HistoryRow).order_by(col(HistoryRow.measure_id), col(HistoryRow.seq),
                                                            col(HistoryRow.id))).all()
        by_measure: dict[int, list[tuple[int, Record]]] = {}
        for r in rows:
            by_measure.setdefault(r.measure_id, []).append((r.id or 0, to_record(r)))
        for m in measures:
            yield m, by_measure.pop(m.id or 0, [])
        for measure_id, orphan in by_measure.items():  # history of a measure row that was deleted
            yield MeasureRow(id=measure_id, code=f"#{measure_id} (deleted)", problem_id=0, position=0, ref="",
                             title="", kind="deadline", state="", owner="", verifier="", leader="",
                             due=date.min, version=-1, updated_at=datetime.min.replace(tzinfo=timezone.utc)), orphan

    def count(self) -> int:
        """How many history rows there are."""
        return int(self.session.exec(select(func.count()).select_from(HistoryRow)).one())


class AccessLogRepository:
    """Refused attempts, append-only."""

    def __init__(self, session: Session):
        self.session = session

    def add(self, row: AccessLogRow) -> None:
        """Record one refused attempt."""
        self.session.add(row)

    def query(self, actor: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> Sequence[AccessLogRow]:
        """Refused attempts, oldest first."""
        stmt = select(AccessLogRow)
        if actor:
            stmt = stmt.where(AccessLogRow.actor == actor)
        if since:
            stmt = stmt.where(col(AccessLogRow.at) >= _utc(since))
        if until:
            stmt = stmt.where(col(AccessLogRow.at) < _utc(until))
        return self.session.exec(stmt.order_by(col(AccessLogRow.at), col(AccessLogRow.id))).all()


class EvidenceRepository:
    """Evidence items of measures."""

    def __init__(self, session: Session):
        self.session = session

    def add(self, rows: Sequence[EvidenceRow]) -> None:
        """Attach evidence items (with the history seq that recorded them)."""
        self.session.add_all(rows)

    def of(self, measure_id: int) -> Sequence[EvidenceRow]:
        """A measure's evidence, oldest first."""
        return self.session.exec(
            select(EvidenceRow).where(EvidenceRow.measure_id == measure_id).order_by(col(EvidenceRow.id))
        ).all()


class ExtensionRepository:
    """Deadline extensions."""

    def __init__(self, session: Session):
        self.session = session

    def pending(self, measure_id: int) -> ExtensionRow | None:
        """The measure's open extension request, if any."""
        return self.session.exec(
            select(ExtensionRow).where(ExtensionRow.measure_id == measure_id, ExtensionRow.status == "pending")
        ).first()

    def add(self, row: ExtensionRow) -> None:
        """Record a request (or a decision on one)."""
        self.session.add(row)

    def of(self, measure_id: int) -> Sequence[ExtensionRow]:
        """A measure's extensions, oldest first."""
        return self.session.exec(
            select(ExtensionRow).where(ExtensionRow.measure_id == measure_id).order_by(col(ExtensionRow.id))
        ).all()


class TreeRepository:
    """Inspections, bodies and the problem tree."""

    def __init__(self, session: Session):
        self.session = session

    def inspection(self, code: str) -> InspectionRow | None:
        """An inspection by code."""
        return self.session.exec(select(InspectionRow).where(InspectionRow.code == code)).first()

    def inspections(self) -> Sequence[InspectionRow]:
        """Every inspection, oldest first."""
        return self.session.exec(select(InspectionRow).order_by(col(InspectionRow.id))).all()

    def add(self, row: Any) -> Any:
        """Insert a tree row and return it with its id."""
        self.session.add(row)
        self.session.flush()
        return row

    def problems(self) -> Sequence[ProblemRow]:
        """Every node of every problem tree."""
        return self.session.exec(select(ProblemRow).order_by(col(ProblemRow.id))).all()

    def bodies(self) -> Sequence[BodyRow]:
        """Every inspected body."""
        return self.session.exec(select(BodyRow).order_by(col(BodyRow.id))).all()
