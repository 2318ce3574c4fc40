"""Audit against tampering: whoever edits the database behind rectify's back is named.

Each tamper goes straight at the SQLite file, as someone with the file would; `audit.verify`
must name the measure and, where there is one, the history row. A consistent rewrite of a whole
chain (hashes recomputed, measure head updated) can only be caught by a checkpoint kept outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from states.chain import GENESIS, ChainBreak
from states.model import Event
from storage.tables import HistoryRow
from workflow import audit, services
from workflow.app import App

from ..support import history_rows, measure_row

M = "b1-1.1.1"


@pytest.fixture
def lived(app: App) -> App:
    """The small plan with b1-1.1.1 taken to verified in six history rows."""
    services.fire(app, Event.START, M, actor="alice")
    services.fire(app, Event.SUBMIT, M, actor="alice", reason="已修订制度", notes=["制度文件"])
    services.fire(app, Event.REJECT, M, actor="checker", reason="缺少会议记录")
    services.fire(app, Event.SUBMIT, M, actor="alice", reason="补充会议记录", notes=["会议记录"])
    services.fire(app, Event.VERIFY, M, actor="checker")
    services.fire(app, Event.START, "b1-2.1.1", actor="bob")  # another measure, left alone
    assert audit.verify(app).ok
    return app


def _ids(app: App) -> dict[int, int]:
    """seq -> history row id of the measure under attack."""
    return {h["seq"]: h["id"] for h in history_rows(app, M)}


def _tamper(app: App, sql: str, **params: Any) -> None:
    measure_id = measure_row(app, M)["id"]
    with app.engine.begin() as conn:
        for statement in sql.split(";"):
            conn.execute(text(statement), {"m": measure_id, **params})


def _only_break(report: audit.AuditReport) -> ChainBreak:
    assert not report.ok
    (brk,) = report.breaks
    return brk


# (tamper, which seq it is named at (None: the measure row), words of the reason)
TAMPERS: list[tuple[str, str, int | None, str]] = [
    ("edit a row's reason", "UPDATE history SET reason = '材料齐全' WHERE measure_id = :m AND seq = 4", 4, "altered"),
    ("edit a row's actor", "UPDATE history SET actor = 'deputy' WHERE measure_id = :m AND seq = 6", 6, "altered"),
    ("edit a row's time", "UPDATE history SET at = '2020-01-01 00:00:00.000000' WHERE measure_id = :m AND seq = 2",
     2, "altered"),
    ("delete a middle row", "DELETE FROM history WHERE measure_id = :m AND seq = 3", 4, "missing"),
    ("delete the last row", "DELETE FROM history WHERE measure_id = :m AND seq = 6", 5, "5 rows but should have 6"),
    ("delete the first row", "DELETE FROM history WHERE measure_id = :m AND seq = 1", 2, "missing"),
    ("swap two rows' seq",
     "UPDATE history SET seq = -3 WHERE measure_id = :m AND seq = 3;"  # through a spare seq: (measure, seq) is unique
     "UPDATE history SET seq = 3 WHERE measure_id = :m AND seq = 4;"
     "UPDATE history SET seq = 4 WHERE measure_id = :m AND seq = -3",
     3, "link to the previous row is broken"),
    ("edit the measure's state", "UPDATE measure SET state = 'closed' WHERE id = :m", None,
     "the measure row says state=closed but its history says verified"),
    ("edit the measure's owner", "UPDATE measure SET owner = 'bob' WHERE id = :m", None,
     "the measure row says owner=bob but its history says alice"),
    ("edit the measure's version", "UPDATE measure SET version = 5 WHERE id = :m", 6, "6 rows but should have 5"),
]


@pytest.mark.parametrize(("sql", "seq", "why"), [t[1:] for t in TAMPERS],
                         ids=[t[0].replace("'", "").replace(" ", "-") for t in TAMPERS])
def test_audit_names_the_measure_and_row_of_each_tamper(lived: App, sql: str, seq: int | None, why: str) -> None:
    ids = _ids(lived)
    if "seq = -3" in sql:
        ids = {3: ids[4], 4: ids[3]}  # after the swap, row ids follow the new seqs
    _tamper(lived, sql)
    brk = _only_break(audit.verify(lived))
    assert brk.measure_id == measure_row(lived, M)["id"]
    assert (brk.seq, brk.history_id) == ((seq, ids[seq]) if seq is not None else (None, None))
    assert why in brk.why
    assert f"measure {brk.measure_id}: " in str(brk)


def _rewrite_chain(app: App, change: Callable[[int, Any], Any]) -> None:
    """Rewrite the measure's whole chain consistently: change rows, recompute every hash, update the head."""
    measure_id = measure_row(app, M)["id"]
    with app.uow() as uow:
        chain = uow.measures.history(measure_id)
    prev, rewritten = GENESIS, []
    for row_id, rec in chain:
        rec = replace(change(rec.seq, rec), prev_hash=prev).sealed()
        rewritten.append((row_id, rec))
        prev = rec.hash
    table = HistoryRow.__table__  # type: ignore[attr-defined]
    with app.engine.begin() as conn:
        _write(conn, table, rewritten)
        conn.execute(text("UPDATE measure SET head = :h WHERE id = :m"), {"h": prev, "m": measure_id})


