"""Outcome figures of measures: the current ones, one row per measure (the history keeps every change)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from states.outcome import Figures

from .tables import OutcomeRow

_FIGURES = tuple(f.name for f in fields(Figures))


def _figures(row: OutcomeRow) -> Figures:
    return Figures(**{name: getattr(row, name) for name in _FIGURES})


class OutcomeRepository:
    """A measure's outcome figures, as last recorded."""

    def __init__(self, session: Session):
        self.session = session

    def of(self, measure_id: int) -> Figures:
        """The measure's figures (all 0 when none were recorded)."""
        row = self.session.get(OutcomeRow, measure_id)
        return _figures(row) if row else Figures()

    def of_many(self, measure_ids: Collection[int] | None = None) -> dict[int, Figures]:
        """The figures of the given measures (or all) that have any, by measure id."""
        stmt = select(OutcomeRow)
        if measure_ids is not None:
            stmt = stmt.where(col(OutcomeRow.measure_id).in_(list(measure_ids)))
        return {r.measure_id: _figures(r) for r in self.session.exec(stmt).all()}

    def set(self, measure_id: int, figures: Figures, *, seq: int, by: str, at: datetime) -> None:
        """Replace the measure's figures with the ones recorded by history record `seq`."""
        row = self.session.get(OutcomeRow, measure_id) or OutcomeRow(
            measure_id=measure_id, seq=seq, updated_by=by, updated_at=at)
        for name in _FIGURES:
            setattr(row, name, getattr(figures, name))
        row.seq, row.updated_by = seq, by
        row.updated_at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
        self.session.add(row)
