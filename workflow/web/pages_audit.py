"""The auditor's history search (measure, actor, event, dates), its export, and the refused attempts beside it."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from states.errors import InvalidInput
from states.model import Event, Role
from storage.repositories import to_record

from ..app import App
from ..history_export import HistoryQuery, export_history, history_rows, refused_rows
from . import access
from .deps import AppDep
from .pages import ZONE, Person, PersonDep, gettext_for, page_router, render, state_label_for
from .pages_measure import explain

router = page_router()
EVENTS = {e.value for e in Event}
SHOWN = 500  # history rows on the page (the newest); the export has them all
EXPORTS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _overseer(app: App, person: Person) -> None:
    """The history search and the refused attempts are for the people who read everything (refusals recorded)."""
    access.ensure_role(app, person.actor, access.OVERSEERS, "history", "search the history")


def _day(name: str, text: str | None, *, end: bool = False) -> datetime | None:
    """A local date (YYYY-MM-DD) as a UTC bound; an end date counts in full."""
    if not text:
        return None
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(name, f"{text!r} is not a date (YYYY-MM-DD)") from None
    return datetime.combine(d + timedelta(days=1) if end else d, time(), ZONE).astimezone(UTC)


def _query(measure: str | None, actor: str | None, event: str | None, since: str | None,
           until: str | None) -> HistoryQuery:
    if event and event not in {e.value for e in Event}:
        raise InvalidInput("event", f"{event!r} is not an event")
    return HistoryQuery(measure=(measure or "").strip() or None, actor=(actor or "").strip() or None,
                        events=(event,) if event else (), since=_day("since", since),
                        until=_day("until", until, end=True))


@router.get("/history")
def history_page(request: Request, app: AppDep, person: PersonDep, measure: str | None = None,
                 actor: str | None = None, event: str | None = None, since: str | None = None,
                 until: str | None = None) -> Response:
    """The history matching the filters (newest first), and the refused attempts that match them."""
    _overseer(app, person)
    q = _query(measure, actor, event, since, until)
    rows, notes = history_rows(app, q)
    refused = refused_rows(app, q)
    _, st = gettext_for(request), state_label_for(request)
    shown: list[dict[str, Any]] = []
    for h, code in reversed(rows[-SHOWN:]):
        rec = to_record(h)
        shown.append({"h": h, "code": code, "event": _(Event(h.event).label), "role": _(Role(h.role).label),
                      "from": st(h.from_state) if h.from_state else "",
                      "to": st(h.to_state) if h.to_state else "", "explain": explain(rec, _),
                      "notes": notes.get((h.measure_id, h.seq), [])})
    with app.uow(read_only=True) as uow:
        people = [(p.handle, p.name) for p in uow.people.all()]
    form = {"measure": measure or "", "actor": actor or "", "event": event or "", "since": since or "",
            "until": until or ""}
    kept = urlencode({k: v for k, v in form.items() if v})
    return render(request, "history.html", person=person, rows=shown, total=len(rows), refused=list(reversed(refused)),
                  form=form, people=people, events=list(Event), kept=kept, shown_max=SHOWN,
                  event_label=lambda e: _(Event(e).label) if e in EVENTS else e)


@router.get("/history/export")
def history_export(app: AppDep, person: PersonDep, fmt: str = "csv", refused: bool = False,
                   measure: str | None = None, actor: str | None = None, event: str | None = None,
                   since: str | None = None, until: str | None = None) -> Response:
    """The matching history as CSV (or the refused attempts, with `refused`), or both as an Excel workbook."""
    _overseer(app, person)
    if fmt not in EXPORTS:
        raise InvalidInput("fmt", f"{fmt!r}: choose csv or xlsx")
    q = _query(measure, actor, event, since, until)
    with tempfile.TemporaryDirectory(prefix="rectify-export-") as tmp:
        out = Path(tmp) / f"history.{fmt}"
        export_history(app, q, fmt, out, refused=refused, zone=ZONE)
        body = out.read_bytes()
    name = f"rectify-{'refused' if refused and fmt == 'csv' else 'history'}.{fmt}"
    return Response(body, media_type=EXPORTS[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})
