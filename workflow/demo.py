"""The demo: the reference round (区投促局党组, 2024–2025) replayed as its published report tells it.

It builds a fresh SQLite file from two rounds, each a plan and a replay fired with an injected
clock: first the earlier round (examples/previous-round-*.yaml, 2021), whose problem the 2024
feedback says was not really fixed, then the reference round (examples/reference-*.yaml). During
the reference round the scheduled jobs run for every simulated day, at 08:30 local time, before
that day's steps: the overdue sweep, the reminder sweep and the delivery worker, which writes each
reminder as a file in a mailbox folder. Then it prints the ledger, the problems' results, three
measures' histories, the reminders sent, the refused attempts and the audit verification.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from states.errors import InvalidPlan, RectificationError
from states.model import Event

from . import audit, ledger, plan, services, sweeps
from .app import App, open_app
from .clock import ManualClock
from .importer import import_plan
from .settings import Settings

if TYPE_CHECKING:
    from jobs.delivery import Message, Sender

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DB_NAME = "rectify-demo.db"
MAILBOX_NAME = "rectify-demo.mailbox"
SHOWN_MEASURE = "tcj-1.1.1"  # rejected once, then verified and closed
OVERDUE_MEASURE = "tcj-1.3.1"  # went overdue, then its extension was approved
REBOUND_MEASURE = "tcj-2.3.3"  # its 30-day rebound check found cash reimbursement again
SWEEP_AT = (8, 30)  # the scheduled jobs run each simulated day at 08:30 local time
WORKER = "rectify-demo"
RULE_LABELS = {"yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警", "recheck": "复查提醒",
               "recheck_late": "复查逾期", "progress": "进展报告提醒"}


class Step(BaseModel):
    """One step of a replay: who did what to which measure, and when (local time)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    at: datetime
    do: Literal["start", "evidence", "submit", "reject", "verify", "close", "reopen", "extend_request",
                "extend_approve", "extend_refuse", "recheck", "outcome"]
    measure: str
    as_: str = Field(alias="as")
    outcome: Literal["held", "rebounded"] | None = None  # a rebound check's finding (do: recheck)
    note: str | None = None
    reason: str = ""
    new_due: date | None = None
    figures: dict[str, int] | None = None  # outcome figures (do: outcome): rules, funds_yuan, criticised, …
    expect: Literal["ok", "refused"] = "ok"

    @model_validator(mode="after")
    def _outcome_with_recheck(self) -> Step:
        if (self.do == "recheck") != (self.outcome is not None):
            raise ValueError("a recheck step needs an outcome (held or rebounded), and only a recheck step has one")
        return self


class Replay(BaseModel):
    """A whole replay file."""

    model_config = ConfigDict(extra="forbid")
    # this round's problems that repeat an earlier round's problem or measure (上轮巡察反馈问题整改不彻底),
    # e.g. {"tcj-4.1": "tcj-2021-1.1"}: set on the plan as it is imported, so the plan file still
    # imports on its own into a ledger without the earlier round
    repeats: dict[str, str] = Field(default_factory=dict)
    steps: list[Step]


@dataclass(frozen=True)
class Round:
    """One inspection round of the demo: its plan, its replay, and whether the jobs run through it."""

    plan: Path
    replay: Path
    sweep: bool = False


ROUNDS = (
    Round(EXAMPLES / "previous-round-plan.yaml", EXAMPLES / "previous-round-replay.yaml"),
    Round(EXAMPLES / "reference-plan.yaml", EXAMPLES / "reference-replay.yaml", sweep=True),
)


@dataclass
class Built:
    """What building the demo made and saw."""

    db: Path
    mailbox: Path
    inspections: list[str] = field(default_factory=list)  # in the order they were replayed
    refusals: list[tuple[Step, str]] = field(default_factory=list)
    days_swept: int = 0
    first_day: date | None = None
    last_day: date | None = None
    flagged: int = 0
    delivered: int = 0
    failed: int = 0
    warnings: list[str] = field(default_factory=list)


def load_replay(path: Path) -> Replay:
    """Read and check a replay file."""
    try:
        return Replay.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InvalidPlan(str(path), "", "no such file") from None
    except ValidationError as e:
        err = e.errors()[0]
        raise InvalidPlan(str(path), ".".join(str(x) for x in err["loc"]), err["msg"]) from None


