"""The `rectify` command line: the ledger, the events, history and audit, plans and the demo."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from states.errors import InvalidInput, InvalidPlan, RectificationError
from states.model import Event, Role, State

app = typer.Typer(
    name="rectify",
    help="Rectification (整改) after an inspection: measures, their ledger, verified close-outs and an "
    "audit trail you can trust.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
audit_app = typer.Typer(help="Check the tamper-evident history.", no_args_is_help=True)
plan_app = typer.Typer(help="The plan file format.", no_args_is_help=True)
evidence_app = typer.Typer(help="Evidence of what was done.", no_args_is_help=True)
extend_app = typer.Typer(help="Deadline extensions: the owner asks, a leader decides.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(plan_app, name="plan")
app.add_typer(evidence_app, name="evidence")
app.add_typer(extend_app, name="extend")

# piped output (CI logs, files) gets a wide fixed width instead of rich's 80 columns
out = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


class Format(StrEnum):
    """Output formats."""

    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(StrEnum):
    """Output formats where CSV makes no sense."""

    table = "table"
    json = "json"


class HistoryFormat(StrEnum):
    """Output formats of the history."""

    table = "table"
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


ASSIGN_HELP = ("For a document: a YAML file with inspection, units and people (as in a plan), body: {code, name}, "
               "defaults: {owner, verifier, leader, due, unit?, kind?} for every measure, and optional overrides by "
               "measure code, measures: {tcj-1.2.3: {owner: …, due: …}}; see examples/reference-assign.yaml.")

# -- options shared by many commands -------------------------------------------------------------

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite path \\[default: $RECTIFY_DATABASE_URL, else rectify.db]",
                 show_default=False),
]
AsOpt = Annotated[str, typer.Option("--as", help="The person acting (their id from the plan).", show_default=False)]
ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="Summary of the work, or the reason for the event.")]
NoteOpt = Annotated[list[str] | None, typer.Option("--note", "-n", help="An evidence note (repeatable).")]
EvidenceOpt = Annotated[
    list[Path] | None, typer.Option("--evidence", "-e", help="An evidence file, kept by its SHA-256 (repeatable).")
]
VersionOpt = Annotated[
    int | None,
    typer.Option("--expect-version", help="Refuse if the measure is no longer at this version (see `show`)."),
]
MeasureArg = Annotated[str, typer.Argument(help="The measure: its code (e.g. tcj-1.2.3) or number.",
                                           show_default=False)]


def _settings() -> Any:
    from .settings import Settings

    return Settings()


def _open(db: str | None, *, must_exist: bool = True) -> Any:
    """Open the database; a SQLite file that is not there yet is an error unless creating it."""
    from storage.engine import normalise_url

    from .app import open_app

    settings = _settings()
    url = normalise_url(db or settings.database_url)
    if must_exist and url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            raise InvalidInput("database", f"{str(path)!r} does not exist; run `rectify init` first")
    return open_app(url, settings=settings)


def _zone() -> ZoneInfo:
    return ZoneInfo(_settings().timezone)


def _local(at: datetime) -> str:
    return at.astimezone(_zone()).strftime("%Y-%m-%d %H:%M")


def _parse_when(name: str, text: str | None, *, end: bool = False) -> datetime | None:
    """A date (local day; as an end, the whole day included) or an ISO date-time, to UTC."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            local = datetime.combine(d + timedelta(days=1) if end else d, time(), _zone())
        else:
            local = datetime.fromisoformat(text)
            local = local if local.tzinfo else local.replace(tzinfo=_zone())
    except ValueError:
        raise InvalidInput(name, f"{text!r} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)") from None
    return local.astimezone(UTC)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# -- setup ------------------------------------------------------------------------------------------


