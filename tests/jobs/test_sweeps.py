"""The sweeps on a fixed clock: breaches flagged once, reminders once per window, rebound checks.

Dates in this file are local to the round's time zone; each run sets the clock to a local hour.
2024 around National Day (国庆节): 9/29 (Sun) and 10/12 (Sat) are make-up workdays, 10/1–10/7 are off.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from jobs.delivery import DeliveryFailed, Message, deliver
from states.model import Event, State
from storage.engine import reader
from storage.schedule import ReminderLine
from tests.conftest import AppFactory
from tests.support import codes, history_rows, measure_row, plan_data
from workflow import audit, importer, services
from workflow.app import App
from workflow.clock import ManualClock
from workflow.plan import Plan
from workflow.settings import Settings
from workflow.sweeps import Holidays, SweepResult, flag_overdue, load_holidays, remind

SHANGHAI, NEW_YORK = "Asia/Shanghai", "America/New_York"
Key = tuple[str, str, str]  # measure code, rule, window: one reminder (an occasion), whoever it goes to
NONE = Holidays()  # no holiday file


def at(clock: ManualClock, day: date, hour: float = 9, zone: str = SHANGHAI, fold: int = 0) -> None:
    """Set the clock to `hour` o'clock local time on `day`."""
    h, m = int(hour), round((hour % 1) * 60)
    clock.set(datetime.combine(day, time(h, m, fold=fold), ZoneInfo(zone)).astimezone(UTC))


def days(first: date, last: date) -> Iterable[date]:
    """Every day from `first` to `last`, both included."""
    return (first + timedelta(days=n) for n in range((last - first).days + 1))


def sweep(app: App, holidays: Holidays = NONE) -> tuple[SweepResult, SweepResult]:
    """Both sweeps, in the scheduler's order."""
    return flag_overdue(app, holidays), remind(app, holidays)


def round_app(make_app: AppFactory, dues: list[date], *, zone: str = SHANGHAI, policy: dict[str, Any] | None = None,
              kinds: dict[int, str] | None = None, url: str | None = None) -> tuple[App, list[str]]:
    """An app (SQLite unless `url`) with one round of measures due on `dues` (1-based `kinds` overrides), and
    their codes."""
    app = make_app(url, plan_file=None)
    data = plan_data("r1", "b", len(dues))
    data["inspection"].update(timezone=zone, **({"policy": policy} if policy else {}))
    for i, (m, due) in enumerate(zip(data["bodies"][0]["headings"][0]["problems"][0]["measures"], dues, strict=True)):
        m.update(due=due.isoformat(), **({"kind": kinds[i + 1]} if kinds and i + 1 in kinds else {}))
    importer.import_plan(app, Plan.model_validate(data), "test")
    return app, codes("b", len(dues))


def reminders(app: App, where: str = "true") -> list[dict[str, Any]]:
    """The outbox, oldest first, with each reminder's measure code and its targets (a list of dicts)."""
    with reader(app.engine).connect() as conn:
        rows = conn.execute(text("SELECT m.code, r.* FROM reminder r JOIN measure m ON m.id = r.measure_id "
                                 f"WHERE {where} ORDER BY r.id")).mappings()
        out = [dict(r) for r in rows]
    for r in out:  # SQLite hands JSON back as text, PostgreSQL parsed
        r["targets"] = json.loads(r["targets"]) if isinstance(r["targets"], str) else r["targets"]
    return out


def keys(app: App, where: str = "true") -> list[Key]:
    """The outbox's keys (measure, rule, window), oldest first: one per reminder."""
    return [(r["code"], r["rule"], r["window"]) for r in reminders(app, where)]


def told(app: App, where: str = "true") -> dict[Key, list[str]]:
    """Whom each reminder goes to: its targets' recipients, in order."""
    return {(r["code"], r["rule"], r["window"]): [t["to"] for t in r["targets"]] for r in reminders(app, where)}


def lines(app: App, code: str, status: str | None = None) -> list[ReminderLine]:
    """A measure's reminders as listed (`rectify reminders`, the API): one line per target."""
    with app.uow(read_only=True) as uow:
        return uow.schedule.reminders(status, uow.measures.row(code).id)


def overdue_records(app: App, code: str) -> list[dict[str, Any]]:
    """A measure's `overdue` history records."""
    return [h for h in history_rows(app, code) if h["event"] == "overdue"]


