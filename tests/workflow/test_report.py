"""The progress report from the demo's database, checked section by section against the reference report."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from typer.testing import CliRunner

from states.errors import InvalidInput
from states.model import Event, Kind, State
from states.results import problem_result_by_kind
from storage.history import HistoryFilter
from workflow import asof, demo, importer, outcomes, plan, report
from workflow.app import App, open_app
from workflow.cli import app as cli
from workflow.ledger import LedgerFilter, summary, summary_sentence

from ..conftest import AppFactory
from ..support import plan_data

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference-report.txt"
ROUND = "lc-tcj-2024"
REPORT_DAY = date(2025, 3, 17)  # the reference report's date, and the demo's last close-out
SECTION = re.compile(r"^[一二三四五六七八九十]+、")
HEADING = re.compile(r"^\(([一二三四五六七八九十]+)\)反馈问题:")
PROBLEM = re.compile(r"^\d+\.")


def lines(text: str) -> list[str]:
    """The paragraphs of a report: its non-blank lines, without Markdown's marks."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"^#+ |^<p align=\"right\">|</p>$", "", line.strip())
        if line:
            out.append(line)
    return out


def section(paras: list[str], number: str) -> list[str]:
    """The paragraphs of section 一、 二、 or 三、 (its title first), up to the next section."""
    start = next(i for i, p in enumerate(paras) if p.startswith(number + "、"))
    end = next((i for i, p in enumerate(paras[start + 1:], start + 1) if SECTION.match(p)), len(paras))
    return paras[start:end]