def fire_step(app: App, step: Step) -> None:
    """Fire one replay step through the services, as a person would through the CLI."""
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
    elif step.do == "outcome":
        from .outcomes import record_outcome

        record_outcome(app, step.measure, actor=step.as_, changes=dict(step.figures or {}), reason=step.reason)
    elif step.do == "recheck":
        services.recheck(app, step.measure, actor=step.as_, held=step.outcome == "held", reason=step.reason,
                         notes=notes)
    else:
        services.fire(app, Event(step.do), step.measure, actor=step.as_, reason=step.reason, notes=notes)


def _with_repeats(the_plan: plan.Plan, repeats: dict[str, str], source: Path) -> plan.Plan:
    """The plan with `repeats` set on the named problems (BODY-H.P)."""
    if not repeats:
        return the_plan
    the_plan = the_plan.model_copy(deep=True)
    problems = {f"{b.code}-{hi}.{pi}": p for b in the_plan.bodies
                for hi, h in enumerate(b.headings, start=1) for pi, p in enumerate(h.problems, start=1)}
    for code, earlier in repeats.items():
        if code not in problems:
            raise InvalidPlan(str(source), f"repeats.{code}", "no such problem in the plan")
        problems[code].repeats = earlier
    return the_plan


def mailbox_sender(mailbox: Path) -> Sender:
    """The demo's channels: every reminder, e-mail included, becomes a file in the mailbox folder.

    The people of the reference plan have (placeholder) e-mail addresses; the demo keeps them, so
    the outbox says e-mail as it would in use, but no SMTP server or webhook is ever tried.
    """
    from jobs.delivery import to_log

    def send(msg: Message) -> None:
        shown = msg.recipient if msg.channel == "log" else f"{msg.recipient} <{msg.address}>"
        to_log(replace(msg, recipient=shown), mailbox)

    return send


def _run_jobs(app: App, settings: Settings, send: Sender, built: Built) -> None:
    """One simulated day's jobs: flag breaches, write due reminders, deliver them."""
    from jobs.delivery import deliver

    flagged = sweeps.flag_overdue(app)
    reminded = sweeps.remind(app)
    sent = deliver(app, settings, WORKER, send=send)
    built.flagged += flagged.flagged
    built.delivered += sent.sent
    built.failed += sent.failed
    built.warnings += [w for w in flagged.warnings + reminded.warnings if w not in built.warnings]


def _replay(app: App, clock: ManualClock, rnd: Round, replay: Replay, zone: ZoneInfo, feedback: date,
            settings: Settings, send: Sender, built: Built, advance: Callable[[], None]) -> None:
    """Fire a round's steps; with `rnd.sweep`, first run the jobs for each day since the last one swept."""
    last_swept = feedback  # the jobs start the day after the feedback (the import is at 10:00 that day)
    for i, step in enumerate(replay.steps):
        local = step.at if step.at.tzinfo else step.at.replace(tzinfo=zone)
        day = local.astimezone(zone).date()
        while rnd.sweep and last_swept < day:
            last_swept += timedelta(days=1)
            at = datetime(last_swept.year, last_swept.month, last_swept.day, *SWEEP_AT, tzinfo=zone)
            clock.set(min(at, local).astimezone(UTC))
            _run_jobs(app, settings, send, built)
            built.days_swept += 1
            built.first_day = built.first_day or last_swept
            built.last_day = last_swept
        clock.set(local.astimezone(UTC))
        try:
            fire_step(app, step)
        except RectificationError as e:
            if step.expect != "refused":
                raise InvalidPlan(str(rnd.replay), f"steps[{i}]", f"step was refused: {e}") from None
            built.refusals.append((step, str(e)))
        else:
            if step.expect == "refused":
                raise InvalidPlan(str(rnd.replay), f"steps[{i}]", "step should have been refused")
        advance()


