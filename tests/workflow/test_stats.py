"""Statistics and outcome figures, checked against numbers worked out by hand from a small plan."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime, time
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from typer.testing import CliRunner

from states.errors import InvalidInput, PermissionDenied
from states.model import Event
from states.outcome import Figures, yuan_from_wan
from storage import migrate
from workflow import asof, chart, importer, outcomes, plan, services
from workflow.app import App
from workflow.cli import app as cli
from workflow.clock import ManualClock
from workflow.stats import RoundStats, round_stats

from ..support import SMALL_PLAN, START, count, history_rows, open_test_app, plan_data

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(clock: ManualClock, day: str, hh: int = 10) -> None:
    clock.set(datetime.combine(date.fromisoformat(day), time(hh), SHANGHAI))


def finish(app: App, clock: ManualClock, code: str, people: tuple[str, str, str], days: tuple[str, ...]) -> None:
    """Start (unless already), submit, verify and close `code` on the given days."""
    owner, verifier, leader = people
    events = [("submit", owner), ("verify", verifier), ("close", leader)]
    if len(days) == 4:
        events.insert(0, ("start", owner))
    for day, (event, who) in zip(days, events, strict=True):
        at(clock, day)
        services.fire(app, Event(event), code, actor=who, reason="已整改", notes=["佐证"] if event == "submit" else [])


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, ManualClock]]:
    """The small plan, played as the test's hand computation assumes (see the comments)."""
    clock = ManualClock(START)  # imported 2024-08-13 (Shanghai)
    app = open_test_app(str(tmp_path_factory.mktemp("stats") / "stats.db"), clock=clock, synchronous="NORMAL")
    migrate.upgrade(app.engine)
    importer.import_plan(app, plan.load(SMALL_PLAN), SMALL_PLAN.name)
    at(clock, "2024-08-14", 9)
    services.fire(app, Event.START, "b1-2.1.1", actor="bob")
    # b1-1.1.1 (deadline, due 09-30): verified 08-22 (on time), closed 08-23, reopened 09-01 (a rebound),
    # closed again 09-05: 23 days from 交办 to its last 销号
    finish(app, clock, "b1-1.1.1", ("alice", "checker", "boss"), ("2024-08-14", "2024-08-20", "2024-08-22",
                                                                    "2024-08-23"))
    # b1-2.1.1 (immediate, due 08-31): extended to 09-15 on 08-26, verified 09-12 (on time), closed 09-13: 31 days
    at(clock, "2024-08-25")
    services.request_extension(app, "b1-2.1.1", actor="bob", new_due=date(2024, 9, 15), reason="材料未齐")
    at(clock, "2024-08-26")
    services.decide_extension(app, "b1-2.1.1", actor="deputy", approve=True)
    at(clock, "2024-09-01")
    services.fire(app, Event.REOPEN, "b1-1.1.1", actor="checker", reason="复查发现反弹")
    finish(app, clock, "b1-1.1.1", ("alice", "checker", "boss"), ("2024-09-03", "2024-09-04", "2024-09-05"))
    finish(app, clock, "b1-2.1.1", ("bob", "checker", "deputy"), ("2024-09-10", "2024-09-12", "2024-09-13"))
    # b1-1.1.2 (long-term, due 11-13): started, never verified: past due on 11-20, so late and overdue
    at(clock, "2024-09-14")
    services.fire(app, Event.START, "b1-1.1.2", actor="alice")
    outcomes.record_outcome(app, "b1-1.1.1", actor="alice", changes={"rules": 2, "funds_yuan": 125_000,
                                                                      "criticised": 1})
    outcomes.record_outcome(app, "b1-2.1.1", actor="bob", changes={"funds_yuan": 3_500, "admonished": 2,
                                                                    "disciplined": 1})
    at(clock, "2024-11-20")
    yield app, clock
    app.engine.dispose()


@pytest.fixture
def stats(worked: tuple[App, ManualClock]) -> RoundStats:
    app, _ = worked
    return round_stats(asof.snapshot(app, asof.one_inspection(app)), {"office": "办公室", "finance": "财务科"})


def test_counts_by_state_problems_and_the_completion_rate(stats: RoundStats) -> None:
    t = stats.total
    assert (t.measures, dict(t.by_state)) == (3, {"closed": 2, "in_progress": 1})
    # 一.1 has a closed measure and a started long-term one (长期坚持); 二.1 is 完成
    assert (t.problems, t.problems_done, t.problems_open, t.completion_rate) == (2, 1, 1, 50)