def first_seen(app: App, clock: ManualClock, run_days: Iterable[date], zone: str = SHANGHAI,
               holidays: Holidays = NONE) -> dict[Key, date]:
    """Run both sweeps twice a day (09:00 and 21:00); the day each reminder first appeared."""
    seen: dict[Key, date] = {}
    for day in run_days:
        for hour in (9, 21):
            at(clock, day, hour, zone)
            sweep(app, holidays)
        for key in keys(app):
            seen.setdefault(key, day)
    return seen


def on(seen: dict[Key, date], code: str, rule: str) -> set[date]:
    """The days reminders of `rule` first appeared for `code` (one day per window when each came once)."""
    return {d for (c, r, _w), d in seen.items() if (c, r) == (code, rule)}


def live(app: App, code: str, who: str, event: Event, **kw: Any) -> None:
    """Fire an event as a person."""
    services.fire(app, event, code, actor=who, **kw)


def close(app: App, code: str, owner: str, verifier: str, leader: str) -> None:
    """Take a measure from assigned to closed."""
    live(app, code, owner, Event.START)
    live(app, code, owner, Event.SUBMIT, reason="已整改", notes=["整改报告"])
    live(app, code, verifier, Event.VERIFY)
    live(app, code, leader, Event.CLOSE)


# -- deadline breaches --------------------------------------------------------------------------------


def test_a_breach_is_flagged_once_however_often_late_and_back_and_forth_the_sweep_runs(app: App,
                                                                                       clock: ManualClock) -> None:
    # the small plan: b1-2.1.1 due 8/31, b1-1.1.1 due 9/30, b1-1.1.2 due 11/13, all in Shanghai
    at(clock, date(2024, 9, 30), 23.5)  # 15:30 UTC: still the due day in Shanghai
    first = flag_overdue(app)
    assert (first.flagged, first.reminders) == (1, 1)  # b1-2.1.1's red: one reminder, to bob and deputy
    assert told(app) == {("b1-2.1.1", "red", "due:2024-08-31:4"): ["bob", "deputy"]}
    assert [len(overdue_records(app, c)) for c in ("b1-2.1.1", "b1-1.1.1")] == [1, 0]
    at(clock, date(2024, 10, 1), 0.5)  # half an hour later, the day after in Shanghai
    first, again = flag_overdue(app), flag_overdue(app)
    assert (first.flagged, first.reminders, again.flagged, again.reminders) == (1, 1, 0, 0)
    for day in (date(2024, 9, 15), date(2024, 10, 2), date(2024, 9, 1), date(2024, 12, 1), date(2024, 10, 1)):
        at(clock, day)
        sweep(app)
    sweep(app)
    for code, due in (("b1-2.1.1", "2024-08-31"), ("b1-1.1.1", "2024-09-30"), ("b1-1.1.2", "2024-11-13")):
        (record,) = overdue_records(app, code)
        assert (record["actor"], record["role"], record["data"]["due"]) == ("system", "system", due)
        assert measure_row(app, code)["overdue"] is True
    # the breach's first red warning came with the flag, in its transaction: once, one reminder to owner,
    # leader and unit head (boss is both), each on their channel
    (red,) = reminders(app, "r.rule = 'red' AND m.code = 'b1-1.1.1' AND r.window = 'due:2024-09-30:0'")
    assert [(t["to"], t["channel"], t["address"], t["status"]) for t in red["targets"]] == [
        ("alice", "email", "alice@example.com", "pending"), ("boss", "log", "log", "pending")]
    assert red["status"] == "pending"
    assert [(x.id, x.target, x.window, x.recipient, x.status, x.file) for x in lines(app, "b1-1.1.1")
            if x.rule == "red" and x.window == "due:2024-09-30:0"] == [
        (red["id"], 0, "due:2024-09-30:0", "alice", "pending", f"reminder-{red['id']:06d}-1.txt"),
        (red["id"], 1, "due:2024-09-30:0", "boss", "pending", f"reminder-{red['id']:06d}-2.txt")]
    assert len(keys(app)) == len(set(keys(app)))
    assert all(len(to) == len(set(to)) for to in told(app).values())  # nobody twice in a reminder


