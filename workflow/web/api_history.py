"""REST: the history search and the refused attempts, for auditors (and, narrowed, for everyone)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response

from states.errors import InvalidInput
from states.model import Event, Role

from ..history_export import HistoryQuery, history_item, history_page, refused_item, refused_rows
from . import access
from .deps import ActorDep, AppDep
from .schemas import ERRORS, HistoryItem, HistoryPage, RefusedItem, RefusedPage

router = APIRouter(prefix="/api/history", tags=["history"], responses=ERRORS)

ZONE = ZoneInfo("Asia/Shanghai")
Text = Annotated[str | None, Query(max_length=128)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
When = Annotated[str | None, Query(max_length=40, description="A date (YYYY-MM-DD, local) or an ISO date-time.")]


def history_items(rows: list[tuple[Any, str]], notes: dict[tuple[int, int], list[str]]) -> list[HistoryItem]:
    """History rows as the API shows them."""
    out = []
    for h, code in rows:
        d = history_item(h, code)
        out.append(HistoryItem(
            measure=code, seq=d["seq"], event=d["event"], event_label=_label(d["event"]), from_state=d["from"],
            to_state=d["to"], actor=d["actor"], role=d["role"], at=d["at"], reason=d["reason"],
            evidence=d["evidence"], evidence_named=notes.get((h.measure_id, h.seq), []), request_id=d["request_id"],
            data=d["data"], hash=d["hash"], prev_hash=d["prev_hash"]))
    return out


def _label(event: str) -> str:
    try:
        return Event(event).label
    except ValueError:
        return event


def when(name: str, text: str | None, *, end: bool = False) -> datetime | None:
    """A date (its start, or with `end` the start of the next day, local time) or an ISO date-time, in UTC."""
    if text is None or not text.strip():
        return None
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip()) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), ZONE).astimezone(UTC)
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(name, f"{text!r} is not a date (YYYY-MM-DD) or a date-time (ISO 8601)") from None
    return (at if at.tzinfo else at.replace(tzinfo=ZONE)).astimezone(UTC)


def _query(measure: str | None, problem: str | None, inspection: str | None, unit: str | None, actor: str | None,
           role: Role | None, event: list[Event] | None, since: str | None, until: str | None) -> HistoryQuery:
    return HistoryQuery(measure=measure or None, problem=problem or None, inspection=inspection or None,
                        unit=unit or None, actor=actor or None, role=str(role) if role else None,
                        events=tuple(str(e) for e in event or ()), since=when("since", since),
                        until=when("until", until, end=True))


@router.get("", response_model=HistoryPage)
def search(
    app: AppDep, who: ActorDep,
    measure: Text = None, problem: Text = None, inspection: Text = None, unit: Text = None,
    actor: Text = None, role: Role | None = None,
    event: Annotated[list[Event] | None, Query(description="Only these events (repeat the parameter).")] = None,
    since: When = None, until: When = None, limit: Limit = 100, offset: Offset = 0,
) -> HistoryPage:
    """The history of every measure (or those the filters leave), oldest first. Leaders, auditors and admins
    see it all; anyone else only the measures they hold a part in (`narrowed`), and naming another's
    measure is refused."""
    q = _query(measure, problem, inspection, unit, actor, role, event, since, until)
    narrowed = not access.oversees(who)
    if narrowed and q.measure:
        with app.uow(read_only=True) as uow:
            row = uow.measures.find(q.measure)
        access.ensure_inside(app, who, "read_history", row.code, row.owner, row.verifier, row.leader)
    total, page, notes = history_page(app, q, limit, offset, set(access.held(app, who)) if narrowed else None)
    return HistoryPage(total=total, limit=limit, offset=offset,
                       next_offset=offset + len(page) if page and offset + len(page) < total else None,
                       narrowed=narrowed, items=history_items(page, notes))


@router.get("/refused", response_model=RefusedPage)
def refused(
    app: AppDep, who: ActorDep,
    measure: Text = None, problem: Text = None, inspection: Text = None, unit: Text = None, actor: Text = None,
    event: Annotated[list[str] | None, Query(description="Only these events (repeat the parameter).")] = None,
    since: When = None, until: When = None, limit: Limit = 100, offset: Offset = 0,
) -> RefusedPage:
    """The refused attempts (not permitted, illegal, stale, unknown), oldest first. Leaders, auditors and
    admins see them all; anyone else their own (`narrowed`)."""
    q = _query(measure, problem, inspection, unit, actor, None, None, since, until)
    q = replace(q, events=tuple(event or ()))
    narrowed = not access.oversees(who)
    if narrowed:
        q = replace(q, actor=who.handle)
    rows = refused_rows(app, q) if not (narrowed and actor and actor != who.handle) else []
    page = rows[offset:offset + limit]
    return RefusedPage(total=len(rows), limit=limit, offset=offset,
                       next_offset=offset + len(page) if page and offset + len(page) < len(rows) else None,
                       narrowed=narrowed, items=[RefusedItem(**refused_item(r)) for r in page])


class ExportFormat(StrEnum):
    """History export formats."""

    csv = "csv"
    json = "json"
    xlsx = "xlsx"


MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@router.get("/export", response_class=Response,
            responses={200: {"description": "The file", "content": {m: {} for m in MEDIA.values()}}})
def export(
    app: AppDep, who: ActorDep, format: ExportFormat = ExportFormat.csv,  # noqa: A002
    refused: Annotated[bool, Query(description="The refused attempts instead (csv, json).")] = False,
    measure: Text = None, problem: Text = None, inspection: Text = None, unit: Text = None, actor: Text = None,
    role: Role | None = None, event: Annotated[list[Event] | None, Query()] = None,
    since: When = None, until: When = None,
) -> Response:
    """The history (or the refused attempts) as a file; the xlsx holds both side by side. For leaders,
    auditors and admins."""
    from ..history_export import export_history

    access.ensure_role(app, who, access.OVERSEERS, "export_history", "export the history")
    q = _query(measure, problem, inspection, unit, actor, role, event, since, until)
    name = f"{'refused' if refused else 'history'}.{format.value}"
    if format is ExportFormat.xlsx:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / name
            export_history(app, q, "xlsx", path, refused=refused, zone=ZONE)
            data = path.read_bytes()
    else:
        buf = io.StringIO()
        export_history(app, q, format.value, buf, refused=refused, zone=ZONE)
        data = ("\ufeff" if format is ExportFormat.csv else "").encode() + buf.getvalue().encode()
    return Response(data, media_type=MEDIA[format.value],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