REF = lines(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The demo's database (both rounds replayed), built once for this module."""
    folder = tmp_path_factory.mktemp("demo")
    demo.build(folder)
    app = open_app(str(folder / demo.DB_NAME))
    yield app
    app.engine.dispose()


@pytest.fixture(scope="module")
def reports(demo_app: App) -> list[report.Report]:
    return report.build(asof.snapshot(demo_app, asof.one_inspection(demo_app, ROUND), REPORT_DAY))


@pytest.fixture(scope="module")
def md(reports: list[report.Report]) -> list[str]:
    return lines(str(report.render(reports, report.ReportFormat.md)))


def test_the_report_has_the_reference_reports_sections_in_order(md: list[str]) -> None:
    assert [p for p in md if SECTION.match(p)] == [p for p in REF if SECTION.match(p)] == [
        "一、党组及主要负责人组织整改落实情况", "二、集中整改期内已完成的整改事项", "三、下一步整改工作安排"]


def test_the_opening_paragraph_is_the_references_built_from_the_inspection_row(md: list[str]) -> None:
    assert md[0] == "区投促局党组关于巡察整改进展情况的通报"
    assert md[1] == REF[0]


def test_the_four_headings_are_the_references(md: list[str]) -> None:
    ours = [p for p in md if HEADING.match(p)]
    assert ours == [p for p in REF if HEADING.match(p)]
    assert [HEADING.match(p).group(1) for p in ours] == ["一", "二", "三", "四"]  # type: ignore[union-attr]


def test_problems_are_numbered_under_each_heading_with_their_points(md: list[str]) -> None:
    def numbering(paras: list[str]) -> list[list[str]]:
        out: list[list[str]] = []
        for p in section(paras, "二"):
            if HEADING.match(p):
                out.append([])
            elif PROBLEM.match(p) and out:
                out[-1].append(p)
        return out

    ours = numbering(md)
    assert ours == numbering(REF)
    assert [[p.split(".")[0] for p in h] for h in ours] == [["1", "2", "3", "4", "5"], ["1", "2", "3"], ["1", "2"], []]
    assert ours[0][0] == ("1.一是落实“第一议题”制度不到位;二是未及时将习近平总书记关于经济工作的重要讲话纳入"
                          "党组理论学习中心组学习内容;三是在学以致用上用力不够。")


def test_every_problem_is_complete_as_in_the_reference(md: list[str]) -> None:
    results = [p for p in md if p.startswith("整改结果:")]
    assert results == [p for p in REF if p.startswith("整改结果:")] == ["整改结果:完成"] * 11


def test_the_measures_are_numbered_as_in_the_reference(md: list[str]) -> None:
    def measures(paras: list[str]) -> list[str]:
        return [p for p in section(paras, "二") if p.startswith(("整改情况:", "(")) and not HEADING.match(p)]

    ours = measures(md)
    assert len(ours) == 33
    assert ours == measures(REF)
    numbers = [re.match(r"(?:整改情况:)?\((\d+)\)", p).group(1) for p in ours]  # type: ignore[union-attr]
    assert numbers[:3] == ["1", "2", "3"] and numbers.count("1") == 11


def test_section_two_is_the_reference_word_for_word_with_the_summary_sentence(md: list[str]) -> None:
    ours = section(md, "二")
    assert ours[1] == "截至2025年3月17日,反馈问题11个,已完成整改11个、正在整改0个,整改完成率100%。"
    assert [ours[0], *ours[2:]] == section(REF, "二")


def test_the_leadership_section_is_built_from_the_data(md: list[str], demo_app: App) -> None:
    paras = section(md, "一")
    assert len(paras) == 3
    codes = {r.code for r in asof.ledger_as_of(demo_app, REPORT_DAY, LedgerFilter(inspection=ROUND))}
    with demo_app.uow(read_only=True) as uow:
        rows = uow.history.query(HistoryFilter(until=asof.cutoff(REPORT_DAY, "Asia/Shanghai")))
    rejected = sum(1 for h, code in rows if code in codes and h.event == Event.REJECT)
    assert "成立了以党组书记为组长的巡察整改工作领导小组,对照反馈的4个方面11个问题,逐项制定整改措施33项" in paras[1]
    assert "建立了整改工作台账,实行销号管理" in paras[2]
    assert "截至2025年3月17日,33项整改措施已销号33项" in paras[2]
    assert f"核验退回补充整改{rejected}次" in paras[2] and rejected > 0


def test_the_next_steps_and_the_signature_close_the_report(md: list[str]) -> None:
    three = section(md, "三")
    assert [p[:3] for p in three[1:-3]] == ["(一)", "(二)"]  # every measure is closed: no open ones to list
    assert three[1].startswith("(一)对需长期坚持的10项整改措施")
    assert three[-3].startswith("欢迎广大干部群众对巡察整改落实情况进行监督。如有意见建议,请及时向我们反映。")
    assert REF[-3].startswith(three[-3])
    assert three[-2:] == ["区投促局党组", "2025年3月17日"]
    assert REF[-1] == three[-1] and REF[-2].endswith("党组")


class _Texts(HTMLParser):
    """The text of each heading and paragraph of an HTML page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, str]] = []
        self._tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h1", "h2", "h3", "p"):
            self._tag = tag
            self.items.append((tag, ""))

    def handle_endtag(self, tag: str) -> None:
        self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag:
            tag, text = self.items[-1]
            self.items[-1] = (tag, text + data)


def test_html_and_word_carry_the_same_paragraphs_as_markdown(reports: list[report.Report], md: list[str]) -> None:
    page = _Texts()
    page.feed(str(report.render(reports, report.ReportFormat.html)))
    assert [t for _, t in page.items] == md
    assert [t for tag, t in page.items if tag == "h2"] == [p for p in md if SECTION.match(p)]
    assert [t for tag, t in page.items if tag == "h3"] == [p for p in md if HEADING.match(p)]

    doc = Document(BytesIO(report.render(reports, report.ReportFormat.docx)))  # type: ignore[arg-type]
    paras = [p for p in doc.paragraphs if p.text.strip()]
    assert [p.text for p in paras] == md
    assert [p.text for p in paras if p.style.name == "Heading 1"] == [p for p in md if SECTION.match(p)]
    assert [p.text for p in paras if p.style.name == "Heading 2"] == [p for p in md if HEADING.match(p)]
    assert paras[0].style.name == "Title"
    assert [p.alignment for p in paras[-2:]] == [WD_ALIGN_PARAGRAPH.RIGHT] * 2


def test_html_escapes_what_the_data_says(reports: list[report.Report]) -> None:
    from dataclasses import replace

    tricky = [replace(reports[0], body="<b>局</b>")]
    page = str(report.render(tricky, report.ReportFormat.html))
    assert "<b>局</b>" not in page and "&lt;b&gt;局&lt;/b&gt;" in page


def test_as_of_a_day_in_the_round_the_results_follow_the_ledger_of_that_day(demo_app: App) -> None:
    day = date(2024, 10, 20)
    rows = asof.ledger_as_of(demo_app, day, LedgerFilter(inspection=ROUND))
    (r,) = report.build(asof.snapshot(demo_app, asof.one_inspection(demo_app, ROUND), day))
    expected: dict[str, list[tuple[State, Kind]]] = {}
    for row in rows:
        expected.setdefault(row.code.rsplit(".", 1)[0], []).append((State(row.state), Kind(row.kind)))
    assert [p.result for h in r.headings for p in h.problems] == [problem_result_by_kind(v) for v in expected.values()]
    paras = lines(str(report.render([r], report.ReportFormat.md)))
    assert "二、巡察反馈问题整改落实情况" in paras  # not every problem is complete yet
    assert f"截至2024年10月20日,{summary_sentence(summary(rows))}。" in paras
    still_open = [row for row in rows if row.state != State.CLOSED]
    assert still_open and sum(p.count("(目前") for p in paras) == len(still_open)
    assert paras[-1] == "2024年10月20日"
    assert any(p.startswith("(一)对尚未完成的") for p in section(paras, "三"))


def test_evidence_is_listed_only_when_asked(demo_app: App) -> None:
    snap = asof.snapshot(demo_app, asof.one_inspection(demo_app, ROUND), REPORT_DAY)
    plain = str(report.render(report.build(snap), report.ReportFormat.md))
    inner = str(report.render(report.build(snap, with_evidence=True), report.ReportFormat.md))
    assert "佐证材料:" not in plain
    assert inner.count("佐证材料:") == sum(1 for items in snap.evidence.values() if items) > 0


def test_templates_in_a_folder_replace_ours(reports: list[report.Report], tmp_path: Path) -> None:
    (tmp_path / "report.md.j2").write_text(
        '{% import "text.j2" as t %}{% for r in reports %}自定义:{{ t.title(r)|trim }}{% endfor %}\n', encoding="utf-8")
    assert report.render(reports, report.ReportFormat.md, tmp_path) == "自定义:区投促局党组关于巡察整改进展情况的通报"
    words = tmp_path / "words"
    words.mkdir()
    (words / "text.j2").write_text((report.TEMPLATES / "text.j2").read_text(encoding="utf-8")
                                   .replace("整改结果:", "整改成效:"), encoding="utf-8")
    for fmt in report.ReportFormat:
        rendered = report.render(reports, fmt, words)
        text = "\n".join(p.text for p in Document(BytesIO(rendered)).paragraphs) if isinstance(rendered, bytes) \
            else rendered
        assert text.count("整改成效:完成") == 11 and "整改结果" not in text, fmt


def test_rectify_report_writes_each_format(demo_app: App, tmp_path: Path) -> None:
    db = str(demo_app.engine.url.database)
    runner = CliRunner()
    for fmt in ("md", "html", "docx"):
        out = tmp_path / f"report.{fmt}"
        done = runner.invoke(cli, ["report", "--as-of", "2025-03-17", "--format", fmt, "-o", str(out), "--db", db])
        assert done.exit_code == 0, done.output
        assert out.stat().st_size > 10_000
    assert "整改结果:完成" in (tmp_path / "report.md").read_text(encoding="utf-8")
    printed = runner.invoke(cli, ["report", "--inspection", "lc-tcj-2021", "--as-of", "2021-12-31", "--body",
                                  "tcj-2021", "--db", db])
    assert printed.exit_code == 0, printed.output
    assert "区委第三巡察组对区投促局党组进行了巡察" in printed.stdout
    assert printed.stdout.rstrip().endswith("区投促局党组</p>\n<p align=\"right\">2021年12月31日</p>")
    no_file = runner.invoke(cli, ["report", "--format", "docx", "--db", db])
    assert isinstance(no_file.exception, InvalidInput)
    no_body = runner.invoke(cli, ["report", "--body", "nobody", "--db", db])
    assert isinstance(no_body.exception, InvalidInput)


def test_a_chart_of_the_closed_measures_is_added_when_asked(demo_app: App) -> None:
    snap = asof.snapshot(demo_app, asof.one_inspection(demo_app, ROUND), date(2024, 11, 13))
    (r,) = report.build(snap, chart=True)
    closed = sum(1 for row in snap.rows if row.state == State.CLOSED)
    assert r.chart is not None and (r.chart.days[-1], r.chart.total) == ((date(2024, 11, 13), closed), 33)
    page = str(report.render([r], report.ReportFormat.html))
    assert page.count("<svg") == 1 and "区投促局党组 整改进度" in page
    assert "](data:image/svg+xml;base64," in str(report.render([r], report.ReportFormat.md))
    doc = Document(BytesIO(report.render([r], report.ReportFormat.docx)))  # type: ignore[arg-type]
    assert len(doc.inline_shapes) == 1
    assert "<svg" not in str(report.render(report.build(snap), report.ReportFormat.html))


def test_each_body_of_a_round_gets_its_report_with_its_figures(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app(plan_file=None)
    data = plan_data("two-bodies", "x1", measures=2)
    data["inspection"].update(group="市委第一巡察组", period={"start": "2024-03-01", "end": "2024-04-30"})
    second = json.loads(json.dumps(data["bodies"][0]).replace("x1", "x2"))
    second["name"] = "测试局党委"
    data["bodies"].append(second)
    importer.import_plan(app, plan.Plan.model_validate(data), "two.yaml")
    outcomes.record_outcome(app, "x2-1.1.1", actor="alice", changes={"rules": 3, "funds_yuan": 125_000,
                                                                      "criticised": 1, "admonished": 2})
    first, other = report.build(asof.snapshot(app, asof.one_inspection(app)))
    assert (first.body, first.org, other.body, other.org) == ("测试单位 x1", "党组织", "测试局党委", "党委")
    text = report.environment().get_template("text.j2").module
    assert str(text.opening(first)).strip() == (
        "根据市委统一部署,2024年3月1日至4月30日,市委第一巡察组对测试单位 x1进行了巡察。2024年8月13日,"
        "市委巡察组向测试单位 x1反馈了巡察意见。按照党务公开原则和巡察工作有关要求,现将巡察整改进展情况予以公布。")
    assert "通过整改" not in str(text.organisation(first))
    assert "通过整改,建立完善制度3项,追缴、清退资金12.5万元,问责3人(批评教育1人、诫勉谈话2人)。" in str(
        text.organisation(other))
    assert str(text.section_one(other)).strip() == "一、党委及主要负责人组织整改落实情况"
    md = str(report.render([first, other], report.ReportFormat.md))
    assert md.count("\n---\n") == 1 and md.count("整改结果:正在推进") == 2
    doc = Document(BytesIO(report.render([first, other], report.ReportFormat.docx)))  # type: ignore[arg-type]
    assert [p.text for p in doc.paragraphs if p.style.name == "Title"] == [
        "测试单位 x1关于巡察整改进展情况的通报", "测试局党委关于巡察整改进展情况的通报"]
    assert 'w:type="page"' in doc.element.xml
