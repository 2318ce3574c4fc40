"""Plans from documents: the outline reader on the reference report, its variants, and malformed inputs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import docx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from states.errors import InvalidPlan
from workflow import importer, plan
from workflow.outline import NoteKind, Outline, parse_file, parse_text, points_of, title_of
from workflow.outline_plan import Assignment, build_plan, draft, load_assignment

ROOT = Path(__file__).resolve().parents[2]
# a copy of ../shared/seeds/000_bfe71906c454be5f.txt kept in the repository, so the test always runs
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "reference-report.txt"
REFERENCE_PLAN = ROOT / "examples" / "reference-plan.yaml"
REFERENCE_ASSIGN = ROOT / "examples" / "reference-assign.yaml"
needs_seed = pytest.mark.skipif(not SEED.exists(), reason=f"the reference report is not at {SEED}")

SMALL_DOC = """\
关于某局巡察整改进展情况的通报
二、集中整改期内已完成的整改事项
(一)反馈问题:学习贯彻不到位
1.一是学习不够;二是落实不够。
整改结果:完成
整改情况:(1)完善学习制度。每月集中学习两次。
(2)建立长效机制,定期检查学习效果,
并纳入年度考核。
(二)反馈问题:财务管理不规范
1.报销不规范。
整改情况:
(1)修订财务制度。
责任人:财务科科长
"""

FULL_WIDTH = str.maketrans("():;,.", "（）：；，．")
ASCII = str.maketrans("（）：；，．", "():;,.")


def _ws(s: str) -> str:
    return " ".join(s.split())


def tree(outline: Outline) -> list[Any]:
    """Headings, problems, points and measures of an outline, whitespace normalised."""
    return [(h.ref, _ws(h.title), [(p.ref, _ws(p.text), p.points, [(m.ref, _ws(m.text)) for m in p.measures])
                                   for p in h.problems]) for h in outline.headings]


def plan_tree(p: plan.Plan) -> list[Any]:
    """The same of a plan's one body."""
    return [(h.ref, _ws(h.title), [(pr.ref, _ws(pr.text), pr.points, [(m.ref, _ws(m.text)) for m in pr.measures])
                                   for pr in h.problems]) for h in p.bodies[0].headings]


def accounted(outline: Outline, text: str) -> None:
    """Every non-blank line went into the tree or is reported; none is dropped silently."""
    noted = {n.no for n in outline.notes}
    for no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            assert no in outline.placed or no in noted, f"line {no} {line!r} was dropped silently"


# -- the reference report -------------------------------------------------------------------------------


@needs_seed
def test_reference_report_reads_into_the_tree_of_the_reference_plan() -> None:
    outline = parse_file(SEED)
    assert tree(outline) == plan_tree(plan.load(REFERENCE_PLAN))
    assert outline.counts() == (4, 11, 26, 33)
    assert outline.blocking == []
    assert [p.result for _, _, p in outline.problems()] == ["完成"] * 11


@needs_seed
def test_reference_report_reports_the_other_sections_as_not_placed() -> None:
    text = SEED.read_text(encoding="utf-8")
    lines = text.splitlines()
    first = next(i for i, t in enumerate(lines, 1) if t.startswith("一、"))
    second = next(i for i, t in enumerate(lines, 1) if t.startswith("二、"))
    third = next(i for i, t in enumerate(lines, 1) if t.startswith("三、"))
    outline = parse_file(SEED)
    skipped = {n.no for n in outline.notes if n.kind is NoteKind.SKIPPED}
    expected = set(range(1, second)) | {i for i in range(third, len(lines) + 1) if lines[i - 1].strip()}
    assert skipped == expected
    assert {n.no for n in outline.notes} == expected
    assert any("一、党组及主要负责人组织整改落实情况" in n.why for n in outline.notes if n.no == first + 1)
    assert all(n.no not in outline.placed for n in outline.notes)
    accounted(outline, text)


@needs_seed
def test_reference_report_as_word_gives_the_same_tree(tmp_path: Path) -> None:
    text = SEED.read_text(encoding="utf-8")
    document = docx.Document()
    for line in text.splitlines():
        document.add_paragraph(line)
    path = tmp_path / "report.docx"
    document.save(str(path))
    outline, from_text = parse_file(path), parse_file(SEED)
    assert outline.unit == "paragraph"
    assert tree(outline) == tree(from_text)
    assert [(n.kind, n.no) for n in outline.notes] == [(n.kind, n.no) for n in from_text.notes]
    assert outline.facts == from_text.facts


