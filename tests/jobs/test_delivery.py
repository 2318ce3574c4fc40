"""The delivery worker over real channels: an SMTP server and a webhook endpoint on this machine.

Every reminder arrives once, in its exact words; a channel that is down gets the reminder later,
after a backoff; a worker killed after its claim, or a sweep killed after its commit, loses
nothing; two workers draining at once on SQLite and on PostgreSQL send each reminder once.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from typer.testing import CliRunner

from jobs.delivery import NO_SMTP, Message, apprise_url, backoff, deliver
from storage.engine import reader
from storage.tables import DeliveryAttemptRow, ReminderRow
from workflow import importer, sweeps
from workflow.app import App
from workflow.clock import ManualClock
from workflow.plan import Plan
from workflow.settings import Settings

from ..conftest import AppFactory
from ..support import plan_data
from .workers import LEASE_S, claim_then_hang, processes, sweep_then_hang

OVERDUE_DAY = datetime(2024, 10, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai; b1-1.1.1 and b1-2.1.1 are late
REMINDER = ReminderRow.__table__  # type: ignore[attr-defined]
ATTEMPT = DeliveryAttemptRow.__table__  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the channels ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """A message as the SMTP server received it, headers decoded."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    to: str
    subject: str
    body: str


class MailServer:
    """An aiosmtpd server on a fixed port of 127.0.0.1 that can be taken down and brought back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Mail] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(("plain",))
        assert body is not None
        # SMTP carries lines ending in CRLF, and the text ends with a line break: undo both
        text = body.get_content().replace("\r\n", "\n").removesuffix("\n")
        self.received.append(Mail(str(envelope.mail_from), tuple(envelope.rcpt_tos), str(msg["To"]),
                                  str(msg["Subject"]), text))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, server_hostname="localhost")
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        """The apprise URL of this server, without `to=` (as RECTIFY_SMTP_URL takes it)."""
        return f"mailto://localhost:{self.port}?smtp=127.0.0.1&from=rectify@example.com&secure=no"


@dataclass
class Hooks:
    """A local HTTP endpoint collecting the JSON POSTed to it, by path; `fail_with` makes it answer an error."""

    port: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_with: int | None = None

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    """An SMTP server that is up (stop() and start() it to take it down and back)."""
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    """A webhook endpoint on a free port of 127.0.0.1."""
    state = Hooks()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
            status = state.fail_with or 200
            if status == 200:
                with lock:
                    state.received.append((self.path, data))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def settings_for(app: App, smtp_url: str | None, mailbox: Path | None = None, **kw: Any) -> Settings:
    """Settings with everything the worker reads given here (nothing from the environment leaks in)."""
    values: dict[str, Any] = {"database_url": app.engine.url.render_as_string(hide_password=False),
                              "smtp_url": smtp_url, "mailbox_dir": mailbox, "delivery_batch": 50,
                              "delivery_lease_s": LEASE_S, "retry_base_s": 30.0, "retry_cap_s": 3600.0}
    return Settings(**{**values, **kw})


# -- reading the outbox --------------------------------------------------------------------------------


def outbox(app: App) -> list[dict[str, Any]]:
    with reader(app.engine).connect() as conn:
        return [dict(r) for r in conn.execute(select(REMINDER).order_by(REMINDER.c.id)).mappings()]


def attempts(app: App, reminder_id: int) -> list[tuple[bool, str]]:
    stmt = select(ATTEMPT.c.ok, ATTEMPT.c.error).where(ATTEMPT.c.reminder_id == reminder_id).order_by(ATTEMPT.c.id)
    with reader(app.engine).connect() as conn:
        return [(bool(ok), error) for ok, error in conn.execute(stmt)]


def as_mail(r: dict[str, Any]) -> Mail:
    """The mail an e-mail reminder should arrive as."""
    return Mail("rectify@example.com", (r["address"],), r["address"], r["subject"], r["body"])


def mails(rows: list[dict[str, Any]]) -> Counter[Mail]:
    return Counter(as_mail(r) for r in rows if r["channel"] == "email")


def hooked(rows: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """(path, title, message) of each webhook reminder."""
    return Counter(("/" + r["address"].rsplit("/", 1)[1], r["subject"], r["body"]) for r in rows
                   if r["channel"] == "webhook")


def posted(h: Hooks) -> Counter[tuple[str, str, str]]:
    return Counter((path, data["title"], data["message"]) for path, data in h.received)


def hooks_plan(h: Hooks, measures: int) -> Plan:
    """A round whose people are told by e-mail, by webhook, by both, or (deputy) only in the log."""
    data = plan_data("hooks", "h1", measures)
    contacts = {"alice": {"email": "alice@example.com", "notify": [h.url("alice")]},
                "bob": {"email": "bob@example.com"},
                "boss": {"notify": [h.url("boss")]}}
    for person in data["people"]:
        person.update(contacts.get(person["id"], {}))
    return Plan.model_validate(data)


# -- the tests ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("attempts_before", "seconds"), [(0, 30), (1, 60), (2, 120), (6, 1920), (7, 3600),
                                                           (10_000, 3600)])
def test_backoff_doubles_from_the_base_up_to_the_cap(attempts_before: int, seconds: float) -> None:
    settings = Settings(retry_base_s=30, retry_cap_s=3600)
    assert backoff(attempts_before, settings) == timedelta(seconds=seconds)


def test_email_goes_to_the_smtp_url_with_the_address_added() -> None:
    msg = Message(1, "email", "a+b@example.com", "alice", "s", "b")
    assert apprise_url(msg, "mailto://localhost:25?smtp=127.0.0.1&secure=no") == \
        "mailto://localhost:25?smtp=127.0.0.1&secure=no&to=a%2Bb@example.com"
    assert apprise_url(msg, "mailtos://user:pw@mail.example.com") == \
        "mailtos://user:pw@mail.example.com?to=a%2Bb@example.com"
    hook = Message(2, "wecom", "wecombot://KEY", "boss", "s", "b")
    assert apprise_url(hook, None) == "wecombot://KEY"


def test_each_reminder_arrives_once_in_its_exact_words_by_email_webhook_and_mailbox(
        make_app: AppFactory, clock: ManualClock, smtp: MailServer, hooks: Hooks, tmp_path: Path) -> None:
    app = make_app(plan_file=None)
    importer.import_plan(app, hooks_plan(hooks, 3), "hooks.yaml")
    clock.set(OVERDUE_DAY)
    assert sweeps.flag_overdue(app).reminders == 8
    rows = outbox(app)
    assert Counter(r["channel"] for r in rows) == {"email": 3, "webhook": 4, "log": 1}
    mailbox = tmp_path / "mailbox"

    result = deliver(app, settings_for(app, smtp.url, mailbox), "w1")

    assert (result.claimed, result.sent, result.failed, result.warnings) == (8, 8, 0, [])
    assert Counter(smtp.received) == mails(rows)
    assert sorted(m.to for m in smtp.received) == ["alice@example.com", "alice@example.com", "bob@example.com"]
    first = next(m for m in smtp.received if m.to == "bob@example.com")
    assert first.subject == "【红色预警】整改措施 h1-1.1.2 已超过完成时限(2024-09-30)"
    assert first.body.startswith("整改措施:h1-1.1.2 措施2\n责任人:bob  核验人:deputy  责任领导:boss\n")
    assert posted(hooks) == hooked(rows)
    assert sorted(path for path, _ in hooks.received) == ["/alice", "/alice", "/boss", "/boss"]
    assert {data["type"] for _, data in hooks.received} == {"info"}
    log_row = next(r for r in rows if r["channel"] == "log")
    assert log_row["recipient"] == "deputy"
    assert [p.name for p in mailbox.iterdir()] == [f"reminder-{log_row['id']:06d}.txt"]
    assert (mailbox / f"reminder-{log_row['id']:06d}.txt").read_text(encoding="utf-8") == \
        f"To: deputy\nSubject: {log_row['subject']}\n\n{log_row['body']}\n"
    after = outbox(app)
    assert {(r["status"], r["attempts"], r["sent_at"], r["claimed_by"]) for r in after} == {("sent", 1, clock(), None)}
    assert all(attempts(app, r["id"]) == [(True, "")] for r in after)

    again = deliver(app, settings_for(app, smtp.url, mailbox), "w2")
    assert (again.claimed, len(smtp.received), len(hooks.received)) == (0, 3, 4)


def test_mail_is_retried_with_backoff_while_smtp_is_missing_or_down_then_delivered_once(
        app: App, clock: ManualClock, tmp_path: Path) -> None:
    server = MailServer()  # not started: down
    clock.set(OVERDUE_DAY)
    assert sweeps.flag_overdue(app).reminders == 4  # b1-1.1.1: alice, boss; b1-2.1.1: bob, deputy
    emails = [r["id"] for r in outbox(app) if r["channel"] == "email"]
    assert len(emails) == 2

    # 1. no SMTP server configured: the mail waits, the log channel goes out
    first = deliver(app, settings_for(app, None, tmp_path / "mb"), "w1")
    assert (first.sent, first.failed) == (2, 2)
    assert first.warnings[-1].endswith(NO_SMTP)
    for r in outbox(app):
        if r["id"] in emails:
            assert (r["status"], r["attempts"], r["last_error"]) == ("pending", 1, NO_SMTP)
            assert r["next_attempt_at"] == clock() + timedelta(seconds=30)
    assert deliver(app, settings_for(app, server.url), "w1").claimed == 0  # not before the backoff

    # 2. configured, but the server is down: the connection error is kept, the wait doubles
    clock.advance(timedelta(seconds=30))
    down = deliver(app, settings_for(app, server.url), "w1")
    assert (down.claimed, down.sent, down.failed) == (2, 0, 2)
    for r in outbox(app):
        if r["id"] in emails:
            assert (r["status"], r["attempts"]) == ("pending", 2)
            assert "Connection error" in r["last_error"]
            assert r["next_attempt_at"] == clock() + timedelta(seconds=60)
    clock.advance(timedelta(seconds=59))
    assert deliver(app, settings_for(app, server.url), "w1").claimed == 0

    # 3. back up: each mail arrives once, none lost, none doubled
    server.start()
    try:
        clock.advance(timedelta(seconds=1))
        back = deliver(app, settings_for(app, server.url), "w2")
        assert (back.claimed, back.sent, back.failed) == (2, 2, 0)
        assert deliver(app, settings_for(app, server.url), "w2").claimed == 0
        clock.advance(timedelta(days=1))
        assert deliver(app, settings_for(app, server.url), "w2").claimed == 0
    finally:
        server.stop()
    rows = outbox(app)
    assert Counter(server.received) == mails(rows)
    assert sorted(m.to for m in server.received) == ["alice@example.com", "bob@example.com"]
    assert {r["status"] for r in rows} == {"sent"}
    for rid in emails:
        tried = attempts(app, rid)
        assert [ok for ok, _ in tried] == [False, False, True]
        assert tried[0][1] == NO_SMTP and "Connection error" in tried[1][1]


def test_a_webhook_answering_an_error_is_retried_and_its_error_kept(
        make_app: AppFactory, clock: ManualClock, hooks: Hooks) -> None:
    app = make_app(plan_file=None)
    importer.import_plan(app, hooks_plan(hooks, 2), "hooks.yaml")
    clock.set(OVERDUE_DAY)
    sweeps.flag_overdue(app)
    hooks.fail_with = 503
    failed = deliver(app, settings_for(app, None), "w1")
    hook_rows = [r for r in outbox(app) if r["channel"] == "webhook"]
    assert failed.failed == 5 and len(hook_rows) == 3  # 3 webhooks, and 2 mails with no SMTP server configured
    assert {r["attempts"] for r in hook_rows} == {1}
    assert all(r["last_error"].startswith("Failed to send JSON POST notification: ") and
               r["last_error"].endswith("error=503.") for r in hook_rows), [r["last_error"] for r in hook_rows]
    hooks.fail_with = None
    clock.advance(timedelta(seconds=30))
    deliver(app, settings_for(app, None), "w1")
    assert posted(hooks) == hooked(outbox(app))


def _wait_for(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "the child never got there"
        time.sleep(0.01)
    return path.read_text(encoding="utf-8")


def test_a_slow_batch_leaves_what_it_has_not_started_for_after_its_lease(app: App, clock: ManualClock) -> None:
    clock.set(OVERDUE_DAY)
    sweeps.flag_overdue(app)
    got: list[int] = []

    def slow(msg: Message) -> None:  # the first send takes more than half the lease
        got.append(msg.id)
        clock.advance(timedelta(seconds=LEASE_S / 2 + 1))

    first = deliver(app, settings_for(app, None), "w1", send=slow)
    assert (first.claimed, first.sent, first.deferred) == (4, 1, 3)
    assert deliver(app, settings_for(app, None), "w2", send=lambda m: got.append(m.id)).claimed == 0  # still w1's
    clock.advance(timedelta(seconds=LEASE_S / 2))
    second = deliver(app, settings_for(app, None), "w2", send=lambda m: got.append(m.id))
    assert (second.claimed, second.sent) == (3, 3)
    assert sorted(got) == [r["id"] for r in outbox(app)]
    assert {(r["status"], r["attempts"]) for r in outbox(app)} == {("sent", 1)}


def test_a_send_that_outlasts_its_lease_is_taken_over_and_the_double_send_is_counted(
        app: App, clock: ManualClock) -> None:
    clock.set(OVERDUE_DAY)
    sweeps.flag_overdue(app)
    got: list[tuple[str, int]] = []
    settings = settings_for(app, None, delivery_batch=1)

    def stuck(msg: Message) -> None:  # while w1 hangs past its lease, w2 drains the outbox
        got.append(("w1", msg.id))
        clock.advance(timedelta(seconds=LEASE_S + 1))
        deliver(app, settings, "w2", send=lambda m: got.append(("w2", m.id)))

    result = deliver(app, settings, "w1", send=stuck)

    first = outbox(app)[0]["id"]
    assert (result.sent, result.overtaken) == (1, 1)
    assert sorted(got) == [("w1", first)] + [("w2", r["id"]) for r in outbox(app)]  # at least once: one twice
    assert {(r["status"], r["attempts"]) for r in outbox(app)} == {("sent", 1)}
    assert attempts(app, first) == [(True, ""), (True, "")]


def test_a_worker_killed_after_its_claim_loses_nothing_the_reminders_go_out_once_after_its_lease(
        app: App, clock: ManualClock, smtp: MailServer, tmp_path: Path) -> None:
    clock.set(OVERDUE_DAY)
    sweeps.flag_overdue(app)
    url = str(app.engine.url.database)
    child = processes().Process(target=claim_then_hang, args=(url, clock().isoformat(), str(tmp_path / "flag")))
    child.start()
    _wait_for(tmp_path / "flag")
    child.kill()
    child.join(timeout=10)
    assert child.exitcode == -9
    assert {(r["status"], r["claimed_by"], r["attempts"]) for r in outbox(app)} == {("sending", "doomed", 0)}

    settings = settings_for(app, smtp.url, tmp_path / "mb")
    assert deliver(app, settings, "heir").claimed == 0  # the dead worker's lease still holds
    clock.advance(timedelta(seconds=LEASE_S - 1))
    assert deliver(app, settings, "heir").claimed == 0
    clock.advance(timedelta(seconds=2))
    result = deliver(app, settings, "heir")

    assert (result.claimed, result.sent, result.failed) == (4, 4, 0)
    rows = outbox(app)
    assert Counter(smtp.received) == mails(rows) and len(smtp.received) == 2
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    assert len(list((tmp_path / "mb").iterdir())) == 2  # boss and deputy, in the log


def test_reminders_committed_by_a_sweep_killed_before_sending_are_delivered_by_another_worker(
        app: App, clock: ManualClock, smtp: MailServer, tmp_path: Path) -> None:
    clock.set(OVERDUE_DAY)
    url = str(app.engine.url.database)
    child = processes().Process(target=sweep_then_hang, args=(url, clock().isoformat(), str(tmp_path / "flag")))
    child.start()
    assert _wait_for(tmp_path / "flag") == "4"
    child.kill()
    child.join(timeout=10)
    assert child.exitcode == -9
    assert {r["status"] for r in outbox(app)} == {"pending"}

    result = deliver(app, settings_for(app, smtp.url, tmp_path / "mb"), "other")

    assert (result.claimed, result.sent) == (4, 4)
    assert Counter(smtp.received) == mails(outbox(app)) and len(smtp.received) == 2
    assert deliver(app, settings_for(app, smtp.url, tmp_path / "mb"), "other").claimed == 0


def test_two_workers_draining_at_once_send_every_reminder_exactly_once(
        make_app: AppFactory, db_url: str, clock: ManualClock, smtp: MailServer, hooks: Hooks, tmp_path: Path
) -> None:
    app = make_app(db_url, plan_file=None)
    importer.import_plan(app, hooks_plan(hooks, 30), "hooks.yaml")
    clock.set(OVERDUE_DAY)
    total = sweeps.flag_overdue(app).reminders
    assert total == 80
    apps = [app, make_app(db_url, plan_file=None)]
    start = threading.Barrier(2)

    def drain(i: int) -> int:
        a = apps[i]
        settings = settings_for(a, smtp.url, tmp_path / "mb", delivery_batch=4)
        start.wait(timeout=30)
        sent = 0
        while (r := deliver(a, settings, f"w{i}")).claimed:
            assert r.failed == 0, r.warnings
            sent += r.sent
        return sent

    with ThreadPoolExecutor(2) as pool:
        sent = list(pool.map(drain, [0, 1]))

    rows = outbox(app)
    assert sum(sent) == total and min(sent) > 0, sent  # both took part
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    assert Counter(smtp.received) == mails(rows)
    assert posted(hooks) == hooked(rows)
    assert len(smtp.received) + len(hooks.received) + len(list((tmp_path / "mb").iterdir())) == total
    assert all(len(attempts(app, r["id"])) == 1 for r in rows)


def test_the_reminders_command_lists_the_outbox_and_sends_what_is_due(
        app: App, clock: ManualClock, smtp: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workflow.cli import app as cli

    clock.set(OVERDUE_DAY)
    sweeps.flag_overdue(app)
    db = str(app.engine.url.database)
    for name in ("RECTIFY_DATABASE_URL", "RECTIFY_RETRY_BASE_S", "RECTIFY_DELIVERY_BATCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RECTIFY_SMTP_URL", smtp.url)
    monkeypatch.setenv("RECTIFY_MAILBOX_DIR", str(tmp_path / "mb"))
    runner = CliRunner()

    listed = runner.invoke(cli, ["reminders", "--db", db, "--status", "pending"])
    assert listed.exit_code == 0, listed.output
    for header in ("时间", "措施", "规则", "接收人", "渠道", "状态", "尝试次数", "主题"):
        assert header in listed.output
    assert listed.output.count("红色预警") >= 4 and "待发送" in listed.output

    sent = runner.invoke(cli, ["reminders", "--db", db, "send"])
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith("delivery: claimed 4, sent 4, failed 0")
    assert len(smtp.received) == 2

    shown = json.loads(runner.invoke(cli, ["reminders", "--db", db, "--measure", "b1-2.1.1", "--format", "json"]
                                     ).output)
    assert [(r["recipient"], r["channel"], r["status"], r["attempts"]) for r in shown] == \
        [("bob", "email", "sent", 1), ("deputy", "log", "sent", 1)]


def test_a_claim_reads_an_ordered_range_of_the_due_index_however_long_the_backlog(app: App) -> None:
    # a claim's reads go through ix_reminder_due (status, next_attempt_at, id) in order, cut by LIMIT:
    # no sort of every due reminder (a sweep writes thousands with one next_attempt_at)
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cur: Any, statement: str, parameters: Any, *_a: Any) -> None:
        seen.append((statement, parameters))

    now = datetime(2026, 1, 1, tzinfo=UTC)
    event.listen(app.engine, "before_cursor_execute", hook)
    try:
        with app.uow() as uow:
            assert uow.schedule.claim("w", now, now + timedelta(minutes=2), 50) == []
    finally:
        event.remove(app.engine, "before_cursor_execute", hook)
    reads = [(s, p) for s, p in seen if s.lstrip().startswith("SELECT reminder.id")]
    assert len(reads) == 2  # lapsed leases, then pending reminders
    with app.engine.connect() as conn:
        for sql, params in reads:
            plan = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
            assert any("INDEX ix_reminder_due (status=? AND next_attempt_at<?)" in step for step in plan), plan
            assert not any("TEMP B-TREE" in step for step in plan), plan
