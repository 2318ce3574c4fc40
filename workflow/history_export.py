"""History for auditors: the history narrowed by measure, problem, unit, actor, role, event and time,
the refused attempts beside it, and both as JSON, CSV or an Excel workbook."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from states.chain import as_utc
from states.errors import NotFound
from states.model import Event, Role, State
from storage.history import HistoryEntry, HistoryFilter
from storage.uow import UnitOfWork

from .app import App
from .excel import Column, Sheet, write_xlsx
from .ledger import LedgerFilter, ledger

HISTORY_KEYS = ("measure", "seq", "event", "from", "to", "actor", "role", "at", "reason", "evidence", "request_id",
                "data", "hash", "prev_hash")
Notes = dict[tuple[int, int], list[str]]  # (measure id, seq) → the evidence named there
REFUSED_KEYS = ("at", "actor", "event", "measure", "outcome", "message", "request_id")


@dataclass(frozen=True)
class HistoryQuery:
    """What the auditor asks for; every given filter must hold (`events`: any of them)."""

    measure: str | None = None  # a code or number
    problem: str | None = None  # 1, 1.2 or tcj-1.2, as for the ledger
    inspection: str | None = None
    unit: str | None = None
    actor: str | None = None
    role: str | None = None
    events: tuple[str, ...] = ()
    since: datetime | None = None  # UTC, inclusive
    until: datetime | None = None  # UTC, exclusive


def _in_tree(app: App, q: HistoryQuery) -> dict[int, str] | None:
    """The measures (id → code) under the problem and inspection filters; None: no such filter."""
    if q.problem or q.inspection:
        return {r.id: r.code for r in ledger(app, LedgerFilter(problem=q.problem, inspection=q.inspection))}
    return None


def _narrow(uow: UnitOfWork, q: HistoryQuery, chosen: dict[int, str] | None) -> dict[int, str] | None:
    """`chosen` narrowed to the measure filter (NotFound if there is no such measure); None: no filter at all."""
    if not q.measure:
        return chosen
    row = uow.measures.find(q.measure)
    return {row.id: row.code} if chosen is None or row.id in chosen else {}


def _measures(app: App, q: HistoryQuery) -> dict[int, str] | None:
    """The measures (id → code) that the measure, problem and inspection filters leave; None: no such filter."""
    chosen = _in_tree(app, q)
    if not q.measure:
        return chosen
    with app.uow(read_only=True) as uow:
        return _narrow(uow, q, chosen)


def history_rows(app: App, q: HistoryQuery) -> tuple[list[tuple[HistoryEntry, str]], Notes]:
    """The matching history entries with their measure codes, oldest first (one measure's in chain order),
    and the evidence named at each."""
    chosen = _in_tree(app, q)
    # one unit of work for the measure, its history and its evidence: one measure's history is the
    # common lookup (a measure's page, `rectify history CODE`), and each unit of work costs a pool
    # checkout; by code, the measure and its history come in one statement
    with app.uow(read_only=True) as uow:
        if q.measure and q == HistoryQuery(measure=q.measure):
            rows = uow.history.of_measure(q.measure)
        else:
            chosen = _narrow(uow, q, chosen)
            rows = uow.history.query(HistoryFilter(
                measure_ids=None if chosen is None else set(chosen), unit=q.unit, actor=q.actor, role=q.role,
                events=q.events, since=q.since, until=q.until))
        notes: Notes = {}
        # evidence items are stored with the record that names their hashes: no hashes, nothing to read
        for e in uow.history.evidence({h.measure_id for h, _ in rows if h.evidence}):
            notes.setdefault((e.measure_id, e.seq), []).append(e.note if e.kind == "note" else f"📎{e.name}")
    return rows, notes


def history_page(app: App, q: HistoryQuery, limit: int, offset: int = 0, only: set[int] | None = None
                 ) -> tuple[int, list[tuple[HistoryEntry, str]], Notes]:
    """One page of the matching history (oldest first), how many match in all, and the page's evidence.

    The page is cut by the database (LIMIT/OFFSET, and a count), so a search over millions of records
    reads one page of them; `only` keeps the measures a person may see.
    """
    chosen = _in_tree(app, q)
    with app.uow(read_only=True) as uow:
        chosen = _narrow(uow, q, chosen)
        if only is not None:
            chosen = {i: c for i, c in (chosen or {}).items() if i in only} if chosen is not None else \
                {i: "" for i in only}
        f = HistoryFilter(measure_ids=None if chosen is None else set(chosen), unit=q.unit, actor=q.actor,
                          role=q.role, events=q.events, since=q.since, until=q.until)
        total = uow.history.matching(f)
        rows = uow.history.query(replace(f, limit=limit, offset=offset)) if offset < total else []
        notes: Notes = {}
        named = {(h.measure_id, h.seq) for h, _ in rows if h.evidence}
        for e in uow.history.evidence({m for m, _ in named}):
            if (e.measure_id, e.seq) in named:
                notes.setdefault((e.measure_id, e.seq), []).append(e.note if e.kind == "note" else f"📎{e.name}")
    return total, rows, notes


def refused_rows(app: App, q: HistoryQuery) -> list[Any]:
    """The refused attempts (access log) that match: by measure (as typed: code or number), actor, event, time."""
    try:
        chosen = _measures(app, q)
    except NotFound:  # an attempt on a measure that does not exist is still worth seeing
        chosen = None if q.problem or q.inspection else {-1: str(q.measure)}
        if chosen is None:
            return []
    if q.unit:
        unit_measures = {r.id: r.code for r in ledger(app, LedgerFilter(unit=q.unit))}
        chosen = unit_measures if chosen is None else {k: v for k, v in chosen.items() if k in unit_measures}
    refs = None if chosen is None else {*chosen.values(), *(str(i) for i in chosen)}
    with app.uow(read_only=True) as uow:
        rows = uow.access_log.query(q.actor, q.since, q.until)
    return [r for r in rows if (refs is None or r.measure in refs) and (not q.events or r.event in q.events)]


def history_item(h: Any, code: str) -> dict[str, Any]:
    """One history row as a plain dict (the JSON and CSV form)."""
    return {"measure": code, "seq": h.seq, "event": h.event, "from": h.from_state, "to": h.to_state,
            "actor": h.actor, "role": h.role, "at": as_utc(h.at).isoformat(), "reason": h.reason,
            "evidence": list(h.evidence), "request_id": h.request_id, "data": h.data, "hash": h.hash,
            "prev_hash": h.prev_hash}


def refused_item(r: Any) -> dict[str, Any]:
    """One refused attempt as a plain dict."""
    return {"at": as_utc(r.at).isoformat(), "actor": r.actor, "event": r.event, "measure": r.measure,
            "outcome": r.outcome, "message": r.message, "request_id": r.request_id}



def write_json(items: Sequence[dict[str, Any]], out: IO[str]) -> None:
    """Items as a JSON array."""
    out.write(json.dumps(list(items), ensure_ascii=False, indent=2, default=str) + "\n")


def write_csv(items: Sequence[dict[str, Any]], keys: Sequence[str], out: IO[str]) -> None:
    """Items as CSV: lists and dicts as compact JSON, times in UTC ISO form."""
    w = csv.writer(out)
    w.writerow(keys)
    for it in items:
        w.writerow([_flat(it[k]) for k in keys])


def _flat(v: Any) -> Any:
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "" if v is None else v


_HISTORY_COLUMNS = (
    Column("时间", 17, "local", "datetime"), Column("措施", 14, "measure"), Column("序号", 6, "seq", "int"),
    Column("事件", 12, "event_label"), Column("原状态", 10, "from_label"), Column("新状态", 10, "to_label"),
    Column("操作人", 14, "actor"), Column("角色", 10, "role_label"), Column("说明", 44, "reason"),
    Column("佐证", 36, "notes"), Column("佐证哈希(SHA-256)", 30, "evidence_text"), Column("请求号", 18, "request_id"),
    Column("数据", 30, "data_text"), Column("哈希", 30, "hash"), Column("前一哈希", 30, "prev_hash"),
    Column("时间(UTC)", 27, "at"),
)
_REFUSED_COLUMNS = (
    Column("时间", 17, "local", "datetime"), Column("操作人", 14, "actor"), Column("事件", 12, "event_label"),
    Column("措施", 14, "measure"), Column("结果", 10, "outcome"), Column("原因", 60, "message"),
    Column("请求号", 18, "request_id"), Column("时间(UTC)", 27, "at"),
)


def label(enum: Any, value: str | None) -> str:
    """The Chinese label of an event, state or role value; the value itself if it is not one."""
    if value is None:
        return ""
    try:
        return str(enum(value).label)
    except ValueError:
        return value


def history_sheets(rows: Sequence[tuple[Any, str]], notes: dict[tuple[int, int], list[str]], refused: Sequence[Any],
                   zone: ZoneInfo) -> list[Sheet]:
    """The history and the refused attempts as two sheets of a workbook (times local and UTC)."""
    hist = []
    for h, code in rows:
        it = history_item(h, code)
        hist.append({**it, "local": as_utc(h.at).astimezone(zone).replace(tzinfo=None, microsecond=0),
                     "event_label": label(Event, h.event),
                     "from_label": label(State, h.from_state), "to_label": label(State, h.to_state),
                     "role_label": label(Role, h.role), "notes": "\n".join(notes.get((h.measure_id, h.seq), [])),
                     "evidence_text": "\n".join(h.evidence), "data_text": _flat(h.data) if h.data else ""})
    ref = [{**refused_item(r), "local": as_utc(r.at).astimezone(zone).replace(tzinfo=None, microsecond=0),
            "event_label": label(Event, r.event)} for r in refused]
    return [Sheet("整改记录", _HISTORY_COLUMNS, hist), Sheet("被拒绝的操作", _REFUSED_COLUMNS, ref)]


def export_history(app: App, q: HistoryQuery, fmt: str, out: Path | IO[str], *, refused: bool = False,
                   zone: ZoneInfo | None = None) -> int:
    """Write the history (or, with `refused`, the refused attempts) as json or csv, or both as xlsx; how many rows."""
    zone = zone or ZoneInfo("Asia/Shanghai")
    if fmt == "xlsx":
        assert isinstance(out, Path), "a workbook is written to a file"
        rows, notes = history_rows(app, q)
        refusals = refused_rows(app, q)
        write_xlsx(history_sheets(rows, notes, refusals, zone), out)
        return len(refusals) if refused else len(rows)
    if refused:
        items = [refused_item(r) for r in refused_rows(app, q)]
        keys: Sequence[str] = REFUSED_KEYS
    else:
        items = [history_item(h, code) for h, code in history_rows(app, q)[0]]
        keys = HISTORY_KEYS
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="") as fh:
            _write(items, keys, fmt, fh)
    else:
        _write(items, keys, fmt, out)
    return len(items)


def _write(items: Sequence[dict[str, Any]], keys: Sequence[str], fmt: str, out: IO[str]) -> None:
    if fmt == "json":
        write_json(items, out)
    else:
        write_csv(items, keys, out)
