"""The ledger in Excel (整改台账): a workbook that holds a whole plan, and its CSV form.

Sheets: 整改台账 (one row per measure, in the columns offices use, then the columns `rectify
import` reads back), 人员, 责任部门, 被巡察单位 and 巡察信息. State, progress, close-out time,
rebound checks and rebound count are there to be read: a plan has none of them, so importing
the workbook creates every measure anew as assigned (已交办). See `workflow.excel_import`.
openpyxl is imported inside the functions that write, so that `rectify --help` stays quick.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from states.model import Kind, Role, State
from storage.exports import ExportReader

from .app import App
from .ledger import LedgerFilter, LedgerRow, ledger

LEDGER_SHEET = "整改台账"
PEOPLE_SHEET = "人员"
UNITS_SHEET = "责任部门"
BODIES_SHEET = "被巡察单位"
INSPECTION_SHEET = "巡察信息"
RECHECK_LABELS = {"pending": "待复查", "held": "未反弹", "rebounded": "反弹", "cancelled": "已取消"}


@dataclass(frozen=True)
class Column:
    """A column of a sheet: its header, width in characters, the row field it shows and how."""

    header: str
    width: float
    field: str
    kind: str = "text"  # text | date | datetime | int
    imported: bool = False  # read back by `rectify import` (the office columns that a plan has are too)


LEDGER_COLUMNS: tuple[Column, ...] = (
    Column("序号", 6, "n", "int"),
    Column("反馈问题", 22, "heading", imported=True),
    Column("具体问题", 36, "problem", imported=True),
    Column("整改措施", 36, "title", imported=True),
    Column("整改类型", 10, "kind", imported=True),
    Column("责任领导", 14, "leader", imported=True),
    Column("责任部门", 14, "unit", imported=True),
    Column("责任人", 14, "owner", imported=True),
    Column("核验人", 14, "verifier", imported=True),
    Column("完成时限", 12, "due", "date", imported=True),
    Column("整改进展", 40, "progress"),
    Column("状态", 10, "state"),
    Column("销号时间", 17, "closed", "datetime"),
    Column("复查情况", 26, "rechecks"),
    Column("反弹次数", 8, "rebounds", "int"),
    Column("编号", 14, "code", imported=True),
    # the rest of the plan, for `rectify import` (grey headers)
    Column("被巡察单位", 16, "body", imported=True),
    Column("标题序号", 8, "heading_ref", imported=True),
    Column("问题序号", 8, "problem_ref", imported=True),
    Column("措施序号", 8, "ref", imported=True),
    Column("问题要点", 30, "points", imported=True),
    Column("措施内容", 40, "text", imported=True),
    Column("重复问题", 14, "repeats", imported=True),
)
PLAN_ONLY = frozenset(("被巡察单位", "标题序号", "问题序号", "措施序号", "问题要点", "措施内容", "重复问题"))

PEOPLE_COLUMNS = (Column("ID", 16, "id"), Column("姓名/职务", 30, "name"), Column("部门", 18, "unit"),
                  Column("角色", 20, "roles"), Column("邮箱", 28, "email"), Column("通知地址", 40, "notify"))
UNIT_COLUMNS = (Column("代码", 14, "code"), Column("名称", 30, "name"), Column("负责人", 16, "head"))
BODY_COLUMNS = (Column("代码", 14, "code"), Column("名称", 40, "name"))
# 巡察信息: one row per field, one column of values per inspection round
INSPECTION_FIELDS = (
    ("编号", "code"), ("名称", "name"), ("类型", "kind"), ("巡察组", "group"), ("进驻开始", "period.start"),
    ("进驻结束", "period.end"), ("反馈日期", "feedback_date"), ("集中整改开始", "rectification_period.start"),
    ("集中整改结束", "rectification_period.end"), ("时区", "timezone"), ("提醒策略(JSON)", "policy"),
)


@dataclass
class Sheet:
    """A sheet to write: its name, columns and rows (dicts by field), and an optional title line."""

    name: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    title: str = ""


class Names:
    """Shows a person, unit or body by name where the name is unique, else by its id."""

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        pairs = list(pairs)
        seen = Counter(name for _, name in pairs)
        self.shown = {key: (name if seen[name] == 1 and name else key) for key, name in pairs}

    def __call__(self, key: str | None) -> str:
        return "" if key is None else self.shown.get(key, key)


def ledger_sheets(app: App, f: LedgerFilter | None = None, rows: list[LedgerRow] | None = None) -> list[Sheet]:
    """The workbook's sheets for the measures `f` selects (or these `rows`): ledger, people, units, bodies, rounds."""
    rows = ledger(app, f or LedgerFilter()) if rows is None else rows
    ids = [r.id for r in rows]
    with app.uow(read_only=True) as uow:
        reader = ExportReader(uow.session)
        parts, progress = reader.plan_parts(ids), reader.progress(ids)
        closed, checks = reader.closed_at(ids), reader.rechecks(ids)
        people, units = list(uow.people.all()), list(uow.tree.units())
        rounds = [i for i in uow.tree.inspections() if i.code in {r.inspection for r in rows}]
        round_ids = {i.id for i in rounds}
        bodies = [b for b in uow.tree.bodies() if b.inspection_id in round_ids]
    who = Names((p.handle, p.name) for p in people)
    unit = Names((u.code, u.name) for u in units)
    body = Names((b.code, b.name) for b in bodies)
    zones = {i.code: ZoneInfo(i.timezone) for i in rounds}
    measures = []
    for n, r in enumerate(rows, start=1):
        part = parts[r.id]
        at = closed.get(r.id) if r.state == State.CLOSED else None
        last = progress.get(r.id)
        measures.append({
            "n": n, "heading": r.heading, "problem": r.problem, "title": r.title, "kind": r.kind_label,
            "leader": who(r.leader), "unit": unit(r.unit), "owner": who(r.owner), "verifier": who(r.verifier),
            "due": r.due, "progress": _progress_text(last, zones[r.inspection]) if last else "",
            "state": r.state_label + ("(逾期)" if r.overdue else ""),
            "closed": _local(at, zones[r.inspection]) if at else None,
            "rechecks": ";".join(f"{d.isoformat()} {RECHECK_LABELS.get(s, s)}" for d, s in checks.get(r.id, [])),
            "rebounds": r.rebounds, "code": r.code, "body": body(part.body_code), "heading_ref": r.heading_ref,
            "problem_ref": r.problem_ref, "ref": r.ref, "points": "\n".join(part.points), "text": part.text,
            "repeats": r.repeats or "",
        })
    title = (f"{rounds[0].name}整改工作台账" if len(rounds) == 1 else "整改工作台账") + f"(截至{_today(app)})"
    return [
        Sheet(LEDGER_SHEET, LEDGER_COLUMNS, measures, title),
        Sheet(PEOPLE_SHEET, PEOPLE_COLUMNS, [
            {"id": p.handle, "name": p.name, "unit": unit(p.unit),
             "roles": "、".join(Role(x).label for x in p.roles.split(",") if x), "email": p.email or "",
             "notify": "\n".join(p.notify)} for p in people]),
        Sheet(UNITS_SHEET, UNIT_COLUMNS, [{"code": u.code, "name": u.name, "head": who(u.head)} for u in units]),
        Sheet(BODIES_SHEET, BODY_COLUMNS, [{"code": b.code, "name": b.name} for b in bodies]),
        _inspection_sheet(rounds),
    ]


