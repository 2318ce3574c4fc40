"""CLI commands of the scheduler: `rectify scheduler` runs the sweeps on a schedule, `rectify sweep` runs one now."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from states.errors import InvalidInput

from .cli import DbOpt, _open, _settings, app, out

sweep_app = typer.Typer(help="Run one sweep once, now, and print what it did.", no_args_is_help=True)
app.add_typer(sweep_app, name="sweep")


@app.command()
def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run every sweep once and exit (for cron or a systemd timer); "
                                       "exits 1 if one failed.")] = False,
    only: Annotated[list[str] | None, typer.Option(
        "--only", metavar="SWEEP", help="Run only this sweep: overdue, reminders or delivery (repeatable); "
        "e.g. `--only delivery` for a process that only sends reminders.")] = None,
    db: DbOpt = None,
) -> None:
    """Run the sweeps on a schedule: deadline breaches, reminders, their delivery.

    Each sweep runs at start, then at its interval (RECTIFY_OVERDUE_INTERVAL_S, RECTIFY_REMINDER_INTERVAL_S,
    RECTIFY_DELIVERY_INTERVAL_S; seconds).

    One log line per run. Ctrl-C or SIGTERM stops it once the running sweeps are done.

    Safe to run in several processes at once, and to restart: it catches up.
    """
    from jobs.progress import Board
    from jobs.scheduler import Failed, Scheduler, configure_logging, run_once, sweeps

    configure_logging()
    settings = _settings()
    a = _open(db)
    chosen = sweeps(a, settings)
    if only:
        names = [s.name for s in chosen]
        unknown = [n for n in only if n not in names]
        if unknown:
            raise InvalidInput("--only", f"no sweep named {unknown[0]!r} (choose from {', '.join(names)})")
        chosen = [s for s in chosen if s.name in only]
    board = Board(terminal=sys.stderr.isatty())
    if once:
        if any(isinstance(o, Failed) for o in run_once(a, settings, board=board, only=[s.name for s in chosen])):
            raise SystemExit(1)
        return
    Scheduler(chosen, board).run()


def _sweep(name: str, db: str | None) -> None:
    from jobs.progress import Board
    from jobs.scheduler import sweeps

    settings = _settings()
    a = _open(db)
    (sweep,) = [s for s in sweeps(a, settings) if s.name == name]
    with Board(terminal=sys.stderr.isatty()).track(name) as progress:
        outcome = sweep.work(progress)
    out.print(outcome.line(), highlight=False, markup=False)


@sweep_app.command("overdue")
def sweep_overdue(db: DbOpt = None) -> None:
    """Flag the open measures past their due date (once per breach), with their red reminders."""
    _sweep("overdue", db)


@sweep_app.command("reminders")
def sweep_reminders(db: DbOpt = None) -> None:
    """Write the reminders owed today to the outbox: warnings, weekly repeats, progress notes, rebound checks."""
    _sweep("reminders", db)