def test_on_time_rate_overdue_days_to_close_rebounds_and_extensions(stats: RoundStats) -> None:
    t = stats.total
    assert (t.on_time, t.on_time_of, t.on_time_rate) == (2, 3, 66.7)
    assert t.overdue == 1
    assert (t.closed_counted, t.closed_days, t.avg_days_to_close) == (2, 23 + 31, 27.0)
    assert (t.rebounds, t.extensions, t.extension_requests) == (1, 1, 1)


def test_outcome_figures_add_up(stats: RoundStats) -> None:
    f = stats.total.figures
    assert f == Figures(rules=2, funds_yuan=128_500, criticised=1, admonished=2, disciplined=1)
    assert (f.people, f.funds_text) == (4, "12.85")
    assert f.text == "制度2项、资金12.85万元、批评教育1人、诫勉谈话2人、纪律处分1人"


def test_counts_by_unit_and_by_owner(stats: RoundStats) -> None:
    assert {k: (v.measures, v.by_state["closed"], v.overdue) for k, v in stats.units.items()} == {
        "办公室": (2, 1, 1), "财务科": (1, 1, 0)}
    assert {k: v.measures for k, v in stats.owners.items()} == {"办公室主任": 2, "财务科科长": 1}
    assert stats.units["财务科"].avg_days_to_close == 31.0


def test_progress_counts_closed_measures_at_the_end_of_each_day(stats: RoundStats) -> None:
    by_day = dict(stats.progress.days)
    assert stats.progress.days[0] == (date(2024, 8, 13), 0) and stats.progress.days[-1] == (date(2024, 11, 20), 2)
    assert [by_day[date(2024, 8, d)] for d in (22, 23)] == [0, 1]
    assert [by_day[date(2024, 9, d)] for d in (1, 4, 5, 12, 13)] == [0, 0, 1, 1, 2]  # the rebound takes one back
    assert stats.progress.total == 3


def test_stats_as_of_a_day_are_rebuilt_from_the_history(worked: tuple[App, ManualClock]) -> None:
    app, _ = worked
    early = round_stats(asof.snapshot(app, asof.one_inspection(app), date(2024, 9, 1)))
    t = early.total
    assert dict(t.by_state) == {"in_progress": 2, "assigned": 1}  # b1-1.1.2 was started on 09-14
    assert (t.rebounds, t.closed_counted, t.avg_days_to_close, t.extensions) == (1, 0, None, 1)
    assert (t.on_time, t.on_time_of) == (1, 1)  # only b1-1.1.1 was verified (on time); none was past due yet
    assert t.figures == Figures()


def test_a_round_of_several_bodies_is_summed_not_averaged(tmp_path: Path) -> None:
    clock = ManualClock(START)
    app = open_test_app(str(tmp_path / "round.db"), clock=clock, synchronous="NORMAL")
    migrate.upgrade(app.engine)
    data = plan_data("big-round", "a1", measures=1)
    second = json.loads(json.dumps(data["bodies"][0]).replace("a1", "a2"))
    second["name"] = "测试单位 a2"
    second["headings"][0]["problems"].append({"ref": "2", "text": "二是落实不够。", "measures": [
        {"ref": "(1)", "title": "措施", "owner": "bob", "verifier": "checker", "leader": "boss", "due": "2024-09-30"}]})
    data["bodies"].append(second)
    importer.import_plan(app, plan.Plan.model_validate(data), "big-round.yaml")
    finish(app, clock, "a1-1.1.1", ("alice", "checker", "boss"), ("2024-08-14", "2024-08-15", "2024-08-16",
                                                                    "2024-08-17"))
    at(clock, "2024-08-20")
    s = round_stats(asof.snapshot(app, asof.one_inspection(app)))
    assert {k: (v.problems, v.problems_done, v.completion_rate) for k, v in s.bodies.items()} == {
        "测试单位 a1": (1, 1, 100), "测试单位 a2": (2, 0, 0)}
    assert (s.total.problems, s.total.problems_done, s.total.completion_rate) == (3, 1, 33)  # not (100 + 0) / 2
    assert s.total.measures == 3
    app.engine.dispose()


