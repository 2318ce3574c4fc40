"""`rectify demo`: the earlier round and the reference round replayed, with the scheduled jobs run over the
simulated days. The demo runs once (a real process); each test reads what it left behind."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from .helpers import rectify

DB = "rectify-demo.db"
REPORT_DAY = "2025-03-17"


class Demo:
    """The folder the demo ran in, what it printed, and what the CLI reads back (each command run once)."""

    def __init__(self, folder: Path, proc: subprocess.CompletedProcess[str]):
        self.folder, self.proc = folder, proc

    def json(self, *args: str) -> Any:
        return json.loads(rectify(self.folder, *args, "--db", DB, "--format", "json").stdout)

    @cached_property
    def _ledger(self) -> list[dict[str, Any]]:
        return self.json("ledger")  # type: ignore[no-any-return]

    def ledger(self, inspection: str) -> list[dict[str, Any]]:
        return [r for r in self._ledger if r["inspection"] == inspection]

    @cached_property
    def _history(self) -> list[dict[str, Any]]:
        return self.json("history")  # type: ignore[no-any-return]

    def history(self, measure: str) -> list[dict[str, Any]]:
        return [h for h in self._history if h["measure"] == measure]

    @cached_property
    def rechecks(self) -> list[dict[str, Any]]:
        return self.json("rechecks")  # type: ignore[no-any-return]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.folder / DB)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("demo")
    return Demo(folder, rectify(folder, "demo"))


def test_the_demo_replays_the_reference_round_to_every_problem_done(demo: Demo) -> None:
    assert "反馈问题11个,已完成整改11个、正在整改0个,整改完成率100%" in demo.proc.stdout
    assert "OK: 36 measures" in demo.proc.stdout  # 33 of the reference round, 3 of the earlier one
    assert "only its verifier (deputy-party) may do that" in demo.proc.stdout  # the refused attempt is shown
    states = demo.ledger("lc-tcj-2024")
    assert len(states) == 33 and {s["state"] for s in states} == {"closed"}
    assert not any(s["overdue"] for s in states)
    rectify(demo.folder, "audit", "verify", "--db", DB, "--checkpoint", "rectify-demo.checkpoint.json")


def test_a_measure_goes_overdue_and_its_late_extension_clears_the_flag(demo: Demo) -> None:
    history = demo.history("tcj-1.3.1")
    events = [h["event"] for h in history]
    overdue = history[events.index("overdue")]
    assert (overdue["actor"], overdue["role"]) == ("system", "system")
    assert overdue["data"] == {"due": "2024-10-31", "today": "2024-11-01"}
    approve = history[events.index("extend_approve")]
    assert events.index("extend_request") > events.index("overdue")
    assert approve["data"]["new_due"] == "2024-12-31" and approve["actor"] == "deputy-invest"
    assert events[-1] == "recheck" and "close" in events
    reds = demo.query("select r.targets from reminder r join measure m on m.id = r.measure_id "
                      "where m.code = 'tcj-1.3.1' and r.rule = 'red'")
    (red,) = [json.loads(targets) for (targets,) in reds]  # late one day, then extended: one red reminder
    assert [(t["to"], t["status"]) for t in red] == [  # owner, leader (the owner heads the unit)
        ("invest-head", "sent"), ("deputy-invest", "sent")]
    assert "逾期与延期 — tcj-1.3.1" in demo.proc.stdout


def test_a_rebound_check_reopens_a_measure_that_is_then_fixed_for_good(demo: Demo) -> None:
    (row,) = [r for r in demo.ledger("lc-tcj-2024") if r["code"] == "tcj-2.3.3"]
    assert (row["state"], row["rebounds"]) == ("closed", 1)
    history = demo.history("tcj-2.3.3")
    reopen = next(h for h in history if h["event"] == "reopen")
    assert (reopen["from"], reopen["to"], reopen["actor"]) == ("closed", "in_progress", "discipline-lead")
    assert reopen["data"]["outcome"] == "rebounded" and "现金报销" in reopen["reason"]
    after = [h["event"] for h in history[history.index(reopen) + 1:]]
    assert after.count("close") == 1 and after[-2:] == ["recheck", "recheck"]  # closed again, later checks held
    checks = [c for c in demo.rechecks if c["measure"] == "tcj-2.3.3"]
    kept = [c["status"] for c in checks if c["due_on"] <= REPORT_DAY and c["status"] != "cancelled"]
    assert kept == ["rebounded", "held", "held"]  # the first close-out's later checks were cancelled by the reopening


def test_every_rebound_check_due_by_the_report_day_was_answered(demo: Demo) -> None:
    checks = demo.rechecks
    due = [c for c in checks if c["status"] != "cancelled" and c["due_on"] <= REPORT_DAY]
    assert due and all(c["status"] in ("held", "rebounded") for c in due)
    assert not demo.query("select 1 from reminder where rule = 'recheck_late'")  # nothing escalated


def test_the_earlier_round_counts_a_rebound_and_the_ledger_links_it(demo: Demo) -> None:
    earlier = demo.ledger("lc-tcj-2021")
    assert len(earlier) == 3 and all(r["state"] == "closed" and r["rebounds"] >= 1 for r in earlier)
    repeats = {r["code"]: r["repeats"] for r in demo.ledger("lc-tcj-2024")}
    assert {c for c, r in repeats.items() if r} == {"tcj-4.1.1", "tcj-4.1.2", "tcj-4.1.3"}
    assert set(repeats.values()) == {None, "tcj-2021-1.1"}
    history = demo.history("tcj-2021-1.1.1")
    rebound = next(h for h in history if h["event"] == "rebound")
    assert rebound["actor"] == "system" and rebound["data"]["repeated_by"] == "tcj-4.1"
    assert "重复 tcj-2021-1.1" in demo.proc.stdout and "lc-tcj-2021" in demo.proc.stdout


def mailbox_files(lines: list[dict[str, Any]]) -> set[str]:
    """The mailbox files of the reminders as listed: one per target."""
    return {f"reminder-{x['id']:06d}-{x['target'] + 1}.txt" for x in lines}


def test_the_jobs_delivered_every_reminder_to_the_mailbox_folder(demo: Demo) -> None:
    rows = [(i, rule, status, json.loads(targets))
            for i, rule, status, targets in demo.query("select id, rule, status, targets from reminder order by id")]
    assert {rule for _, rule, _, _ in rows} >= {"yellow", "orange", "red", "recheck", "progress"}
    assert {status for _, _, status, _ in rows} == {"sent"}
    targets = [(i, n, t) for i, _, _, ts in rows for n, t in enumerate(ts)]
    assert {t["status"] for _, _, t in targets} == {"sent"} and all(t["attempts"] == 1 for _, _, t in targets)
    assert len(targets) > len(rows) > 0  # an orange or red warning is one reminder to owner and leader
    # one attempt recorded per target, and the list shows one line per target
    attempts = demo.query("select reminder_id, recipient, channel, ok from delivery_attempt order by reminder_id, id")
    assert attempts == [(i, t["to"], t["channel"], 1) for i, _, t in targets]
    lines = demo.json("reminders")
    assert sorted((x["id"], x["target"], x["recipient"], x["status"]) for x in lines) == [
        (i, n, t["to"], "sent") for i, n, t in targets]
    mailbox = demo.folder / "rectify-demo.mailbox"
    assert {f.name for f in mailbox.glob("reminder-*.txt")} == mailbox_files(lines)
    first_red, _, _, to = next(r for r in rows if r[1] == "red")
    assert len(to) == 2
    for n, t in enumerate(to):  # a file per person the warning went to
        text = (mailbox / f"reminder-{first_red:06d}-{n + 1}.txt").read_text(encoding="utf-8")
        assert f"To: {t['to']} <{t['address']}>" in text and t["address"].endswith("@tcj.example.gov.cn")
        assert "Subject: 【红色预警】" in text
    assert "黄色预警" in demo.proc.stdout and "复查提醒" in demo.proc.stdout
    # the table's total: reminders, messages, sent messages
    assert re.search(rf"合计\W+{len(rows)}\W+{len(targets)}\W+{len(targets)}\W", demo.proc.stdout)
    assert f"{len(rows)} reminders written ({len(targets)} messages), {len(targets)} delivered." in demo.proc.stdout
    assert f"holds {len(targets)} messages" in demo.proc.stdout


def test_the_demo_runs_again_in_the_same_folder(demo: Demo) -> None:
    again = rectify(demo.folder, "demo")
    assert "整改完成率100%" in again.stdout
    lines = demo.json("reminders")  # one line per target of each reminder
    assert len(lines) > demo.query("select count(*) from reminder")[0][0]
    assert {f.name for f in (demo.folder / "rectify-demo.mailbox").glob("reminder-*.txt")} == mailbox_files(lines)


def test_the_outcome_figures_recorded_in_the_round_add_up_in_the_stats(demo: Demo) -> None:
    stats = demo.json("stats", "--inspection", "lc-tcj-2024")
    text = json.dumps(stats, ensure_ascii=False)
    outcomes = [h for h in demo._history if h["event"] == "outcome"]
    assert len(outcomes) == 6 and {h["actor"] for h in outcomes} >= {"finance-head", "policy-head"}
    assert '"rules": 15' in text and '"funds_yuan": 186' in text and '"criticised": 1' in text