@app.command()
def init(db: DbOpt = None) -> None:
    """Create the database (or bring its schema up to date) by applying the migrations."""
    from storage import migrate

    a = _open(db, must_exist=False)
    before, head = migrate.status(a.engine)
    migrate.upgrade(a.engine)
    where = a.engine.url.render_as_string(hide_password=True)
    if before == head:
        out.print(f"Database {where} is up to date (schema {head}).")
    else:
        out.print(f"Database {where} ready (schema {before or 'empty'} → {head}).")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A plan file (YAML or JSON; see `rectify plan schema`), or a "
                                              "document (.txt, .md, .docx) with --assign, or an Excel ledger (.xlsx) "
                                              "as `rectify export ledger` writes it.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file and show what would be added.")] = False,
    assign: Annotated[Path | None, typer.Option("--assign", help=ASSIGN_HELP, show_default=False)] = None,
    db: DbOpt = None,
) -> None:
    """Import a plan: its inspection, people, problem tree and measures; all of it or nothing.

    A document (.txt, .md, .docx) is read as an outline (一、 (一) 1. (1), 一是…, 整改情况:); --dry-run shows the
    tree and every line it could not place, and an import is refused while any line is unplaced or guessed.
    """
    from rich.progress import Progress

    from .excel_import import load_any, located
    from .importer import import_plan
    from .outline_source import DOCUMENT_SUFFIXES

    if file.suffix.lower() in DOCUMENT_SUFFIXES:
        from .cli_outline import import_document

        import_document(file, assign=assign, dry_run=dry_run, db=db)
        return
    if assign is not None:
        raise InvalidInput("--assign", "is for documents (.txt, .md, .docx); a plan file names its own people")
    plan = load_any(file, err)  # a plan file, or an Excel ledger (.xlsx) as `rectify export ledger` writes it
    n = sum(len(p.measures) for b in plan.bodies for h in b.headings for p in h.problems)
    if dry_run:
        _print_plan_tree(plan)
        out.print(f"[green]{file}: valid[/] — {n} measures; nothing was written (--dry-run).")
        return
    a = _open(db)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("importing measures", total=n)
        try:
            result = import_plan(a, plan, str(file), progress=lambda k: bar.advance(task, k))
        except InvalidPlan as e:  # from a workbook: name the cell, not the plan path
            raise located(plan, e) from None
    out.print(f"Imported inspection [bold]{result.inspection}[/]: {result.bodies} body(ies), {result.problems} "
              f"problems, {result.points} points, {result.measures} measures, {result.people} new people.")


def _print_plan_tree(plan: Any) -> None:
    from rich.tree import Tree

    from .importer import measure_code

    root = Tree(f"[bold]{plan.inspection.name}[/] ({plan.inspection.code})")
    for b in plan.bodies:
        bt = root.add(f"{b.name} [dim]{b.code}[/]")
        for hi, h in enumerate(b.headings, 1):
            ht = bt.add(f"({h.ref}) {h.title}")
            for pi, p in enumerate(h.problems, 1):
                pt = ht.add(f"{p.ref + '.' if p.ref else ''}{p.text}")
                for mi, m in enumerate(p.measures, 1):
                    pt.add(f"[cyan]{measure_code(b.code, hi, pi, mi)}[/] {m.ref}{m.title} — {m.owner}, due {m.due}")
    out.print(root)


@plan_app.command("schema")
def plan_schema() -> None:
    """Print the JSON Schema of plan files."""
    from .plan import schema

    _print_json(schema())


@plan_app.command("check")
def plan_check(file: Annotated[Path, typer.Argument(help="A plan file (YAML or JSON).")]) -> None:
    """Check a plan file without a database."""
    from .plan import load

    plan = load(file)
    n = sum(len(p.measures) for b in plan.bodies for h in b.headings for p in h.problems)
    out.print(f"[green]{file}: valid[/] — {len(plan.people)} people, {n} measures.")


@app.command()
def people(db: DbOpt = None, fmt: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table) -> None:
    """List the people, their units and roles."""
    a = _open(db)
    with a.uow(read_only=True) as uow:
        rows = [{"id": p.handle, "name": p.name, "unit": p.unit, "roles": p.roles.split(","), "email": p.email}
                for p in uow.people.all()]
    if fmt is TableOrJson.json:
        _print_json(rows)
        return
    t = Table(title="人员", header_style="bold")
    for c in ("ID", "姓名/职务", "部门", "角色", "邮箱"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["id"], r["name"], r["unit"] or "", "、".join(Role(x).label for x in r["roles"]), r["email"] or "")
    out.print(t)


# -- the ledger -------------------------------------------------------------------------------------