def build(folder: Path, rounds: tuple[Round, ...] = ROUNDS, console: Console | None = None) -> Built:
    """Make a fresh demo database in `folder` and replay the rounds in order; returns what was made and seen."""
    from storage import migrate

    loaded = [(r, plan.load(r.plan), load_replay(r.replay)) for r in rounds]
    db, mailbox = folder / DB_NAME, folder / MAILBOX_NAME
    for stale in (db, db.with_name(DB_NAME + "-wal"), db.with_name(DB_NAME + "-shm")):
        stale.unlink(missing_ok=True)
    for old in mailbox.glob("reminder-*.txt"):
        old.unlink()
    built = Built(db, mailbox)
    first_zone = ZoneInfo(loaded[0][1].inspection.timezone)
    clock = ManualClock(datetime.combine(loaded[0][1].inspection.feedback_date, datetime.min.time(),
                                         first_zone).astimezone(UTC))
    # a throwaway file: commits need not wait for the disk (the jobs add several hundred transactions)
    app = open_app(str(db), clock=clock, settings=Settings(sqlite_synchronous="NORMAL"))
    migrate.upgrade(app.engine)
    delivery = Settings(mailbox_dir=mailbox, smtp_url=None)
    send = mailbox_sender(mailbox)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("replaying the rounds", total=sum(len(r.steps) for _, _, r in loaded))
        for rnd, the_plan, replay in loaded:
            zone = ZoneInfo(the_plan.inspection.timezone)
            feedback = the_plan.inspection.feedback_date
            clock.set(datetime.combine(feedback, datetime.min.time(), zone).replace(hour=10).astimezone(UTC))
            import_plan(app, _with_repeats(the_plan, replay.repeats, rnd.replay), rnd.plan.name)
            built.inspections.append(the_plan.inspection.code)
            _replay(app, clock, rnd, replay, zone, feedback, delivery, send, built, lambda: bar.advance(task))
    app.engine.dispose()
    return built


def _history(console: Console, app: App, code: str, title: str) -> None:
    from storage.history import HistoryFilter

    from .cli import evidence_notes, history_table

    with app.uow(read_only=True) as uow:
        mid = uow.measures.row(code).id
        hist = uow.history.query(HistoryFilter(measure_id=mid))
        notes = evidence_notes(uow, {mid} if mid else set())
    console.rule(f"[bold]{title}")
    console.print(history_table(hist, title=f"{code} 整改记录", notes=notes))


def _reminders(console: Console, app: App, built: Built, codes: set[str]) -> None:
    """How many reminders went out, by rule, a few samples, and where the mailbox is."""
    with app.uow(read_only=True) as uow:
        rows = [r for r in uow.schedule.reminders() if r.code in codes]
        checks = [c for c in uow.schedule.checks() if c.code in codes]
    console.rule("[bold]提醒 — what the scheduled jobs sent over the simulated days")
    t = Table(header_style="bold")
    for c in ("规则", "提醒", "消息", "已发送", "措施"):  # a reminder goes to each of its people: one message each
        t.add_column(c, justify="left" if c == "规则" else "right")
    made, sent = Counter(r.rule for r in rows), Counter(r.rule for r in rows if r.status == "sent")
    occasions = Counter(rule for _, rule in {(r.id, r.rule) for r in rows})
    for rule, label in RULE_LABELS.items():
        if made[rule]:
            t.add_row(label, str(occasions[rule]), str(made[rule]), str(sent[rule]),
                      str(len({r.code for r in rows if r.rule == rule})))
    t.add_row("[bold]合计[/]", f"[bold]{sum(occasions.values())}[/]", f"[bold]{len(rows)}[/]",
              f"[bold]{sum(sent.values())}[/]", str(len({r.code for r in rows})))
    console.print(t)
    outcomes = Counter(c.status for c in checks)
    console.print(f"{built.days_swept} days swept, {built.first_day} to {built.last_day} at "
                  f"{SWEEP_AT[0]:02d}:{SWEEP_AT[1]:02d}: {built.flagged} breaches flagged overdue, "
                  f"{len({r.id for r in rows})} reminders written ({len(rows)} messages), {built.delivered} delivered"
                  + (f", {built.failed} failed (retried)" if built.failed else "") + ".\n"
                  f"Rebound checks (复查): {outcomes['held']} held, {outcomes['rebounded']} rebounded, "
                  f"{outcomes['cancelled']} cancelled by the reopening, {outcomes['pending']} due after "
                  f"{built.last_day}.", highlight=False)
    samples = [next((r for r in rows if r.rule == rule and (code is None or r.code == code)), None)
               for rule, code in (("red", OVERDUE_MEASURE), ("recheck", REBOUND_MEASURE), ("orange", None))]
    s = Table(title="Sample messages", header_style="bold")
    for c in ("日期", "收件人", "主题", "文件"):
        s.add_column(c, no_wrap=c != "主题")
    for r in (x for x in samples if x is not None):
        s.add_row(f"{r.created_at.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d}", f"{r.recipient} <{r.address}>",
                  r.subject, r.file)
    console.print(s)
    files = len(list(built.mailbox.glob("reminder-*.txt")))
    console.print(f"The mailbox folder {built.mailbox} holds {files} messages, one file each: the demo delivers "
                  "e-mail there instead of to an SMTP server.", highlight=False)
    for w in built.warnings:
        console.print(f"[yellow]warning:[/] {w}")


