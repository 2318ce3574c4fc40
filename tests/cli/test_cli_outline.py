"""`rectify import DOC` and `rectify plan draft DOC`: documents through the command line."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from .helpers import ROOT, rectify

SEED = ROOT / "tests" / "fixtures" / "reference-report.txt"  # a copy of ../shared/seeds/000_bfe71906c454be5f.txt
ASSIGN = ROOT / "examples" / "reference-assign.yaml"
needs_seed = pytest.mark.skipif(not SEED.exists(), reason=f"the reference report is not at {SEED}")

FLAWED = """\
二、集中整改期内已完成的整改事项
(一)反馈问题:学习贯彻不到位
1.一是学习不够;二是落实不够。
整改情况:(1)完善学习制度。
(1)措施的编号重复了。
"""

SMALL_ASSIGN = """\
inspection: {code: doc-round, name: 测试巡察, feedback_date: 2024-08-13}
people:
  - {id: alice, name: 办公室主任, roles: [owner]}
  - {id: checker, name: 纪检组长, roles: [verifier]}
  - {id: boss, name: 党组书记, roles: [leader]}
body: {code: b1, name: 测试局党组}
defaults: {owner: alice, verifier: checker, leader: boss, due: 2024-11-13}
"""


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database made by `rectify init` once."""
    folder = tmp_path_factory.mktemp("empty")
    rectify(folder, "init")
    return folder / "rectify.db"


@pytest.fixture
def work(tmp_path: Path, empty_db: Path) -> Path:
    """A folder with a copy of the empty database."""
    shutil.copyfile(empty_db, tmp_path / "rectify.db")
    return tmp_path


def _measures(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("select count(*) from measure").fetchone()[0])
    finally:
        con.close()


@needs_seed
def test_dry_run_of_the_reference_report_prints_the_tree_and_the_lines_left_out(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    shutil.copyfile(SEED, report)
    proc = rectify(tmp_path, "import", str(report), "--dry-run")
    assert "(一) 贯彻落实党中央决策部署" in proc.stdout
    assert "4.1.3 (3)强化责任落实" in proc.stdout
    assert "line 65 [skipped] «三、下一步整改工作安排»" in proc.stdout
    assert "4 headings, 11 problems, 26 points, 33 measures" in proc.stdout
    assert not (tmp_path / "rectify.db").exists()


@needs_seed
def test_the_reference_report_imports_with_an_assignment_file(work: Path) -> None:
    proc = rectify(work, "import", str(SEED), "--assign", str(ASSIGN))
    assert "11 problems, 26 points, 33 measures" in proc.stdout
    assert _measures(work / "rectify.db") == 33


def test_a_document_with_lines_it_cannot_place_is_refused_in_one_line(work: Path) -> None:
    doc = work / "flawed.txt"
    doc.write_text(FLAWED, encoding="utf-8")
    assign = work / "assign.yaml"
    assign.write_text(SMALL_ASSIGN, encoding="utf-8")
    proc = rectify(work, "import", str(doc), "--assign", str(assign), ok=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 5" in lines[0] and "--dry-run" in lines[0], proc.stderr
    assert _measures(work / "rectify.db") == 0
    dry = rectify(work, "import", str(doc), "--dry-run", ok=False)
    assert dry.returncode == 1
    assert "line 5 [ambiguous]" in dry.stdout


def test_a_document_needs_an_assignment_and_a_plan_file_takes_none(tmp_path: Path) -> None:
    doc = tmp_path / "small.md"
    doc.write_text(FLAWED, encoding="utf-8")
    proc = rectify(tmp_path, "import", str(doc), ok=False)
    assert proc.returncode == 2 and "--assign" in proc.stderr
    proc = rectify(tmp_path, "import", str(ROOT / "tests" / "fixtures" / "small-plan.yaml"), "--assign",
                   str(ASSIGN), "--dry-run", ok=False)
    assert proc.returncode == 2 and "--assign: is for documents" in proc.stderr


def test_a_drafted_plan_imports_as_written(work: Path) -> None:
    doc = work / "report.txt"
    # the reference report where it is at hand, else the flawed document without its flaw (line 5)
    doc.write_text(SEED.read_text(encoding="utf-8") if SEED.exists() else FLAWED.rsplit("\n", 2)[0] + "\n",
                   encoding="utf-8")
    rectify(work, "plan", "draft", str(doc), "-o", "plan.yaml", "--inspection-code", "r1", "--body-code", "b9",
            "--body-name", "某局党组")
    text = (work / "plan.yaml").read_text(encoding="utf-8")
    assert "# TODO" in text and "code: \"r1\"" in text and "name: \"某局党组\"" in text
    proc = rectify(work, "import", "plan.yaml")
    assert "Imported inspection r1" in proc.stdout
