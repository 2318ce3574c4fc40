"""The ledger as it stood at a date, rebuilt from the history: what it showed on each day, that day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from states.errors import InvalidInput
from states.model import Event, State
from states.outcome import Figures
from storage import migrate
from workflow import asof, importer, outcomes, plan, services
from workflow.app import App
from workflow.cli import app as cli
from workflow.clock import ManualClock
from workflow.ledger import LedgerFilter, LedgerRow, ledger

from ..conftest import AppFactory
from ..support import SMALL_PLAN, START, make_plan, open_test_app

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(clock: ManualClock, day: str, hh: int = 10, mm: int = 0) -> None:
    """Move the clock to a local (Shanghai) time."""
    clock.set(datetime.combine(date.fromisoformat(day), time(hh, mm), SHANGHAI))


def end_of(clock: ManualClock, day: str) -> None:
    at(clock, day, 23, 59)


# (local day, what happens that day); the ledger is read at the end of each day
STORY: list[tuple[str, list[tuple[str, str, str, dict[str, Any]]]]] = [
    ("2024-08-14", [("start", "b1-1.1.1", "alice", {}), ("start", "b1-2.1.1", "bob", {})]),
    ("2024-08-20", [("evidence", "b1-1.1.1", "alice", {"notes": ["学习计划"]}),
                    ("outcome", "b1-1.1.1", "alice", {"rules": 2})]),
    ("2024-08-25", [("submit", "b1-1.1.1", "alice", {"reason": "已完善", "notes": ["制度文本"]})]),
    ("2024-08-26", [("verify", "b1-1.1.1", "checker", {})]),
    ("2024-08-28", [("close", "b1-1.1.1", "boss", {})]),
    ("2024-09-01", []),  # b1-2.1.1 (due 08-31) is now overdue, though nothing happened
    ("2024-09-05", [("extend_request", "b1-2.1.1", "bob", {"new_due": "2024-09-30"})]),
    ("2024-09-06", [("extend_approve", "b1-2.1.1", "deputy", {})]),
    ("2024-09-10", [("reassign", "b1-1.1.2", "root", {"to": "bob"})]),
    ("2024-09-20", [("reopen", "b1-1.1.1", "checker", {"reason": "复查发现反弹"}),
                    ("outcome", "b1-1.1.1", "alice", {"rules": 3, "criticised": 1})]),
    ("2024-10-08", [("start", "b1-1.1.2", "bob", {})]),
]


def play(app: App, event: str, code: str, actor: str, extra: dict[str, Any]) -> None:
    """One step of the story through the services."""
    notes = list(extra.get("notes", []))
    reason = str(extra.get("reason", "理由"))
    if event == "evidence":
        services.add_evidence(app, code, actor=actor, notes=notes)
    elif event == "outcome":
        outcomes.record_outcome(app, code, actor=actor, changes=extra)
    elif event == "extend_request":
        services.request_extension(app, code, actor=actor, new_due=date.fromisoformat(str(extra["new_due"])),
                                   reason=reason)
    elif event == "extend_approve":
        services.decide_extension(app, code, actor=actor, approve=True)
    else:
        services.fire(app, Event(event), code, actor=actor, reason=reason, notes=notes,
                      new_owner=str(extra["to"]) if "to" in extra else None)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, dict[date, list[LedgerRow]]]]:
    """The small plan's round played out day by day, once; with the ledger as read at the end of each day."""
    clock = ManualClock(START)
    app = open_test_app(str(tmp_path_factory.mktemp("asof") / "story.db"), clock=clock, synchronous="NORMAL")
    migrate.upgrade(app.engine)
    importer.import_plan(app, plan.load(SMALL_PLAN), SMALL_PLAN.name)
    seen = {date(2024, 8, 13): ledger(app), **play_story(app, clock)}
    yield app, seen
    app.engine.dispose()


def play_story(app: App, clock: ManualClock) -> dict[date, list[LedgerRow]]:
    """Play the story day by day; the ledger as read at the end of each day. The clock is left at year end."""
    seen: dict[date, list[LedgerRow]] = {}
    for day, steps in STORY:
        for i, (event, code, actor, extra) in enumerate(steps):
            at(clock, day, 9 + i)
            play(app, event, code, actor, extra)
        end_of(clock, day)
        seen[date.fromisoformat(day)] = ledger(app)
    at(clock, "2024-12-31")
    return seen


@pytest.fixture
def story(played: tuple[App, dict[date, list[LedgerRow]]]) -> dict[date, list[LedgerRow]]:
    """What the ledger showed at the end of each day of the story."""
    return played[1]


@pytest.fixture
def told(played: tuple[App, dict[date, list[LedgerRow]]]) -> App:
    """The app of the story's database (read it, do not change it)."""
    return played[0]


def test_the_ledger_as_of_each_day_is_what_it_showed_at_the_end_of_that_day(
        told: App, story: dict[date, list[LedgerRow]]) -> None:
    for day, rows in story.items():
        assert asof.ledger_as_of(told, day) == rows, day


def test_the_rebuilt_ledger_follows_the_history_not_todays_rows(told: App) -> None:
    by_code = {r.code: r for r in asof.ledger_as_of(told, date(2024, 9, 1))}
    assert by_code["b1-1.1.1"].state == State.CLOSED  # reopened only on 09-20
    assert (by_code["b1-2.1.1"].overdue, by_code["b1-2.1.1"].due) == (True, date(2024, 8, 31))
    assert by_code["b1-1.1.2"].owner == "alice"  # reassigned to bob on 09-10
    later = {r.code: r for r in asof.ledger_as_of(told, date(2024, 9, 20))}
    assert (later["b1-1.1.1"].state, later["b1-1.1.1"].rebounds) == (State.IN_PROGRESS, 1)
    assert (later["b1-2.1.1"].overdue, later["b1-2.1.1"].due) == (False, date(2024, 9, 30))
    assert (later["b1-1.1.2"].owner, later["b1-1.1.2"].owner_name) == ("bob", "财务科科长")
    today = {r.code: r for r in ledger(told)}
    assert today["b1-1.1.2"].state == State.IN_PROGRESS and by_code["b1-1.1.2"].state == State.ASSIGNED


