"""Read an Excel ledger (整改台账, as `rectify export ledger` writes it) back into a plan.

Only what a plan holds is read: the round (巡察信息), bodies, units, people and, per ledger row,
the problem tree and the measure with its people and due date. State, progress, close-out time,
rebound checks and rebound count are left aside: an import creates assigned measures. People and
units may be given by id or by their (unique) name. Every error names the sheet, the cell and
its column: `ledger.xlsx: 整改台账!J12 (完成时限): '2024-13-01' is not a date`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from states.errors import InvalidPlan
from states.model import Kind, Role

from . import plan as plan_mod
from .excel import (
    BODIES_SHEET,
    BODY_COLUMNS,
    INSPECTION_FIELDS,
    INSPECTION_SHEET,
    LEDGER_COLUMNS,
    LEDGER_SHEET,
    PEOPLE_COLUMNS,
    PEOPLE_SHEET,
    UNIT_COLUMNS,
    UNITS_SHEET,
)
from .plan import Plan

REQUIRED = {
    LEDGER_SHEET: ("反馈问题", "具体问题", "整改措施", "责任领导", "责任人", "核验人", "完成时限", "标题序号",
                   "措施序号"),
    PEOPLE_SHEET: ("ID", "姓名/职务", "角色"),
    UNITS_SHEET: ("代码", "名称"),
    BODIES_SHEET: ("代码", "名称"),
}
KNOWN = {LEDGER_SHEET: {c.header for c in LEDGER_COLUMNS}, PEOPLE_SHEET: {c.header for c in PEOPLE_COLUMNS},
         UNITS_SHEET: {c.header for c in UNIT_COLUMNS}, BODIES_SHEET: {c.header for c in BODY_COLUMNS}}
KIND_BY_TEXT = {**{k.label: k for k in Kind}, **{k.value: k for k in Kind}}
ROLE_BY_TEXT = {text: r for r in Role if r is not Role.SYSTEM for text in (r.label, r.value)}
_EXCEL_EPOCH = date(1899, 12, 30)
_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
_SPLIT = re.compile(r"[、,,;;\s]+")
_PLAN_PATH = re.compile(r"^((?:[A-Za-z_]+(?:\[\d+\])*\.?)+): (.*)$")


@dataclass
class Cell:
    """A value with where it came from."""

    value: Any
    where: str  # 整改台账!J12 (完成时限)


@dataclass
class Reader:
    """Reads one workbook, gathering errors with their cells and where each part of the plan came from."""

    name: str
    errors: list[tuple[str, str]] = field(default_factory=list)
    cells: dict[str, str] = field(default_factory=dict)  # plan path -> cell

    def error(self, where: str, problem: str) -> None:
        self.errors.append((where, problem))

    def fail(self) -> None:
        if self.errors:
            where, problem = self.errors[0]
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise InvalidPlan(self.name, where, problem + more)

    # -- cells --------------------------------------------------------------------------------------

    def text(self, c: Cell | None) -> str:
        if c is None or c.value is None:
            return ""
        if isinstance(c.value, float) and c.value.is_integer():
            return str(int(c.value))
        if isinstance(c.value, datetime):
            return c.value.date().isoformat() if c.value.time() == datetime.min.time() else c.value.isoformat()
        if isinstance(c.value, date):
            return c.value.isoformat()
        return str(c.value).strip()

    def date(self, c: Cell | None, *, required: bool = True) -> str | None:
        """A date cell (or text like 2024-09-30, 2024/9/30, 2024年9月30日) as YYYY-MM-DD."""
        if c is None or c.value in (None, ""):
            if required:
                self.error(c.where if c else "", "a date is required")
            return None
        v = c.value
        if isinstance(v, datetime):
            return v.date().isoformat()
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v < 2958466:
            # a day number without a date format (Excel's 1900 system; serials past 60 count from 1899-12-30)
            return (_EXCEL_EPOCH + timedelta(days=int(v))).isoformat()
        m = _DATE.match(str(v))
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
            except ValueError:
                pass
        self.error(c.where, f"{self.text(c)!r} is not a date")
        return None


def read_workbook(path: Path, progress: Callable[[int], None] | None = None) -> Plan:
    """The plan an Excel ledger holds, checked; InvalidPlan names sheet, cell and column. `progress(k)` per k rows."""
    # python-calamine (Rust) reads values about ten times faster than openpyxl, whose reader is slow on the
    # inline strings openpyxl itself writes; openpyxl stays the writer
    from python_calamine import CalamineError, CalamineWorkbook

    name = str(path)
    if not path.is_file():
        raise InvalidPlan(name, "", "no such file")
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as e:
        raise InvalidPlan(name, "", f"not an Excel workbook (.xlsx): {e}") from None
    try:
        r = Reader(name)
        missing = [s for s in (LEDGER_SHEET, PEOPLE_SHEET, INSPECTION_SHEET) if s not in wb.sheet_names]
        if missing:
            raise InvalidPlan(name, "", f"no sheet {missing[0]!r} (the workbook has {', '.join(wb.sheet_names)})")

        def rows(sheet: str) -> list[list[Any]]:
            try:
                return list(wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False))
            except CalamineError as e:
                raise InvalidPlan(name, sheet, f"cannot be read: {e}") from None

        inspection = _inspection(r, enumerate(rows(INSPECTION_SHEET), start=1))
        bodies = _table(r, rows(BODIES_SHEET), BODIES_SHEET) if BODIES_SHEET in wb.sheet_names else []
        units = _table(r, rows(UNITS_SHEET), UNITS_SHEET) if UNITS_SHEET in wb.sheet_names else []
        people = _table(r, rows(PEOPLE_SHEET), PEOPLE_SHEET)
        ledger = _table(r, rows(LEDGER_SHEET), LEDGER_SHEET, progress)
        r.fail()  # a missing column is worth stopping at before reading rows
        data = _Builder(r).build(inspection, bodies, units, people, ledger)
    finally:
        wb.close()
    r.fail()
    plan = _check(r, data)
    _LAST_READ["plan"] = plan, r
    return plan


# -- sheets -----------------------------------------------------------------------------------------


def column_letter(i: int) -> str:
    """The letters of the 1-based column i: 1 → A, 27 → AA."""
    out = ""
    while i:
        i, rem = divmod(i - 1, 26)
        out = chr(65 + rem) + out
    return out


def _table(r: Reader, rows: list[list[Any]], sheet: str,
           progress: Callable[[int], None] | None = None) -> list[dict[str, Cell]]:
    """The sheet's rows as {header: Cell}, below its header row (found in the first five rows)."""
    required = REQUIRED[sheet]
    header: dict[int, str] | None = None
    out: list[dict[str, Cell]] = []
    done = 0
    for n, values in enumerate(rows, start=1):
        if header is None:
            texts = [str(v).strip() if v is not None else "" for v in values]
            if required[0] in texts:
                header = {i: t for i, t in enumerate(texts) if t}
                for h in required:
                    if h not in texts:
                        r.error(f"{sheet}!{n}:{n} (header)", f"no column {h!r}")
                seen: set[str] = set()
                for i, t in header.items():
                    if t in seen:
                        r.error(f"{sheet}!{column_letter(i + 1)}{n} ({t})", f"the column {t!r} appears twice")
                    seen.add(t)
            elif n >= 5:
                break
            continue
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        row = {h: Cell(values[i] if i < len(values) else None, f"{sheet}!{column_letter(i + 1)}{n} ({h})")
               for i, h in header.items()}
        row["_row"] = Cell(n, f"{sheet}!{n}:{n}")
        out.append(row)
        done += 1
        if progress and done % 500 == 0:
            progress(500)
    if progress and done % 500:
        progress(done % 500)
    if header is None:
        r.error(f"{sheet}!1:5", f"no header row with {required[0]!r} in the first five rows")
    return out


