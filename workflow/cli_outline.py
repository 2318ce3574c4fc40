"""CLI of plans from documents: `rectify import DOC` (.txt, .md, .docx) and `rectify plan draft DOC`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.tree import Tree

from states.errors import InvalidInput, InvalidPlan

from .cli import _open, _print_plan_tree, _zone, err, out, plan_app
from .outline import parse_file
from .outline_model import NoteKind, Outline


def import_document(file: Path, *, assign: Path | None, dry_run: bool, db: str | None) -> None:
    """Import (or with dry_run, show) the tree of a document, its people and deadlines from `assign`."""
    from rich.progress import Progress

    from .importer import import_plan
    from .outline_plan import build_plan, load_assignment

    if assign is None and not dry_run:
        raise InvalidInput("--assign", "a document names no people or deadlines: give them in a YAML file "
                                       "(see `rectify import --help`), or write a whole plan with `rectify plan draft`")
    outline = parse_file(file)
    assignment = load_assignment(assign) if assign else None
    blocking = outline.blocking
    if blocking and not dry_run:
        first = blocking[0]
        quoted = f" «{first.text[:30]}»" if first.text else ""
        raise InvalidPlan(str(file), first.where, f"not imported: {first.why}{quoted} ({len(blocking)} such "
                          f"line(s); `rectify import {file} --dry-run` lists them)")
    # a tree with unplaced or guessed lines is shown as read, not checked as a plan
    plan = build_plan(outline, assignment, str(assign)) if assignment and not blocking else None
    if dry_run:
        if plan is not None:
            _print_plan_tree(plan)
        else:
            print_outline(outline)
        print_notes(outline)
        h, p, t, m = outline.counts()
        if blocking:
            err.print(f"[red]{file}: {len(blocking)} line(s) not placed or placed by a guess[/] — an import would be "
                      "refused; nothing was written (--dry-run).", highlight=False)
            raise typer.Exit(1)
        out.print(f"[green]{file}: understood[/] — {h} headings, {p} problems, {t} points, {m} measures"
                  f"{'' if plan else '; give --assign FILE.yaml to import it'}; nothing was written (--dry-run).")
        return
    assert plan is not None
    a = _open(db)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("importing measures", total=outline.counts()[3])
        result = import_plan(a, plan, str(file), progress=lambda k: bar.advance(task, k))
    out.print(f"Imported inspection [bold]{result.inspection}[/] from {file}: {result.problems} problems, "
              f"{result.points} points, {result.measures} measures, {result.people} new people.")


def print_outline(outline: Outline) -> None:
    """The tree a document was read into: headings, problems with points and result, measures."""
    h, p, t, m = outline.counts()
    root = Tree(f"[bold]{escape(outline.source)}[/] — {h} headings, {p} problems, {t} points, {m} measures")
    for hi, heading in enumerate(outline.headings, 1):
        ht = root.add(f"({heading.ref}) {escape(heading.title)} [dim]{outline.unit} {heading.no}[/]")
        for pi, problem in enumerate(heading.problems, 1):
            result = f" [green]整改结果:{escape(problem.result)}[/]" if problem.result else ""
            ref = f"{problem.ref}. " if problem.ref else ""
            pt = ht.add(f"{ref}{escape(_short(problem.text, 60))}{result} [dim]{outline.unit} {problem.no}[/]")
            for point in problem.points:
                pt.add(f"[dim]· {escape(point)}[/]")
            for mi, measure in enumerate(problem.measures, 1):
                fields = "".join(f" [dim]{escape(k)}:{escape(v)}[/]" for k, v in measure.fields.items())
                pt.add(f"[cyan]{hi}.{pi}.{mi}[/] {measure.ref}{escape(measure.title)}{fields}")
    out.print(root)


def print_notes(outline: Outline) -> None:
    """Every line outside the tree, or placed by a guess, with its number and why."""
    if not outline.notes:
        return
    colours = {NoteKind.SKIPPED: "dim", NoteKind.UNPLACED: "red", NoteKind.AMBIGUOUS: "yellow",
               NoteKind.INCOMPLETE: "yellow"}
    out.print(f"[bold]Lines not in the tree or placed by a guess[/] ({len(outline.notes)}):")
    for n in outline.notes:
        out.print(f"  [{colours[n.kind]}]{escape(str(n))}[/]", highlight=False)


def _short(text: str, n: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


@plan_app.command("draft")
def plan_draft(
    document: Annotated[Path, typer.Argument(help="A feedback or progress document: .txt, .md or .docx.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write it here (default: standard output).",
                                                show_default=False)] = None,
    inspection_code: Annotated[str | None, typer.Option("--inspection-code", help="The round's short id.")] = None,
    body_code: Annotated[str | None, typer.Option("--body-code", help="The inspected body's short id.")] = None,
    body_name: Annotated[str | None, typer.Option("--body-name", help="The inspected body's name.")] = None,
) -> None:
    """Draft a plan file from a document: its tree, placeholder people (todo-owner, …) and `# TODO` comments.

    The draft validates as written; replace the placeholders, then `rectify import` it. Each measure is due at
    the end of the rectification period (assumed three months after the feedback date the document gives).
    """
    from .clock import system_clock
    from .outline_plan import draft

    outline = parse_file(document)
    text = draft(outline, today=system_clock().astimezone(_zone()).date(), inspection_code=inspection_code,
                 body_code=body_code, body_name=body_name)
    blocking = outline.blocking
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        h, p, t, m = outline.counts()
        out.print(f"wrote {output}: {h} headings, {p} problems, {t} points, {m} measures; edit its TODOs.")
    if blocking:
        err.print(f"[yellow]{len(blocking)} line(s) of {document} not placed or placed by a guess[/]; they are "
                  "listed as TODOs at the top of the draft.", highlight=False)
