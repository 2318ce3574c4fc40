"""CLI commands of the scheduled jobs: sweeps, reminders, rebound checks, the scheduler."""

from __future__ import annotations

from typing import Annotated

import typer

from states.errors import InvalidInput

from .cli import AsOpt, DbOpt, EvidenceOpt, MeasureArg, NoteOpt, ReasonOpt, VersionOpt, _open, app, out


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
