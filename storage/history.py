"""The history's read side: what auditors, `rectify history`, the API and `rectify audit verify` read.

Read as plain rows and decoded here, not as ORM objects: every lookup is read-only, and building an
object per row cost more than the SQL itself (bench/history_lookup.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, Text, bindparam, cast, func, null, type_coerce, union_all
from sqlalchemy import select as core_select
from sqlalchemy.types import NullType
from sqlmodel import Session, select

from states.chain import Record, as_utc

from .repositories import _HISTORY, _MEASURE, MeasureRepository, _as_id, _autoflush, to_record
from .tables import EvidenceRow, HistoryRow, MeasureRow


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


if HistoryEntry._fields != tuple(_HISTORY.c.keys()):  # entries() decodes the columns by position
    raise RuntimeError(f"HistoryEntry's fields {HistoryEntry._fields} differ from the history table's columns")

# The history's columns as the driver hands them over; entries() decodes them. SQLAlchemy's JSON and
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


def entries(rows: Sequence[Sequence[Any]]) -> list[tuple[HistoryEntry, str]]:
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
# history rows without the measure's code (not needed), in entries' shape
HISTORY_ROWS = core_select(*_HISTORY_COLUMNS, null().label("code"))
_HISTORY_OF_SPAN = (HISTORY_ROWS
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
        stmt = stmt.where(h.c.at >= as_utc(f.since))
    if f.until:
        stmt = stmt.where(h.c.at < as_utc(f.until))
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
            return entries(conn.execute(_ONE_MEASURES_HISTORY, {"measure_id": one}).all())
        stmt = _filtered(_HISTORY_READ, f)
        stmt = stmt.order_by(h.c.seq) if one is not None else stmt.order_by(h.c.at, h.c.measure_id, h.c.seq)
        if f.limit:
            stmt = stmt.limit(f.limit)
        if f.offset:
            stmt = stmt.offset(f.offset)
        return entries(conn.execute(stmt).all())

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
                return entries(rows)
        measure = MeasureRepository(self.session).find(text)
        return entries(conn.execute(_ONE_MEASURES_HISTORY, {"measure_id": measure.id}).all())

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
            for e, _ in entries(conn.execute(_HISTORY_OF_SPAN, span).all()):
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
