"""Repositories: load and save domain objects; no commits here, the unit of work commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, bindparam, insert, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from states.chain import Record, as_utc
from states.errors import ConcurrentUpdate, NotFound
from states.measure import Measure
from states.model import Kind, Role, State
from states.permissions import Actor

if TYPE_CHECKING:
    from .history import HistoryEntry

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
    UnitRow,
)


def to_domain(row: MeasureRow) -> Measure:
    """The domain measure of a row."""
    assert row.id is not None
    return Measure(
        id=row.id, code=row.code, state=State(row.state), kind=Kind(row.kind), owner=row.owner,
        verifier=row.verifier, leader=row.leader, due=row.due, version=row.version, head=row.head,
        evidence_count=row.evidence_count, overdue=row.overdue, rebounds=row.rebounds,
    )


def actor_of(handle: str, roles: str) -> Actor:
    """A person as an actor, from the roles column (comma-separated)."""
    return Actor(handle, frozenset(Role(r) for r in roles.split(",") if r))


def to_record(row: HistoryRow | HistoryEntry) -> Record:
    """The domain record of a history row (an ORM row or a HistoryEntry)."""
    return Record(
        measure_id=row.measure_id, seq=row.seq, event=row.event, from_state=row.from_state,
        to_state=row.to_state, actor=row.actor, role=row.role, at=row.at, reason=row.reason,
        evidence=tuple(row.evidence), request_id=row.request_id, data=dict(row.data),
        prev_hash=row.prev_hash, hash=row.hash,
    )


def history_params(rec: Record) -> dict[str, Any]:
    """The column values of the history row that stores a record."""
    return {
        "measure_id": rec.measure_id, "seq": rec.seq, "event": rec.event, "from_state": rec.from_state,
        "to_state": rec.to_state, "actor": rec.actor, "role": rec.role, "at": as_utc(rec.at), "reason": rec.reason,
        "evidence": list(rec.evidence), "request_id": rec.request_id, "data": rec.data,
        "prev_hash": rec.prev_hash, "hash": rec.hash,
    }



# The hot path's statements, built once with bind parameters: building them per call (and the
# cache key SQLAlchemy then derives from every literal) cost more than the SQLite commit itself.
_MEASURE = MeasureRow.__table__  # type: ignore[attr-defined]
_PERSON = PersonRow.__table__  # type: ignore[attr-defined]
_MEASURE_BY_CODE = core_select(_MEASURE).where(_MEASURE.c.code == bindparam("ref_code"))
_MEASURE_BY_CODE_OR_ID = core_select(_MEASURE).where(
    or_(_MEASURE.c.code == bindparam("ref_code"), _MEASURE.c.id == bindparam("ref_id")))
_SAVED = ("state", "owner", "due", "version", "head", "evidence_count", "overdue", "rebounds", "updated_at")
_SAVE = (
    update(_MEASURE)
    .where(_MEASURE.c.id == bindparam("where_id"), _MEASURE.c.version == bindparam("where_version"))
    .values({c: bindparam(f"new_{c}", type_=_MEASURE.c[c].type) for c in _SAVED})
)
_VERSION_OF = core_select(_MEASURE.c.version).where(_MEASURE.c.id == bindparam("where_id"))
_MEASURE_INSERT = insert(_MEASURE).returning(_MEASURE.c.id, sort_by_parameter_order=True)
_SEAL = (update(_MEASURE).where(_MEASURE.c.id == bindparam("where_id"))
         .values(version=bindparam("new_version"), head=bindparam("new_head")))
_HISTORY = HistoryRow.__table__  # type: ignore[attr-defined]
_HISTORY_INSERT = insert(_HISTORY)
_EVIDENCE_INSERT = insert(EvidenceRow.__table__)  # type: ignore[attr-defined]
_ACTOR = core_select(_PERSON.c.handle, _PERSON.c.roles).where(_PERSON.c.handle == bindparam("handle"))
# a command's two reads in one round trip: the measure, and the roles of the person acting on it (NULL: no
# such person; every person has a roles text, empty for none)
_ROLES_OF = (core_select(_PERSON.c.roles).where(_PERSON.c.handle == bindparam("actor_handle"))
             .scalar_subquery().label("actor_roles"))
_MEASURE_AND_ROLES_BY_CODE = _MEASURE_BY_CODE.add_columns(_ROLES_OF)
_MEASURE_AND_ROLES_BY_CODE_OR_ID = _MEASURE_BY_CODE_OR_ID.add_columns(_ROLES_OF)


def _as_id(text: str) -> int | None:
    """A measure number typed by a user (plain ASCII digits that fit a database integer), else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _autoflush(session: Session) -> None:
    """Before a plain (Core) read, flush what the ORM's autoflush would; nothing pending costs nothing."""
    if session.autoflush:
        session.flush()


