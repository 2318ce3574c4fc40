"""The published progress report (整改进展情况), written in the structure of the reference report.

The report's content comes from `report_views.build` (today's ledger, or the one rebuilt from the
history with --as-of); Jinja2 templates write it: `text.j2` holds the wording (macros),
`report.md.j2` and `report.html.j2` the layouts; Word is laid out here with python-docx from the
same macros. A folder given with --templates overrides any of these files (and may hold a
`report.docx` whose styles the Word report takes).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from states.outcome import ACCOUNTABILITY

from .chart import Progress
from .report_views import Report, build, cn_date, cn_number, cn_span

__all__ = ["TEMPLATES", "Report", "ReportFormat", "build", "environment", "render"]

TEMPLATES = Path(__file__).parent / "templates"


class ReportFormat(StrEnum):
    """What the report is written as."""

    md = "md"
    html = "html"
    docx = "docx"


def environment(templates: Path | None = None) -> Any:
    """The Jinja2 environment: the user's folder first (if given), then ours."""
    import jinja2

    folders = [str(templates)] if templates else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(TEMPLATES)]),
        autoescape=_is_html,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters.update(cn_date=cn_date, cn_span=cn_span, cn_number=cn_number, paras=paragraphs, plain=plain)
    env.globals.update(accountability=ACCOUNTABILITY, chart_svg=_chart_svg, chart_uri=_chart_uri)
    return env


def _chart_svg(p: Progress) -> Any:
    """The chart as inline SVG for HTML (its texts are escaped by the drawing)."""
    from markupsafe import Markup

    from .chart import svg

    return Markup(svg(p))


def _chart_uri(p: Progress) -> str:
    """The chart as a data: URI, for a Markdown image."""
    import base64

    from .chart import svg

    return "data:image/svg+xml;base64," + base64.b64encode(svg(p).encode()).decode()


def _is_html(name: str | None) -> bool:
    return bool(name and name.endswith(".html.j2"))


def paragraphs(text: object) -> list[str]:
    """The paragraphs of a macro's output: its non-blank lines, trimmed, as plain text (escaped in HTML)."""
    return [str.strip(line) for line in str.splitlines(str(text)) if str.strip(line)]


def plain(text: object) -> str:
    """A macro's output as plain, trimmed text: in HTML it is escaped like any data.

    (A macro called from an autoescaping template returns markup marked safe, though text.j2,
    which does not escape, put the data into it unescaped.)
    """
    return str.strip(str(text))


def render(reports: list[Report], fmt: ReportFormat, templates: Path | None = None) -> str | bytes:
    """The reports as Markdown or HTML text, or a Word document's bytes."""
    env = environment(templates)
    if fmt is ReportFormat.docx:
        return _docx(reports, env, templates)
    return str(env.get_template(f"report.{fmt.value}.j2").render(reports=reports))


def _docx(reports: list[Report], env: Any, templates: Path | None) -> bytes:
    """Word: the title, headings and paragraphs of the same wording, in official-document fonts."""
    import io

    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
    from docx.shared import Pt

    base = templates / "report.docx" if templates else None
    doc = Document(str(base)) if base and base.exists() else Document()
    _cjk_styles(doc)
    text = env.get_template("text.j2").module
    for i, r in enumerate(reports):
        if i:
            doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        title = doc.add_heading(str(text.title(r)).strip(), level=0)
        title.alignment = WD_ALIGN_PARAGRAPH.CENTER
        body = _body_adder(doc, Pt(32))
        for p in paragraphs(text.opening(r)):
            body(p)
        doc.add_heading(str(text.section_one(r)).strip(), level=1)
        for p in paragraphs(text.organisation(r)):
            body(p)
        doc.add_heading(str(text.section_two(r)).strip(), level=1)
        for p in paragraphs(text.progress(r)):
            body(p)
        if r.chart is not None:
            from docx.shared import Cm

            from .chart import png

            doc.add_picture(io.BytesIO(png(r.chart)), width=Cm(15))
            doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
        for h in r.headings:
            doc.add_heading(str(text.heading(h)).strip(), level=2)
            for prob in h.problems:
                for p in paragraphs(text.problem(prob, r)):
                    body(p)
        doc.add_heading(str(text.section_three(r)).strip(), level=1)
        for p in paragraphs(text.next_steps(r)):
            body(p)
        for p in paragraphs(text.closing(r)):
            body(p)
        for p in paragraphs(text.signature(r)):
            para = doc.add_paragraph(p)
            para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _body_adder(doc: Any, indent: Any) -> Callable[[str], None]:
    def add(text: str) -> None:
        doc.add_paragraph(text).paragraph_format.first_line_indent = indent
    return add


def _cjk_styles(doc: Any) -> None:
    """仿宋 for the text, 黑体 and 楷体 for the headings, 小标宋 (or 宋体) for the title (GB/T 9704)."""
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    for name, font, size, bold in (("Normal", "仿宋_GB2312", 16, False), ("Title", "方正小标宋简体", 22, False),
                                   ("Heading 1", "黑体", 16, False), ("Heading 2", "楷体_GB2312", 16, False)):
        style = doc.styles[name]
        style.font.name, style.font.size, style.font.bold = font, Pt(size), bold
        style.font.color.rgb = RGBColor(0, 0, 0)
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.append(fonts)
        for attr in ("w:eastAsia", "w:ascii", "w:hAnsi"):
            fonts.set(qn(attr), font)
        for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme"):
            fonts.attrib.pop(qn(theme), None)
