"""History for auditors: filters by measure, problem, unit, actor, role and event; JSON, CSV and Excel exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest

from workflow.app import App
from workflow.history_export import HistoryQuery, export_history, history_page, history_rows, refused_rows

from ..support import history_rows as db_history


def _seen(app: App, **filters: object) -> list[tuple[str, int, str]]:
    rows, _ = history_rows(app, HistoryQuery(**filters))  # type: ignore[arg-type]
    return [(code, h.seq, h.event) for h, code in rows]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"measure": "b1-1.1.1"}, [("b1-1.1.1", 1, "create"), ("b1-1.1.1", 2, "start")]),
    ({"problem": "2.1", "events": ("verify", "close")}, [("b1-2.1.1", 5, "verify"), ("b1-2.1.1", 6, "close")]),
    ({"unit": "office", "events": ("start",)}, [("b1-1.1.1", 2, "start")]),
    ({"role": "leader"}, [("b1-2.1.1", 6, "close")]),
    ({"actor": "bob", "events": ("evidence", "submit")}, [("b1-2.1.1", 3, "evidence"), ("b1-2.1.1", 4, "submit")]),
    ({"problem": "1", "role": "owner"}, [("b1-1.1.1", 2, "start")]),
    ({"problem": "1.1", "measure": "b1-2.1.1"}, []),
    ({"unit": "finance", "role": "system"}, [("b1-2.1.1", 1, "create")]),
])
def test_history_filters_each_narrow_and_combine(worked_app: App, filters: dict[str, object],
                                                 expected: list[tuple[str, int, str]]) -> None:
    assert _seen(worked_app, **filters) == expected


def test_the_time_range_holds(worked_app: App) -> None:
    first = db_history(worked_app, "b1-2.1.1")
    since, until = first[2]["at"], first[4]["at"]
    seen = _seen(worked_app, measure="b1-2.1.1", since=since, until=until)
    assert seen == [("b1-2.1.1", 3, "evidence"), ("b1-2.1.1", 4, "submit")]  # since included, until excluded


def test_refused_attempts_follow_the_measure_unit_actor_and_event_filters(worked_app: App) -> None:
    def seen(**filters: object) -> list[tuple[str, str, str]]:
        return [(r.actor, r.event, r.measure) for r in refused_rows(worked_app, HistoryQuery(**filters))]  # type: ignore[arg-type]

    assert seen() == [("alice", "verify", "b1-1.1.1")]
    assert seen(problem="1.1", events=("verify",)) == seen(unit="office") == seen(actor="alice") == seen()
    assert seen(problem="2") == seen(unit="finance") == seen(events=("close",)) == seen(actor="bob") == []
    assert seen(measure="b1-9.9.9") == []  # a measure that does not exist is no error here


def test_json_and_csv_carry_every_field_with_the_hashes(worked_app: App) -> None:
    q = HistoryQuery(measure="b1-2.1.1")
    buf = io.StringIO()
    assert export_history(worked_app, q, "json", buf) == 6
    items = json.loads(buf.getvalue())
    db = db_history(worked_app, "b1-2.1.1")
    assert [(i["seq"], i["hash"], i["prev_hash"]) for i in items] == [(r["seq"], r["hash"], r["prev_hash"]) for r in db]
    assert items[2]["evidence"] == db[2]["evidence"] and len(items[2]["evidence"]) == 2
    buf = io.StringIO()
    export_history(worked_app, q, "csv", buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["hash"] for r in rows] == [r["hash"] for r in db]
    assert json.loads(rows[2]["evidence"]) == db[2]["evidence"] and rows[0]["at"].endswith("+00:00")


def test_the_workbook_puts_the_refused_attempts_beside_the_history(worked_app: App, tmp_path: Path) -> None:
    path = tmp_path / "history.xlsx"
    assert export_history(worked_app, HistoryQuery(problem="1"), "xlsx", path) == 3
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["整改记录", "被拒绝的操作"]
    hist = [[c.value for c in r] for r in wb["整改记录"].iter_rows()]
    assert hist[0][:6] == ["时间", "措施", "序号", "事件", "原状态", "新状态"]
    assert [(r[1], r[2], r[3]) for r in hist[1:]] == [("b1-1.1.1", 1, "交办"), ("b1-1.1.2", 1, "交办"),
                                                       ("b1-1.1.1", 2, "开始整改")]
    refused = [[c.value for c in r] for r in wb["被拒绝的操作"].iter_rows()]
    assert refused[1][1:5] == ["alice", "核验通过", "b1-1.1.1", "denied"]
    assert wb["整改记录"].freeze_panes == "A2"


def test_the_cli_history_takes_the_new_filters_and_formats(worked_app: App, tmp_path: Path) -> None:
    from ..cli.helpers import rectify

    db = str(worked_app.engine.url.database)
    proc = rectify(tmp_path, "history", "--db", db, "--problem", "2.1", "--event", "verify", "--event", "close",
                   "--role", "leader", "--format", "json")
    assert [(h["measure"], h["event"], h["actor"]) for h in json.loads(proc.stdout)] == [("b1-2.1.1", "close",
                                                                                        "deputy")]
    proc = rectify(tmp_path, "history", "--db", db, "--format", "xlsx", ok=False)
    assert proc.returncode != 0 and "an Excel workbook needs a file" in proc.stderr


def test_a_page_of_the_history_is_cut_by_the_database_with_the_right_total(worked_app: App) -> None:
    everything, _ = history_rows(worked_app, HistoryQuery())
    keys = [(code, h.seq) for h, code in everything]
    seen: list[tuple[str, int]] = []
    for offset in range(0, len(keys) + 2, 2):
        total, page, _ = history_page(worked_app, HistoryQuery(), limit=2, offset=offset)
        assert total == len(keys)
        seen += [(code, h.seq) for h, code in page]
    assert seen == keys  # the pages, in order, are the whole history once
    # `only`: the measures a person holds; the total counts just those
    bob = {h.measure_id for h, code in everything if code == "b1-2.1.1"}
    total, page, notes = history_page(worked_app, HistoryQuery(), limit=100, only=bob)
    assert total == len(page) == sum(1 for _, code in everything if code == "b1-2.1.1")
    assert {code for _, code in page} == {"b1-2.1.1"}
    assert any(notes.values())  # b1-2.1.1 has a note and a file as evidence
    assert history_page(worked_app, HistoryQuery(), limit=10, only=set()) == (0, [], {})
