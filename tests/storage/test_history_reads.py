"""Reading the history back: entries decoded as the table types say, one measure's in chain order straight off
the index, and PostgreSQL readers without transaction round trips or a ping per unit of work."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from states.errors import NotFound
from states.model import Event
from storage import engine as engines
from storage import history as history_module
from storage.engine import make_engine
from storage.history import HistoryFilter
from workflow import audit, services
from workflow.app import App
from workflow.clock import ManualClock
from workflow.history_export import HistoryQuery, history_rows

from ..support import history_rows as db_history

AppFactory = Callable[..., App]
M, OTHER = "b1-2.1.1", "b1-1.1.1"  # bob's and alice's


def _work(app: App, clock: ManualClock) -> None:
    """Bob starts and gives evidence; then the clock steps back two hours (say NTP) before he submits."""
    clock.advance(timedelta(hours=1))
    services.fire(app, Event.START, M, actor="bob")
    clock.advance(timedelta(hours=1))
    services.add_evidence(app, M, actor="bob", notes=["整改方案", "学习签到表"])
    clock.advance(timedelta(hours=-2))
    services.fire(app, Event.SUBMIT, M, actor="bob", reason="已整改", notes=["会议纪要"])


def _sent(app: App, fn: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SELECTs (with parameters) `fn` sends through the app's engine."""
    seen: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cur: Any, statement: str, parameters: Any, *_a: Any) -> None:
        seen.append((statement, parameters))

    event.listen(app.engine, "before_cursor_execute", hook)
    try:
        fn()
    finally:
        event.remove(app.engine, "before_cursor_execute", hook)
    return [(s, p) for s, p in seen if s.lstrip().startswith("SELECT")]


def test_history_entries_read_back_what_the_table_types_say(make_app: AppFactory, db_url: str,
                                                            clock: ManualClock) -> None:
    app = make_app(db_url)
    _work(app, clock)
    with app.uow(read_only=True) as uow:
        entries = uow.history.query(HistoryFilter(measure_id=uow.measures.find(M).id))
    rows = db_history(app, M)
    assert [code for _, code in entries] == [M] * len(rows) == [M] * 4
    for (entry, _), row in zip(entries, rows, strict=True):
        assert entry._asdict() == {k: row[k] for k in entry._fields}
        assert entry.at.tzinfo is UTC
    assert len(entries[2][0].evidence) == 2 and entries[0][0].data["owner"] == "bob"


def test_one_measures_history_keeps_chain_order_when_the_clock_steps_back(make_app: AppFactory, db_url: str,
                                                                          clock: ManualClock) -> None:
    app = make_app(db_url)
    _work(app, clock)
    rows, notes = history_rows(app, HistoryQuery(measure=M))
    assert [(h.seq, h.event) for h, _ in rows] == [(1, "create"), (2, "start"), (3, "evidence"), (4, "submit")]
    assert rows[3][0].at < rows[1][0].at  # sealed after the start, stamped before it
    mid = rows[0][0].measure_id
    assert notes == {(mid, 3): ["整改方案", "学习签到表"], (mid, 4): ["会议纪要"]}
    everything, _ = history_rows(app, HistoryQuery())  # several measures: by time
    assert [h.at for h, _ in everything] == sorted(h.at for h, _ in everything)
    assert [h.event for h, code in everything if code == M] == ["create", "submit", "start", "evidence"]