@needs_seed
def test_reference_report_in_full_width_punctuation_gives_the_same_tree() -> None:
    text = SEED.read_text(encoding="utf-8")
    wide = parse_text(text.translate(FULL_WIDTH))
    assert wide.counts() == (4, 11, 26, 33)
    assert wide.blocking == []
    back = [(r, t.translate(ASCII), [(pr, x.translate(ASCII), [p.translate(ASCII) for p in pts],
                                      [(m, mt.translate(ASCII)) for m, mt in ms]) for pr, x, pts, ms in probs])
            for r, t, probs in tree(wide)]
    assert back == tree(parse_text(text))


@needs_seed
def test_reference_report_states_its_round() -> None:
    f = parse_file(SEED).facts
    assert (f.kind, f.group, f.body) == ("巡察", "区委第二巡察组", "区投促局党组")
    assert f.period == (date(2024, 3, 22), date(2024, 6, 21))
    assert f.feedback_date == date(2024, 8, 13)
    assert (f.signed_by, f.signed_on) == ("中共济南市历城区投资促进局党组", date(2025, 3, 17))


# -- the grammar on a small document --------------------------------------------------------------------


def test_small_document_reads_into_headings_problems_points_and_measures() -> None:
    outline = parse_text(SMALL_DOC)
    assert tree(outline) == [
        ("一", "学习贯彻不到位", [("1", "一是学习不够;二是落实不够。", ["学习不够", "落实不够"], [
            ("(1)", "完善学习制度。每月集中学习两次。"), ("(2)", "建立长效机制,定期检查学习效果, 并纳入年度考核。")])]),
        ("二", "财务管理不规范", [("1", "报销不规范。", [], [("(1)", "修订财务制度。")])]),
    ]
    assert outline.blocking == []
    assert [(n.no, n.kind) for n in outline.notes] == [(1, NoteKind.SKIPPED)]
    assert outline.headings[1].problems[0].measures[0].fields == {"责任人": "财务科科长"}
    accounted(outline, SMALL_DOC)


@pytest.mark.parametrize("variant", [
    pytest.param(lambda s: s.translate(FULL_WIDTH), id="full-width"),
    pytest.param(lambda s: s.replace("1.", "1、").replace("(1)", "(1)"), id="1、-and-(1)"),
    pytest.param(lambda s: s.replace("1.", "1．"), id="full-width-stop"),
    pytest.param(lambda s: s.replace("\n", "\r\n").replace("(一)", "\u3000\u3000(一)"), id="crlf-and-indent"),
    pytest.param(lambda s: s.replace("(1)", "①").replace("(2)", "②").replace("整改情况:\n", "整改情况\n"),
                 id="circled-and-bare-label"),
])
def test_punctuation_variants_read_alike(variant: Any) -> None:
    expected = tree(parse_text(SMALL_DOC))
    outline = parse_text(variant(SMALL_DOC))
    assert outline.blocking == []
    got = [(r, t.translate(ASCII), [(pr, x.translate(ASCII), [p.translate(ASCII) for p in pts],
                                     [(m, mt.translate(ASCII)) for m, mt in ms]) for pr, x, pts, ms in probs])
           for r, t, probs in tree(outline)]
    assert got == expected


def test_markdown_marks_are_read_through() -> None:
    heading = "(一)反馈问题:学习贯彻不到位"
    md = SMALL_DOC.replace("二、", "## 二、").replace(heading, f"### **{heading}**")
    md = md.replace("(2)建立", "- (2)建立")
    assert tree(parse_text(md, markdown=True)) == tree(parse_text(SMALL_DOC))


@pytest.mark.parametrize(("text", "title"), [
    ("建立学以致用长效机制。结合工作实际,定期组织。", "建立学以致用长效机制"),
    ("已整改党组会议流程,确保“第一议题”制度得到严格执行。2024年8月15日党组会议学习。", "已整改党组会议流程"),
    ("进一步突出招强引优,强化重大项目支撑引领。发挥考核作用。", "进一步突出招强引优,强化重大项目支撑引领"),
    ("学习了《坚持和完善人民代表大会制度,保障人民当家作主》等重要文章,加深理解。",
     "学习了《坚持和完善人民代表大会制度,保障人民当家作主》等重要文章"),
    ("修订制度", "修订制度"),
    ("已整改党组会议流程，确保“第一议题”制度得到严格执行（含扩大会议）。8月15日党组会议学习。", "已整改党组会议流程"),
    ("对照《规定（试行）》逐条梳理，完善制度，坚持定期学习。", "对照《规定（试行）》逐条梳理"),
])
def test_a_measure_title_is_its_heading_like_first_sentence_or_first_clause(text: str, title: str) -> None:
    assert title_of(text) == title


