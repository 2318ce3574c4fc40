"""The demo: the reference round (区投促局党组, 2024–2025) replayed as its published report tells it.

It imports examples/reference-plan.yaml into a fresh SQLite file and fires the steps of
examples/reference-replay.yaml with an injected clock, then prints the ledger, the problems'
results, one measure's history, the refused attempts and the audit verification.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from states.errors import InvalidPlan, RectificationError
from states.model import Event

from . import audit, ledger, plan, services
from .app import open_app
from .clock import ManualClock
from .importer import import_plan

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DB_NAME = "rectify-demo.db"
SHOWN_MEASURE = "tcj-1.1.1"


class Step(BaseModel):
    """One step of a replay: who did what to which measure, and when (local time)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    at: datetime
    do: Literal["start", "evidence", "submit", "reject", "verify", "close", "reopen", "extend_request",
                "extend_approve", "extend_refuse"]
    measure: str
    as_: str = Field(alias="as")
    note: str | None = None
    reason: str = ""
    new_due: date | None = None
    expect: Literal["ok", "refused"] = "ok"


class Replay(BaseModel):
    """A whole replay file."""

    model_config = ConfigDict(extra="forbid")
    steps: list[Step]


def load_replay(path: Path) -> Replay:
    """Read and check a replay file."""
    try:
        return Replay.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InvalidPlan(str(path), "", "no such file") from None
    except ValidationError as e:
        err = e.errors()[0]
        raise InvalidPlan(str(path), ".".join(str(x) for x in err["loc"]), err["msg"]) from None


def fire_step(app: object, step: Step) -> None:
    """Fire one replay step through the services, as a person would through the CLI."""
    from .app import App

    assert isinstance(app, App)
    notes = [step.note] if step.note else []
    if step.do == "evidence":
        services.add_evidence(app, step.measure, actor=step.as_, notes=notes, reason=step.reason)
    elif step.do == "extend_request":
        if step.new_due is None:
            raise InvalidPlan("replay", step.measure, "extend_request needs new_due")
        services.request_extension(app, step.measure, actor=step.as_, new_due=step.new_due, reason=step.reason)
    elif step.do in ("extend_approve", "extend_refuse"):
        services.decide_extension(app, step.measure, actor=step.as_, approve=step.do == "extend_approve",
                                  reason=step.reason)
    else:
        services.fire(app, Event(step.do), step.measure, actor=step.as_, reason=step.reason, notes=notes)


def build(folder: Path, plan_file: Path | None = None, replay_file: Path | None = None,
          console: Console | None = None) -> tuple[Path, list[tuple[Step, str]]]:
    """Make a fresh demo database in `folder` and replay the round; returns it and the refusals seen."""
    from storage import migrate

    plan_file = plan_file or EXAMPLES / "reference-plan.yaml"
    replay_file = replay_file or EXAMPLES / "reference-replay.yaml"
    the_plan = plan.load(plan_file)
    replay = load_replay(replay_file)
    zone = ZoneInfo(the_plan.inspection.timezone)
    db = folder / DB_NAME
    for stale in (db, db.with_name(DB_NAME + "-wal"), db.with_name(DB_NAME + "-shm")):
        stale.unlink(missing_ok=True)
    feedback = datetime.combine(the_plan.inspection.feedback_date, datetime.min.time(), zone).replace(hour=10)
    clock = ManualClock(feedback.astimezone(UTC))
    app = open_app(str(db), clock=clock)
    migrate.upgrade(app.engine)
    import_plan(app, the_plan, plan_file.name)
    refusals: list[tuple[Step, str]] = []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("replaying the round", total=len(replay.steps))
        for i, step in enumerate(replay.steps):
            local = step.at if step.at.tzinfo else step.at.replace(tzinfo=zone)
            clock.set(local.astimezone(UTC))
            try:
                fire_step(app, step)
            except RectificationError as e:
                if step.expect != "refused":
                    raise InvalidPlan(str(replay_file), f"steps[{i}]", f"step was refused: {e}") from None
                refusals.append((step, str(e)))
            else:
                if step.expect == "refused":
                    raise InvalidPlan(str(replay_file), f"steps[{i}]", "step should have been refused")
            bar.advance(task)
    app.engine.dispose()
    return db, refusals


def run(folder: Path, console: Console) -> None:
    """Build the demo and print what an office and an auditor would look at."""
    import time

    from storage.repositories import HistoryFilter

    from .cli import evidence_notes, history_table, ledger_table

    started = time.perf_counter()
    db, refusals = build(folder, console=console)
    app = open_app(str(db))
    rows = ledger.ledger(app)
    console.rule("[bold]整改台账 — the ledger on 2025-03-17")
    console.print(ledger_table(rows, title=f"{rows[0].body} 整改台账" if rows else "整改台账"))
    console.rule("[bold]整改结果 — each problem's result, derived from its measures")
    t = Table(header_style="bold")
    for c in ("反馈问题", "问题", "整改措施", "整改结果"):
        t.add_column(c)
    for p in ledger.problems(rows):
        t.add_row(f"({p.heading_ref}){p.problem_ref}", p.text[:40] + ("…" if len(p.text) > 40 else ""),
                  str(p.measures), f"[green]{p.result}[/]" if p.result == "完成" else p.result)
    console.print(t)
    console.print(ledger.summary_sentence(ledger.summary(rows)))
    with app.uow(read_only=True) as uow:
        mid = uow.measures.row(SHOWN_MEASURE).id
        hist = uow.history.query(HistoryFilter(measure_id=mid))
        notes = evidence_notes(uow, {mid} if mid else set())
    console.rule(f"[bold]整改记录 — the history of {SHOWN_MEASURE}")
    console.print(history_table(hist, title=f"{SHOWN_MEASURE} 整改记录", notes=notes))
    if refusals:
        console.rule("[bold]Refused attempts (kept in the access log for the auditors)")
        for step, why in refusals:
            console.print(f"{step.at:%Y-%m-%d %H:%M} {step.as_} → {step.do} {step.measure}: [red]{why}[/]")
    console.rule("[bold]rectify audit verify")
    report = audit.verify(app)
    checkpoint = folder / "rectify-demo.checkpoint.json"
    audit.write_checkpoint(app, checkpoint)
    status = "[green]OK[/]" if report.ok else "[red]BROKEN[/]"
    console.print(f"{status}: {report.measures} measures, {report.records} history records, every chain verifies"
                  if report.ok else f"{status}: " + "; ".join(str(b) for b in report.breaks))
    console.print(f"Checkpoint written to {checkpoint}.")
    console.print(f"\nDone in {time.perf_counter() - started:.1f} s. The database is {db}; look around with e.g.\n"
                  f"(the command is .venv/bin/rectify, or rectify after `. .venv/bin/activate`)\n"
                  f"  rectify ledger --db {db}\n  rectify show {SHOWN_MEASURE} --db {db} --as deputy-party\n"
                  f"  rectify history {SHOWN_MEASURE} --db {db}\n"
                  f"  rectify audit verify --db {db} --checkpoint {checkpoint}")