def _inspection_sheet(rounds: Sequence[Any]) -> Sheet:
    import json

    columns = [Column("项目", 16, "field")] + [Column(f"第{i}轮" if len(rounds) > 1 else "内容", 48, f"r{i}")
                                              for i in range(1, len(rounds) + 1)]
    values = [{
        "code": i.code, "name": i.name, "kind": i.kind, "group": i.group_name, "period.start": i.period_start,
        "period.end": i.period_end, "feedback_date": i.feedback_date,
        "rectification_period.start": i.rectification_start, "rectification_period.end": i.rectification_end,
        "timezone": i.timezone, "policy": json.dumps(i.policy, ensure_ascii=False) if i.policy else "",
    } for i in rounds]
    rows = [{"field": label, **{f"r{n}": v[key] for n, v in enumerate(values, start=1)}}
            for label, key in INSPECTION_FIELDS]
    return Sheet(INSPECTION_SHEET, columns, rows)


def _progress_text(p: Any, zone: ZoneInfo) -> str:
    return f"{_local(p.at, zone):%Y-%m-%d}:{p.text}"


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    """A stored UTC time as local wall time without a zone (Excel has none)."""
    from datetime import UTC

    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(zone).replace(tzinfo=None, microsecond=0)


def _today(app: App) -> date:
    from .ledger import today_in

    return today_in(app)


