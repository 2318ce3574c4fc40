"""Repositories: load and save domain objects; no commits here, the unit of work commits."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, Text, bindparam, cast, func, insert, null, or_, type_coerce, union_all, update
from sqlalchemy import select as core_select
from sqlalchemy.types import NullType
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
        "to_state": rec.to_state, "actor": rec.actor, "role": rec.role, "at": _utc(rec.at), "reason": rec.reason,
        "evidence": list(rec.evidence), "request_id": rec.request_id, "data": rec.data,
        "prev_hash": rec.prev_hash, "hash": rec.hash,
    }


def _utc(at: datetime) -> datetime:
    """An aware time in UTC, as stored; a naive one is taken to be UTC already."""
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


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
        text = str(ref).strip()
        _autoflush(self.session)
        as_id = _as_id(text)
        if as_id is not None:
            result = self.session.connection().execute(_MEASURE_BY_CODE_OR_ID, {"ref_code": text, "ref_id": as_id})
        else:
            result = self.session.connection().execute(_MEASURE_BY_CODE, {"ref_code": text})
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
            "new_overdue": measure.overdue, "new_rebounds": measure.rebounds, "new_updated_at": _utc(at),
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
    offset: int = 0  # skip this many of the matches (a page further on)
    measure_ids: Collection[int] | None = None  # only these measures (e.g. a problem's)
    unit: str | None = None  # only measures of this responsible unit (责任部门)
    role: str | None = None  # only what was done in this role
    events: Collection[str] = ()  # only these events


class HistoryEntry(NamedTuple):
    """One history record as read back for auditors: the history row's columns, `at` in UTC, JSON decoded."""

    id: int
    measure_id: int
    seq: int
    event: str
    from_state: str | None
    to_state: str | None
    actor: str
    role: str
    at: datetime
    reason: str
    evidence: list[str]
    request_id: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


if HistoryEntry._fields != tuple(_HISTORY.c.keys()):  # _entries decodes the columns by position
    raise RuntimeError(f"HistoryEntry's fields {HistoryEntry._fields} differ from the history table's columns")

# The history's columns as the driver hands them over; _entries decodes them. SQLAlchemy's JSON and
# UTCDateTime result processors (json.loads behind two wrappers, a regex parse and a
# replace(tzinfo=UTC) per value) cost more per lookup than the SQL did. JSON is cast to text so
# that psycopg leaves it alone too; `at` comes as SQLite's text or as psycopg's aware datetime.
_HISTORY_COLUMNS = tuple(cast(c, Text).label(c.name) if c.name in ("evidence", "data")
                         else type_coerce(c, NullType).label(c.name) if c.name == "at" else c for c in _HISTORY.c)
_HISTORY_READ = (core_select(*_HISTORY_COLUMNS, _MEASURE.c.code)
                 .select_from(_HISTORY.join(_MEASURE, _MEASURE.c.id == _HISTORY.c.measure_id)))
# One measure's history in chain order, built once: read straight off the unique (measure_id, seq)
# index, so the database sorts nothing.
_ONE_MEASURES_HISTORY = (_HISTORY_READ.where(_HISTORY.c.measure_id == bindparam("measure_id"))
                         .order_by(_HISTORY.c.seq))
# the same by the measure's code: the measure and its history in one statement (one round trip)
_HISTORY_BY_CODE = _HISTORY_READ.where(_MEASURE.c.code == bindparam("code")).order_by(_HISTORY.c.seq)
# the stored JSON is a document and nothing else: raw_decode skips loads()'s checks for leading and
# trailing whitespace (two regex matches and two wrapper calls, ~3x the parse of a small value)
_json = json.JSONDecoder().raw_decode
_EVIDENCE = EvidenceRow.__table__  # type: ignore[attr-defined]
# what the history shows of each evidence item: one measure's (a plain `=`, cheaper to run than an
# IN list, which SQLAlchemy expands on every call) or a batch of measures'
_EVIDENCE_NAMED = core_select(_EVIDENCE.c.measure_id, _EVIDENCE.c.seq, _EVIDENCE.c.kind, _EVIDENCE.c.name,
                              _EVIDENCE.c.note).order_by(_EVIDENCE.c.id)