def _write(conn: Connection, table: Any, rows: list[tuple[int, Any]]) -> None:
    for row_id, rec in rows:
        conn.execute(table.update().where(table.c.id == row_id).values(
            reason=rec.reason, actor=rec.actor, prev_hash=rec.prev_hash, hash=rec.hash))


def _whitewash(seq: int, rec: Any) -> Any:
    """Make the rejection look like it never said anything was missing."""
    return replace(rec, reason="核验意见:无") if seq == 4 else rec


def test_a_consistent_rewrite_of_a_whole_chain_passes_without_a_checkpoint(lived: App) -> None:
    _rewrite_chain(lived, _whitewash)
    assert history_rows(lived, M)[3]["reason"] == "核验意见:无"
    assert audit.verify(lived).ok, "without something kept outside the database, nothing can tell"


def test_a_consistent_rewrite_of_a_whole_chain_is_caught_by_a_checkpoint_written_before(lived: App,
                                                                                        tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    assert audit.write_checkpoint(lived, checkpoint) == 3
    _rewrite_chain(lived, _whitewash)
    brk = _only_break(audit.verify(lived, checkpoint=checkpoint))
    assert brk.measure_id == measure_row(lived, M)["id"]
    assert (brk.seq, brk.history_id) == (6, _ids(lived)[6]), "named at the last row the checkpoint saw"
    assert "rewritten" in brk.why


def test_work_done_after_a_checkpoint_still_verifies_against_it(lived: App, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    audit.write_checkpoint(lived, checkpoint)
    services.fire(lived, Event.CLOSE, M, actor="boss")
    services.fire(lived, Event.SUBMIT, "b1-2.1.1", actor="bob", reason="已整改", notes=["整改报告"])
    assert audit.verify(lived, checkpoint=checkpoint).ok


def test_a_chain_cut_back_to_before_a_checkpoint_is_caught_by_it(lived: App, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    audit.write_checkpoint(lived, checkpoint)
    # drop the last row and make the measure row agree with what is left, so only the checkpoint knows
    last = history_rows(lived, M)[-2]
    _tamper(lived, "DELETE FROM history WHERE measure_id = :m AND seq = 6")
    _tamper(lived, "UPDATE measure SET state = 'submitted', version = 5, head = :h WHERE id = :m", h=last["hash"])
    assert audit.verify(lived).ok
    brk = _only_break(audit.verify(lived, checkpoint=checkpoint))
    assert (brk.measure_id, brk.seq, brk.history_id) == (measure_row(lived, M)["id"], None, None)
    assert "the checkpoint saw 6 rows, the database has 5" in brk.why


def test_tampering_one_measure_leaves_the_others_verified(lived: App) -> None:
    _tamper(lived, "UPDATE history SET reason = 'x' WHERE measure_id = :m AND seq = 2")
    report = audit.verify(lived)
    assert (report.measures, len(report.breaks)) == (3, 1)
    assert report.records == 6 + 2 + 1


def test_a_record_read_back_from_the_database_hashes_as_it_was_written(lived: App) -> None:
    with lived.uow(read_only=True) as uow:
        chain = uow.measures.history(measure_row(lived, M)["id"])
    assert len(chain) == 6
    assert all(rec.computed_hash() == rec.hash for _, rec in chain)
