"""The dashboard (整改进度: counts, completion rate, overdue, rebounds, progress chart) and the state diagram."""

from __future__ import annotations

import dataclasses

from fastapi import Request
from fastapi.responses import Response

from states.machine import mermaid
from states.model import State

from .. import asof, chart
from ..stats import round_stats
from . import diagram, i18n
from .deps import AppDep
from .pages import PersonDep, gettext_for, language, page_router, render, state_label_for

router = page_router()


@router.get("/dashboard")
def dashboard(request: Request, app: AppDep, person: PersonDep, inspection: str | None = None) -> Response:
    """One round's figures today, with its progress over time (the latest round unless one is chosen)."""
    rounds = sorted(asof.inspections(app), key=lambda i: (i.feedback_date, i.id or 0))
    chosen = asof.inspections(app, inspection)[0] if inspection else rounds[-1]
    with app.uow(read_only=True) as uow:
        unit_names = {u.code: u.name for u in uow.tree.units()}
    stats = round_stats(asof.snapshot(app, chosen, texts=False), unit_names)
    progress = stats.progress
    if language(request) != i18n.DEFAULT:  # the chart has its own English wording
        progress = dataclasses.replace(progress, title=progress.title_en, label=progress.label_en)
    return render(request, "dashboard.html", person=person, stats=stats, rounds=rounds, chosen=chosen,
                  states=list(State), chart=chart.svg(progress))


@router.get("/diagram")
def diagram_page(request: Request, person: PersonDep) -> Response:
    """The state diagram, drawn from the machine's definition, with its Mermaid text."""
    _ = gettext_for(request)
    return render(request, "diagram.html", person=person, svg=diagram.svg(_, state_label_for(request)),
                  mermaid=mermaid())
