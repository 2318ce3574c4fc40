"""The `rectify` command as a user meets it: a real process on a fresh SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from .helpers import ROOT, SMALL_PLAN, rectify, snapshot

PLAN_TEXT = SMALL_PLAN.read_text(encoding="utf-8")


def test_a_measure_goes_from_assigned_to_closed_on_the_command_line(ledger_dir: Path) -> None:
    proof = ledger_dir / "制度.txt"
    proof.write_text("修订后的财务管理制度", encoding="utf-8")
    rectify(ledger_dir, "start", "b1-2.1.1", "--as", "bob")
    rectify(ledger_dir, "submit", "b1-2.1.1", "--as", "bob", "--reason", "已修订", "--evidence", str(proof))
    rectify(ledger_dir, "verify", "b1-2.1.1", "--as", "checker")
    rectify(ledger_dir, "close", "b1-2.1.1", "--as", "deputy")

    shown = json.loads(rectify(ledger_dir, "show", "b1-2.1.1", "--format", "json").stdout)
    assert (shown["state"], shown["version"]) == ("closed", 5)
    assert shown["evidence"][0]["name"] == "制度.txt"
    history = json.loads(rectify(ledger_dir, "history", "b1-2.1.1", "--format", "json").stdout)
    assert [h["event"] for h in history] == ["create", "start", "submit", "verify", "close"]
    assert [h["actor"] for h in history] == ["system", "bob", "bob", "checker", "deputy"]
    kept = ledger_dir / "rectify.evidence" / shown["evidence"][0]["sha256"][:2] / shown["evidence"][0]["sha256"]
    assert kept.read_text(encoding="utf-8") == "修订后的财务管理制度"
    verified = rectify(ledger_dir, "audit", "verify")
    assert "every chain verifies" in verified.stdout


def test_show_as_json_lists_what_the_asking_person_may_do(ledger_dir: Path) -> None:
    rectify(ledger_dir, "start", "b1-1.1.1", "--as", "alice")
    rectify(ledger_dir, "submit", "b1-1.1.1", "--as", "alice", "-r", "done", "-n", "会议记录")
    as_verifier = json.loads(rectify(ledger_dir, "show", "b1-1.1.1", "--as", "checker", "--format", "json").stdout)
    as_owner = json.loads(rectify(ledger_dir, "show", "b1-1.1.1", "--as", "alice", "--format", "json").stdout)
    assert {"state", "owner", "verifier", "leader", "due", "version"} <= as_verifier.keys()
    assert sorted(as_verifier["available_events"]) == ["reject", "verify"]
    assert "verify" not in as_owner["available_events"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["start", "b1-9.9.9", "--as", "alice"], "No measure 'b1-9.9.9' was found"),
        (["verify", "b1-1.1.1", "--as", "checker"], "Cannot verify measure b1-1.1.1 (state assigned)"),
        (["start", "b1-1.1.1", "--as", "bob"], "bob may not start measure b1-1.1.1"),
        (["start", "b1-1.1.1", "--as", "nobody"], "No person 'nobody' was found"),
        (["reassign", "b1-1.1.1", "--as", "boss", "--to", "checker"], "does not have the owner role"),
        (["start", "b1-1.1.1", "--as", "alice", "--expect-version", "7"], "changed by someone else"),
        (["extend", "request", "b1-1.1.1", "--as", "alice", "--to", "2024-13-01", "-r", "x"], "is not a date"),
        (["submit", "b1-1.1.1", "--as", "alice", "-r", "x", "--evidence", "missing.pdf"], "is not a readable file"),
        (["history", "--since", "yesterday"], "is not a date"),
        (["audit", "verify", "--checkpoint", "nope.json"], "no such file"),
    ],
)
def test_bad_input_is_one_line_a_non_zero_exit_and_no_change(ledger_dir: Path, args: list[str], says: str) -> None:
    before = snapshot(ledger_dir / "rectify.db")
    proc = rectify(ledger_dir, *args, ok=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and says in lines[0], lines[0]
    assert snapshot(ledger_dir / "rectify.db") == before


def test_refused_attempts_are_shown_to_auditors(ledger_dir: Path) -> None:
    rectify(ledger_dir, "verify", "b1-1.1.1", "--as", "alice", ok=False)
    refused = json.loads(rectify(ledger_dir, "history", "--refused", "--format", "json").stdout)
    assert [(r["actor"], r["event"], r["measure"], r["outcome"]) for r in refused] == [
        ("alice", "verify", "b1-1.1.1", "denied")]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("inspection: [unclosed\n", "not valid YAML"),
        ("inspection:\n  code: x\n", "this field is required"),
        (PLAN_TEXT.replace("verifier: checker, leader: boss, unit: office, due: 2024-09-30",
                           "verifier: bob, leader: boss, unit: office, due: 2024-09-30"),
         "measures[0].verifier: 'bob' does not have the verifier role"),
        (PLAN_TEXT.replace("due: 2024-08-31", "due: 2024-02-30"),
         "measures[0].due"),
        (PLAN_TEXT.replace("  group: 区委第一巡察组\n", "  group: 区委第一巡察组\n  colour: red\n"),
         "inspection.colour: unknown field"),
    ],
)
def test_a_malformed_plan_is_refused_whole_with_file_path_and_field(ledger_dir: Path, content: str,
                                                                    says: str) -> None:
    bad = ledger_dir / "bad.yaml"
    bad.write_text(content, encoding="utf-8")
    before = snapshot(ledger_dir / "rectify.db")
    proc = rectify(ledger_dir, "import", str(bad), ok=False)
    assert proc.returncode != 0
    line = proc.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {bad}") and says in line, line
    assert snapshot(ledger_dir / "rectify.db") == before


def test_importing_the_same_round_twice_is_refused(ledger_dir: Path) -> None:
    proc = rectify(ledger_dir, "import", str(SMALL_PLAN), ok=False)
    assert "was already imported" in proc.stderr


def test_commands_before_init_say_to_run_init(tmp_path: Path) -> None:
    proc = rectify(tmp_path, "ledger", ok=False)
    assert proc.returncode != 0 and "run `rectify init` first" in proc.stderr
    assert not (tmp_path / "rectify.db").exists()


def test_ledger_filters_and_csv(ledger_dir: Path) -> None:
    rectify(ledger_dir, "start", "b1-2.1.1", "--as", "bob")
    started = json.loads(rectify(ledger_dir, "ledger", "--state", "in_progress", "--format", "json").stdout)
    assert [r["code"] for r in started] == ["b1-2.1.1"]
    alices = json.loads(rectify(ledger_dir, "ledger", "--owner", "alice", "--format", "json").stdout)
    assert [r["code"] for r in alices] == ["b1-1.1.1", "b1-1.1.2"]
    heading_two = json.loads(rectify(ledger_dir, "ledger", "--problem", "2", "--format", "json").stdout)
    assert [r["code"] for r in heading_two] == ["b1-2.1.1"]
    csv_lines = rectify(ledger_dir, "ledger", "--unit", "office", "--format", "csv").stdout.strip().splitlines()
    assert csv_lines[0].startswith("code,") and len(csv_lines) == 3


def test_extension_moves_the_due_date_only_when_approved(ledger_dir: Path) -> None:
    rectify(ledger_dir, "extend", "request", "b1-1.1.1", "--as", "alice", "--to", "2024-12-31", "-r", "需等年度数据")
    assert json.loads(rectify(ledger_dir, "show", "b1-1.1.1", "--format", "json").stdout)["due"] == "2024-09-30"
    rectify(ledger_dir, "extend", "approve", "b1-1.1.1", "--as", "boss")
    assert json.loads(rectify(ledger_dir, "show", "b1-1.1.1", "--format", "json").stdout)["due"] == "2024-12-31"
    events = [h["event"] for h in json.loads(rectify(ledger_dir, "history", "b1-1.1.1", "--format", "json").stdout)]
    assert events == ["create", "extend_request", "extend_approve"]


def test_a_tampered_history_fails_audit_verify_with_the_row_named(ledger_dir: Path) -> None:
    rectify(ledger_dir, "start", "b1-1.1.1", "--as", "alice")
    con = sqlite3.connect(ledger_dir / "rectify.db")
    with con:
        row_id = con.execute("select id from history where event='start'").fetchone()[0]
        con.execute("update history set actor='bob' where id=?", (row_id,))
    con.close()
    proc = rectify(ledger_dir, "audit", "verify", ok=False)
    assert proc.returncode == 1
    assert f"history row {row_id} (seq 2): its content was altered" in proc.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    commands = ["init", "import", "people", "ledger", "show", "start", "submit", "reject", "verify", "close",
                "reopen", "reassign", "history", "diagram", "demo", "audit verify", "audit checkpoint",
                "plan schema", "plan check", "evidence add", "evidence get", "extend request", "extend approve",
                "extend refuse", "export ledger", "audit packet"]
    from typer.testing import CliRunner

    from workflow.cli import app

    runner = CliRunner()  # in-process: two dozen interpreter start-ups would add nothing here
    for c in commands:
        result = runner.invoke(app, [*c.split(), "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output and len(result.output.splitlines()) > 4, c
    assert "Usage:" in rectify(tmp_path, "--help").stdout


def test_the_readme_shows_the_diagram_the_machine_draws(tmp_path: Path) -> None:
    drawn = rectify(tmp_path, "diagram").stdout
    assert "stateDiagram-v2" in drawn
    assert f"```mermaid\n{drawn}```" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_plan_schema_is_json_schema_of_the_plan(tmp_path: Path) -> None:
    schema = json.loads(rectify(tmp_path, "plan", "schema").stdout)
    assert schema["title"] == "Plan"
    assert set(schema["required"]) == {"inspection", "people", "bodies"}