_EVIDENCE_OF_ONE = _EVIDENCE_NAMED.where(_EVIDENCE.c.measure_id == bindparam("measure_id"))
_EVIDENCE_OF_BATCH = _EVIDENCE_NAMED.where(_EVIDENCE.c.measure_id.in_(bindparam("measure_ids", expanding=True)))
_BATCH = 500  # measure ids per IN (…): SQLite takes at most 32766 parameters


def _utc_at(value: str | datetime) -> datetime:
    """A stored `at` as an aware UTC time (SQLite keeps it as UTC text without an offset)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    try:
        return datetime.fromisoformat(value + "+00:00")  # ~5x cheaper than parsing, then .replace(tzinfo=UTC)
    except ValueError:  # a text that carries its own offset
        return datetime.fromisoformat(value).astimezone(UTC)


def _entries(rows: Sequence[Sequence[Any]]) -> list[tuple[HistoryEntry, str]]:
    """Rows of _HISTORY_COLUMNS plus the measure code as (entry, code); empty lists and dicts skip the JSON
    parser. One loop that unpacks each row: a call per row, or `row.code`, cost as much as the decoding."""
    out = []
    for row in rows:
        id_, measure_id, seq, event, frm, to, actor, role, at, reason, ev, request_id, data, prev, h, code = row
        out.append((HistoryEntry(id_, measure_id, seq, event, frm, to, actor, role, _utc_at(at), reason,
                                 [] if ev == "[]" else _json(ev)[0], request_id,
                                 {} if data == "{}" else _json(data)[0], prev, h), code))
    return out


# walking every chain: the measures with ids in [lo, hi), and their histories in chain order
_CHAIN_BATCH = 1000
_HISTORY_OF_SPAN = (core_select(*_HISTORY_COLUMNS, null().label("code"))  # no code needed, but _entries' shape
                    .where(_HISTORY.c.measure_id >= bindparam("lo"), _HISTORY.c.measure_id < bindparam("hi"))
                    .order_by(_HISTORY.c.measure_id, _HISTORY.c.seq, _HISTORY.c.id))
_MEASURES_OF_SPAN = (core_select(_MEASURE).where(_MEASURE.c.id >= bindparam("lo"), _MEASURE.c.id < bindparam("hi"))
                     .order_by(_MEASURE.c.id))
_ENDS = union_all(  # each an index lookup; history may outlive a deleted measure row
    core_select(func.min(_MEASURE.c.id).label("id")), core_select(func.max(_MEASURE.c.id)),
    core_select(func.min(_HISTORY.c.measure_id)), core_select(func.max(_HISTORY.c.measure_id)),
).subquery()
_ID_SPAN = core_select(func.min(_ENDS.c.id), func.max(_ENDS.c.id))  # the lowest and highest measure id


def _one_measure(f: HistoryFilter) -> int | None:
    """The measure the filter narrows the history to, if it names exactly one."""
    if f.measure_id is not None:
        return f.measure_id
    if f.measure_ids is not None and len(f.measure_ids) == 1:
        return next(iter(f.measure_ids))
    return None


def _filtered(stmt: Any, f: HistoryFilter) -> Any:
    """`stmt` (over history joined to measure) narrowed by the filter's conditions."""
    h, m = _HISTORY, _MEASURE
    if f.measure_id is not None:
        stmt = stmt.where(h.c.measure_id == f.measure_id)
    if f.actor:
        stmt = stmt.where(h.c.actor == f.actor)
    if f.measure_ids is not None:
        stmt = stmt.where(h.c.measure_id.in_(sorted(f.measure_ids)))
    if f.unit:
        stmt = stmt.where(m.c.unit == f.unit)
    if f.role:
        stmt = stmt.where(h.c.role == f.role)
    if f.events:
        stmt = stmt.where(h.c.event.in_(sorted(f.events)))
    if f.since:
        stmt = stmt.where(h.c.at >= _utc(f.since))
    if f.until:
        stmt = stmt.where(h.c.at < _utc(f.until))
    return stmt