def test_points_are_the_texts_between_their_ordinals() -> None:
    assert points_of("存在问题:一是学习不够;二是统一是非标准不够;三是落实不够。") == (
        [1, 2, 3], ["学习不够", "统一是非标准不够", "落实不够"])
    assert points_of("没有分点。") == ([], [])


# -- malformed inputs: each line reported with its number and why ---------------------------------------

HEAD = "(一)反馈问题:学习贯彻不到位\n"


@pytest.mark.parametrize(("text", "no", "kind", "why"), [
    pytest.param(HEAD + "1.问题一。\n整改情况:(2)措施二。\n(3)措施三。\n", 3, NoteKind.AMBIGUOUS, "(2) before any (1)",
                 id="(2)-before-(1)"),
    pytest.param(HEAD + "一是学习不够;二是落实不够。\n1.问题。\n整改情况:(1)措施。\n", 2, NoteKind.UNPLACED,
                 "points with no problem", id="points-without-problem"),
    pytest.param(HEAD + "(1)措施。\n1.问题。\n整改情况:(1)措施。\n", 2, NoteKind.UNPLACED,
                 "measure (1) with no problem", id="measure-without-problem"),
    pytest.param("(1)措施。\n" + HEAD + "1.问题。\n整改情况:(1)措施。\n", 1, NoteKind.UNPLACED,
                 "before any heading", id="measure-before-any-heading"),
    pytest.param(HEAD + "1.问题。\n整改结果:完成\n这里插了一段说明。\n整改情况:(1)措施。\n", 4, NoteKind.UNPLACED,
                 "between 整改结果 and 整改情况", id="prose-between-result-and-measures"),
    pytest.param("今天天气很好。\n我们去公园散步。\n", 0, NoteKind.UNPLACED, "found no feedback problems",
                 id="random-prose"),
    pytest.param(HEAD + "1.问题。\n整改情况:\n1.措施一。\n2.措施二。\n", 4, NoteKind.AMBIGUOUS, "read as measure 1.",
                 id="numbered-measure-or-problem"),
    pytest.param(HEAD + "1.问题。\n整改情况:(1)措施。\n3.问题三。\n整改情况:(1)措施。\n", 4, NoteKind.AMBIGUOUS,
                 "problem 3 where 2 comes next", id="problem-number-gap"),
    pytest.param(HEAD + "1.问题。\n2.问题二。\n整改情况:(1)措施。\n", 2, NoteKind.INCOMPLETE, "has no measures",
                 id="problem-without-measures"),
    pytest.param(HEAD + "整改情况:(1)措施。\n", 2, NoteKind.UNPLACED, "整改情况 with no problem",
                 id="measures-without-problem"),
    pytest.param(HEAD + "1.问题。\n整改情况:已经全部完成。\n", 3, NoteKind.AMBIGUOUS, "without (1)",
                 id="measures-without-number"),
    pytest.param(HEAD + "1.一是学习不够;三是落实不够。\n整改情况:(1)措施。\n", 2, NoteKind.AMBIGUOUS, "一是、三是",
                 id="points-misnumbered"),
    pytest.param(HEAD + "1.问题。\n(1)措施。\n", 3, NoteKind.AMBIGUOUS, "no 整改情况", id="measure-without-label"),
    pytest.param(HEAD + "1.问题。\n整改情况:(1)措施。\n整改情况:(2)措施。\n", 4, NoteKind.UNPLACED, "a second 整改情况",
                 id="second-measures-label"),
    pytest.param("(一)\n1.问题。\n整改情况:(1)措施。\n", 1, NoteKind.INCOMPLETE, "has no title", id="untitled-heading"),
])
def test_malformed_lines_are_reported_with_their_number(text: str, no: int, kind: NoteKind, why: str) -> None:
    outline = parse_text(text)
    found = [n for n in outline.notes if n.no == no and n.kind is kind and why in n.why]
    assert found, f"no {kind} note at line {no} saying {why!r}; notes: {[str(n) for n in outline.notes]}"
    assert outline.blocking
    accounted(outline, text)


