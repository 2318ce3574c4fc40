"""The ledger by pages (what the API serves): the same rows in the same order as the whole ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest

from states.model import Event, State
from workflow import importer, ledger, services
from workflow.app import App
from workflow.clock import ManualClock
from workflow.ledger import LedgerFilter

from ..support import make_plan

FILTERS = [LedgerFilter(), LedgerFilter(owner="alice"), LedgerFilter(state=State.ASSIGNED),
           LedgerFilter(unit="office"), LedgerFilter(problem="1"), LedgerFilter(problem="b2-1.1"),
           LedgerFilter(inspection="r2"), LedgerFilter(overdue=True), LedgerFilter(overdue=True, owner="bob"),
           LedgerFilter(overdue=True, inspection="test-round")]


@pytest.fixture
def two_rounds(app: App, clock: ManualClock) -> App:
    """The small plan, a second round (body b2, 4 measures), some work, and a month later."""
    importer.import_plan(app, make_plan("r2", "b2", measures=4), "r2")
    services.fire(app, Event.START, "b1-1.1.1", actor="alice")
    services.fire(app, Event.START, "b2-1.1.2", actor="bob")
    clock.advance(timedelta(days=40))  # 09-22: bob's immediate measure b1-2.1.1 (due 08-31) is late
    return app


@pytest.mark.parametrize("f", FILTERS, ids=[repr(f) for f in FILTERS])
def test_pages_hold_the_ledgers_rows_in_its_order(two_rounds: App, f: LedgerFilter) -> None:
    whole = [r.code for r in ledger.ledger(two_rounds, f)]
    assert whole, "every filter here leaves some rows"
    paged: list[str] = []
    offset = 0
    while True:
        p = ledger.page(two_rounds, f, limit=2, offset=offset)
        assert p.total == len(whole)
        paged += [r.code for r in p.rows]
        if not p.rows:
            break
        offset += 2
    assert paged == whole
    assert [r.as_json() for r in ledger.page(two_rounds, f, limit=100).rows] == [
        r.as_json() for r in ledger.ledger(two_rounds, f)]


def test_a_page_past_the_end_is_empty_but_counted(two_rounds: App) -> None:
    p = ledger.page(two_rounds, LedgerFilter(), limit=5, offset=100)
    assert (p.rows, p.total) == ([], 7)
