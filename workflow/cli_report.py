"""CLI commands of reports and statistics: outcome figures, the published progress report, stats."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from states.errors import InvalidInput

from .cli import AsOpt, DbOpt, MeasureArg, ReasonOpt, TableOrJson, VersionOpt, _open, _print_json, app, err, out

InspectionOpt = Annotated[str | None, typer.Option("--inspection", help="The inspection round (its code).")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="As it stood at the end of this day (YYYY-MM-DD, the round's time zone), rebuilt from the "
    "history.", show_default=False)]


def a_day(text: str, name: str = "--as-of") -> date:
    """A YYYY-MM-DD option value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(name, f"{text!r} is not a date (YYYY-MM-DD)") from None


def parse_day(text: str | None, name: str = "--as-of") -> date | None:
    """A YYYY-MM-DD option value, if given."""
    return None if text is None else a_day(text, name)


CriticisedOpt = Annotated[int | None, typer.Option("--criticised", help="People given 批评教育.", show_default=False)]
AdmonishedOpt = Annotated[int | None, typer.Option("--admonished", help="People given 诫勉谈话.", show_default=False)]
OrgHandledOpt = Annotated[int | None, typer.Option("--org-handled", help="People given 组织处理.", show_default=False)]
DisciplinedOpt = Annotated[int | None, typer.Option("--disciplined", help="People given 纪律处分.",
                                                    show_default=False)]


@app.command()
def outcome(
    measure: MeasureArg,
    as_: AsOpt,
    rules: Annotated[int | None, typer.Option("--rules", help="Rules (制度) written or revised.",
                                              show_default=False)] = None,
    funds: Annotated[str | None, typer.Option("--funds", help="Funds recovered or returned (追缴/清退), 万元, "
                                              "e.g. 12.5.", show_default=False)] = None,
    criticised: CriticisedOpt = None,
    admonished: AdmonishedOpt = None,
    org_handled: OrgHandledOpt = None,
    disciplined: DisciplinedOpt = None,
    reason: ReasonOpt = "",
    expect_version: VersionOpt = None,
    db: DbOpt = None,
) -> None:
    """Record a measure's outcome figures, 整改成效 (owner): the given ones replace the earlier; kept in its history."""
    from states.outcome import yuan_from_wan

    from .outcomes import record_outcome

    changes = {"rules": rules, "funds_yuan": yuan_from_wan(funds) if funds is not None else None,
               "criticised": criticised, "admonished": admonished, "org_handled": org_handled,
               "disciplined": disciplined}
    a = _open(db)
    m, f = record_outcome(a, measure, actor=as_, changes=changes, reason=reason, expected_version=expect_version)
    out.print(f"{m.code}: 制度{f.rules}项, 资金{f.funds_text}万元, 问责{f.people}人 (批评教育{f.criticised}, "
              f"诫勉谈话{f.admonished}, 组织处理{f.org_handled}, 纪律处分{f.disciplined}); version {m.version}")


class ReportFmt(StrEnum):
    """Report formats."""

    md = "md"
    html = "html"
    docx = "docx"


@app.command()
def report(
    inspection: InspectionOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[ReportFmt, typer.Option("--format", help="md, html or docx.")] = ReportFmt.md,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here (docx needs it).")] = None,
    templates: Annotated[Path | None, typer.Option(
        "--templates", help="A folder whose text.j2, report.md.j2, report.html.j2 or report.docx replace ours.",
        file_okay=False, exists=True)] = None,
    body: Annotated[str | None, typer.Option("--body", help="Only this inspected body (its code or name).")] = None,
    evidence: Annotated[bool, typer.Option("--evidence", help="List each measure's evidence (for internal use).")
                        ] = False,
    contact: Annotated[str, typer.Option("--contact", help="Contact line after the invitation to supervise.")] = "",
    chart: Annotated[bool, typer.Option("--chart", help="Add a chart of the measures closed by day.")] = False,
    db: DbOpt = None,
) -> None:
    """Write the progress report, 整改进展情况, in the published structure (default: the newest round, today)."""
    from . import asof
    from .report import ReportFormat, build, render

    a = _open(db)
    rounds = asof.inspections(a, inspection)
    ins = max(rounds, key=lambda i: (i.feedback_date, i.id or 0))  # the newest round unless named
    snap = asof.snapshot(a, ins, parse_day(as_of))
    reports = build(snap, contact=contact, with_evidence=evidence, chart=chart)
    if body:
        reports = [r for r in reports if body in (r.body, r.code)]
        if not reports:
            raise InvalidInput("--body", f"no inspected body {body!r} in round {ins.code}")
    result = render(reports, ReportFormat(fmt.value), templates)
    if output is None and isinstance(result, bytes):
        raise InvalidInput("--output", "a Word report needs a file: -o report.docx")
    if output is None:
        sys.stdout.write(str(result))
        return
    output.write_bytes(result) if isinstance(result, bytes) else output.write_text(result, encoding="utf-8")
    done = sum(r.summary["problems_done"] for r in reports)
    n = sum(r.summary["problems"] for r in reports)
    err.print(f"wrote {output}: {len(reports)} report(s) of round {ins.code} as of {snap.day}, "
              f"{done}/{n} problems 完成")