def _inspection(r: Reader, rows: Iterator[tuple[int, list[Any]]]) -> dict[str, Any]:
    """巡察信息: a field per row (项目 | 内容); exactly one column of values, one round per workbook."""
    by_label = dict(INSPECTION_FIELDS)
    found: dict[str, Any] = {}
    for n, values in rows:
        label = str(values[0]).strip() if values and values[0] is not None else ""
        if not label or label == "项目":
            continue
        if label not in by_label:
            r.error(f"{INSPECTION_SHEET}!A{n} (项目)", f"unknown field {label!r}")
            continue
        filled = [v for v in values[1:] if v not in (None, "")]
        if len(filled) > 1:
            r.error(f"{INSPECTION_SHEET}!{n}:{n}", f"the workbook holds {len(filled)} inspection rounds; "
                    "import takes one (export with --inspection)")
            return {}
        cell = Cell(filled[0] if filled else None, f"{INSPECTION_SHEET}!B{n} ({label})")
        key = by_label[label]
        r.cells[f"inspection.{key}"] = cell.where
        if key.endswith(("start", "end")) or key == "feedback_date":
            value: Any = r.date(cell, required=key == "feedback_date")
        elif key == "policy":
            value = None
            if r.text(cell):
                try:
                    value = json.loads(r.text(cell))
                except ValueError as e:
                    r.error(cell.where, f"not valid JSON: {e}")
        else:
            value = r.text(cell) or None
        if value is not None:
            found[key] = value
    data: dict[str, Any] = {}
    for key, value in found.items():
        if "." in key:
            outer, inner = key.split(".")
            data.setdefault(outer, {})[inner] = value
        else:
            data[key] = value
    for outer in ("period", "rectification_period"):
        if outer in data and len(data[outer]) == 1:
            (inner,) = data[outer]
            r.error(r.cells[f"inspection.{outer}.{inner}"], "a period needs both its start and its end")
    return data