def write_xlsx(sheets: Sequence[Sheet], path: Path) -> None:
    """Write the sheets as a readable workbook: styled header, widths, frozen header, wrapped text, filters."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook(write_only=True)
    thin = Side(style="thin", color="B4B4B4")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    head_font, title_font = Font(bold=True, color="FFFFFF"), Font(bold=True, size=14)
    head_fill = PatternFill("solid", fgColor="C00000")  # the red of official ledgers
    plan_fill = PatternFill("solid", fgColor="808080")  # the columns kept for re-import
    wrap = Alignment(wrap_text=True, vertical="top")
    centred = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name)
        for i, c in enumerate(sheet.columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = c.width
        first = 2 if sheet.title else 1  # the header row
        ws.freeze_panes = f"A{first + 1}"  # before the first row: a write-only sheet writes its views then
        if sheet.title:
            cell = WriteOnlyCell(ws, value=sheet.title)
            cell.font = title_font
            ws.append([cell])
        header = []
        for c in sheet.columns:
            cell = WriteOnlyCell(ws, value=c.header)
            cell.font, cell.alignment, cell.border = head_font, centred, border
            cell.fill = plan_fill if c.header in PLAN_ONLY else head_fill
            header.append(cell)
        ws.append(header)
        last = get_column_letter(len(sheet.columns))
        ws.auto_filter.ref = f"A{first}:{last}{first + max(len(sheet.rows), 1)}"
        if sheet.name == LEDGER_SHEET and sheet.rows:
            kinds = DataValidation(type="list", formula1='"' + ",".join(k.label for k in Kind) + '"', allow_blank=True)
            col = get_column_letter(next(i for i, c in enumerate(sheet.columns, 1) if c.field == "kind"))
            kinds.add(f"{col}{first + 1}:{col}{first + len(sheet.rows)}")
            ws.data_validations.append(kinds)
        formats = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}
        styles = []  # one styled cell per column, whose style every cell of the column takes
        for c in sheet.columns:
            proto = WriteOnlyCell(ws)
            proto.alignment, proto.border = wrap, border
            if c.kind in formats:
                proto.number_format = formats[c.kind]
            styles.append(proto._style)  # type: ignore[attr-defined]
        for row in sheet.rows:
            cells = []
            for c, style in zip(sheet.columns, styles, strict=True):
                cell = WriteOnlyCell(ws, value=_cell_value(row.get(c.field)))
                # assigning the style objects would hash them again for each of a large ledger's cells
                cell._style = copy(style)  # type: ignore[attr-defined]
                cells.append(cell)
            ws.append(cells)
    wb.save(path)


def _cell_value(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, date)):
        return v
    return str(v)


def write_csv(sheet: Sheet, out: IO[str]) -> None:
    """One sheet as CSV (dates as YYYY-MM-DD); write to a file opened with encoding utf-8-sig for Excel."""
    w = csv.writer(out)
    w.writerow([c.header for c in sheet.columns])
    for row in sheet.rows:
        w.writerow([_csv_value(row.get(c.field)) for c in sheet.columns])


def _csv_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    return "" if v is None else v


def export_ledger(app: App, f: LedgerFilter, fmt: str, out: Path | IO[str]) -> int:
    """Write the ledger as xlsx (to a path) or csv (to a path or an open text stream); how many measures."""
    sheets = ledger_sheets(app, f)
    if fmt == "xlsx":
        assert isinstance(out, Path), "a workbook is written to a file"
        write_xlsx(sheets, out)
    elif isinstance(out, Path):
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            write_csv(sheets[0], fh)
    else:
        write_csv(sheets[0], out)
    return len(sheets[0].rows)

