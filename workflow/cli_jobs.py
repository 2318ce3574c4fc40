"""CLI commands of the scheduled jobs: sweeps, reminders, rebound checks, the scheduler."""

from __future__ import annotations

from typing import Annotated

import typer

from states.errors import InvalidInput

from .cli import (
    AsOpt,
    DbOpt,
    EvidenceOpt,
    MeasureArg,
    NoteOpt,
    ReasonOpt,
    TableOrJson,
    VersionOpt,
    _open,
    _print_json,
    app,
    out,
)


@app.command()
def recheck(
    measure: MeasureArg,
    as_: AsOpt,
    held: Annotated[bool, typer.Option("--held", help="The problem has not come back.")] = False,
    rebounded: Annotated[bool, typer.Option("--rebounded", help="The problem came back: reopen the measure.")] = False,
    reason: ReasonOpt = "",
    note: NoteOpt = None,
    evidence: EvidenceOpt = None,
    expect_version: VersionOpt = None,
    db: DbOpt = None,
) -> None:
    """Answer the rebound check that is due (防止问题反弹): --held, or --rebounded to reopen the measure."""
    from .services import recheck as recheck_service

    if held == rebounded:
        raise InvalidInput("recheck", "say either --held or --rebounded")
    a = _open(db)
    m = recheck_service(a, measure, actor=as_, held=held, reason=reason, notes=note or [], files=evidence or [],
                        expected_version=expect_version)
    outcome = "held: the problem has not come back" if held else f"rebounded: reopened, {m.rebounds} rebound(s)"
    out.print(f"{m.code}: rebound check {outcome}; state {m.state.label}, version {m.version}")


@app.command()
def rechecks(
    measure: Annotated[str | None, typer.Argument(help="Only this measure.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, held, rebounded or cancelled.")] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    db: DbOpt = None,
) -> None:
    """List the rebound checks (复查) scheduled after close-outs, with their outcomes."""
    from rich.table import Table

    a = _open(db)
    with a.uow(read_only=True) as uow:
        mid = uow.measures.row(measure).id if measure else None
        rows = [r for r in uow.schedule.checks(mid) if status is None or r.status == status]
    items = [{"measure": r.code, "due_on": r.due_on.isoformat(), "status": r.status, "answered_by": r.answered_by,
              "reason": r.reason} for r in rows]
    if fmt is TableOrJson.json:
        _print_json(items)
        return
    labels = {"pending": "待复查", "held": "未反弹", "rebounded": "[red]反弹[/]", "cancelled": "已取消"}
    t = Table(title="复查(防止问题反弹)", header_style="bold")
    for c in ("措施", "复查日期", "结果", "复查人", "说明"):
        t.add_column(c)
    for i in items:
        t.add_row(i["measure"], i["due_on"], labels.get(i["status"], i["status"]), i["answered_by"] or "",
                  i["reason"])
    out.print(t)