class HistoryRepository:
    """The append-only history, read side."""

    def __init__(self, session: Session):
        self.session = session

    def query(self, f: HistoryFilter) -> list[tuple[HistoryEntry, str]]:
        """History entries with their measure's code, oldest first: one measure's in chain order (by seq,
        the order its records were sealed in), several measures' by time.

        Read as plain rows and decoded here, not as ORM objects: an auditor's lookup is read-only,
        and building an object per row cost more than the SQL itself.
        """
        h = _HISTORY
        one = _one_measure(f)
        _autoflush(self.session)
        conn = self.session.connection()
        narrowed = f.actor or f.unit or f.role or f.events or f.since or f.until or f.limit or f.offset
        # .all() below: one fetchall; iterating the result fetches row by row (a driver call per row)
        if one is not None and not narrowed and (f.measure_ids is None or one in f.measure_ids):
            return _entries(conn.execute(_ONE_MEASURES_HISTORY, {"measure_id": one}).all())
        stmt = _filtered(_HISTORY_READ, f)
        stmt = stmt.order_by(h.c.seq) if one is not None else stmt.order_by(h.c.at, h.c.measure_id, h.c.seq)
        if f.limit:
            stmt = stmt.limit(f.limit)
        if f.offset:
            stmt = stmt.offset(f.offset)
        return _entries(conn.execute(stmt).all())

    def matching(self, f: HistoryFilter) -> int:
        """How many history entries the filter leaves (its limit and offset aside): a page's total."""
        _autoflush(self.session)
        stmt = _filtered(core_select(func.count()).select_from(_HISTORY.join(_MEASURE, _MEASURE.c.id ==
                                                                              _HISTORY.c.measure_id)), f)
        return int(self.session.connection().execute(stmt).scalar_one())

    def of_measure(self, ref: str | int) -> list[tuple[HistoryEntry, str]]:
        """One measure's history (by code or number) with its code, in chain order; NotFound if no such measure.

        By code it takes one statement, the measure joined to its history. Only when that finds
        nothing is the measure looked up apart, to tell a wrong code from a measure without history.
        """
        text = str(ref).strip()
        _autoflush(self.session)
        conn = self.session.connection()
        if _as_id(text) is None:
            rows = conn.execute(_HISTORY_BY_CODE, {"code": text}).all()
            if rows:
                return _entries(rows)
        measure = MeasureRepository(self.session).find(text)
        return _entries(conn.execute(_ONE_MEASURES_HISTORY, {"measure_id": measure.id}).all())

    def evidence(self, measure_ids: Collection[int]) -> list[Row[*tuple[Any, ...]]]:
        """The evidence items recorded with these measures' history: (measure_id, seq, kind, name, note)
        as plain rows, oldest first."""
        _autoflush(self.session)
        conn = self.session.connection()
        ids = sorted(measure_ids)
        if len(ids) == 1:
            return list(conn.execute(_EVIDENCE_OF_ONE, {"measure_id": ids[0]}).all())
        out: list[Row[*tuple[Any, ...]]] = []
        for i in range(0, len(ids), _BATCH):
            out += conn.execute(_EVIDENCE_OF_BATCH, {"measure_ids": ids[i:i + _BATCH]}).all()
        return out

    def chains(self) -> Iterator[tuple[Any, list[tuple[int, Record]]]]:
        """Every measure (a plain row) with its history as (row id, record), for verification, one at a time.

        Read _CHAIN_BATCH measures at a time: memory stays flat however long the history grows (ten
        million records held at once would not fit). A measure row that was deleted comes last, as a
        stand-in row with version -1, with the history it left behind.
        """
        _autoflush(self.session)
        conn = self.session.connection()
        lo, hi = conn.execute(_ID_SPAN).one()
        orphans: list[tuple[int, list[tuple[int, Record]]]] = []
        for start in range(lo or 0, (hi or -1) + 1, _CHAIN_BATCH):
            span = {"lo": start, "hi": start + _CHAIN_BATCH}
            by_measure: dict[int, list[tuple[int, Record]]] = {}
            for e, _ in _entries(conn.execute(_HISTORY_OF_SPAN, span).all()):
                by_measure.setdefault(e.measure_id, []).append((e.id, to_record(e)))
            for m in conn.execute(_MEASURES_OF_SPAN, span).all():
                yield m, by_measure.pop(m.id, [])
            orphans += by_measure.items()
        for measure_id, chain in orphans:
            yield MeasureRow(id=measure_id, code=f"#{measure_id} (deleted)", problem_id=0, position=0, ref="",
                             title="", kind="deadline", state="", owner="", verifier="", leader="",
                             due=date.min, version=-1, updated_at=datetime.min.replace(tzinfo=UTC)), chain

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
