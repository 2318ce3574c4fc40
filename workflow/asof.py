"""The ledger as it stood at a date, rebuilt from the history alone; and the snapshot reports read.

A day means its end in the inspection's time zone: every history record before the next local
midnight counts. Each measure is rebuilt by `states.measure.replay` over its records up to then,
so its state, owner, due date, overdue flag and rebounds are what the history said at the time,
whatever its row says today. Only what never changes after import (problem, title, unit, people's
names) is taken from today's rows; a measure created after the day is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from states.chain import Record
from states.errors import InvalidInput, NotFound
from states.measure import replay
from states.model import Event, State
from states.outcome import Figures
from states.results import is_overdue
from storage.snapshots import MeasureText
from storage.tables import EvidenceRow, InspectionRow

from .app import App
from .ledger import LedgerFilter, LedgerRow, ledger, today_in


def cutoff(day: date, zone: str) -> datetime:
    """The end of `day` in `zone`, as an exclusive UTC bound: the next local midnight."""
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(zone)).astimezone(UTC)


def prefix_until(records: list[Record], until: datetime) -> list[Record]:
    """A chain's records (seq order) from the first up to the last one before `until`, without gaps."""
    out: list[Record] = []
    for r in records:
        at = r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)
        if r.seq != len(out) + 1 or at >= until:
            break
        out.append(r)
    return out


def figures_in(records: list[Record]) -> Figures:
    """A measure's outcome figures as its last outcome record among `records` set them."""
    last = next((r for r in reversed(records) if r.event == Event.OUTCOME), None)
    return Figures.from_data(last.data) if last else Figures()


def replayed_row(row: LedgerRow, records: list[Record], day: date, names: dict[str, str]) -> LedgerRow | None:
    """`row` as `records` (a chain prefix) say it stood at the end of `day`; None if it did not exist yet."""
    if not records or records[0].event != Event.CREATE:
        return None
    m = replay(records, row.code)
    return replace(row, state=str(m.state), owner=m.owner, owner_name=names.get(m.owner, m.owner), due=m.due,
                   overdue=m.overdue or is_overdue(m.state, m.due, day), rebounds=m.rebounds, version=m.version)


def ledger_as_of(app: App, day: date, f: LedgerFilter | None = None) -> list[LedgerRow]:
    """The ledger rows matching `f` as they stood at the end of `day`, rebuilt from the history."""
    f = f or LedgerFilter()
    rows: list[LedgerRow] = []
    for ins in inspections(app, f.inspection):
        then = _rows_as_of(app, ins, day, LedgerFilter(unit=f.unit, problem=f.problem, inspection=ins.code))
        rows += [r for r in then if (f.state is None or r.state == str(f.state))
                 and (f.owner is None or r.owner == f.owner) and (not f.overdue or r.overdue)]
    return rows


def _rows_as_of(app: App, ins: InspectionRow, day: date, static: LedgerFilter) -> list[LedgerRow]:
    """A round's ledger rows (narrowed by what never changes) as they stood at the end of `day`.

    The history is read as a stream and each measure replayed as its records arrive, so only one
    measure's history is held at a time, not the round's (a report, which reads the history too,
    takes `snapshot`)."""
    _refuse_future(day, today_in(app, ins.timezone))
    assert ins.id is not None
    until = cutoff(day, ins.timezone)
    now_rows = {r.id: r for r in ledger(app, static)}
    then: dict[int, LedgerRow] = {}
    with app.uow(read_only=True) as uow:
        names = {p.handle: p.name for p in uow.people.all()}
        for mid, records in uow.snapshots.history_stream([ins.id], until):
            row = now_rows.get(mid)
            replayed = replayed_row(row, prefix_until(records, until), day, names) if row else None
            if replayed is not None:
                then[mid] = replayed
    return [then[i] for i in now_rows if i in then]  # in the ledger's order