@app.command("ledger")
def ledger_cmd(
    state: Annotated[State | None, typer.Option(help="Only measures in this state.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's measures.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only this unit's measures.")] = None,
    problem: Annotated[str | None, typer.Option(help="Only this heading or problem: 1, 1.2 or tcj-1.2.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only measures past their due date.")] = False,
    inspection: Annotated[str | None, typer.Option(help="Only this inspection round (its code).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="As it stood at the end of this day (YYYY-MM-DD), "
                                              "rebuilt from the history.", show_default=False)] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.table,
    db: DbOpt = None,
) -> None:
    """Show the ledger (整改台账): every measure with its problem, people, due date and state."""
    from .ledger import LedgerFilter, ledger, summary, summary_sentence

    a = _open(db)
    filters = LedgerFilter(state=state, owner=owner, unit=unit, problem=problem, overdue=overdue,
                           inspection=inspection)
    if as_of is not None:
        from .asof import ledger_as_of
        from .cli_report import a_day

        rows = ledger_as_of(a, a_day(as_of), filters)
    else:
        rows = ledger(a, filters)
    if fmt is Format.json:
        _print_json([r.as_json() for r in rows])
    elif fmt is Format.csv:
        w = csv.writer(sys.stdout)
        cols = ["code", "heading_ref", "problem_ref", "ref", "title", "kind", "state", "owner", "verifier", "leader",
                "unit", "due", "overdue", "rebounds", "repeats", "version"]
        w.writerow(cols)
        for r in rows:
            d = r.as_json()
            w.writerow([d[c] for c in cols])
    else:
        out.print(ledger_table(rows, title=f"整改台账(截至{as_of})" if as_of else "整改台账"))
        if rows:
            out.print(summary_sentence(summary(rows)))


def ledger_table(rows: list[Any], title: str = "整改台账") -> Table:
    """The ledger as a terminal table."""
    colours = {"assigned": "white", "in_progress": "yellow", "submitted": "cyan", "verified": "blue",
               "closed": "green"}
    t = Table(title=title, header_style="bold", show_lines=False)
    t.add_column("编号", no_wrap=True)
    t.add_column("问题", no_wrap=True)
    t.add_column("整改措施", max_width=28)
    t.add_column("类型", no_wrap=True)
    t.add_column("责任人", no_wrap=True)
    t.add_column("完成时限", no_wrap=True)
    t.add_column("状态", no_wrap=True)
    t.add_column("反弹", no_wrap=True)
    for r in rows:
        due = f"[red]{r.due} 逾期[/]" if r.overdue else str(r.due)
        rebound = (f"[red]{r.rebounds}次[/]" if r.rebounds else "") + (f" 重复 {r.repeats}" if r.repeats else "")
        t.add_row(r.code, f"({r.heading_ref}){r.problem_ref}", r.title, r.kind_label, r.owner_name, due,
                  f"[{colours[r.state]}]{r.state_label}[/]", rebound.strip())
    return t


@app.command()
def show(
    measure: MeasureArg,
    as_: Annotated[str | None, typer.Option("--as", help="Also list what this person may do now.")] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    db: DbOpt = None,
) -> None:
    """Show one measure: its problem, people, due date, state, version, evidence and extensions."""
    from .ledger import detail

    a = _open(db)
    d = detail(a, measure, as_)
    if fmt is TableOrJson.json:
        _print_json(d.as_json())
        return
    r = d.row
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for k, v in [
        ("编号", f"{r.code} (#{r.id}, version {r.version})"),
        ("反馈问题", f"({r.heading_ref}){r.heading}"),
        ("问题", f"{r.problem_ref}. {r.problem}" if r.problem_ref else r.problem),
        ("整改措施", f"{r.ref}{r.title}"),
        ("内容", d.text or "—"),
        ("类型", r.kind_label),
        ("状态", r.state_label + (" [red]逾期[/]" if r.overdue else "")),
        ("责任人 / 核验人 / 责任领导", f"{r.owner} / {r.verifier} / {r.leader}"),
        ("责任部门", r.unit or "—"),
        ("完成时限", str(r.due)),
        ("佐证材料", "\n".join(f"{e['name'] or e['note'][:60]} [dim]{e['sha256'][:12]}[/]" for e in d.evidence) or "—"),
        ("延期", "\n".join(f"{x['old_due']} → {x['new_due']} {x['status']}" for x in d.extensions) or "—"),
    ]:
        t.add_row(k, v)
    if as_:
        t.add_row(f"{as_} 可执行", ", ".join(d.available) or "—")
    out.print(t)


# -- the events ---------------------------------------------------------------------------------------