def test_random_prose_reports_every_line() -> None:
    text = "今天天气很好。\n\n我们去公园散步。\n晚上回家。\n"
    outline = parse_text(text)
    assert [(n.no, n.kind) for n in outline.notes] == [
        (0, NoteKind.UNPLACED), (1, NoteKind.SKIPPED), (3, NoteKind.SKIPPED), (4, NoteKind.SKIPPED)]
    assert outline.headings == []


def test_word_numbering_and_tables_are_reported(tmp_path: Path) -> None:
    document = docx.Document()
    for line in SMALL_DOC.splitlines():
        document.add_paragraph(line)
    document.add_paragraph("修订财务制度并公布。", style="List Number")
    document.add_table(rows=1, cols=2)
    path = tmp_path / "numbered.docx"
    document.save(str(path))
    outline = parse_file(path)
    numbered = len(SMALL_DOC.splitlines()) + 1
    assert any(n.no == numbered and n.kind is NoteKind.AMBIGUOUS and "Word numbers" in n.why for n in outline.notes)
    assert any(n.no == 0 and "table" in n.why for n in outline.blocking)


def test_unreadable_documents_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.docx"
    bad.write_text("not a zip", encoding="utf-8")
    with pytest.raises(InvalidPlan, match="not a readable Word"):
        parse_file(bad)
    with pytest.raises(InvalidPlan, match="no such file"):
        parse_file(tmp_path / "missing.txt")
    with pytest.raises(InvalidPlan, match="save it as .docx"):
        parse_file(tmp_path / "old.doc")


def test_gb18030_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes(SMALL_DOC.encode("gb18030"))
    assert tree(parse_file(path)) == tree(parse_text(SMALL_DOC))


LINES = ["一、集中整改期内已完成的整改事项", "二、下一步工作安排", "(一)反馈问题:学习不够", "(二)落实不力",
         "1.一是学习不够;二是落实不够。", "2、问题二。", "3.问题三", "(1)措施一。", "(2)措施二,继续。", "(3)",
         "整改结果:完成", "整改情况:", "整改情况:(1)措施。", "整改措施:措施全文。", "一是补充;二是再补充。",
         "三是跳号。", "随便一段文字。", "", "责任人:张三", "2024年3月17日", "1.(1)", "整改情况:2.措施"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=25))
def test_any_document_accounts_for_every_line_and_imports_when_nothing_is_reported(lines: list[str]) -> None:
    text = "\n".join(lines)
    outline = parse_text(text)
    accounted(outline, text)
    if not outline.blocking:
        build_plan(outline, _assignment(), "assign.yaml")  # no report means a valid plan


PHRASES = ["加强理论学习", "完善制度建设", "落实整改责任", "规范财务报销", "强化监督检查", "健全长效机制"]
_CN = "一二三四五六七八九"


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, list[Any]]:
    """A well-formed report in random punctuation, and the tree it was written from."""
    phrase = st.sampled_from(PHRASES)
    wide, stop = draw(st.booleans()), draw(st.sampled_from([".", "、", "．"]))
    lines, expected = ["二、集中整改期内已完成的整改事项"], []
    for hi in range(draw(st.integers(1, 3))):
        title = draw(phrase)
        lines.append(f"({_CN[hi]})反馈问题:{title}")
        problems = []
        for pi in range(draw(st.integers(1, 3))):
            points = draw(st.lists(phrase, max_size=3))
            text = ";".join(f"{_CN[i]}是{x}" for i, x in enumerate(points)) + "。" if points else draw(phrase) + "。"
            lines.append(f"{pi + 1}{stop}{text}")
            if draw(st.booleans()):
                lines.append("整改结果:完成")
            measures, inline = [], draw(st.booleans())  # (1) on the 整改情况 line, or on its own
            for mi in range(draw(st.integers(1, 3))):
                body = [draw(phrase) + "。" for _ in range(draw(st.integers(1, 2)))]
                first = f"({mi + 1}){body[0]}"
                lines += [f"整改情况:{first}"] if mi == 0 and inline else ["整改情况:", first] if mi == 0 else [first]
                lines += body[1:]
                measures.append((f"({mi + 1})", _ws("\n".join(body))))
            problems.append((str(pi + 1), text, points, measures))
        expected.append((_CN[hi], title, problems))
    text = "\n".join(lines) + "\n"
    return (text.translate(FULL_WIDTH) if wide else text), expected