class _Builder:
    """Turns the sheets' rows into plan data, resolving names to ids."""

    def __init__(self, r: Reader):
        self.r = r

    def _lookup(self, pairs: list[tuple[str, str]], kind: str) -> Callable[[Cell], str | None]:
        ids = {k for k, _ in pairs}
        by_name: dict[str, list[str]] = {}
        for k, name in pairs:
            by_name.setdefault(name, []).append(k)

        def resolve(c: Cell) -> str | None:
            t = self.r.text(c)
            if not t:
                return None
            if t in ids:
                return t
            hits = by_name.get(t, [])
            if len(hits) == 1:
                return hits[0]
            if hits:
                self.r.error(c.where, f"{t!r} names {len(hits)} {kind}s ({', '.join(hits)}); write the id")
            else:
                self.r.error(c.where, f"no {kind} {t!r} (by id or name) in the workbook")
            return None

        return resolve

    def build(self, inspection: dict[str, Any], bodies: list[dict[str, Cell]], units: list[dict[str, Cell]],
              people: list[dict[str, Cell]], ledger: list[dict[str, Cell]]) -> dict[str, Any]:
        r = self.r
        t = r.text
        person = self._lookup([(t(p["ID"]), t(p["姓名/职务"])) for p in people], "person")
        unit = self._lookup([(t(u["代码"]), t(u["名称"])) for u in units], "unit")
        body = self._lookup([(t(b["代码"]), t(b["名称"])) for b in bodies], "body")
        data: dict[str, Any] = {"inspection": inspection, "units": [], "people": [], "bodies": []}
        for i, u in enumerate(units):
            row: dict[str, Any] = {"code": t(u["代码"]), "name": t(u["名称"])}
            if "负责人" in u and t(u["负责人"]):
                row["head"] = person(u["负责人"])
            self._mark(f"units[{i}]", u, {"code": "代码", "name": "名称", "head": "负责人"})
            data["units"].append(row)
        for i, p in enumerate(people):
            roles = [ROLE_BY_TEXT.get(x) for x in _SPLIT.split(t(p["角色"])) if x]
            if None in roles or not roles:
                r.error(p["角色"].where, f"{t(p['角色'])!r} is not a list of roles "
                        f"({', '.join(x.label for x in Role if x is not Role.SYSTEM)})")
            row = {"id": t(p["ID"]), "name": t(p["姓名/职务"]), "roles": [str(x) for x in roles if x]}
            if "部门" in p and t(p["部门"]):
                row["unit"] = unit(p["部门"])
            if "邮箱" in p and t(p["邮箱"]):
                row["email"] = t(p["邮箱"])
            if "通知地址" in p and t(p["通知地址"]):
                row["notify"] = t(p["通知地址"]).split()
            self._mark(f"people[{i}]", p, {"id": "ID", "name": "姓名/职务", "roles": "角色", "unit": "部门",
                                           "email": "邮箱", "notify": "通知地址"})
            data["people"].append(row)
        for b in bodies:
            data["bodies"].append({"code": t(b["代码"]), "name": t(b["名称"]), "headings": []})
        self._ledger(data, ledger, person, unit, body)
        return data

    def _mark(self, path: str, row: dict[str, Cell], fields: dict[str, str]) -> None:
        self.r.cells[path] = row["_row"].where
        for key, header in fields.items():
            if header in row:
                self.r.cells[f"{path}.{key}"] = row[header].where

    def _ledger(self, data: dict[str, Any], ledger: list[dict[str, Cell]], person: Callable[[Cell], str | None],
                unit: Callable[[Cell], str | None], body: Callable[[Cell], str | None]) -> None:
        r, t = self.r, self.r.text
        body_index = {b["code"]: i for i, b in enumerate(data["bodies"])}
        headings: dict[tuple[int, str], tuple[dict[str, Any], int]] = {}  # with its index in the body
        problems: dict[tuple[Any, ...], tuple[dict[str, Any], int]] = {}  # with its index in the heading
        codes: dict[str, str] = {}
        for row in ledger:
            code = t(row.get("编号"))
            if code:
                if code in codes:
                    r.error(row["编号"].where, f"measure {code!r} appears twice (first at {codes[code]})")
                    continue
                codes[code] = row["编号"].where
            if "被巡察单位" in row and t(row["被巡察单位"]):
                bcode = body(row["被巡察单位"])
            elif len(data["bodies"]) == 1:
                bcode = data["bodies"][0]["code"]
            else:
                r.error(row.get("被巡察单位", row["_row"]).where,
                        f"say which body ({BODIES_SHEET}) this measure belongs to")
                continue
            if bcode is None:
                continue
            bi = body_index[bcode]
            href = t(row["标题序号"])
            if not href:
                r.error(row["标题序号"].where, "the heading number is required, e.g. 一")
                continue
            found = headings.get((bi, href))
            if found is None:
                h: dict[str, Any] = {"ref": href, "title": t(row["反馈问题"]), "problems": []}
                hi = len(data["bodies"][bi]["headings"])
                headings[(bi, href)] = h, hi
                data["bodies"][bi]["headings"].append(h)
                r.cells[f"bodies[{bi}].headings[{hi}].title"] = row["反馈问题"].where
            else:
                h, hi = found
                if t(row["反馈问题"]) != h["title"]:
                    r.error(row["反馈问题"].where, f"heading {href} is {h['title']!r} in an earlier row")
                    continue
            pref = t(row.get("问题序号"))
            ptext = t(row["具体问题"])
            key = (bi, href, pref) if pref else (bi, href, "", ptext)
            pfound = problems.get(key)
            points = [x.strip() for x in t(row.get("问题要点")).splitlines() if x.strip()]
            repeats = t(row.get("重复问题")) or None
            if pfound is None:
                p: dict[str, Any] = {"ref": pref, "text": ptext, "points": points, "measures": []}
                if repeats:
                    p["repeats"] = repeats
                pi = len(h["problems"])
                problems[key] = p, pi
                h["problems"].append(p)
                ppath = f"bodies[{bi}].headings[{hi}].problems[{pi}]"
                r.cells[f"{ppath}.text"] = row["具体问题"].where
                if "重复问题" in row:
                    r.cells[f"{ppath}.repeats"] = row["重复问题"].where
            else:
                p, pi = pfound
                if points != p["points"] or repeats != p.get("repeats"):  # the text is part of the key
                    what, cell = ("points", row.get("问题要点")) if points != p["points"] else ("repeat",
                                                                                                 row.get("重复问题"))
                    r.error(cell.where if cell else row["_row"].where,
                            f"problem {href}.{pref or ptext[:12]} has another {what} in an earlier row")
                    continue
                if pref and ptext != p["text"]:
                    r.error(row["具体问题"].where, f"problem {href}.{pref} is {p['text'][:20]!r}… in an earlier row")
                    continue
            mpath = f"bodies[{bi}].headings[{hi}].problems[{pi}].measures[{len(p['measures'])}]"
            m: dict[str, Any] = {"ref": t(row["措施序号"]), "title": t(row["整改措施"]),
                                 "owner": person(row["责任人"]), "verifier": person(row["核验人"]),
                                 "leader": person(row["责任领导"]), "due": r.date(row["完成时限"])}
            if "措施内容" in row and t(row["措施内容"]):
                m["text"] = t(row["措施内容"])
            if "整改类型" in row and t(row["整改类型"]):
                kind = KIND_BY_TEXT.get(t(row["整改类型"]))
                if kind is None:
                    r.error(row["整改类型"].where, f"{t(row['整改类型'])!r} is not a kind of measure "
                            f"({', '.join(k.label for k in Kind)})")
                else:
                    m["kind"] = str(kind)
            if "责任部门" in row and t(row["责任部门"]):
                m["unit"] = unit(row["责任部门"])
            self._mark(mpath, row, {"ref": "措施序号", "title": "整改措施", "text": "措施内容", "kind": "整改类型",
                                    "owner": "责任人", "verifier": "核验人", "leader": "责任领导", "unit": "责任部门",
                                    "due": "完成时限"})
            p["measures"].append(m)