_EVENT_HELP = {
    Event.START: "Start work on a measure (owner): assigned → in_progress.",
    Event.SUBMIT: "Hand in for verification (owner; needs --reason and evidence): in_progress → submitted.",
    Event.REJECT: "Send back to the owner (verifier; needs --reason): submitted → in_progress.",
    Event.VERIFY: "Confirm the work (verifier, never the owner): submitted → verified.",
    Event.CLOSE: "Cross off the measure, 销号 (leader, never the owner): verified → closed.",
    Event.REOPEN: "Reopen (verifier or leader; needs --reason): verified/closed → in_progress.",
    Event.REASSIGN: "Give the measure to another owner (leader or admin; needs --to).",
}


def _event_command(event: Event) -> None:
    def command(
        measure: MeasureArg,
        as_: AsOpt,
        reason: ReasonOpt = "",
        note: NoteOpt = None,
        evidence: EvidenceOpt = None,
        to: Annotated[str | None, typer.Option("--to", help="The new owner (reassign only).")] = None,
        expect_version: VersionOpt = None,
        db: DbOpt = None,
    ) -> None:
        from .services import fire

        if to and event is not Event.REASSIGN:
            raise InvalidInput("--to", "only reassign takes a new owner")
        a = _open(db)
        m = fire(a, event, measure, actor=as_, reason=reason, notes=note or [], files=evidence or [],
                 new_owner=to, expected_version=expect_version)
        out.print(f"{m.code}: {event.label} → [bold]{m.state.label}[/] ({m.state}), version {m.version}")

    command.__doc__ = _EVENT_HELP[event]
    app.command(str(event), help=_EVENT_HELP[event])(command)


for _e in _EVENT_HELP:
    _event_command(_e)


@evidence_app.command("add")
def evidence_add(
    measure: MeasureArg, as_: AsOpt, note: NoteOpt = None, evidence: EvidenceOpt = None, reason: ReasonOpt = "",
    expect_version: VersionOpt = None, db: DbOpt = None,
) -> None:
    """Attach evidence (notes or files) to a measure (owner)."""
    from .services import add_evidence

    a = _open(db)
    m = add_evidence(a, measure, actor=as_, notes=note or [], files=evidence or [], reason=reason,
                     expected_version=expect_version)
    out.print(f"{m.code}: evidence recorded ({m.evidence_count} item(s) in all), version {m.version}")


@evidence_app.command("get")
def evidence_get(
    sha256: Annotated[str, typer.Argument(help="The evidence file's SHA-256 (see `show`).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the file.")],
    db: DbOpt = None,
) -> None:
    """Copy a kept evidence file out, after checking its hash."""
    from storage.blobs import copy_out

    a = _open(db)
    if not a.evidence.verify(sha256):
        raise InvalidInput("sha256", f"no intact evidence file {sha256!r} in {a.evidence.root}")
    copy_out(a.evidence, sha256, output)
    out.print(f"wrote {output}")


@extend_app.command("request")
def extend_request(
    measure: MeasureArg, as_: AsOpt,
    to: Annotated[str, typer.Option("--to", help="The new due date, YYYY-MM-DD.", show_default=False)],
    reason: ReasonOpt = "", expect_version: VersionOpt = None, db: DbOpt = None,
) -> None:
    """Ask to move a measure's due date (owner); the date moves only when a leader approves."""
    from .services import request_extension

    try:
        new_due = date.fromisoformat(to)
    except ValueError:
        raise InvalidInput("--to", f"{to!r} is not a date (YYYY-MM-DD)") from None
    a = _open(db)
    m = request_extension(a, measure, actor=as_, new_due=new_due, reason=reason, expected_version=expect_version)
    out.print(f"{m.code}: extension to {new_due} requested; due date stays {m.due} until a leader decides")


def _decide(approve: bool) -> Any:
    def command(measure: MeasureArg, as_: AsOpt, reason: ReasonOpt = "", expect_version: VersionOpt = None,
                db: DbOpt = None) -> None:
        from .services import decide_extension

        a = _open(db)
        m = decide_extension(a, measure, actor=as_, approve=approve, reason=reason, expected_version=expect_version)
        out.print(f"{m.code}: extension {'approved' if approve else 'refused'}; due date {m.due}")

    return command


extend_app.command("approve", help="Approve the pending extension (leader): the due date moves.")(_decide(True))
extend_app.command("refuse", help="Refuse the pending extension (leader; needs --reason).")(_decide(False))


