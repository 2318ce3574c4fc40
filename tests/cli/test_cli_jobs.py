"""The jobs' commands as a user meets them: rebound checks and rounds that repeat earlier problems."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import SMALL_PLAN, rectify, snapshot


def test_a_recheck_with_none_due_is_refused_in_one_line(ledger_dir: Path) -> None:
    before = snapshot(ledger_dir / "rectify.db")
    proc = rectify(ledger_dir, "recheck", "b1-1.1.1", "--as", "checker", "--held", "-r", "ok", ok=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "error: Cannot recheck measure b1-1.1.1 (state assigned): no rebound check is due for it "
        "(see `rectify rechecks`)"]
    assert snapshot(ledger_dir / "rectify.db") == before


def test_a_recheck_needs_exactly_one_outcome(ledger_dir: Path) -> None:
    proc = rectify(ledger_dir, "recheck", "b1-1.1.1", "--as", "checker", "-r", "ok", ok=False)
    assert "say either --held or --rebounded" in proc.stderr


def test_closing_schedules_rebound_checks_listed_by_rechecks(ledger_dir: Path) -> None:
    rectify(ledger_dir, "start", "b1-2.1.1", "--as", "bob")
    rectify(ledger_dir, "submit", "b1-2.1.1", "--as", "bob", "-r", "已修订", "-n", "新制度")
    rectify(ledger_dir, "verify", "b1-2.1.1", "--as", "checker")
    rectify(ledger_dir, "close", "b1-2.1.1", "--as", "deputy")
    checks = json.loads(rectify(ledger_dir, "rechecks", "b1-2.1.1", "--format", "json").stdout)
    assert [c["status"] for c in checks] == ["pending"] * 3
    days = [c["due_on"] for c in checks]
    assert days == sorted(days) and len(set(days)) == 3


def test_a_later_round_that_repeats_a_problem_counts_a_rebound_and_shows_the_link(ledger_dir: Path) -> None:
    later = SMALL_PLAN.read_text(encoding="utf-8").replace("code: test-round", "code: round-2")
    later = later.replace("code: b1\n", "code: b2\n").replace(
        "            text: 报销不规范。\n", "            text: 报销不规范问题反弹。\n            repeats: b1-2.1\n")
    (ledger_dir / "round-2.yaml").write_text(later, encoding="utf-8")
    rectify(ledger_dir, "import", "round-2.yaml")
    rows = {r["code"]: r for r in json.loads(rectify(ledger_dir, "ledger", "--format", "json").stdout)}
    assert rows["b1-2.1.1"]["rebounds"] == 1 and rows["b1-1.1.1"]["rebounds"] == 0
    assert rows["b2-2.1.1"]["repeats"] == "b1-2.1"
    history = json.loads(rectify(ledger_dir, "history", "b1-2.1.1", "--format", "json").stdout)
    assert [h["event"] for h in history] == ["create", "rebound"]
    assert history[-1]["data"]["repeated_by"] == "b2-2.1"
    rectify(ledger_dir, "audit", "verify")


def test_a_round_that_repeats_an_unknown_problem_is_refused_whole(ledger_dir: Path) -> None:
    later = SMALL_PLAN.read_text(encoding="utf-8").replace("code: test-round", "code: round-2")
    later = later.replace("code: b1\n", "code: b2\n").replace(
        "            text: 报销不规范。\n", "            text: 报销不规范。\n            repeats: b9-9.9\n")
    (ledger_dir / "round-2.yaml").write_text(later, encoding="utf-8")
    before = snapshot(ledger_dir / "rectify.db")
    proc = rectify(ledger_dir, "import", "round-2.yaml", ok=False)
    assert "bodies[0].headings[1].problems[0].repeats: no earlier problem or measure 'b9-9.9'" in proc.stderr
    assert snapshot(ledger_dir / "rectify.db") == before
