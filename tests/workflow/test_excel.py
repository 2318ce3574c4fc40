"""The ledger in Excel: export, read back as a plan, import into a fresh database; bad workbooks refused whole."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from states.errors import InvalidPlan
from workflow import importer, plan
from workflow.app import App
from workflow.excel import LEDGER_COLUMNS, LEDGER_SHEET, export_ledger
from workflow.excel_import import read_workbook
from workflow.ledger import LedgerFilter, ledger

from ..conftest import AppFactory
from ..support import SMALL_PLAN, counts

PLAN_FIELDS = ("code", "inspection", "body", "heading_ref", "heading", "problem_ref", "problem", "ref", "title", "kind",
               "owner", "verifier", "leader", "unit", "due", "repeats")


def _plan_view(app: App) -> list[dict[str, Any]]:
    """What a plan decides of each ledger row (not its state)."""
    return [{k: v for k, v in asdict(r).items() if k in PLAN_FIELDS} for r in ledger(app)]


def _people(app: App) -> list[tuple[str, str, str | None, str, str | None]]:
    with app.uow(read_only=True) as uow:
        return [(p.handle, p.name, p.unit, p.roles, p.email) for p in uow.people.all()]


def _sorted_plan(p: plan.Plan) -> dict[str, Any]:
    d = p.model_dump(mode="json")
    d["people"].sort(key=lambda x: x["id"])
    d["units"].sort(key=lambda x: x["code"])
    return d


@pytest.fixture
def workbook(worked_app: App, tmp_path: Path) -> Path:
    path = tmp_path / "ledger.xlsx"
    export_ledger(worked_app, LedgerFilter(), "xlsx", path)
    return path


def test_export_then_import_into_a_fresh_database_gives_the_same_ledger(worked_app: App, workbook: Path,
                                                                         make_app: AppFactory) -> None:
    read = read_workbook(workbook)
    assert _sorted_plan(read) == _sorted_plan(plan.load(SMALL_PLAN))  # the workbook holds the whole plan
    fresh = make_app(plan_file=None)
    importer.import_plan(fresh, read, workbook.name)
    assert _plan_view(fresh) == _plan_view(worked_app)
    assert _people(fresh) == _people(worked_app)
    assert {r.state for r in ledger(fresh)} == {"assigned"}  # states are not part of a plan
    again = workbook.with_name("again.xlsx")
    export_ledger(fresh, LedgerFilter(), "xlsx", again)
    assert _sorted_plan(read_workbook(again)) == _sorted_plan(read)


def test_the_workbook_is_laid_out_for_reading(workbook: Path) -> None:
    wb = openpyxl.load_workbook(workbook)
    assert wb.sheetnames == ["整改台账", "人员", "责任部门", "被巡察单位", "巡察信息"]
    ws = wb[LEDGER_SHEET]
    assert str(ws["A1"].value).startswith("测试巡察整改工作台账")
    headers = [c.value for c in ws[2]]
    assert headers[:16] == ["序号", "反馈问题", "具体问题", "整改措施", "整改类型", "责任领导", "责任部门", "责任人",
                            "核验人", "完成时限", "整改进展", "状态", "销号时间", "复查情况", "反弹次数", "编号"]
    assert ws.freeze_panes == "A3" and ws["A2"].font.b and ws["A2"].fill.fgColor.rgb.endswith("C00000")
    assert ws.column_dimensions["C"].width == 36 and ws["C3"].alignment.wrap_text
    closed = {c.value: c for c in ws[5]}  # b1-2.1.1, the third measure
    row = dict(zip(headers, [c.value for c in ws[5]], strict=True))
    assert row["编号"] == "b1-2.1.1" and row["状态"] == "已销号" and row["责任人"] == "财务科科长"
    assert row["整改进展"].endswith("已修订财务制度并组织学习") and "待复查" in row["复查情况"]
    assert row["销号时间"] is not None and row["反弹次数"] == 0 and closed
    assert [c.value for c in wb["人员"][1]] == ["ID", "姓名/职务", "部门", "角色", "邮箱", "通知地址"]


def test_the_csv_ledger_has_the_office_columns_and_opens_in_excel(worked_app: App, tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    assert export_ledger(worked_app, LedgerFilter(problem="2"), "csv", path) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == [c.header for c in LEDGER_COLUMNS]
    assert rows[0]["编号"] == "b1-2.1.1" and rows[0]["完成时限"] == "2024-08-31" and rows[0]["状态"] == "已销号"


def _edit(path: Path, change: Callable[[Any], None]) -> Path:
    wb = openpyxl.load_workbook(path)
    change(wb[LEDGER_SHEET])
    bad = path.with_name("bad.xlsx")
    wb.save(bad)
    return bad


def _col(ws: Any, header: str) -> str:
    return str(next(c.column_letter for c in ws[2] if c.value == header))


def _set(header: str, row: int, value: Any) -> Callable[[Any], None]:
    return lambda ws: ws.__setitem__(f"{_col(ws, header)}{row}", value)


@pytest.mark.parametrize(("change", "says"), [
    (_set("完成时限", 4, "2024-13-01"), "bad.xlsx: 整改台账!J4 (完成时限): '2024-13-01' is not a date"),
    (_set("责任人", 3, "张三"), "bad.xlsx: 整改台账!H3 (责任人): no person '张三' (by id or name) in the workbook"),
    (lambda ws: ws.delete_cols(10), "bad.xlsx: 整改台账!2:2 (header): no column '完成时限'"),
    (_set("编号", 4, "b1-1.1.1"),
     "bad.xlsx: 整改台账!P4 (编号): measure 'b1-1.1.1' appears twice (first at 整改台账!P3"),
    (_set("措施序号", 4, "(1)"), "bad.xlsx: 整改台账!T4 (措施序号): measure '(1)' appears twice in this problem"),
    (_set("核验人", 5, "财务科科长"), "bad.xlsx: 整改台账!I5 (核验人): 'bob' does not have the verifier role"),
    (_set("整改类型", 3, "马上改"), "bad.xlsx: 整改台账!E3 (整改类型): '马上改' is not a kind of measure"),
])
def test_a_malformed_workbook_is_refused_whole_naming_sheet_row_and_column(
        worked_app: App, workbook: Path, make_app: AppFactory, change: Callable[[Any], None], says: str) -> None:
    bad = _edit(workbook, change)
    fresh = make_app(plan_file=None)
    before = counts(fresh)
    with pytest.raises(InvalidPlan) as caught:
        importer.import_plan(fresh, read_workbook(bad), str(bad))
    assert str(caught.value).startswith(str(bad.parent / says)), str(caught.value)
    assert counts(fresh) == before


def test_an_import_that_fails_late_leaves_the_database_unchanged(workbook: Path, make_app: AppFactory) -> None:
    # the last problem repeats one that no earlier round has: found only after the other measures were written
    bad = _edit(workbook, _set("重复问题", 5, "old-9.9"))
    fresh = make_app(plan_file=None)
    before = counts(fresh)
    with pytest.raises(InvalidPlan, match=r"bodies\[0\]\.headings\[1\]\.problems\[0\]\.repeats: no earlier problem"):
        importer.import_plan(fresh, read_workbook(bad), str(bad))
    assert counts(fresh) == before


def test_dates_written_as_offices_write_them_are_read(workbook: Path) -> None:
    bad = _edit(workbook, _set("完成时限", 3, "2024年9月1日"))
    first = read_workbook(bad).bodies[0].headings[0].problems[0].measures[0]
    assert first.due.isoformat() == "2024-09-01"


def test_something_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "ledger.xlsx"
    fake.write_text("序号,反馈问题\n", encoding="utf-8")
    with pytest.raises(InvalidPlan, match="ledger.xlsx: not an Excel workbook"):
        read_workbook(fake)


def test_the_cli_round_trip_and_a_refusal_in_one_line(tmp_path: Path) -> None:
    import shutil

    from workflow.app import open_app

    from ..cli.helpers import rectify, snapshot

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    rectify(first, "init")
    shutil.copyfile(first / "rectify.db", second / "rectify.db")  # an empty database with the schema
    apps = [open_app(str(f / "rectify.db")) for f in (first, second)]
    importer.import_plan(apps[0], plan.load(SMALL_PLAN), SMALL_PLAN.name)
    rectify(first, "export", "ledger", "-o", "台账.xlsx")
    bad = _edit(first / "台账.xlsx", _set("完成时限", 3, "2024-02-30"))
    before = snapshot(second / "rectify.db")
    proc = rectify(second, "import", str(bad), ok=False)
    assert proc.returncode != 0 and proc.stderr.strip().splitlines() == [
        f"error: {bad}: 整改台账!J3 (完成时限): '2024-02-30' is not a date"]
    assert snapshot(second / "rectify.db") == before
    assert "Imported inspection test-round" in rectify(second, "import", str(first / "台账.xlsx")).stdout
    try:
        assert _plan_view(apps[0]) == _plan_view(apps[1])
    finally:
        for a in apps:
            a.engine.dispose()


def test_a_large_ledger_imports_in_batches_and_round_trips_on_both_databases(make_app: AppFactory, db_url: str,
                                                                             tmp_path: Path) -> None:
    from workflow.audit import verify

    from ..support import make_plan

    big = make_plan("big", "g1", measures=1_100)  # three batches of the importer
    app = make_app(db_url, plan_file=None)
    seen: list[int] = []
    importer.import_plan(app, big, "big.yaml", progress=seen.append)
    assert sum(seen) == 1_100 and len(seen) == 3
    report = verify(app)
    assert report.ok and report.measures == 1_100 and report.records == 1_100
    path = tmp_path / "big.xlsx"
    export_ledger(app, LedgerFilter(), "xlsx", path)
    assert _sorted_plan(read_workbook(path)) == _sorted_plan(big)
