"""Reading a feedback or progress document (text, Markdown or Word) into numbered lines, and its facts.

A line keeps the number a user finds it by: the line of a text file, the paragraph of a Word
file. Markup is taken off Markdown lines; Word's automatic numbering (which is not in the text)
and tables (which are not read) are reported, never passed over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from states.errors import InvalidPlan

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
WORD_SUFFIXES = (".docx",)
DOCUMENT_SUFFIXES = (*TEXT_SUFFIXES, *MARKDOWN_SUFFIXES, *WORD_SUFFIXES, ".doc")


@dataclass(frozen=True)
class SourceLine:
    """One line (text) or paragraph (Word) of a document, stripped; `no` counts from 1."""

    no: int
    text: str
    warning: str = ""  # something about the line itself, e.g. Word numbering the text does not show


@dataclass
class Source:
    """A document as lines, with what could not be read at all."""

    name: str
    lines: list[SourceLine]
    unit: str = "line"  # "line" or "paragraph"
    unread: list[str] = field(default_factory=list)  # e.g. tables of a Word file


def read(path: str | Path) -> Source:
    """Read a .txt, .md or .docx document; InvalidPlan when it cannot be read."""
    p = Path(path)
    name = str(path)
    suffix = p.suffix.lower()
    if suffix == ".doc":
        raise InvalidPlan(name, "", "a Word 97-2003 .doc file is not read; save it as .docx")
    if suffix in WORD_SUFFIXES:
        return _read_docx(p, name)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InvalidPlan(name, "", "no such file") from None
    except OSError as e:
        raise InvalidPlan(name, "", f"cannot be read: {e}") from None
    text = _decode(raw, name)
    return from_text(text, name, markdown=suffix in MARKDOWN_SUFFIXES)


def from_text(text: str, name: str = "<text>", *, markdown: bool = False) -> Source:
    """A document given as text, one line per line."""
    clean = _unmark if markdown else str.strip
    return Source(name, [SourceLine(i, clean(t)) for i, t in enumerate(text.splitlines(), start=1)])


def _decode(raw: bytes, name: str) -> str:
    # Chinese text files are often still GB18030 (GBK); UTF-8 is tried first and wins when valid
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidPlan(name, "", "is neither UTF-8 nor GB18030 text")  # pragma: no cover (gb18030 decodes most bytes)


_MD_PREFIX = re.compile(r"^(?:#{1,6}\s+|>\s*|[-*+]\s+)+")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")


def _unmark(line: str) -> str:
    """A Markdown line without heading, quote and bullet marks, emphasis or escapes."""
    s = _MD_PREFIX.sub("", line.strip())
    s = s.replace("**", "").replace("__", "")
    return _MD_ESCAPE.sub(r"\1", s).strip()


def _read_docx(p: Path, name: str) -> Source:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    if not p.exists():
        raise InvalidPlan(name, "", "no such file")
    try:
        document = docx.Document(str(p))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise InvalidPlan(name, "", f"not a readable Word (.docx) file: {e}") from None
    lines: list[SourceLine] = []
    for i, para in enumerate(document.paragraphs, start=1):
        warning = ""
        if _numbered(para):
            warning = ("Word numbers this paragraph itself, so its number is not in the text; type the numbers "
                       "(or convert the numbering to text in Word)")
        # a manual line break inside a paragraph starts a new line with the same paragraph number
        for part in para.text.split("\n"):
            lines.append(SourceLine(i, part.strip(), warning if part.strip() else ""))
    unread = []
    if document.tables:
        unread.append(f"{len(document.tables)} table(s) not read: rectify reads the paragraphs of a document; "
                      "a ledger in a table goes through the Excel import")
    return Source(name, lines, unit="paragraph", unread=unread)


def _numbered(para: object) -> bool:
    """Whether Word numbers the paragraph itself (directly or through its style)."""
    p_pr = getattr(getattr(para, "_p", None), "pPr", None)
    if p_pr is not None and p_pr.numPr is not None:
        return True
    style = getattr(para, "style", None)
    s_pr = getattr(getattr(style, "_element", None), "pPr", None)
    return s_pr is not None and getattr(s_pr, "numPr", None) is not None


# -- facts a document states about its round ----------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the opening and the signature of a report say about the round; each may be missing."""

    kind: str | None = None  # 巡察, 巡视 or 审计
    group: str | None = None  # 区委第二巡察组
    body: str | None = None  # 区投促局党组
    period: tuple[date, date] | None = None  # the inspection group on site
    feedback_date: date | None = None
    signed_by: str | None = None
    signed_on: date | None = None


_CN_DATE = r"(\d{4})年(\d{1,2})月(\d{1,2})日"
_PERIOD = re.compile(_CN_DATE + r"(?:至|到|—|-|~)(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日")
_FEEDBACK = re.compile(_CN_DATE + r"[^。]{0,40}?反馈")
_GROUP = re.compile(r"([\u4e00-\u9fff]{0,4}?委第[一二三四五六七八九十]+(?:巡察|巡视)组)")
_BODY = re.compile(r"对([^,\uff0c。;\uff1b]{2,30}?)(?:开展了|进行了|进行|开展)(?:常规|专项)?(?:巡察|巡视|审计)")
_KIND = re.compile(r"巡察|巡视|审计")
DATE_LINE = re.compile(r"^" + _CN_DATE + r"$")


def facts(source: Source, trailer: list[SourceLine]) -> Facts:
    """The round's facts as the document states them (first mention wins), and its signature."""
    text = "\n".join(line.text for line in source.lines)
    period = None
    if m := _PERIOD.search(text):
        start = _date(m.group(1), m.group(2), m.group(3))
        end = _date(m.group(4) or m.group(1), m.group(5), m.group(6))
        period = (start, end) if start and end and start <= end else None
    feedback = _FEEDBACK.search(text)
    signed_on = next((_date(*m.groups()) for t in trailer if (m := DATE_LINE.match(t.text))), None)
    signed_by = next((t.text for t in trailer if not DATE_LINE.match(t.text)), None)
    kind, group, body = _KIND.search(text), _GROUP.search(text), _BODY.search(text)
    return Facts(
        kind=kind.group(0) if kind else None,
        group=group.group(1) if group else None,
        body=body.group(1) if body else None,
        period=period,
        feedback_date=_date(*feedback.groups()[:3]) if feedback else None,
        signed_by=signed_by,
        signed_on=signed_on,
    )


def _date(y: str, m: str, d: str) -> date | None:
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        return None
