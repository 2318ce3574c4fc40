"""The ledger page (整改台账): filters, 三色 warning colours, due dates and the summary sentence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from states.calendar import Calendar
from states.errors import InvalidInput
from states.model import Role, State
from states.policy import Policy, deadline_reminders
from storage.tables import InspectionRow

from .. import ledger
from ..app import App
from ..plan import policy_from
from .deps import AppDep
from .pages import PersonDep, back, gettext_for, page_router, render

router = page_router()
PAGE_SIZE = 100
COLOURS = ("yellow", "orange", "red")


@dataclass
class Warnings:
    """The 三色 warning colour of ledger rows, by each round's policy and local today."""

    app: App
    rounds: dict[str, InspectionRow]

    def __post_init__(self) -> None:
        self._policies: dict[str, tuple[Policy, date]] = {}
        self._calendars: dict[bool, Calendar] = {}

    @classmethod
    def of(cls, app: App) -> Warnings:
        """Warnings for the rounds in `app`'s database."""
        with app.uow(read_only=True) as uow:
            return cls(app, {i.code: i for i in uow.tree.inspections()})

    def colour(self, row: ledger.LedgerRow) -> str:
        """red when overdue; orange or yellow as the round's warning rules say; else ''."""
        if row.overdue:
            return "red"
        state = State(row.state)
        if state in (State.VERIFIED, State.CLOSED):
            return ""
        policy, today = self._round(row.inspection)
        reach = max((r.days_before or 0 for r in policy.rules), default=0)
        if (row.due - today).days > 3 * reach + 10:  # far off: not worth counting working days
            return ""
        cal = self._calendars.setdefault(policy.working_days, policy.calendar())
        due = deadline_reminders(state, row.due, today, policy, cal)
        if not due:
            return ""
        return due[0].rule if due[0].rule in COLOURS else "yellow"

    def _round(self, code: str) -> tuple[Policy, date]:
        if code not in self._policies:
            ins = self.rounds[code]
            self._policies[code] = (policy_from(ins.policy), ledger.today_in(self.app, ins.timezone))
        return self._policies[code]


def summary_sentence(s: dict[str, Any], _: Any) -> str:
    """The published sentence (反馈问题N个,…), in the page's language."""
    return str(_("反馈问题%(problems)s个,已完成整改%(done)s个、正在整改%(open)s个,整改完成率%(rate)s%%")
               % {"problems": s["problems"], "done": s["problems_done"], "open": s["problems_open"],
                  "rate": s["completion_rate"]})


def _filter(state: str | None, owner: str | None, unit: str | None, problem: str | None, overdue: bool,
            inspection: str | None) -> ledger.LedgerFilter:
    try:
        st = State(state) if state else None
    except ValueError:
        raise InvalidInput("state", f"{state!r} is not a state: {', '.join(s.value for s in State)}") from None
    return ledger.LedgerFilter(state=st, owner=owner or None, unit=unit or None,
                               problem=(problem or "").strip() or None, overdue=overdue, inspection=inspection or None)


@router.get("/")
def home(person: PersonDep) -> Response:
    """The ledger is the start page."""
    return back("/ledger")


@router.get("/ledger")
def ledger_page(request: Request, app: AppDep, person: PersonDep, state: str | None = None,
                owner: str | None = None, unit: str | None = None, problem: str | None = None,
                overdue: bool = False, inspection: str | None = None, page: int = 1) -> Response:
    """The ledger with its filters; a page of rows at a time."""
    f = _filter(state, owner, unit, problem, overdue, inspection)
    summary = ledger.summary_of(app, f)  # the whole selection's figures; only one page of rows is read
    pages = max(1, -(-summary["measures"] // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = ledger.page(app, f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE).rows
    warn = Warnings.of(app)
    with app.uow(read_only=True) as uow:
        people = list(uow.people.all())
        units = {u.code: u.name for u in uow.tree.units()}
    _ = gettext_for(request)
    query = {"state": state or "", "owner": owner or "", "unit": unit or "", "problem": problem or "",
             "overdue": "1" if overdue else "", "inspection": inspection or ""}
    kept = {k: v for k, v in query.items() if v}
    return render(
        request, "ledger.html", person=person, rows=[(r, warn.colour(r)) for r in shown], total=summary["measures"],
        page=page, pages=pages, query=query, rounds=sorted(warn.rounds), page_url=lambda n: _url(kept, n),
        sentence=summary_sentence(summary, _), states=list(State), units=units,
        owners=_owners(people), names={p.handle: p.name for p in people}, filtered=bool(kept))


def _owners(people: Sequence[Any]) -> list[tuple[str, str]]:
    return [(p.handle, p.name) for p in people if Role.OWNER.value in p.roles.split(",")]


def _url(kept: dict[str, str], page: int) -> str:
    return "/ledger?" + urlencode({**kept, "page": page})