@settings(max_examples=100, deadline=None)
@given(documents())
def test_a_well_formed_document_in_any_punctuation_reads_back_into_its_tree(doc: tuple[str, list[Any]]) -> None:
    text, expected = doc
    outline = parse_text(text)
    assert outline.blocking == []
    got = [(r, t.translate(ASCII), [(pr, x.translate(ASCII), [p.translate(ASCII) for p in pts],
                                     [(m, mt.translate(ASCII)) for m, mt in ms]) for pr, x, pts, ms in probs])
           for r, t, probs in tree(outline)]
    assert got == expected
    accounted(outline, text)
    build_plan(outline, _assignment(), "assign.yaml")


# -- plans: the draft and the assignment ----------------------------------------------------------------


def _assignment(**measures: Any) -> Assignment:
    return Assignment.model_validate({
        "inspection": {"code": "doc-round", "name": "测试巡察", "feedback_date": "2024-08-13"},
        "people": [{"id": "alice", "name": "办公室主任", "roles": ["owner"]},
                   {"id": "checker", "name": "纪检组长", "roles": ["verifier"]},
                   {"id": "boss", "name": "党组书记", "roles": ["leader"]}],
        "body": {"code": "b1", "name": "测试局党组"},
        "defaults": {"owner": "alice", "verifier": "checker", "leader": "boss", "due": "2024-11-13"},
        "measures": measures,
    })


def test_a_draft_plan_validates_as_written_and_imports(tmp_path: Path, make_app: Any) -> None:
    text = SEED.read_text(encoding="utf-8") if SEED.exists() else SMALL_DOC
    outline = parse_text(text, "report.txt")
    path = tmp_path / "draft.yaml"
    path.write_text(draft(outline, today=date(2025, 1, 1), body_code="tcj"), encoding="utf-8")
    p = plan.load(path)
    assert plan_tree(p) == tree(outline)
    assert {m.owner for b in p.bodies for h in b.headings for pr in h.problems for m in pr.measures} == {"todo-owner"}
    assert "# TODO" in path.read_text(encoding="utf-8")
    app = make_app(plan_file=None)
    result = importer.import_plan(app, p, str(path))
    assert result.measures == outline.counts()[3]


def test_a_draft_of_a_flawed_document_still_validates_and_lists_the_flaws(tmp_path: Path) -> None:
    text = HEAD + "1.问题。\n2.问题二。\n整改情况:(2)措施。\n(2)又一个。\n(二)\n"
    outline = parse_text(text, "flawed.txt")
    path = tmp_path / "draft.yaml"
    written = draft(outline, today=date(2025, 1, 1))
    path.write_text(written, encoding="utf-8")
    p = plan.load(path)
    assert p.inspection.feedback_date == date(2025, 1, 1)
    assert p.bodies[0].headings[0].problems[0].measures[0].title == "TODO: 整改措施"
    for n in outline.blocking:
        assert f"#   {n}" in written


def test_a_document_with_an_assignment_becomes_a_plan() -> None:
    outline = parse_text(SMALL_DOC)
    p = build_plan(outline, _assignment(**{"b1-1.1.2": {"due": "2024-08-30", "kind": "immediate"},
                                           "2.1.1": {"title": "修订财务制度"}}), "assign.yaml")
    m = p.bodies[0].headings[0].problems[0].measures
    assert (m[0].due, m[1].due, str(m[1].kind)) == (date(2024, 11, 13), date(2024, 8, 30), "immediate")
    assert p.bodies[0].headings[1].problems[0].measures[0].title == "修订财务制度"
    with pytest.raises(InvalidPlan, match=r"measures\.b1-9\.9\.9: no measure"):
        build_plan(outline, _assignment(**{"b1-9.9.9": {"owner": "alice"}}), "assign.yaml")
    with pytest.raises(InvalidPlan, match="no person 'nobody'"):
        build_plan(outline, _assignment(**{"1.1.1": {"owner": "nobody"}}), "assign.yaml")


@needs_seed
def test_the_reference_report_imports_with_the_example_assignment(make_app: Any) -> None:
    outline = parse_file(SEED)
    p = build_plan(outline, load_assignment(REFERENCE_ASSIGN), str(REFERENCE_ASSIGN))
    result = importer.import_plan(make_app(plan_file=None), p, str(SEED))
    assert (result.problems, result.points, result.measures) == (11, 26, 33)
