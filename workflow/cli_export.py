"""CLI commands that write files for offices and auditors: the Excel ledger and the audit packet."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from states.errors import InvalidInput
from states.model import State

from .cli import DbOpt, _open, _zone, app, audit_app, err, out

export_app = typer.Typer(help="Write the ledger as files offices use.", no_args_is_help=True)
app.add_typer(export_app, name="export")


class LedgerFormat(StrEnum):
    """File formats of the exported ledger."""

    xlsx = "xlsx"
    csv = "csv"


@export_app.command("ledger")
def export_ledger(
    fmt: Annotated[LedgerFormat, typer.Option("--format", help="xlsx (a workbook that holds the whole plan) or "
                                              "csv (the ledger sheet only).")] = LedgerFormat.xlsx,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="The file to write [default: 整改台账.xlsx; "
                                                "csv goes to standard output].", show_default=False)] = None,
    state: Annotated[State | None, typer.Option(help="Only measures in this state.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's measures.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only this unit's measures.")] = None,
    problem: Annotated[str | None, typer.Option(help="Only this heading or problem: 1, 1.2 or tcj-1.2.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only measures past their due date.")] = False,
    inspection: Annotated[str | None, typer.Option(help="Only this inspection round (its code).")] = None,
    db: DbOpt = None,
) -> None:
    """Write the ledger (整改台账) as an Excel workbook or CSV.

    The workbook has the sheets 整改台账, 人员, 责任部门, 被巡察单位 and 巡察信息: a whole plan, which `rectify
    import FILE.xlsx` reads back. State, progress, 销号时间, 复查情况 and 反弹次数 are for reading only: an
    import makes every measure anew, assigned.
    """
    from .excel import export_ledger as export
    from .ledger import LedgerFilter

    a = _open(db)
    f = LedgerFilter(state=state, owner=owner, unit=unit, problem=problem, overdue=overdue, inspection=inspection)
    if fmt is LedgerFormat.xlsx and output is None:
        output = Path("整改台账.xlsx")
    n = export(a, f, str(fmt), output or sys.stdout)
    if output is not None:
        out.print(f"Wrote {n} measures to {output}.")


@audit_app.command("packet")
def audit_packet(
    measures: Annotated[list[str] | None, typer.Argument(help="Measures (codes or numbers) to put in it.",
                                                         show_default=False)] = None,
    problem: Annotated[str | None, typer.Option(help="And the measures of this heading or problem: 1, 1.2 or "
                                                "tcj-1.2.")] = None,
    inspection: Annotated[str | None, typer.Option(help="And the measures of this round (its code).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The archive to write (.zip).",
                                         show_default=False)] = Path("audit-packet.zip"),
    checkpoint: Annotated[Path | None, typer.Option(help="Also hold the chains against this checkpoint file.")
                          ] = None,
    db: DbOpt = None,
) -> None:
    """Write an audit packet (审计材料包): history, evidence files with their hashes, chain verification,
    refused attempts and a summary for the measures named (every measure when none is), with a MANIFEST."""
    from .packet import select, write_packet

    if output.suffix.lower() != ".zip":
        raise InvalidInput("-o", f"{str(output)!r}: an audit packet is a .zip file")
    a = _open(db)
    rows = select(a, measures or [], problem, inspection)
    scope = "、".join(filter(None, [
        ("措施 " + "、".join(measures)) if measures else "", f"问题 {problem}" if problem else "",
        f"巡察 {inspection}" if inspection else ""]))
    r = write_packet(a, rows, output, checkpoint=checkpoint, scope=scope, zone=_zone())
    verdict = "[green]every chain verifies[/]" if r.chains_ok else "[red]a chain is BROKEN (see summary.md)[/]"
    missing = f", [red]{r.evidence_missing} missing or altered[/]" if r.evidence_missing else ""
    out.print(f"Wrote {output}: {r.measures} measures, {r.records} history records, {r.evidence} evidence "
              f"items{missing}, {r.refused} refused attempts, {r.files} files; {verdict}.")
    if not r.chains_ok:
        err.print(f"[red]BROKEN[/]: the packet {output} records where")
        raise typer.Exit(1)