def test_an_outcome_is_recorded_by_the_owner_in_the_history(app: App) -> None:
    measure, figures = outcomes.record_outcome(app, "b1-1.1.1", actor="alice", changes={"rules": 3},
                                               reason="修订制度")
    assert figures == Figures(rules=3)
    _, figures = outcomes.record_outcome(app, "b1-1.1.1", actor="alice", changes={"criticised": 2})
    assert figures == Figures(rules=3, criticised=2), "figures not given are kept"
    last = history_rows(app, "b1-1.1.1")[-1]
    assert (last["event"], last["actor"], last["role"], last["from_state"], last["to_state"]) == (
        "outcome", "alice", "owner", "assigned", "assigned")
    assert last["data"] == {"rules": 3, "funds_yuan": 0, "criticised": 2, "admonished": 0, "org_handled": 0,
                            "disciplined": 0}
    with app.uow(read_only=True) as uow:
        assert uow.outcomes.of(measure.id) == figures


@pytest.mark.parametrize(("actor", "changes", "error"), [
    ("bob", {"rules": 1}, PermissionDenied),
    ("alice", {"rules": -1}, InvalidInput),
    ("alice", {"rules": None}, InvalidInput),
])
def test_a_refused_outcome_changes_nothing_and_is_logged(app: App, actor: str, changes: dict[str, Any],
                                                         error: type[Exception]) -> None:
    before = history_rows(app, "b1-1.1.1")
    with pytest.raises(error):
        outcomes.record_outcome(app, "b1-1.1.1", actor=actor, changes=changes)
    assert history_rows(app, "b1-1.1.1") == before
    assert count(app, "access_log", "event = 'outcome'") == 1
    assert count(app, "outcome") == 0


@pytest.mark.parametrize(("text", "yuan"), [("12.5", 125_000), ("0.0001", 1), ("3", 30_000), ("0", 0)])
def test_funds_in_wan_yuan_are_kept_exactly(text: str, yuan: int) -> None:
    assert yuan_from_wan(text) == yuan


@pytest.mark.parametrize("text", ["-1", "1.00001", "abc", "nan", "inf"])
def test_funds_that_are_not_an_amount_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        yuan_from_wan(text)


def test_the_chart_is_an_svg_of_the_closed_measures_by_day(stats: RoundStats) -> None:
    doc = ET.fromstring(chart.svg(stats.progress))
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text for t in doc.iter(f"{ns}text")]
    assert "测试巡察 整改进度" in texts and "已销号整改措施 2/3" in texts
    line = doc.find(f"{ns}polyline")
    assert line is not None and len(line.get("points", "").split()) == 2 * len(stats.progress.days) - 1


@pytest.mark.parametrize("font", [True, None], ids=["cjk-if-found", "latin-labels"])
def test_the_chart_is_a_png_with_or_without_a_chinese_font(stats: RoundStats, font: bool | None) -> None:
    data = chart.png(stats.progress, font=font)
    image = Image.open(BytesIO(data))
    assert (image.format, image.size) == ("PNG", (720, 360))
    assert len(image.getcolors(maxcolors=100_000) or []) > 2  # more than a blank page


def test_rectify_outcome_and_stats_on_the_command_line(app: App, tmp_path: Path) -> None:
    db = str(app.engine.url.database)
    runner = CliRunner()
    done = runner.invoke(cli, ["outcome", "b1-2.1.1", "--as", "bob", "--rules", "1", "--funds", "12.5",
                               "--org-handled", "1", "--db", db])
    assert done.exit_code == 0, done.output
    assert "资金12.5万元" in done.stdout
    history = runner.invoke(cli, ["history", "b1-2.1.1", "--db", db])
    assert "登记整改成效" in history.stdout and "制度1项、资金12.5万元、组织处理1人" in history.stdout
    shown = runner.invoke(cli, ["stats", "--format", "json", "--chart", str(tmp_path / "p.svg"), "--db", db])
    assert shown.exit_code == 0, shown.output
    (only,) = json.loads(shown.stdout)
    assert only["inspection"] == "test-round"
    assert only["total"]["figures"] == {"rules": 1, "funds_yuan": 125_000, "criticised": 0, "admonished": 0,
                                        "org_handled": 1, "disciplined": 0, "funds_wan": 12.5, "people": 1}
    assert only["total"]["by_state"] == {"assigned": 3, "in_progress": 0, "submitted": 0, "verified": 0, "closed": 0}
    assert (tmp_path / "p.svg").read_text(encoding="utf-8").startswith("<svg")
    table = runner.invoke(cli, ["stats", "--chart", str(tmp_path / "p.png"), "--db", db])
    assert "整改质效" in table.stdout and "反馈问题2个,已完成整改0个" in table.stdout
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = runner.invoke(cli, ["stats", "--chart", str(tmp_path / "p.gif"), "--db", db])
    assert isinstance(wrong.exception, InvalidInput)