def _check(r: Reader, data: dict[str, Any]) -> Plan:
    """Validate the plan data; a pydantic error is located back to its sheet and cell."""
    try:
        return Plan.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        path = _path(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "this field is required"
        m = _PLAN_PATH.match(msg) if not path else None
        if m:  # the plan's own cross checks name the path in the message
            path, msg = m[1], m[2]
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 and "more)" not in msg else ""
        raise InvalidPlan(r.name, _locate(r, path), msg + more) from None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _locate(r: Reader, path: str) -> str:
    """The cell a plan path came from, or the nearest enclosing row, or the path itself."""
    probe = path
    while probe:
        if probe in r.cells:
            return r.cells[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return path or "top level"


def load_any(path: Path, console: Any = None) -> Plan:
    """A plan from a YAML/JSON plan file, or from an Excel ledger (.xlsx) with a progress bar on `console`."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return plan_mod.load(path)
    if console is None or not console.is_terminal:  # a bar that is not drawn would leave a blank line
        return read_workbook(path)
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("reading workbook", total=None)
        return read_workbook(path, progress=lambda k: bar.advance(task, k))


def located(plan: Plan, error: InvalidPlan) -> InvalidPlan:
    """An import error about a plan read from a workbook, with the plan path turned into its cell."""
    last = _LAST_READ.get("plan")
    if last is None or last[0] is not plan or not error.where:
        return error
    return InvalidPlan(error.file, _locate(last[1], error.where), error.problem)


# the cells of the last workbook read, so that an error the importer finds later can still name its cell
_LAST_READ: dict[str, tuple[Plan, Reader]] = {}