def test_filters_apply_to_the_rows_as_they_stood(told: App) -> None:
    day = date(2024, 9, 1)
    assert [r.code for r in asof.ledger_as_of(told, day, LedgerFilter(overdue=True))] == ["b1-2.1.1"]
    assert [r.code for r in asof.ledger_as_of(told, day, LedgerFilter(state=State.CLOSED))] == ["b1-1.1.1"]
    assert [r.code for r in asof.ledger_as_of(told, day, LedgerFilter(owner="alice"))] == ["b1-1.1.1", "b1-1.1.2"]
    assert [r.code for r in asof.ledger_as_of(told, day, LedgerFilter(unit="finance"))] == ["b1-2.1.1"]


def test_outcome_figures_as_of_a_day_are_the_last_ones_recorded_by_then(told: App) -> None:
    ins = asof.one_inspection(told)
    mid = next(r.id for r in ledger(told) if r.code == "b1-1.1.1")
    assert asof.snapshot(told, ins, date(2024, 8, 19)).figures == {}
    assert asof.snapshot(told, ins, date(2024, 8, 20)).figures == {mid: Figures(rules=2)}
    assert asof.snapshot(told, ins, date(2024, 9, 20)).figures[mid] == Figures(rules=3, criticised=1)
    assert asof.snapshot(told, ins).figures == asof.snapshot(told, ins, date(2024, 12, 31)).figures


def test_evidence_as_of_a_day_is_only_what_had_been_handed_in(told: App) -> None:
    ins = asof.one_inspection(told)
    mid = next(r.id for r in ledger(told) if r.code == "b1-1.1.1")
    assert [e.note for e in asof.snapshot(told, ins, date(2024, 8, 20)).evidence[mid]] == ["学习计划"]
    assert [e.note for e in asof.snapshot(told, ins, date(2024, 8, 25)).evidence[mid]] == ["学习计划", "制度文本"]


def test_the_day_ends_at_local_midnight_of_the_inspections_time_zone(app: App, clock: ManualClock) -> None:
    assert asof.cutoff(date(2024, 8, 13), "Asia/Shanghai") == datetime(2024, 8, 13, 16, 0, tzinfo=UTC)
    at(clock, "2024-08-14", 23, 59)  # 15:59 UTC
    services.fire(app, Event.START, "b1-1.1.1", actor="alice")
    at(clock, "2024-08-15", 0, 1)  # 16:01 UTC, still the 14th in London
    services.fire(app, Event.START, "b1-2.1.1", actor="bob")
    at(clock, "2024-08-16")
    states = {r.code: r.state for r in asof.ledger_as_of(app, date(2024, 8, 14))}
    assert (states["b1-1.1.1"], states["b1-2.1.1"]) == (State.IN_PROGRESS, State.ASSIGNED)


def test_a_measure_imported_after_the_day_is_not_in_the_ledger_of_that_day(
        make_app: AppFactory, clock: ManualClock) -> None:
    app = make_app()
    at(clock, "2024-09-15")
    importer.import_plan(app, make_plan("round-2", "b2"), "round-2.yaml")
    at(clock, "2024-09-20")
    assert {r.body for r in asof.ledger_as_of(app, date(2024, 9, 14))} == {"测试局党组"}
    assert len(asof.ledger_as_of(app, date(2024, 9, 15))) == 6
    assert asof.ledger_as_of(app, date(2024, 9, 14), LedgerFilter(inspection="round-2")) == []


def test_a_day_after_today_is_refused(app: App, clock: ManualClock) -> None:
    at(clock, "2024-08-20")
    with pytest.raises(InvalidInput, match="after today"):
        asof.ledger_as_of(app, date(2024, 8, 21))


def test_rectify_ledger_as_of_prints_the_ledger_of_that_day(told: App) -> None:
    db = str(told.engine.url.database)
    runner = CliRunner()
    result = runner.invoke(cli, ["ledger", "--as-of", "2024-09-01", "--format", "json", "--db", db])
    assert result.exit_code == 0, result.output
    assert {r["code"]: r["state"] for r in json.loads(result.stdout)} == {
        "b1-1.1.1": "closed", "b1-1.1.2": "assigned", "b1-2.1.1": "in_progress"}
    table = runner.invoke(cli, ["ledger", "--as-of", "2024-09-01", "--db", db])
    assert "整改台账(截至2024-09-01)" in table.stdout
    assert "反馈问题2个,已完成整改0个" in table.stdout
    bad = runner.invoke(cli, ["ledger", "--as-of", "2024-13-01", "--db", db])
    assert bad.exit_code != 0 and isinstance(bad.exception, InvalidInput)


def test_the_streamed_history_rebuilds_the_same_ledgers_on_both_databases_a_few_measures_per_read(
        make_app: AppFactory, db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # the rebuilt ledger reads the history a few measures at a time: 2 here, so the small plan's measures
    # take several reads
    monkeypatch.setattr("storage.snapshots.STREAM_BATCH", 2)
    app = make_app(db_url)
    for day, rows in play_story(app, clock).items():
        assert asof.ledger_as_of(app, day) == rows, day