def _refuse_future(day: date, today: date) -> None:
    if day > today:
        raise InvalidInput("--as-of", f"{day} is after today ({today}); the history cannot tell the future")


@dataclass(frozen=True)
class Snapshot:
    """One round's ledger at a day, with what reports and statistics read beside it."""

    inspection: InspectionRow
    day: date  # the local day it stands at (today, or the --as-of day)
    rebuilt: bool  # rebuilt from the history (--as-of), or today's rows
    rows: list[LedgerRow]
    history: dict[int, list[Record]]  # each measure's records up to the day
    evidence: dict[int, list[EvidenceRow]]  # the evidence recorded by then
    texts: dict[int, MeasureText]
    figures: dict[int, Figures]  # outcome figures, by measure id
    names: dict[str, str]  # people's names by handle

    @property
    def zone(self) -> ZoneInfo:
        """The inspection's time zone."""
        return ZoneInfo(self.inspection.timezone)


def inspections(app: App, code: str | None = None) -> list[InspectionRow]:
    """The round named by `code`, or every round; NotFound when there is none."""
    with app.uow(read_only=True) as uow:
        found = [uow.tree.inspection(code)] if code else list(uow.tree.inspections())
    rounds = [i for i in found if i is not None]
    if not rounds:
        raise NotFound("inspection", code or "(any)")
    return rounds


def one_inspection(app: App, code: str | None = None) -> InspectionRow:
    """The round named by `code`, or the only one; a clear error when several could be meant."""
    rounds = inspections(app, code)
    if len(rounds) > 1:
        raise InvalidInput("--inspection", f"there are {len(rounds)} inspection rounds; pick one: "
                           + ", ".join(i.code for i in rounds))
    return rounds[0]


def snapshot(app: App, ins: InspectionRow, day: date | None = None, *,
             static: LedgerFilter | None = None, texts: bool = True) -> Snapshot:
    """The round today (day None: today's rows) or at the end of `day` (rebuilt from the history).

    `static` narrows the rows by what never changes (unit, problem); `texts=False` leaves out the
    measures' texts and evidence, which only reports read.
    """
    today = today_in(app, ins.timezone)
    if day is not None:
        _refuse_future(day, today)
    assert ins.id is not None
    until = cutoff(day, ins.timezone) if day is not None else None
    now_rows = ledger(app, static or LedgerFilter(inspection=ins.code))
    with app.uow(read_only=True) as uow:
        history = uow.snapshots.history([ins.id], until)
        evidence = uow.snapshots.evidence([ins.id]) if texts else {}
        wording = uow.snapshots.texts([ins.id]) if texts else {}
        names = {p.handle: p.name for p in uow.people.all()}
        figures = uow.outcomes.of_many([r.id for r in now_rows]) if until is None else {}
    if until is None or day is None:
        return Snapshot(ins, today, False, now_rows, history, evidence, wording, figures, names)
    history = {mid: prefix_until(recs, until) for mid, recs in history.items()}
    rows = [r for r in (replayed_row(r, history.get(r.id, []), day, names) for r in now_rows) if r is not None]
    seen = {r.id: r.version for r in rows}
    evidence = {mid: [e for e in items if e.seq <= seen[mid]] for mid, items in evidence.items() if mid in seen}
    recorded = {r.id: figures_in(history[r.id]) for r in rows}
    figures = {mid: f for mid, f in recorded.items() if not f.empty}
    return Snapshot(ins, day, True, rows, history, evidence, wording, figures, names)


def local_day(at: datetime, zone: ZoneInfo) -> date:
    """The local date of a stored time (UTC; a naive one is taken as UTC)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).date()


def closed_on(records: list[Record], zone: ZoneInfo) -> date | None:
    """The local day of the measure's last close-out (销号), if it is closed at the end of `records`."""
    if not records or records[-1].to_state != State.CLOSED:
        return None
    last = next(r for r in reversed(records) if r.event == Event.CLOSE)
    return local_day(last.at, zone)
