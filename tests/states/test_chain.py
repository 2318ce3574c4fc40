"""The per-measure hash chain: any change, deletion or reordering is named at the first bad row."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from states.chain import GENESIS, Record, check_chain
from states.measure import created
from states.model import Event, Kind
from states.permissions import SYSTEM, Actor

from ..support import START

ALICE, CHECKER = Actor("alice"), Actor("checker")
MEASURE_ID = 7


def chain() -> list[tuple[int, Record]]:
    """A six-record history (create, start, submit, reject, submit, verify) as (row id, record)."""
    m, first = created(id=MEASURE_ID, code="b1-1.1.1", kind=Kind.DEADLINE, owner="alice", verifier="checker",
                       leader="boss", due=date(2024, 9, 30), at=START, by=SYSTEM)
    steps = [(Event.START, ALICE, "", ()), (Event.SUBMIT, ALICE, "已建立制度", ("a" * 64,)),
             (Event.REJECT, CHECKER, "佐证不足", ()), (Event.SUBMIT, ALICE, "补充佐证", ("b" * 64,)),
             (Event.VERIFY, CHECKER, "", ())]
    records = [first]
    for i, (event, by, reason, evidence) in enumerate(steps, start=1):
        records.append(m.apply(event, by=by, at=START + timedelta(hours=i), reason=reason, evidence=evidence))
    return [(100 + r.seq, r) for r in records]


def test_an_untouched_chain_holds_against_its_head_and_length() -> None:
    rows = chain()
    assert rows[0][1].prev_hash == GENESIS
    assert check_chain(MEASURE_ID, rows, head=rows[-1][1].hash, length=len(rows)) is None


def test_an_empty_chain_holds_when_nothing_was_expected() -> None:
    assert check_chain(MEASURE_ID, [], head=GENESIS, length=0) is None


CHANGES: dict[str, Any] = {
    "reason": "无", "actor": "mallory", "role": "admin", "event": "close", "to_state": "closed",
    "at": START + timedelta(days=1), "evidence": ("c" * 64,), "data": {"forged": "yes"}, "request_id": "x",
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_a_changed_field_is_named_as_altered_content(field: str) -> None:
    rows = chain()
    row_id, rec = rows[3]
    rows[3] = (row_id, replace(rec, **{field: CHANGES[field]}))
    brk = check_chain(MEASURE_ID, rows, head=rows[-1][1].hash, length=len(rows))
    assert brk is not None
    assert (brk.measure_id, brk.seq, brk.history_id) == (MEASURE_ID, 4, 104)
    assert "altered" in brk.why
    assert str(brk).startswith(f"measure {MEASURE_ID}: history row 104 (seq 4)")


@given(index=st.integers(0, 5), reason=st.text(min_size=1, max_size=20))
def test_any_altered_reason_breaks_the_chain_at_that_row(index: int, reason: str) -> None:
    rows = chain()
    row_id, rec = rows[index]
    if rec.reason == reason:
        return
    rows[index] = (row_id, replace(rec, reason=reason))
    brk = check_chain(MEASURE_ID, rows)
    assert brk is not None and (brk.seq, brk.history_id) == (rec.seq, row_id)


def test_a_row_resealed_after_a_change_breaks_the_link_of_the_next_row() -> None:
    rows = chain()
    row_id, rec = rows[2]
    rows[2] = (row_id, replace(rec, reason="改过的").sealed())
    brk = check_chain(MEASURE_ID, rows)
    assert brk is not None and (brk.seq, brk.history_id) == (4, 104)
    assert "link to the previous row is broken" in brk.why


def test_a_deleted_middle_row_is_named_at_the_row_after_the_gap() -> None:
    rows = chain()
    del rows[2]  # seq 3
    brk = check_chain(MEASURE_ID, rows)
    assert brk is not None and (brk.seq, brk.history_id) == (4, 104)
    assert "missing" in brk.why


def test_two_swapped_rows_are_named_as_out_of_order() -> None:
    rows = chain()
    rows[2], rows[3] = rows[3], rows[2]
    brk = check_chain(MEASURE_ID, rows)
    assert brk is not None and (brk.seq, brk.history_id) == (4, 104)
    assert "out of order" in brk.why


def test_a_repeated_row_is_named_as_out_of_order() -> None:
    rows = chain()
    rows.insert(3, rows[2])
    brk = check_chain(MEASURE_ID, rows)
    assert brk is not None and (brk.seq, brk.history_id) == (3, 103)
    assert "out of order" in brk.why


def test_a_deleted_last_row_shows_against_the_recorded_length() -> None:
    rows = chain()
    full = len(rows)
    del rows[-1]
    assert check_chain(MEASURE_ID, rows) is None, "the rest of the chain is sound on its own"
    brk = check_chain(MEASURE_ID, rows, length=full)
    assert brk is not None and (brk.seq, brk.history_id) == (5, 105)
    assert "5 rows but should have 6" in brk.why


def test_a_chain_ending_elsewhere_than_the_recorded_head_is_named() -> None:
    rows = chain()
    brk = check_chain(MEASURE_ID, rows, head="f" * 64, length=len(rows))
    assert brk is not None and (brk.measure_id, brk.seq, brk.history_id) == (MEASURE_ID, None, None)
    assert "head" in brk.why