@app.command()
def stats(
    inspection: InspectionOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
    chart: Annotated[Path | None, typer.Option("--chart", help="Also draw progress over time: FILE.svg or FILE.png "
                                               "(one per round: FILE-CODE.svg when several).")] = None,
    db: DbOpt = None,
) -> None:
    """Statistics per inspected body and for the whole round: states, units, owners, pace, outcome figures."""
    from . import asof
    from .stats import round_stats

    if chart is not None and chart.suffix.lower() not in (".svg", ".png"):
        raise InvalidInput("--chart", f"{chart.name}: name a .svg or .png file")
    a = _open(db)
    day = parse_day(as_of)
    with a.uow(read_only=True) as uow:
        unit_names = {u.code: u.name for u in uow.tree.units()}
    rounds = [round_stats(asof.snapshot(a, ins, day), unit_names) for ins in asof.inspections(a, inspection)]
    if chart is not None:
        _charts(rounds, chart)
    if fmt is TableOrJson.json:
        _print_json([r.as_json() for r in rounds])
        return
    for r in rounds:
        _print_round(r)


def _charts(rounds: list[Any], chart: Path) -> None:
    from .chart import png, svg

    for r in rounds:
        path = chart if len(rounds) == 1 else chart.with_name(f"{chart.stem}-{r.code}{chart.suffix}")
        if path.suffix.lower() == ".svg":
            path.write_text(svg(r.progress), encoding="utf-8")
        else:
            path.write_bytes(png(r.progress))
        err.print(f"wrote {path}")


def _rate(v: float | None) -> str:
    return "—" if v is None else f"{v:g}%"


def _days(v: float | None) -> str:
    return "—" if v is None else f"{v:g}"


def _print_round(r: Any) -> None:
    from states.model import State

    when = f"截至 {r.day}" + (" (由历史重建)" if r.rebuilt else "")
    rows = [*r.bodies.items(), ("合计", r.total)]
    t = Table(title=f"{r.name} ({r.code}) 整改进度 — {when}", header_style="bold")
    for c in ("被巡察单位", "反馈问题", "已完成", "完成率", "整改措施", *(s.label for s in State), "逾期"):
        t.add_column(c, justify="left" if c == "被巡察单位" else "right", no_wrap=True)
    for name, x in rows:
        t.add_row(name, str(x.problems), str(x.problems_done), f"{x.completion_rate}%", str(x.measures),
                  *(str(x.by_state.get(s.value, 0)) for s in State), str(x.overdue),
                  style="bold" if name == "合计" else None)
    out.print(t)
    q = Table(title="整改质效", header_style="bold")
    for c in ("被巡察单位", "按期率", "平均销号天数", "反弹", "延期", "制度(项)", "资金(万元)", "问责(人)"):
        q.add_column(c, justify="left" if c == "被巡察单位" else "right", no_wrap=True)
    for name, x in rows:
        f = x.figures
        q.add_row(name, _rate(x.on_time_rate), _days(x.avg_days_to_close), str(x.rebounds), str(x.extensions),
                  str(f.rules), f.funds_text, f"{f.people}" + (f" ({f.text})" if f.people else ""),
                  style="bold" if name == "合计" else None)
    out.print(q)
    for title, groups in (("按责任部门", r.units), ("按责任人", r.owners)):
        g = Table(title=title, header_style="bold")
        for c in ("", "整改措施", "已销号", "未销号", "逾期", "按期率", "平均销号天数"):
            g.add_column(c, justify="left" if not c else "right", no_wrap=True)
        for name, x in groups.items():
            closed = x.by_state.get(State.CLOSED.value, 0)
            g.add_row(name, str(x.measures), str(closed), str(x.measures - closed), str(x.overdue),
                      _rate(x.on_time_rate), _days(x.avg_days_to_close))
        out.print(g)
    total = r.total
    out.print(f"反馈问题{total.problems}个,已完成整改{total.problems_done}个、正在整改{total.problems_open}个,"
              f"整改完成率{total.completion_rate}%")
