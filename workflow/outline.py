"""Plans from documents: the problem tree of an outline-numbered feedback or progress report.

The grammar, matched after full-width marks are read as ASCII (（1）→(1), ：→:, ；→;, ，→,, ．→.):

    一、 title                      a section; the feedback sections hold the tree, the others are skipped
    (一) [反馈问题:] title          a heading (反馈问题 → HeadingPlan)
    1. text  /  1、 text            a problem; 一是…;二是… in its text are its points
    一是…                           more text (and points) of the open problem
    prose right under a heading     a problem without a number (ref "")
    整改结果: …                     the result the document states (kept for display, never imported)
    整改情况: / 整改措施: …          opens the problem's measures; the rest of the line may start with (1);
                                    the colon may be left out when the label is the whole line
    (1) text  /  ① text             a measure; lines without a marker continue it, up to the next
                                    (n), problem, heading or section
    责任人: / 责任领导: / 责任部门: / 责任单位: / 牵头单位: / 整改时限: / 完成时限: …
                                    a field of the open measure (or problem), shown, never imported

A section is a feedback section when its title says 整改事项, 反馈问题, 反馈意见 or 存在的(主要)问题, when one of
its headings starts with 反馈问题, or when it has 整改情况/整改措施 lines; a document without
sections is one feedback section. Nothing is guessed silently: every line outside the tree is a
`Note` with its line number and why, and so is every line whose reading is a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import outline_source
from .outline_model import (
    FULL_WIDTH,
    NUMERALS,
    Note,
    NoteKind,
    Outline,
    OutlineHeading,
    OutlineMeasure,
    OutlineProblem,
    points_of,
    title_of,
)
from .outline_source import DATE_LINE, Source, SourceLine

__all__ = ["Note", "NoteKind", "Outline", "OutlineHeading", "OutlineMeasure", "OutlineProblem", "parse",
           "parse_file", "parse_text", "points_of", "title_of"]

_SECTION = re.compile(rf"^([{NUMERALS}]{{1,3}})[、.]\s*(.*)$")
_HEADING = re.compile(rf"^\(([{NUMERALS}]{{1,3}})\)[、.]?\s*(.*)$")
_PROBLEM = re.compile(r"^(\d{1,3})(?:、|\.(?!\d))\s*(.*)$")
_MEASURE = re.compile(r"^\((\d{1,3})\)[、.]?\s*(.*)$")
_POINT_LINE = re.compile(rf"^[{NUMERALS}]{{1,3}}是")
_CIRCLED = re.compile(r"^([\u2460-\u2473])\s*(.*)$")  # ① … ⑳, read as (1) … (20)
_LABEL = re.compile(r"^(整改结果|整改情况|整改措施)\s*(?::|$)\s*(.*)$")
_FIELD = re.compile(r"^(责任领导|责任部门|责任单位|牵头单位|责任人|整改时限|完成时限)\s*:\s*(.*)$")
_FEEDBACK_PREFIX = re.compile(r"^反馈问题\s*:\s*")
_FEEDBACK_TITLE = re.compile(r"整改事项|反馈问题|反馈意见|存在的?主要问题|存在的问题")


def parse_file(path: str | Path) -> Outline:
    """Read a .txt, .md or .docx document into its outline."""
    return parse(outline_source.read(path))


def parse_text(text: str, name: str = "<text>", *, markdown: bool = False) -> Outline:
    """Read a document given as text into its outline."""
    return parse(outline_source.from_text(text, name, markdown=markdown))


def parse(source: Source) -> Outline:
    """The outline of a document read into lines."""
    return _Parser(source).run()


# -- the parser -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # section, heading, problem, measure, label, field, point, prose, blank
    line: SourceLine
    num: str = ""  # the marker's number or the label
    rest: str = ""  # the text after the marker, as written


def _classify(line: SourceLine, text: str | None = None) -> _Token:
    text = line.text if text is None else text
    norm = text.translate(FULL_WIDTH)
    if not text:
        return _Token("blank", line)
    for kind, rx in (("section", _SECTION), ("heading", _HEADING), ("measure", _MEASURE),
                     ("problem", _PROBLEM), ("label", _LABEL), ("field", _FIELD)):
        if m := rx.match(norm):
            return _Token(kind, line, m.group(1), text[m.start(2):].strip())
    if m := _CIRCLED.match(norm):
        return _Token("measure", line, str(ord(m.group(1)) - 0x2460 + 1), text[m.start(2):].strip())
    return _Token("point" if _POINT_LINE.match(norm) else "prose", line, rest=text)


class _Parser:
    """One pass over the lines, keeping the open heading, problem and measure."""

    def __init__(self, source: Source):
        self.source = source
        self.notes: list[Note] = []
        self.headings: list[OutlineHeading] = []
        self.heading: OutlineHeading | None = None
        self.problem: OutlineProblem | None = None
        self.measure: OutlineMeasure | None = None
        self.phase = "problem"  # problem → result → measures → after (a result given after the measures)
        self.placed: set[int] = set()

    def note(self, kind: NoteKind, line: SourceLine | None, why: str) -> None:
        self.notes.append(Note(kind, line.no if line else 0, line.text if line else "", why, self.source.unit))

    def run(self) -> Outline:
        tokens = [_classify(line) for line in self.source.lines]
        trailer = _trailer(tokens)
        for why in self.source.unread:
            self.note(NoteKind.UNPLACED, None, why)
        for t in tokens:
            if t.line.warning:
                self.note(NoteKind.AMBIGUOUS, t.line, t.line.warning)
        regions = _regions(tokens[: len(tokens) - len(trailer)])
        for section, body in regions:
            if section is None and len(regions) > 1:
                self.skip(body, "before the first section (一、…): the opening, not the feedback")
            elif section is not None and not _is_feedback(section, body):
                self.skip([section, *body], f"in section {section.line.text[:30]}, which holds no feedback "
                                            "problems")
            else:
                self.feedback(section, body)
        self.skip(trailer, "the signature and date")
        if not self.headings:
            self.note(NoteKind.UNPLACED, None, "found no feedback problems: no section titled …整改事项/反馈问题, "
                                               "and no (一)反馈问题: headings with numbered problems")
        self.notes.sort(key=lambda n: n.no)
        return Outline(self.source.name, self.headings, self.notes,
                       outline_source.facts(self.source, [t.line for t in trailer]), self.source.unit, self.placed)

    def skip(self, tokens: list[_Token], why: str) -> None:
        for t in tokens:
            if t.kind != "blank":
                self.note(NoteKind.SKIPPED, t.line, why)

    def feedback(self, section: _Token | None, tokens: list[_Token]) -> None:
        self.close_heading()
        if section is not None:
            self.placed.add(section.line.no)
        for t in tokens:
            if t.kind == "blank":
                continue
            if self.heading is None and t.kind != "heading":
                if t.kind == "prose":
                    where = f"section {section.line.text[:20]}" if section else "the document"
                    self.note(NoteKind.SKIPPED, t.line, f"text of {where} before its first heading (一)")
                else:
                    self.note(NoteKind.UNPLACED, t.line, f"a {_NAMES[t.kind]} before any heading (一)…")
                continue
            before = len(self.notes)
            getattr(self, f"on_{t.kind}")(t)
            if not any(n.kind is NoteKind.UNPLACED and n.no == t.line.no for n in self.notes[before:]):
                self.placed.add(t.line.no)
        self.close_heading()

    # each token kind, with a heading open

    def on_heading(self, t: _Token) -> None:
        self.close_heading()
        title = _FEEDBACK_PREFIX.sub("", t.rest.translate(FULL_WIDTH))
        title = t.rest[len(t.rest) - len(title):].strip()
        self.heading = OutlineHeading(t.num, title, t.line.no)
        self.headings.append(self.heading)
        if not title:
            self.note(NoteKind.INCOMPLETE, t.line, f"heading ({t.num}) has no title")

    def on_problem(self, t: _Token) -> None:
        assert self.heading is not None
        k = int(t.num)
        numbered = [int(p.ref) for p in self.heading.problems if p.ref]
        expected = (numbered[-1] + 1) if numbered else 1
        p = self.problem
        as_measure = (p is not None and self.phase == "measures"
                      and all(m.ref.endswith(".") for m in p.measures) and k == len(p.measures) + 1)
        if as_measure and p is not None:
            also = f" or problem {k}" if k == expected else ""
            self.note(NoteKind.AMBIGUOUS, t.line, f"numbered {k}. after 整改情况: read as measure {k}.{also} of "
                                                  f"problem {p.ref or '(unnumbered)'}; number measures (1)(2)… "
                                                  "to make it plain")
            self.add_measure(t, f"{k}.")
            return
        if k != expected:
            self.note(NoteKind.AMBIGUOUS, t.line, f"problem {k} where {expected} comes next: a problem missing, "
                                                  "misnumbered, or not a problem")
        self.close_problem()
        self.problem = OutlineProblem(t.num, t.rest, t.line.no)
        self.heading.problems.append(self.problem)
        self.phase = "problem"
        if not t.rest:
            self.note(NoteKind.INCOMPLETE, t.line, f"problem {k} has no text")

    def on_point(self, t: _Token) -> None:
        if self.phase == "measures" and self.measure is not None:
            self.measure.text += "\n" + t.rest
        elif self.problem is not None and self.phase == "problem":
            self.problem.text = (self.problem.text + "\n" + t.rest).strip()
        else:
            why = ("一是… points after 整改结果/整改情况 of the problem" if self.problem
                   else "一是… points with no problem (1. …) before them")
            self.note(NoteKind.UNPLACED, t.line, why)

    def on_prose(self, t: _Token) -> None:
        assert self.heading is not None
        if self.problem is None:
            self.problem = OutlineProblem("", t.rest, t.line.no)  # the one problem of a heading, unnumbered
            self.heading.problems.append(self.problem)
            self.phase = "problem"
        elif self.phase == "problem":
            self.problem.text += "\n" + t.rest
        elif self.phase == "measures" and self.measure is not None:
            self.measure.text += "\n" + t.rest
        elif self.phase == "measures":
            self.note(NoteKind.AMBIGUOUS, t.line, "整改情况 text without (1): read as the problem's one measure")
            self.add_measure(t, "(1)")
        else:
            where = "after the measures" if self.phase == "after" else "between 整改结果 and 整改情况"
            self.note(NoteKind.UNPLACED, t.line, f"text {where} of problem {self.problem.ref or '(unnumbered)'}")

    def on_label(self, t: _Token) -> None:
        p = self.problem
        if p is None:
            self.note(NoteKind.UNPLACED, t.line, f"{t.num} with no problem before it")
        elif t.num == "整改结果":
            if p.result is not None:
                self.note(NoteKind.UNPLACED, t.line, f"a second 整改结果 for problem {p.ref or '(unnumbered)'}")
            else:
                p.result = t.rest
                self.phase = "after" if self.phase in ("measures", "after") else "result"
                self.measure = None
        elif self.phase in ("measures", "after"):
            self.note(NoteKind.UNPLACED, t.line, f"a second {t.num} for problem {p.ref or '(unnumbered)'}")
        else:
            self.phase = "measures"
            if t.rest:
                inner = _classify(t.line, t.rest)
                if inner.kind in ("measure", "problem"):
                    getattr(self, f"on_{inner.kind}")(inner)
                else:
                    self.on_prose(_Token("prose", t.line, rest=t.rest))

    def on_measure(self, t: _Token) -> None:
        p = self.problem
        if p is None:
            self.note(NoteKind.UNPLACED, t.line, f"measure ({t.num}) with no problem before it")
            return
        if self.phase in ("problem", "result"):
            self.note(NoteKind.AMBIGUOUS, t.line, f"({t.num}) follows problem {p.ref or '(unnumbered)'} with no "
                                                  "整改情况:/整改措施: line: read as its measure")
            self.phase = "measures"
        expected = len(p.measures) + 1
        if int(t.num) != expected:
            first = " before any (1)" if expected == 1 else f" where ({expected}) comes next"
            self.note(NoteKind.AMBIGUOUS, t.line, f"measure ({t.num}){first}: a measure missing or misnumbered")
        self.add_measure(t, f"({int(t.num)})")

    def on_field(self, t: _Token) -> None:
        target = self.measure or self.problem
        if target is None:
            self.note(NoteKind.UNPLACED, t.line, f"{t.num} with no problem or measure before it")
        elif t.num in target.fields:
            self.note(NoteKind.UNPLACED, t.line, f"a second {t.num} for the same "
                                                 f"{'measure' if self.measure else 'problem'}")
        else:
            target.fields[t.num] = t.rest

    def add_measure(self, t: _Token, ref: str) -> None:
        assert self.problem is not None
        self.measure = OutlineMeasure(ref, t.rest, t.line.no)
        self.problem.measures.append(self.measure)

    # closing what is open, with what it lacks

    def close_problem(self) -> None:
        p, self.problem, self.measure = self.problem, None, None
        if p is None:
            return
        name = f"problem {p.ref}" if p.ref else "the unnumbered problem"
        line = SourceLine(p.no, p.text.split("\n", 1)[0])
        if not p.measures:
            hint = " (is this line part of the heading's title?)" if not p.ref else ""
            self.note(NoteKind.INCOMPLETE, line, f"{name} has no measures (整改情况 (1)…){hint}")
        for m in p.measures:
            if not m.text:
                self.note(NoteKind.INCOMPLETE, SourceLine(m.no, m.ref), f"measure {m.ref} of {name} has no text")
        ordinals, _ = points_of(p.text)
        if ordinals and ordinals != list(range(1, len(ordinals) + 1)):
            said = "、".join(f"{_cn(o)}是" for o in ordinals)
            self.note(NoteKind.AMBIGUOUS, line, f"the points of {name} run {said}: a point missing or misnumbered")

    def close_heading(self) -> None:
        self.close_problem()
        h, self.heading = self.heading, None
        if h is not None and not h.problems:
            self.note(NoteKind.INCOMPLETE, SourceLine(h.no, h.title), f"heading ({h.ref}) has no problems")


_NAMES = {"problem": "numbered problem", "measure": "measure (n)", "label": "整改结果/整改情况 line",
          "field": "责任/时限 line", "point": "一是… point"}


def _cn(n: int) -> str:
    digits = " 一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return (digits[tens] if tens > 1 else "") + "十" + (digits[ones] if ones else "")


def _regions(tokens: list[_Token]) -> list[tuple[_Token | None, list[_Token]]]:
    """The document split at its sections 一、…; the first part (before any) has no section."""
    regions: list[tuple[_Token | None, list[_Token]]] = [(None, [])]
    for t in tokens:
        if t.kind == "section":
            regions.append((t, []))
        else:
            regions[-1][1].append(t)
    return regions if len(regions) > 1 or regions[0][1] else []


def _is_feedback(section: _Token, tokens: list[_Token]) -> bool:
    if _FEEDBACK_TITLE.search(section.rest):
        return True
    return any((t.kind == "heading" and _FEEDBACK_PREFIX.match(t.rest.translate(FULL_WIDTH)))
               or (t.kind == "label" and t.num != "整改结果") for t in tokens)


def _trailer(tokens: list[_Token]) -> list[_Token]:
    """The signature and date closing a report: a date alone on the last line, and up to two short lines above."""
    end = len(tokens)
    while end and tokens[end - 1].kind == "blank":
        end -= 1
    if not end or not DATE_LINE.match(tokens[end - 1].line.text):
        return []
    start = end - 1
    while start and end - start <= 2 and _signature(tokens[start - 1]):
        start -= 1
    return tokens[start:]


def _signature(t: _Token) -> bool:
    """A line that may sign a report: short prose without a sentence's end, e.g. 中共某某局党组."""
    text = t.line.text.translate(FULL_WIDTH)
    return t.kind == "prose" and len(text) <= 40 and text[-1] not in "。;:,"