@pytest.mark.postgres
def test_a_command_in_flight_on_postgresql_holds_the_sweep_back_but_does_not_fail_it(
        make_app: AppFactory, pg_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # alice starts b1-1.1.1 (due 9/30) and her transaction is still open when the sweep reads the candidates
    app = make_app(pg_url)
    at(clock, date(2024, 10, 8))
    written, release = threading.Event(), threading.Event()
    follow_up = services._follow_up

    def held_open(*args: Any) -> None:
        follow_up(*args)
        written.set()  # her UPDATE and history row are written, not yet committed
        assert release.wait(10)

    monkeypatch.setattr(services, "_follow_up", held_open)
    client = threading.Thread(target=services.fire, args=(app, Event.START, "b1-1.1.1"), kwargs={"actor": "alice"})
    client.start()
    assert written.wait(10)
    monkeypatch.setattr(services, "_follow_up", follow_up)
    result: list[SweepResult] = []
    sweeper = threading.Thread(target=lambda: result.append(flag_overdue(app)))
    sweeper.start()
    sweeper.join(1.0)
    assert sweeper.is_alive()  # it waits for her row
    release.set()
    client.join(10)
    sweeper.join(10)
    # both landed, hers first: the sweep flagged her measure at its new version, and the other breach too
    assert [r.flagged for r in result] == [2]
    assert [h["event"] for h in history_rows(app, "b1-1.1.1")] == ["create", "start", "overdue"]
    assert measure_row(app, "b1-1.1.1")["state"] == "in_progress" and measure_row(app, "b1-1.1.1")["overdue"]
    assert audit.verify(app).ok


def test_an_approved_extension_clears_the_flag_and_a_breach_of_the_new_date_is_flagged_again(
        app: App, clock: ManualClock) -> None:
    code = "b1-1.1.1"
    at(clock, date(2024, 10, 2))
    sweep(app)
    assert measure_row(app, code)["overdue"] is True
    services.request_extension(app, code, actor="alice", new_due=date(2024, 10, 21), reason="需要跨部门协调")
    services.decide_extension(app, code, actor="boss", approve=True)
    assert measure_row(app, code)["overdue"] is False
    assert {r["status"] for r in reminders(app, f"m.code = '{code}' AND r.rule = 'red'")} == {"cancelled"}
    assert {(x.recipient, x.status, x.cancelled_reason) for x in lines(app, code) if x.rule == "red"} == {
        ("alice", "cancelled", "due date extended"), ("boss", "cancelled", "due date extended")}
    for day in days(date(2024, 10, 3), date(2024, 10, 21)):
        at(clock, day)
        assert code not in {r["code"] for r in reminders(app, "r.rule = 'red' AND r.status = 'pending'")}
        sweep(app)
    assert len(overdue_records(app, code)) == 1 and measure_row(app, code)["overdue"] is False
    at(clock, date(2024, 10, 22))
    for _ in range(3):
        sweep(app)
    assert [r["data"]["due"] for r in overdue_records(app, code)] == ["2024-09-30", "2024-10-21"]
    assert measure_row(app, code)["overdue"] is True
    assert told(app, f"m.code = '{code}' AND r.rule = 'red' AND r.status = 'pending'") == {
        (code, "red", "due:2024-10-21:0"): ["alice", "boss"]}
    assert [(x.window, x.recipient) for x in lines(app, code, "pending") if x.rule == "red"] == [
        ("due:2024-10-21:0", "alice"), ("due:2024-10-21:0", "boss")]


def test_verification_clears_the_flag_and_ends_the_warnings(app: App, clock: ManualClock) -> None:
    code = "b1-2.1.1"  # due 8/31: bob owns it, checker verifies, deputy leads
    at(clock, date(2024, 9, 10))
    sweep(app)
    live(app, code, "bob", Event.START)
    live(app, code, "bob", Event.SUBMIT, reason="已修订", notes=["修订后的制度"])
    live(app, code, "checker", Event.VERIFY)
    assert measure_row(app, code)["overdue"] is False
    assert {r["status"] for r in reminders(app, f"m.code = '{code}'")} == {"cancelled"}
    assert {(x.recipient, x.status, x.cancelled_reason) for x in lines(app, code)} == {
        ("bob", "cancelled", "verified"), ("deputy", "cancelled", "verified")}
    for day in days(date(2024, 9, 11), date(2024, 10, 10)):
        at(clock, day)
        sweep(app)
    assert len(overdue_records(app, code)) == 1
    assert reminders(app, f"m.code = '{code}' AND r.status <> 'cancelled'") == []


def test_reassigning_a_measure_cancels_only_what_is_still_to_go_to_the_old_owner(make_app: AppFactory, db_url: str,
                                                                                 clock: ManualClock) -> None:
    # three measures due 9/30: a (alice, led by boss) is handed to bob; b is bob's, c is alice's too
    app, (a, _b, _c) = round_app(make_app, [date(2024, 9, 30)] * 3, url=db_url)
    for day in (date(2024, 9, 24), date(2024, 9, 27)):  # yellow to the owner, then orange to owner and leader
        at(clock, day)
        sweep(app)
    (yellow,) = reminders(app, f"m.code = '{a}' AND r.rule = 'yellow'")

    def send(msg: Message) -> None:  # boss's channel is down, and alice's mail server refused a's yellow
        if msg.recipient == "boss" or msg.id == yellow["id"]:
            raise DeliveryFailed(msg.id, msg.channel, "down")

    sent = deliver(app, Settings(smtp_url=None, mailbox_dir=None), "w1", send=send)
    assert (sent.claimed, sent.sent, sent.failed) == (6, 6, 3)  # 3 yellows, 3 oranges to owner and leader
    at(clock, date(2024, 10, 2))
    sweep(app)  # red, to owner and leader, not sent yet
    others = reminders(app, f"m.code <> '{a}'")
    assert ("alice", "pending") in {(t["to"], t["status"]) for r in others for t in r["targets"]}

    live(app, a, "boss", Event.REASSIGN, new_owner="bob", reason="岗位调整")
    # alice's pending targets are cancelled, what she was sent stays sent, and boss is still owed his
    got = {r["rule"]: (r["status"], r["cancelled_reason"], [(t["to"], t["status"], t.get("reason")) for t in
                                                            r["targets"]]) for r in reminders(app, f"m.code = '{a}'")}
    assert got == {
        "yellow": ("cancelled", "reassigned", [("alice", "cancelled", "reassigned")]),  # nobody else left
        "orange": ("pending", "", [("alice", "sent", None), ("boss", "pending", None)]),
        "red": ("pending", "", [("alice", "cancelled", "reassigned"), ("boss", "pending", None)]),
    }
    assert [(x.rule, x.recipient, x.status, x.cancelled_reason, x.last_error) for x in lines(app, a)] == [
        ("yellow", "alice", "cancelled", "reassigned", "down"),
        ("orange", "alice", "sent", "", ""), ("orange", "boss", "pending", "", "down"),
        ("red", "alice", "cancelled", "reassigned", ""), ("red", "boss", "pending", "", "")]
    assert [(x.rule, x.recipient) for x in lines(app, a, "pending")] == [("orange", "boss"), ("red", "boss")]
    assert reminders(app, f"m.code <> '{a}'") == others  # alice's reminders of c still go to her
    # the new owner is told from the next occasion on
    at(clock, date(2024, 10, 8))
    sweep(app)
    assert told(app, f"m.code = '{a}' AND r.window = 'due:2024-09-30:1'") == {
        (a, "red", "due:2024-09-30:1"): ["bob", "boss"]}


def test_the_new_owner_of_a_reassigned_measure_is_told_of_the_current_warning_at_the_next_sweep(
        app: App, clock: ManualClock) -> None:
    code = "b1-1.1.1"  # alice's, led by boss; due 9/30
    at(clock, date(2024, 10, 2))
    sweep(app)
    live(app, code, "boss", Event.REASSIGN, new_owner="bob", reason="岗位调整")
    assert sweep(app)[1].reminders == 0  # no new reminder: bob joins the one of this occasion
    now = {x.recipient: x for x in lines(app, code) if x.window == "due:2024-09-30:0"}
    assert {(who, x.status) for who, x in now.items()} == {
        ("alice", "cancelled"), ("boss", "pending"), ("bob", "pending")}
    # in words that name him: the reminder's own text still says what was sent to alice
    assert "责任人:bob" in now["bob"].body and "责任人:alice" in now["boss"].body
    sent: list[Message] = []
    deliver(app, Settings(), "w", send=sent.append)
    assert sorted((m.recipient, "责任人:bob" in m.body) for m in sent if m.id == now["bob"].id) == [
        ("bob", True), ("boss", False)]
    sweep(app)  # told once: a later sweep of the same day adds him no more
    assert [x.status for x in lines(app, code) if x.window == "due:2024-09-30:0" and x.recipient == "bob"] == ["sent"]


# -- warnings before and after the due date (三色预警) -----------------------------------------------------


def test_yellow_orange_and_red_come_once_per_window_in_working_days_and_red_repeats_weekly(
        make_app: AppFactory, clock: ManualClock) -> None:
    app, (a, b, c) = round_app(make_app, [date(2024, 9, 30), date(2024, 10, 10), date(2024, 10, 14)])
    seen = first_seen(app, clock, days(date(2024, 9, 15), date(2024, 10, 31)))
    # yellow at 5 working days or fewer, orange at 2: the make-up Sunday 9/29 and Saturday 10/12 count, the
    # holiday week does not (from Fri 9/27 to 10/10: 9/29, 9/30, 10/8, 10/9, 10/10)
    assert (on(seen, a, "yellow"), on(seen, a, "orange")) == ({date(2024, 9, 24)}, {date(2024, 9, 27)})
    assert (on(seen, b, "yellow"), on(seen, b, "orange")) == ({date(2024, 9, 27)}, {date(2024, 10, 8)})
    assert (on(seen, c, "yellow"), on(seen, c, "orange")) == ({date(2024, 10, 8)}, {date(2024, 10, 11)})
    # red the day after the due date, then every 7 days, each week once, to the owner and the leader
    assert on(seen, a, "red") == {date(2024, 10, 1) + timedelta(weeks=w) for w in range(5)}
    assert on(seen, c, "red") == {date(2024, 10, 15), date(2024, 10, 22), date(2024, 10, 29)}
    red = [k for k in seen if k[:2] == (a, "red")]
    assert sorted(w for _c, _r, w in red) == [f"due:2024-09-30:{w}" for w in range(5)]
    to = told(app)
    assert [to[k] for k in red] == [["alice", "boss"]] * 5
    assert len(keys(app)) == len(set(keys(app))) == len(seen)
    assert [to[k] for k in seen if k[:2] == (b, "yellow")] == [["bob"]]  # to the owner only
    assert [to[k] for k in seen if k[:2] == (b, "orange")] == [["bob", "boss"]]  # to the owner and the leader
    assert [to[k] for k in seen if k[:2] == (c, "red")] == [["alice", "deputy"]] * 3


@pytest.mark.parametrize("every", [1, 7], ids=["daily", "weekly"])
@pytest.mark.parametrize("change", [date(2024, 11, 3), date(2025, 3, 9)], ids=["fall-back", "spring-forward"])
def test_a_dst_change_and_a_clock_moved_back_and_forth_neither_double_nor_skip_a_repeated_reminder(
        make_app: AppFactory, clock: ManualClock, change: date, every: int) -> None:
    policy = {"working_days": False, "rules": [
        {"name": "yellow", "to": ["owner"], "days_before": 3},
        {"name": "red", "to": ["owner"], "overdue": True, "every": every}]}
    due = change - timedelta(days=2)  # past due when the clocks change
    app, (code,) = round_app(make_app, [due], zone=NEW_YORK, policy=policy)
    run_days = list(days(due - timedelta(days=4), due + timedelta(days=9 if every == 7 else 4)))

    def walk(run_days: list[date], check: bool) -> None:
        for day in run_days:
            # the first and last minute of each day, and on the day of the change the hour it repeats or skips
            moments = [(0.02, 0), (23.98, 0)] + ([(1.5, 0), (1.5, 1), (2.5, 0)] if day == change else [])
            for hour, fold in moments:
                at(clock, day, hour, NEW_YORK, fold)
                sweep(app)
                if check:
                    windows = {w for _c, r, w in keys(app) if r == "red"}
                    late = (day - due).days - 1
                    assert windows == ({f"due:{due}:{n}" for n in range(late // every + 1)} if late >= 0 else set())

    walk(run_days, check=True)
    before, to = keys(app), told(app)
    walk(list(days(change - timedelta(days=1), change + timedelta(days=1))), check=False)  # and back again
    assert keys(app) == before and len(before) == len(set(before)) and told(app) == to
    assert set(map(tuple, to.values())) == {("alice",)}  # each to the owner, once
    assert [k[1:] for k in before if k[1] == "yellow"] == [("yellow", f"due:{due}")]
    assert len(overdue_records(app, code)) == 1


def test_a_year_the_calendar_does_not_know_falls_back_to_weekends_with_a_warning_and_a_holiday_file_extends_it(
        make_app: AppFactory, clock: ManualClock, tmp_path: Path) -> None:
    due = date(2027, 10, 11)  # a Monday, after a National Day week the package cannot know yet
    run_days = list(days(date(2027, 9, 25), due))
    guessed, (code,) = round_app(make_app, [due])
    at(clock, run_days[0])
    assert "no holiday data for 2027" in remind(guessed).line()
    seen = first_seen(guessed, clock, run_days)
    assert (on(seen, code, "yellow"), on(seen, code, "orange")) == ({date(2027, 10, 4)}, {date(2027, 10, 7)})

    holiday_file = tmp_path / "holidays-2027.yaml"
    holiday_file.write_text("holidays: [2027-10-01, 2027-10-02, 2027-10-03, 2027-10-04, 2027-10-05, 2027-10-06,"
                            " 2027-10-07]\nworkdays: [2027-09-26, 2027-10-09]\n", encoding="utf-8")
    holidays = load_holidays(holiday_file)
    told, (code,) = round_app(make_app, [due])
    at(clock, run_days[0])
    assert remind(told, holidays).warnings == []
    seen = first_seen(told, clock, run_days, holidays=holidays)
    assert (on(seen, code, "yellow"), on(seen, code, "orange")) == ({date(2027, 9, 28)}, {date(2027, 10, 8)})


# -- long-term measures (长期坚持) -------------------------------------------------------------------------


def test_a_long_term_measure_without_a_progress_note_in_the_quarter_is_reminded_once(app: App,
                                                                                     clock: ManualClock) -> None:
    code = "b1-1.1.2"  # long-term, alice
    live(app, code, "alice", Event.START)
    progress = f"m.code = '{code}' AND r.rule = 'progress'"
    at(clock, date(2024, 9, 14))  # 16 days before the quarter ends: not yet
    remind(app)
    assert keys(app, progress) == []
    for day in (date(2024, 9, 15), date(2024, 9, 16), date(2024, 9, 30), date(2024, 9, 15)):
        at(clock, day)
        remind(app)
    assert told(app, progress) == {(code, "progress", "progress:2024-07-01"): ["alice"]}
    at(clock, date(2024, 10, 5))
    services.add_evidence(app, code, actor="alice", notes=["第三季度进展:已建立台账"])
    for day in (date(2024, 12, 16), date(2024, 12, 31), date(2025, 3, 16), date(2025, 3, 20)):
        at(clock, day)
        remind(app)
    assert [w for _c, _r, w in keys(app, progress)] == ["progress:2024-07-01", "progress:2025-01-01"]
    assert [x.recipient for x in lines(app, code) if x.rule == "progress"] == ["alice", "alice"]


# -- rebound checks (防止问题反弹) --------------------------------------------------------------------------


def checks(app: App, code: str) -> list[tuple[date, str]]:
    """A measure's rebound checks: due date and status."""
    with reader(app.engine).connect() as conn:
        rows = conn.execute(text("SELECT c.due_on, c.status FROM rebound_check c JOIN measure m ON m.id = c.measure_id"
                                 " WHERE m.code = :code ORDER BY c.due_on"), {"code": code}).all()
    return [(d if isinstance(d, date) else date.fromisoformat(d), s) for d, s in rows]


def test_closing_schedules_checks_after_30_90_and_180_days_and_the_next_period_for_a_long_term_measure(
        app: App, clock: ManualClock) -> None:
    at(clock, date(2024, 8, 20))
    close(app, "b1-1.1.1", "alice", "checker", "boss")
    close(app, "b1-1.1.2", "alice", "deputy", "boss")
    closed = date(2024, 8, 20)
    assert checks(app, "b1-1.1.1") == [(closed + timedelta(days=n), "pending") for n in (30, 90, 180)]
    assert checks(app, "b1-1.1.2") == [(date(2024, 11, 20), "pending")]
    at(clock, date(2024, 11, 20))
    services.recheck(app, "b1-1.1.2", actor="deputy", held=True, reason="长效机制运行正常")
    assert checks(app, "b1-1.1.2") == [(date(2024, 11, 20), "held"), (date(2025, 2, 20), "pending")]


def test_a_due_check_reminds_the_verifier_once_and_a_rebound_reopens_the_measure_and_brings_back_the_escalation(
        app: App, clock: ManualClock) -> None:
    code = "b1-1.1.1"  # due 9/30; checker verifies
    at(clock, date(2024, 8, 20))
    close(app, code, "alice", "checker", "boss")
    recheck = f"r.rule LIKE 'recheck%' AND m.code = '{code}'"
    for day in (date(2024, 9, 1), date(2024, 9, 18)):
        at(clock, day)
        sweep(app)
    assert keys(app, recheck) == []
    for _ in range(2):
        at(clock, date(2024, 9, 19))
        sweep(app)
    (reminder,) = reminders(app, recheck)
    assert (reminder["rule"], reminder["status"]) == ("recheck", "pending")
    assert [(t["to"], t["status"]) for t in reminder["targets"]] == [("checker", "pending")]
    assert "复查" in reminder["subject"]

    at(clock, date(2024, 9, 20))
    reopened = services.recheck(app, code, actor="checker", held=False, reason="问题反弹:制度未执行")
    assert (reopened.state, reopened.rebounds) == (State.IN_PROGRESS, 1)
    assert [s for _d, s in checks(app, code)] == ["rebounded", "cancelled", "cancelled"]
    assert {r["status"] for r in reminders(app, recheck)} == {"cancelled"}
    assert [(x.recipient, x.status, x.cancelled_reason) for x in lines(app, code) if x.rule == "recheck"] == [
        ("checker", "cancelled", "reopened")]
    at(clock, date(2024, 10, 1))  # past the due date again, open again: the escalation is back
    sweep(app)
    assert len(overdue_records(app, code)) == 1
    assert {k[1] for k in keys(app, f"m.code = '{code}' AND r.status = 'pending'")} == {"red"}
    assert {(x.rule, x.recipient) for x in lines(app, code, "pending")} == {("red", "alice"), ("red", "boss")}


def test_an_unanswered_check_escalates_to_the_leader_after_ten_working_days(app: App, clock: ManualClock) -> None:
    code = "b1-2.1.1"  # checker verifies, deputy leads; closed 8/20, so checked on 9/19
    at(clock, date(2024, 8, 20))
    close(app, code, "bob", "checker", "deputy")
    late = f"r.rule = 'recheck_late' AND m.code = '{code}'"
    # ten working days after 9/19 counting the make-up Sunday 9/29 and not the holiday week: 10/9
    for day in (date(2024, 9, 19), date(2024, 10, 1), date(2024, 10, 7), date(2024, 10, 9)):
        at(clock, day)
        sweep(app)
    assert keys(app, late) == []
    for day in (date(2024, 10, 10), date(2024, 10, 11), date(2024, 10, 10)):
        at(clock, day)
        sweep(app)
    (escalation,) = told(app, late).values()
    assert escalation == ["deputy", "checker"]  # the leader, and the verifier again
    services.recheck(app, code, actor="checker", held=True, reason="未发现反弹")
    assert {r["status"] for r in reminders(app, f"r.rule LIKE 'recheck%' AND m.code = '{code}'")} == {"cancelled"}
    assert [s for _d, s in checks(app, code)] == ["held", "pending", "pending"]


def test_a_round_that_warns_further_ahead_than_the_default_is_warned_on_time(make_app: AppFactory,
                                                                            clock: ManualClock) -> None:
    policy = {"working_days": False, "rules": [
        {"name": "yellow", "to": ["owner"], "days_before": 40},
        {"name": "red", "to": ["owner"], "overdue": True, "every": 7}]}
    app, (code,) = round_app(make_app, [date(2024, 12, 31)], policy=policy)
    seen = first_seen(app, clock, days(date(2024, 11, 15), date(2024, 11, 30)))
    assert on(seen, code, "yellow") == {date(2024, 11, 21)}
