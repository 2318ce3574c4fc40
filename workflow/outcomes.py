"""Recording a measure's outcome figures (整改成效), auditable like every other event."""

from __future__ import annotations

from collections.abc import Mapping

from states.errors import InvalidInput
from states.measure import Measure
from states.model import Event
from states.outcome import Figures

from .app import App
from .services import _load, _logged


def record_outcome(app: App, measure_ref: str | int, *, actor: str, changes: Mapping[str, int | None],
                   reason: str = "", expected_version: int | None = None) -> tuple[Measure, Figures]:
    """Set some of a measure's figures (the owner); the history record carries all of them as they now stand."""

    def work() -> tuple[Measure, Figures]:
        given = {k: v for k, v in changes.items() if v is not None}
        if not given:
            raise InvalidInput("figures", "give at least one figure (--rules, --funds, --criticised, …)")
        with app.uow() as uow:
            measure, who = _load(uow, measure_ref, expected_version, actor)
            figures = uow.outcomes.of(measure.id).merged(given)
            record = measure.apply(Event.OUTCOME, by=who, at=app.clock(), reason=reason, request_id=app.request_id,
                                   data=figures.as_data())
            uow.measures.save(measure, [record], app.clock())
            uow.outcomes.set(measure.id, figures, seq=record.seq, by=actor, at=app.clock())
            uow.commit()
        return measure, figures

    return _logged(app, actor, Event.OUTCOME, measure_ref, work)
