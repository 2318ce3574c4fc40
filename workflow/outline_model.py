"""The outline of a document: headings, problems with points, measures, and the notes on lines left out.

The reader (workflow.outline) builds it; the plan builders (workflow.outline_plan) and the CLI use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from .outline_source import Facts

NUMERALS = "一二三四五六七八九十"
FULL_WIDTH = str.maketrans(  # the marks read as ASCII before matching
    "（）：；，．０１２３４５６７８９", "():;,.0123456789")
_POINT_END = re.compile(r"[;,。.:\s]+$")  # on the ASCII-read text
_POINT = re.compile(rf"(?:^|(?<=[;,。:\s]))([{NUMERALS}]{{1,3}})是")


class NoteKind(StrEnum):
    """Why a line is reported."""

    SKIPPED = "skipped"  # outside the feedback (another section, the opening, the signature): not imported
    UNPLACED = "unplaced"  # in the feedback, but no place in the tree fits it
    AMBIGUOUS = "ambiguous"  # placed, but the reading is a guess the author must confirm
    INCOMPLETE = "incomplete"  # placed, but its part of the tree lacks something (a problem without measures)

    @property
    def blocking(self) -> bool:
        """An import is refused while such a note stands."""
        return self is not NoteKind.SKIPPED


@dataclass(frozen=True)
class Note:
    """A line of the document outside the tree, or placed by a guess; `no` 0 is the whole document."""

    kind: NoteKind
    no: int
    text: str
    why: str
    unit: str = "line"

    @property
    def where(self) -> str:
        return f"{self.unit} {self.no}" if self.no else "document"

    def __str__(self) -> str:
        quoted = f" «{_short(self.text)}»" if self.text else ""
        return f"{self.where} [{self.kind}]{quoted}: {self.why}"


@dataclass
class OutlineMeasure:
    """A measure (1)(2)… as the document words it."""

    ref: str
    text: str
    no: int
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return title_of(self.text)


@dataclass
class OutlineProblem:
    """A problem 1. 2. … (or the unnumbered one of a heading) with its points and measures."""

    ref: str
    text: str
    no: int
    result: str | None = None
    measures: list[OutlineMeasure] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def points(self) -> list[str]:
        return points_of(self.text)[1]


@dataclass
class OutlineHeading:
    """A heading (一)(二)… of the feedback."""

    ref: str
    title: str
    no: int
    problems: list[OutlineProblem] = field(default_factory=list)


@dataclass
class Outline:
    """What a document says: the problem tree, and every line it could not place or only guessed."""

    source: str
    headings: list[OutlineHeading]
    notes: list[Note]
    facts: Facts
    unit: str = "line"
    placed: set[int] = field(default_factory=set)  # the lines (paragraphs) that went into the tree

    @property
    def blocking(self) -> list[Note]:
        """The notes that stop an import."""
        return [n for n in self.notes if n.kind.blocking]

    def problems(self) -> Iterator[tuple[int, int, OutlineProblem]]:
        """Each problem with its 1-based heading and problem positions."""
        for hi, h in enumerate(self.headings, start=1):
            for pi, p in enumerate(h.problems, start=1):
                yield hi, pi, p

    def measures(self) -> Iterator[tuple[str, OutlineMeasure]]:
        """Each measure with its position code heading.problem.measure (e.g. 1.2.3)."""
        for hi, pi, p in self.problems():
            for mi, m in enumerate(p.measures, start=1):
                yield f"{hi}.{pi}.{mi}", m

    def counts(self) -> tuple[int, int, int, int]:
        """Headings, problems, points and measures."""
        problems = [p for _, _, p in self.problems()]
        return (len(self.headings), len(problems), sum(len(p.points) for p in problems),
                sum(len(p.measures) for p in problems))


# -- titles and points --------------------------------------------------------------------------------

_OPEN, _CLOSE = "《“‘(〈[【", "》”’)〉]】"


def _cut(text: str, stops: str) -> str:
    """Text up to the first stop character outside brackets and quotes (full-width marks read as ASCII)."""
    depth = 0
    for i, ch in enumerate(text.translate(FULL_WIDTH)):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and ch in stops:
            return text[:i]
    return text


def title_of(text: str) -> str:
    """A measure in a line: its heading-like first sentence (up to 20 characters), else its first clause."""
    t = text.strip()
    sentence = _cut(t, "。").strip()
    if 0 < len(sentence) <= 20:
        return sentence
    clause = _cut(t, "。,;").strip() or t
    return clause if len(clause) <= 40 else clause[:39] + "…"


def points_of(text: str) -> tuple[list[int], list[str]]:
    """The ordinals and the texts of 一是…;二是… in a problem's text."""
    norm = text.translate(FULL_WIDTH)
    marks = list(_POINT.finditer(norm))
    if not marks:
        return [], []
    ordinals = [_cn_number(m.group(1)) for m in marks]
    points = []
    ends = [m.start() for m in marks[1:]] + [len(text)]
    for m, end in zip(marks, ends, strict=True):
        seg = norm[m.end():end]
        start = m.end() + len(seg) - len(seg.lstrip())
        points.append(text[start:start + len(_POINT_END.sub("", seg.strip()))])
    return ordinals, points


def _cn_number(s: str) -> int:
    """一 … 九十九 as a number."""
    digits = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}
    if "十" not in s:
        return digits.get(s, 0)
    tens, _, ones = s.partition("十")
    return (digits.get(tens, 0) if tens else 1) * 10 + (digits.get(ones, 0) if ones else 0)


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