# -- history and audit ------------------------------------------------------------------------------


@app.command()
def history(
    measure: Annotated[str | None, typer.Argument(help="Only this measure (code or number).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only what this person did.")] = None,
    since: Annotated[str | None, typer.Option(help="From this date or date-time (local).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date (included) or date-time.")] = None,
    problem: Annotated[str | None, typer.Option(help="Only this heading or problem: 1, 1.2 or tcj-1.2.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only measures of this responsible unit.")] = None,
    role: Annotated[Role | None, typer.Option(help="Only what was done in this role.")] = None,
    event: Annotated[list[Event] | None, typer.Option(help="Only these events (repeatable).")] = None,
    refused: Annotated[bool, typer.Option("--refused", help="Show the refused attempts (access log) instead.")] = False,
    fmt: Annotated[HistoryFormat, typer.Option("--format", help="table, json, csv, or xlsx (history and refused "
                                               "attempts side by side; needs -o).")] = HistoryFormat.table,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
    db: DbOpt = None,
) -> None:
    """The history of every measure (or one), oldest first; --refused for the refused attempts."""
    from .history_export import HistoryQuery, export_history, history_rows, refused_rows

    a = _open(db)
    q = HistoryQuery(measure=measure, problem=problem, unit=unit, actor=actor, role=str(role) if role else None,
                     events=tuple(str(e) for e in event or ()), since=_parse_when("--since", since),
                     until=_parse_when("--until", until, end=True))
    if refused and role:
        raise InvalidInput("--role", "refused attempts record no role; filter them by --actor")
    if fmt is not HistoryFormat.table:
        if fmt is HistoryFormat.xlsx and output is None:
            raise InvalidInput("-o", "an Excel workbook needs a file: -o FILE.xlsx")
        n = export_history(a, q, str(fmt), output or sys.stdout, refused=refused, zone=_zone())
        if output is not None:
            err.print(f"wrote {n} {'refused attempts' if refused else 'history records'} to {output}")
        return
    if refused:
        t = Table(title="被拒绝的操作", header_style="bold")
        for c in ("时间", "操作人", "事件", "措施", "结果", "原因"):
            t.add_column(c)
        for r in refused_rows(a, q):
            t.add_row(_local(r.at), r.actor, r.event, r.measure, r.outcome, r.message)
        out.print(t)
        return
    rows, notes = history_rows(a, q)
    out.print(history_table(rows, notes=notes))


def evidence_notes(uow: Any, measure_ids: set[int]) -> dict[tuple[int, int], list[str]]:
    """What each evidence item says (a note) or is called (a file), by (measure id, seq)."""
    found: dict[tuple[int, int], list[str]] = {}
    for mid in measure_ids:
        for e in uow.evidence.of(mid):
            found.setdefault((mid, e.seq), []).append(e.note if e.kind == "note" else f"📎{e.name}")
    return found