def test_one_measures_history_is_read_off_the_index_without_a_sort(app: App, clock: ManualClock) -> None:
    _work(app, clock)
    sent = _sent(app, lambda: history_rows(app, HistoryQuery(measure=M)))
    history = [(s, p) for s, p in sent if "FROM history" in s]
    assert len(history) == 1
    with app.engine.connect() as conn:
        plan = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + history[0][0], history[0][1])]
    assert any("USING INDEX sqlite_autoindex_history_1 (measure_id=?)" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_a_measures_history_by_code_is_one_statement_and_reads_evidence_only_if_it_names_some(
        app: App, clock: ManualClock) -> None:
    selects = [s for s, _ in _sent(app, lambda: history_rows(app, HistoryQuery(measure=OTHER)))]
    assert len(selects) == 1 and "FROM history JOIN measure" in selects[0]  # alice's: create only
    _work(app, clock)
    selects = [s for s, _ in _sent(app, lambda: history_rows(app, HistoryQuery(measure=M)))]
    assert len(selects) == 2 and "FROM evidence" in selects[1]  # bob's names evidence


def test_a_measure_is_found_by_number_as_by_code_and_a_wrong_one_is_not_found(app: App, clock: ManualClock) -> None:
    _work(app, clock)
    by_code, _ = history_rows(app, HistoryQuery(measure=M))
    by_number, _ = history_rows(app, HistoryQuery(measure=str(by_code[0][0].measure_id)))
    assert by_number == by_code and len(by_code) == 4
    with pytest.raises(NotFound):
        history_rows(app, HistoryQuery(measure="b1-9.9.9"))
    with pytest.raises(NotFound):
        history_rows(app, HistoryQuery(measure="999"))


def test_verify_walks_every_chain_a_batch_at_a_time_and_names_a_deleted_measure_row_last(
        app: App, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    _work(app, clock)
    monkeypatch.setattr(history_module, "_CHAIN_BATCH", 2)  # the three measures of the small plan in two reads
    whole = audit.verify(app)
    assert whole.ok and (whole.measures, whole.records) == (3, 4 + 1 + 1)
    with sqlite3.connect(app.engine.url.database or "") as conn:  # someone with the file drops a measure row
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DELETE FROM measure WHERE code = 'b1-1.1.1'")
    report = audit.verify(app)
    assert (report.measures, report.records) == (3, 6)
    (brk,) = report.breaks
    assert "deleted" in brk.why
    with app.uow(read_only=True) as uow:
        walked = [(m.code, len(chain)) for m, chain in uow.history.chains()]
    assert walked == [("b1-1.1.2", 1), ("b1-2.1.1", 4), (f"#{brk.measure_id} (deleted)", 1)]


@pytest.mark.postgres
def test_postgres_readers_run_in_autocommit_and_writers_in_transactions_all_in_utc(make_app: AppFactory,
                                                                                   pg_url: str) -> None:
    app = make_app(pg_url)
    with app.uow(read_only=True) as uow:
        assert uow.session.connection().execute(text("SHOW TimeZone")).scalar_one() == "UTC"
        uow.measures.find(M)
        dbapi = uow.session.connection().connection.dbapi_connection
        assert dbapi is not None and dbapi.autocommit
        assert dbapi.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # no BEGIN was sent
    with app.uow() as uow:
        uow.measures.find(M)
        dbapi = uow.session.connection().connection.dbapi_connection
        assert dbapi is not None and not dbapi.autocommit
        assert dbapi.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def _kill(url: str, pid: int) -> None:
    """Terminate a server process, as a restart or an idle timeout would, and wait until it is gone."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                return
            time.sleep(0.05)
    raise AssertionError(f"server process {pid} did not end")


def _pid(engine: Any) -> int:
    with engines.reader(engine).connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.postgres
def test_a_pooled_connection_that_died_while_idle_is_replaced_before_use(pg_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 0.0)  # every checkout counts as after a quiet spell
    engine = make_engine(pg_url)
    try:
        first = _pid(engine)
        _kill(pg_url, first)
        assert _pid(engine) != first  # pinged, found dead, reconnected: the caller saw nothing
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_that_died_within_the_idle_window_fails_once_then_the_pool_reconnects(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 3600.0)  # never idle long enough for a ping
    engine = make_engine(pg_url)
    try:
        first = _pid(engine)
        _kill(pg_url, first)
        with pytest.raises(OperationalError):
            _pid(engine)
        assert _pid(engine) != first
    finally:
        engine.dispose()