DEMO_PASSWORD = "rectify-demo"  # the demo's throw-away database only


def _demo_passwords(app: App) -> None:
    """Give everybody in the demo database the demo password, so the web pages can be tried at once."""
    from .auth import set_password

    with app.uow(read_only=True) as uow:
        handles = [p.handle for p in uow.people.all()]
    for handle in handles:
        set_password(app, handle, DEMO_PASSWORD)


def run(folder: Path, console: Console) -> None:
    """Build the demo and print what an office and an auditor would look at."""
    from .cli import ledger_table

    started = time.perf_counter()
    built = build(folder, console=console)
    db = built.db
    app = open_app(str(db))
    *earlier, current = built.inspections
    rows = ledger.ledger(app, ledger.LedgerFilter(inspection=current))
    console.rule("[bold]整改台账 — the ledger on 2025-03-17")
    console.print(ledger_table(rows, title=f"{rows[0].body} 整改台账 ({current})" if rows else "整改台账"))
    console.rule("[bold]整改结果 — each problem's result, derived from its measures")
    t = Table(header_style="bold")
    for c in ("反馈问题", "问题", "整改措施", "整改结果"):
        t.add_column(c)
    for p in ledger.problems(rows):
        t.add_row(f"({p.heading_ref}){p.problem_ref}", p.text[:40] + ("…" if len(p.text) > 40 else ""),
                  str(p.measures), f"[green]{p.result}[/]" if p.result == "完成" else p.result)
    console.print(t)
    console.print(ledger.summary_sentence(ledger.summary(rows)))
    for code in earlier:
        before = ledger.ledger(app, ledger.LedgerFilter(inspection=code))
        console.rule(f"[bold]上轮巡察 — the earlier round {code}, repeated by {current}")
        console.print(ledger_table(before, title=f"{before[0].body} 整改台账 ({code})" if before else code))
    _history(console, app, SHOWN_MEASURE, f"整改记录 — the history of {SHOWN_MEASURE}")
    _history(console, app, OVERDUE_MEASURE, f"逾期与延期 — {OVERDUE_MEASURE} went overdue, then was extended")
    _history(console, app, REBOUND_MEASURE, f"复查反弹 — {REBOUND_MEASURE}'s rebound check reopened it")
    _reminders(console, app, built, {r.code for r in rows})
    if built.refusals:
        console.rule("[bold]Refused attempts (kept in the access log for the auditors)")
        for step, why in built.refusals:
            console.print(f"{step.at:%Y-%m-%d %H:%M} {step.as_} → {step.do} {step.measure}: [red]{why}[/]")
    console.rule("[bold]rectify audit verify")
    report = audit.verify(app)
    checkpoint = folder / "rectify-demo.checkpoint.json"
    audit.write_checkpoint(app, checkpoint)
    status = "[green]OK[/]" if report.ok else "[red]BROKEN[/]"
    console.print(f"{status}: {report.measures} measures, {report.records} history records, every chain verifies"
                  if report.ok else f"{status}: " + "; ".join(str(b) for b in report.breaks))
    console.print(f"Checkpoint written to {checkpoint}.")
    _demo_passwords(app)
    console.print(f"\nEvery person in the demo signs in to the web pages with the password {DEMO_PASSWORD!r} "
                  "(`make serve`, then http://127.0.0.1:8000/; e.g. office-head, deputy-party, liaison).")
    console.print(f"\nDone in {time.perf_counter() - started:.1f} s. The database is {db}; look around with e.g.\n"
                  f"(the command is .venv/bin/rectify, or rectify after `. .venv/bin/activate`)\n"
                  f"  rectify ledger --db {db}\n  rectify show {SHOWN_MEASURE} --db {db} --as deputy-party\n"
                  f"  rectify history {OVERDUE_MEASURE} --db {db}\n"
                  f"  rectify reminders --db {db} --measure {OVERDUE_MEASURE}\n"
                  f"  rectify rechecks --db {db}\n"
                  f"  rectify audit verify --db {db} --checkpoint {checkpoint}")