class MeasureRepository:
    """Measures and their history."""

    def __init__(self, session: Session):
        self.session = session

    def find(self, ref: str | int) -> Row[*tuple[Any, ...]]:
        """The measure row by id or code as a plain row (the columns as attributes, no ORM instance), or NotFound."""
        return self._first(ref, _MEASURE_BY_CODE, _MEASURE_BY_CODE_OR_ID, {})

    def get_for(self, ref: str | int, handle: str) -> tuple[Measure, Actor | None]:
        """The domain measure by id or code (NotFound if none) and the person acting on it (None if no such
        person), in one statement."""
        found = self._first(ref, _MEASURE_AND_ROLES_BY_CODE, _MEASURE_AND_ROLES_BY_CODE_OR_ID,
                            {"actor_handle": handle})
        who = None if found.actor_roles is None else actor_of(handle, found.actor_roles)
        return to_domain(found), who  # type: ignore[arg-type]

    def _first(self, ref: str | int, by_code: Any, by_code_or_id: Any, params: dict[str, Any]
               ) -> Row[*tuple[Any, ...]]:
        """The row `by_code` reads for a measure's code, or `by_code_or_id` for a number (a code or an id), or
        NotFound."""
        text = str(ref).strip()
        _autoflush(self.session)
        as_id = _as_id(text)
        conn = self.session.connection()
        if as_id is not None:
            result = conn.execute(by_code_or_id, {**params, "ref_code": text, "ref_id": as_id})
        else:
            result = conn.execute(by_code, {**params, "ref_code": text})
        row = result.first()
        if row is None:
            raise NotFound("measure", text)
        return row

    def row(self, ref: str | int) -> MeasureRow:
        """The measure row by id or code, or NotFound."""
        text = str(ref).strip()
        as_id = _as_id(text)
        stmt = select(MeasureRow).where(
            or_(col(MeasureRow.code) == text, col(MeasureRow.id) == as_id)
            if as_id is not None
            else col(MeasureRow.code) == text
        )
        row = self.session.exec(stmt).first()
        if row is None:
            raise NotFound("measure", text)
        return row

    def get(self, ref: str | int) -> Measure:
        """The domain measure by id or code, or NotFound (read as a plain row: no ORM instance)."""
        return to_domain(self.find(ref))  # type: ignore[arg-type]  # a Row has the same attributes

    def add(self, row: MeasureRow) -> int:
        """Insert a new measure row; its id is known afterwards."""
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        return row.id

    def add_many(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert new measure rows (column dicts) in one statement; their ids, in the order given."""
        if not rows:
            return []
        _autoflush(self.session)  # their problems may still be pending in the session
        result = self.session.connection().execute(_MEASURE_INSERT, list(rows))
        return [r[0] for r in result]

    def seal_many(self, measures: Sequence[Measure]) -> None:
        """Record new measures' version and chain head once their first history records are sealed."""
        if measures:
            self.session.connection().execute(
                _SEAL, [{"where_id": m.id, "new_version": m.version, "new_head": m.head} for m in measures])

    def save(self, measure: Measure, records: Sequence[Record], at: datetime) -> None:
        """Write the measure's new state with its records, if nobody else changed it first."""
        first = records[0].seq
        params: dict[str, Any] = {
            "new_state": str(measure.state), "new_owner": measure.owner, "new_due": measure.due,
            "new_version": measure.version, "new_head": measure.head, "new_evidence_count": measure.evidence_count,
            "new_overdue": measure.overdue, "new_rebounds": measure.rebounds, "new_updated_at": as_utc(at),
            "where_id": measure.id, "where_version": first - 1,
        }
        conn = self.session.connection()
        result = conn.execute(_SAVE, params)
        if result.rowcount != 1:
            now = conn.execute(_VERSION_OF, {"where_id": measure.id}).scalar()
            raise ConcurrentUpdate(measure.code, first - 1, now)
        self.append_history(records)

    def append_history(self, records: Sequence[Record]) -> None:
        """Insert history records (the chain's unique (measure, seq) key refuses a duplicate)."""
        params = [history_params(r) for r in records]
        self.session.connection().execute(_HISTORY_INSERT, params[0] if len(params) == 1 else params)

    def history(self, measure_id: int) -> list[tuple[int, Record]]:
        """One measure's history as (row id, record), in seq order."""
        rows = self.session.exec(
            select(HistoryRow)
            .where(HistoryRow.measure_id == measure_id)
            .order_by(col(HistoryRow.seq), col(HistoryRow.id))
        ).all()
        return [(r.id or 0, to_record(r)) for r in rows]

    def codes_under(self, ref: str) -> list[str]:
        """The measure codes a reference names: one measure (tcj-4.1.2) or a problem's measures (tcj-4.1)."""
        exact = self.session.exec(select(MeasureRow.code).where(MeasureRow.code == ref)).all()
        if exact:
            return list(exact)
        under = col(MeasureRow.code).startswith(ref + ".", autoescape=True)
        return list(self.session.exec(select(MeasureRow.code).where(under).order_by(col(MeasureRow.id))).all())

    def held_by(self, handle: str) -> set[int]:
        """The ids of the measures where `handle` is the owner, the verifier or the leader."""
        stmt = core_select(_MEASURE.c.id).where(or_(
            _MEASURE.c.owner == handle, _MEASURE.c.verifier == handle, _MEASURE.c.leader == handle))
        return {r[0] for r in self.session.connection().execute(stmt)}

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
        """The person as an actor with their round-wide roles (read as a plain row: no ORM instance)."""
        _autoflush(self.session)
        row = self.session.connection().execute(_ACTOR, {"handle": handle}).first()
        if row is None:
            raise NotFound("person", handle)
        return actor_of(row.handle, row.roles)

    def all(self) -> Sequence[PersonRow]:
        """Everybody, by handle."""
        return self.session.exec(select(PersonRow).order_by(col(PersonRow.handle))).all()


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
            stmt = stmt.where(col(AccessLogRow.at) >= as_utc(since))
        if until:
            stmt = stmt.where(col(AccessLogRow.at) < as_utc(until))
        return self.session.exec(stmt.order_by(col(AccessLogRow.at), col(AccessLogRow.id))).all()


class EvidenceRepository:
    """Evidence items of measures."""

    def __init__(self, session: Session):
        self.session = session

    def add(self, rows: Sequence[EvidenceRow]) -> None:
        """Attach evidence items (with the history seq that recorded them), inserted now.

        A plain INSERT, not session.add: the rows are not attached to the session and get no id
        back (no caller needs either), which saves the ORM flush on every submit.
        """
        if rows:
            self.session.connection().execute(_EVIDENCE_INSERT, [r.model_dump(exclude={"id"}) for r in rows])

    def holders(self, sha256: str) -> list[tuple[EvidenceRow, MeasureRow]]:
        """The evidence files with this hash, each with its measure."""
        stmt = (select(EvidenceRow, MeasureRow).join(MeasureRow, col(MeasureRow.id) == EvidenceRow.measure_id)
                .where(EvidenceRow.sha256 == sha256, EvidenceRow.kind == "file").order_by(col(EvidenceRow.id)))
        return [(e, m) for e, m in self.session.exec(stmt).all()]

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

    def body(self, code: str) -> BodyRow | None:
        """An inspected body by code, whichever round it came with."""
        return self.session.exec(select(BodyRow).where(BodyRow.code == code)).first()

    def units(self) -> Sequence[UnitRow]:
        """Every responsible unit, by code."""
        return self.session.exec(select(UnitRow).order_by(col(UnitRow.code))).all()