def history_table(rows: list[Any], title: str = "整改记录", notes: dict[tuple[int, int], list[str]] | None = None
                  ) -> Table:
    """History rows as a terminal table; `notes` gives the evidence named at (measure id, seq)."""
    notes = notes or {}
    t = Table(title=title, header_style="bold")
    t.add_column("时间", no_wrap=True)
    t.add_column("措施", no_wrap=True)
    t.add_column("#", justify="right")
    t.add_column("事件", no_wrap=True)
    t.add_column("状态", no_wrap=True)
    t.add_column("操作人", no_wrap=True)
    t.add_column("说明", max_width=48)
    for h, code in rows:
        change = State(h.to_state).label if h.from_state is None else (
            f"{State(h.from_state).label}→{State(h.to_state).label}" if h.from_state != h.to_state else "")
        extra = h.reason
        if h.evidence:
            named = "; ".join(notes.get((h.measure_id, h.seq), []))
            told = f"[dim]佐证: {named}[/]" if named else f"[dim]佐证×{len(h.evidence)}[/]"
            extra = (extra + " " if extra else "") + told
        if h.event in ("extend_request", "extend_approve"):
            extra = f"{h.data.get('old_due')}→{h.data.get('new_due')} " + extra
        if h.event == "overdue":
            extra = f"完成时限{h.data.get('due')}已过,尚未核验 " + extra
        if h.event == "recheck":
            extra = f"{h.data.get('due_on')}复查:未反弹 " + extra
        if h.event == "reopen" and h.data.get("outcome") == "rebounded":
            extra = f"{h.data.get('due_on')}复查:问题反弹 " + extra
        if h.event == "reassign":
            extra = f"{h.data.get('old_owner')}→{h.data.get('new_owner')} " + extra
        if h.event == "outcome":
            from states.outcome import Figures

            extra = f"{Figures.from_data(h.data).text} " + extra
        t.add_row(_local(h.at), code, str(h.seq), Event(h.event).label, change, f"{h.actor} ({Role(h.role).label})",
                  extra)
    return t


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[Path | None, typer.Option(help="Also hold the chains against this checkpoint file.")] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    db: DbOpt = None,
) -> None:
    """Walk every measure's hash chain and name the first altered, deleted or reordered row."""
    from rich.progress import Progress

    from .audit import verify

    a = _open(db)
    with a.uow(read_only=True) as uow:
        total = len(uow.measures.all_rows())
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("verifying chains", total=total)
        report = verify(a, checkpoint, progress=lambda k: bar.advance(task, k))
    if fmt is TableOrJson.json:
        _print_json({"ok": report.ok, "measures": report.measures, "records": report.records,
                     "breaks": [{"measure_id": b.measure_id, "seq": b.seq, "history_id": b.history_id, "why": b.why}
                                for b in report.breaks]})
    elif report.ok:
        against = f", and against checkpoint {checkpoint}" if checkpoint else ""
        out.print(f"[green]OK[/]: {report.measures} measures, {report.records} history records, every chain "
                  f"verifies{against}.")
    else:
        for b in report.breaks:
            err.print(f"[red]BROKEN[/] {b}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    file: Annotated[Path, typer.Argument(help="Where to write the checkpoint (keep it outside the database).")],
    db: DbOpt = None,
) -> None:
    """Write every chain's length and last hash to FILE, for `audit verify --checkpoint FILE`."""
    from .audit import write_checkpoint

    a = _open(db)
    n = write_checkpoint(a, file)
    out.print(f"Checkpoint of {n} chains written to {file}.")


# -- the rest ---------------------------------------------------------------------------------------


@app.command()
def diagram() -> None:
    """Print the measure state diagram (Mermaid), drawn from the state machine itself."""
    from states.machine import mermaid

    sys.stdout.write(mermaid())


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Where to build the demo database.")] = Path("."),
) -> None:
    """Replay the reference round (区投促局党组, 2024–2025) on a fresh rectify.db and show the result."""
    from .demo import run

    run(folder, out)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one error line and exit non-zero."""
    from rich.text import Text

    # the message is plain text: a bracket quoted from a user's file must not be read as markup
    err.print(Text.assemble(("error:", "red"), " ", message), highlight=False, soft_wrap=True)
    raise SystemExit(code)


# SQLite's words for a disk that cannot take the write, and what they mean to a user
_SQLITE_DISK_ERRORS = (
    ("database or disk is full", "the disk holding the database is full"),
    ("disk I/O error", "the disk refused a write: full, read-only or failing"),
    ("attempt to write a readonly database", "the database file or its folder is read-only"),
    ("unable to open database file", "the database file or its folder cannot be opened: missing, read-only or "
     "not permitted"),
)


def main() -> None:
    """Entry point: run the app; every expected error is one line and a non-zero exit."""
    from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

    try:
        app()
    except RectificationError as e:
        fail(str(e))
    except (OperationalError, ProgrammingError) as e:
        text = str(e.orig)
        if "no such table" in text or "does not exist" in text:
            fail("the database has no rectify tables; run `rectify init` first")
        for words, meaning in _SQLITE_DISK_ERRORS:
            if words in text:
                fail(f"database error: {text.strip().splitlines()[0]} ({meaning}); nothing was changed")
        fail(f"database error: {text.strip().splitlines()[0]}")
    except SQLAlchemyError as e:
        fail(f"database error: {str(e).splitlines()[0]}")
    except OSError as e:
        fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))


# commands kept in modules of their own register themselves on `app` when imported
from . import (  # noqa: E402
    cli_export,  # noqa: F401
    cli_jobs,  # noqa: F401
    cli_outline,  # noqa: F401
    cli_reminders,  # noqa: F401
    cli_report,  # noqa: F401
    cli_scheduler,  # noqa: F401
    cli_web,  # noqa: F401
)
