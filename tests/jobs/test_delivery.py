"""The delivery worker over real channels: an SMTP server and a webhook endpoint on this machine.

A reminder is one outbox row with a target per recipient and channel; the worker sends one message
per target. Every message arrives once, in its exact words; a channel that is down gets its message
later, after a backoff, while the reminder's other targets are not sent again; a worker killed after
its claim, or a sweep killed after its commit, loses nothing; two workers draining at once on SQLite
and on PostgreSQL send each message once.
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
    """The reminder rows (one per occasion), their targets decoded."""
    with reader(app.engine).connect() as conn:
        return [dict(r) for r in conn.execute(select(REMINDER).order_by(REMINDER.c.id)).mappings()]


def messages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One per target of each reminder: the target's fields with the reminder's id, subject and body, and
    `target`, its place in the reminder."""
    return [{**t, "id": r["id"], "target": i, "subject": r["subject"], "body": r["body"]}
            for r in rows for i, t in enumerate(r["targets"])]


def told(rows: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    """Each reminder's targets: (recipient, channel), in order."""
    return [[(t["to"], t["channel"]) for t in r["targets"]] for r in rows]


def attempts(app: App, reminder_id: int) -> list[tuple[str, str, bool, str]]:
    """A reminder's delivery attempts in the order made: (recipient, channel, ok, error)."""
    stmt = (select(ATTEMPT.c.recipient, ATTEMPT.c.channel, ATTEMPT.c.ok, ATTEMPT.c.error)
            .where(ATTEMPT.c.reminder_id == reminder_id).order_by(ATTEMPT.c.id))
    with reader(app.engine).connect() as conn:
        return [(to, channel, bool(ok), error) for to, channel, ok, error in conn.execute(stmt)]


def sent_once(app: App, row: dict[str, Any]) -> bool:
    """One successful attempt per target of the reminder, in target order, and nothing else."""
    return attempts(app, row["id"]) == [(t["to"], t["channel"], True, "") for t in row["targets"]]


def lines(app: App) -> list[Any]:
    """The outbox as `rectify reminders` lists it: one line per target."""
    with app.uow(read_only=True) as uow:
        return uow.schedule.reminders()


def as_mail(m: dict[str, Any]) -> Mail:
    """The mail an e-mail message should arrive as."""
    return Mail("rectify@example.com", (m["address"],), m["address"], m["subject"], m["body"])


def mails(msgs: list[dict[str, Any]]) -> Counter[Mail]:
    return Counter(as_mail(m) for m in msgs if m["channel"] == "email")


def hooked(msgs: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """(path, title, message) of each webhook message."""
    return Counter(("/" + m["address"].rsplit("/", 1)[1], m["subject"], m["body"]) for m in msgs
                   if m["channel"] == "webhook")


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


def test_each_message_arrives_once_in_its_exact_words_by_email_webhook_and_mailbox(
        make_app: AppFactory, clock: ManualClock, smtp: MailServer, hooks: Hooks, tmp_path: Path) -> None:
    app = make_app(plan_file=None)
    importer.import_plan(app, hooks_plan(hooks, 3), "hooks.yaml")
    clock.set(OVERDUE_DAY)
    assert sweeps.flag_overdue(app).reminders == 3  # one red reminder per measure, to its owner and leader
    rows = outbox(app)
    assert told(rows) == [[("alice", "email"), ("alice", "webhook"), ("boss", "webhook")],
                          [("bob", "email"), ("boss", "webhook")],
                          [("alice", "email"), ("alice", "webhook"), ("deputy", "log")]]
    msgs = messages(rows)
    assert Counter(m["channel"] for m in msgs) == {"email": 3, "webhook": 4, "log": 1}
    assert {(m["status"], m.get("attempts", 0)) for m in msgs} == {("pending", 0)}
    mailbox = tmp_path / "mailbox"

    result = deliver(app, settings_for(app, smtp.url, mailbox), "w1")

    assert (result.claimed, result.sent, result.failed, result.warnings) == (3, 8, 0, [])
    assert Counter(smtp.received) == mails(msgs)
    assert sorted(m.to for m in smtp.received) == ["alice@example.com", "alice@example.com", "bob@example.com"]
    first = next(m for m in smtp.received if m.to == "bob@example.com")
    assert first.subject == "【红色预警】整改措施 h1-1.1.2 已超过完成时限(2024-09-30)"
    assert first.body.startswith("整改措施:h1-1.1.2 措施2\n责任人:bob  核验人:deputy  责任领导:boss\n")
    assert posted(hooks) == hooked(msgs)
    assert sorted(path for path, _ in hooks.received) == ["/alice", "/alice", "/boss", "/boss"]
    assert {data["type"] for _, data in hooks.received} == {"info"}
    log_msg = next(m for m in msgs if m["channel"] == "log")
    assert (log_msg["to"], log_msg["id"], log_msg["target"]) == ("deputy", rows[2]["id"], 2)
    name = f"reminder-{log_msg['id']:06d}-3.txt"  # the reminder's file for its third target
    assert [p.name for p in mailbox.iterdir()] == [name]
    assert (mailbox / name).read_text(encoding="utf-8") == \
        f"To: deputy\nSubject: {log_msg['subject']}\n\n{log_msg['body']}\n"
    after = outbox(app)
    assert {(r["status"], r["attempts"], r["sent_at"], r["claimed_by"], r["last_error"]) for r in after} == {
        ("sent", 1, clock(), None, "")}
    assert [(m["status"], m["attempts"], m["at"], "error" in m) for m in messages(after)] == \
        [("sent", 1, clock().isoformat(), False)] * 8
    assert all(sent_once(app, r) for r in after)
    assert [(x.id, x.target, x.recipient, x.channel, x.status, x.attempts, x.sent_at) for x in lines(app)] == [
        (m["id"], m["target"], m["to"], m["channel"], "sent", 1, clock()) for m in msgs]

    again = deliver(app, settings_for(app, smtp.url, mailbox), "w2")
    assert (again.claimed, len(smtp.received), len(hooks.received)) == (0, 3, 4)


def test_mail_is_retried_with_backoff_while_smtp_is_missing_or_down_then_delivered_once(
        app: App, clock: ManualClock, tmp_path: Path) -> None:
    server = MailServer()  # not started: down
    clock.set(OVERDUE_DAY)
    assert sweeps.flag_overdue(app).reminders == 2
    rows = outbox(app)
    assert told(rows) == [[("alice", "email"), ("boss", "log")], [("bob", "email"), ("deputy", "log")]]
    mailbox = tmp_path / "mb"

    # 1. no SMTP server configured: the mail waits, the log channel goes out
    first_at = clock()
    first = deliver(app, settings_for(app, None, mailbox), "w1")
    assert (first.claimed, first.sent, first.failed) == (2, 2, 2)
    assert first.warnings[-1].endswith(NO_SMTP)
    for r in outbox(app):
        assert (r["status"], r["attempts"], r["last_error"], r["sent_at"]) == ("pending", 1, NO_SMTP, None)
        assert r["next_attempt_at"] == clock() + timedelta(seconds=30)
        mail, log_target = r["targets"]
        assert (mail["status"], mail["attempts"], mail["error"]) == ("pending", 1, NO_SMTP)
        assert (log_target["status"], log_target["attempts"], log_target["at"]) == ("sent", 1, first_at.isoformat())
    files = sorted(mailbox.iterdir())
    assert [p.name for p in files] == [f"reminder-{r['id']:06d}-2.txt" for r in rows]
    for p in files:  # taken away: a log target sent again would write its file again
        p.unlink()
    assert deliver(app, settings_for(app, server.url, mailbox), "w1").claimed == 0  # not before the backoff

    # 2. configured, but the server is down: the connection error is kept, the wait doubles; the log targets
    # are done and not sent again
    clock.advance(timedelta(seconds=30))
    down = deliver(app, settings_for(app, server.url, mailbox), "w1")
    assert (down.claimed, down.sent, down.failed) == (2, 0, 2)
    for r in outbox(app):
        assert (r["status"], r["attempts"]) == ("pending", 2)
        assert "Connection error" in r["last_error"]
        assert r["next_attempt_at"] == clock() + timedelta(seconds=60)
        mail, log_target = r["targets"]
        assert (mail["status"], mail["attempts"], mail["error"]) == ("pending", 2, r["last_error"])
        assert (log_target["status"], log_target["attempts"], log_target["at"]) == ("sent", 1, first_at.isoformat())
    clock.advance(timedelta(seconds=59))
    assert deliver(app, settings_for(app, server.url, mailbox), "w1").claimed == 0

    # 3. back up: each mail arrives once, none lost, none doubled, and no log target went again
    server.start()
    try:
        clock.advance(timedelta(seconds=1))
        back = deliver(app, settings_for(app, server.url, mailbox), "w2")
        assert (back.claimed, back.sent, back.failed) == (2, 2, 0)
        assert deliver(app, settings_for(app, server.url, mailbox), "w2").claimed == 0
        back_at = clock()
        clock.advance(timedelta(days=1))
        assert deliver(app, settings_for(app, server.url, mailbox), "w2").claimed == 0
    finally:
        server.stop()
    assert list(mailbox.iterdir()) == []
    rows = outbox(app)
    assert Counter(server.received) == mails(messages(rows))
    assert sorted(m.to for m in server.received) == ["alice@example.com", "bob@example.com"]
    assert {(r["status"], r["attempts"], r["sent_at"], r["last_error"]) for r in rows} == {("sent", 3, back_at, "")}
    for r in rows:
        mail, log_target = r["targets"]
        assert (mail["status"], mail["attempts"], mail["at"], "error" in mail) == ("sent", 3, back_at.isoformat(),
                                                                                False)
        assert (log_target["status"], log_target["attempts"], log_target["at"]) == ("sent", 1, first_at.isoformat())
        owner, leader = mail["to"], log_target["to"]
        tried = attempts(app, r["id"])
        assert [(to, channel, ok) for to, channel, ok, _ in tried] == [
            (owner, "email", False), (leader, "log", True), (owner, "email", False), (owner, "email", True)]
        assert tried[0][3] == NO_SMTP and "Connection error" in tried[2][3]


def test_a_webhook_answering_an_error_is_retried_and_its_error_kept(
        make_app: AppFactory, clock: ManualClock, hooks: Hooks) -> None:
    app = make_app(plan_file=None)
    importer.import_plan(app, hooks_plan(hooks, 2), "hooks.yaml")
    clock.set(OVERDUE_DAY)
    assert sweeps.flag_overdue(app).reminders == 2
    hooks.fail_with = 503
    failed = deliver(app, settings_for(app, None), "w1")
    hook_msgs = [m for m in messages(outbox(app)) if m["channel"] == "webhook"]
    # 3 webhooks, and 2 mails with no SMTP server configured
    assert (failed.claimed, failed.sent, failed.failed, len(hook_msgs)) == (2, 0, 5, 3)
    assert {(m["status"], m["attempts"]) for m in hook_msgs} == {("pending", 1)}
    assert all(m["error"].startswith("Failed to send JSON POST notification: ") and
               m["error"].endswith("error=503.") for m in hook_msgs), [m["error"] for m in hook_msgs]
    hooks.fail_with = None
    clock.advance(timedelta(seconds=30))
    again = deliver(app, settings_for(app, None), "w1")
    assert (again.claimed, again.sent, again.failed) == (2, 3, 2)  # the mails still wait for an SMTP server
    msgs = messages(outbox(app))
    assert posted(hooks) == hooked(msgs) and len(hooks.received) == 3
    assert {(m["status"], m["attempts"], "error" in m) for m in msgs if m["channel"] == "webhook"} == {
        ("sent", 2, False)}
    assert {(m["status"], m["attempts"], m["error"]) for m in msgs if m["channel"] == "email"} == {
        ("pending", 2, NO_SMTP)}


def two_channel_plan(h: Hooks) -> Plan:
    """One measure: alice owns it and is told by e-mail, boss leads it and is told by webhook."""
    data = plan_data("two", "t1", 1)
    contacts = {"alice": {"email": "alice@example.com"}, "boss": {"notify": [h.url("boss")]}}
    for person in data["people"]:
        person.update(contacts.get(person["id"], {}))
    return Plan.model_validate(data)


@pytest.mark.parametrize("down", ["email", "webhook"])
def test_a_reminder_whose_one_channel_is_down_reaches_the_other_once_and_the_down_one_once_it_is_back(
        make_app: AppFactory, clock: ManualClock, smtp: MailServer, hooks: Hooks, down: str) -> None:
    app = make_app(plan_file=None)
    importer.import_plan(app, two_channel_plan(hooks), "two.yaml")
    clock.set(OVERDUE_DAY)
    assert sweeps.flag_overdue(app).reminders == 1
    (row,) = outbox(app)
    assert told([row]) == [[("alice", "email"), ("boss", "webhook")]]
    up = "webhook" if down == "email" else "email"
    who = {"email": "alice", "webhook": "boss"}
    settings = settings_for(app, smtp.url)

    def take_down(channel_down: bool) -> None:
        if down == "webhook":
            hooks.fail_with = 503 if channel_down else None
        elif channel_down:
            smtp.stop()
        else:
            smtp.start()  # on the same port

    def arrived() -> Counter[str]:
        return Counter(["email"] * len(smtp.received) + ["webhook"] * len(hooks.received))

    def failure(error: str) -> bool:
        return "Connection error" in error if down == "email" else error.endswith("error=503.")

    def by_channel() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        (r,) = outbox(app)
        return r, {t["channel"]: t for t in r["targets"]}

    # 1. the channel that is up takes its message; the other's waits for a retry
    take_down(True)
    first_at = clock()
    first = deliver(app, settings, "w1")
    assert (first.claimed, first.sent, first.failed) == (1, 1, 1)
    assert arrived() == {up: 1}
    assert len(first.warnings) == 1 and first.warnings[0].startswith(f"reminder {row['id']} ({down} to {who[down]}): ")
    r, t = by_channel()
    assert (r["status"], r["attempts"], r["sent_at"], r["claimed_by"]) == ("pending", 1, None, None)
    assert r["next_attempt_at"] == clock() + timedelta(seconds=30)
    assert (t[up]["status"], t[up]["attempts"], t[up]["at"], "error" in t[up]) == ("sent", 1, first_at.isoformat(),
                                                                                  False)
    assert (t[down]["status"], t[down]["attempts"], t[down]["error"]) == ("pending", 1, r["last_error"])
    assert failure(r["last_error"]), r["last_error"]
    shown = {x.channel: x for x in lines(app)}  # as `rectify reminders` lists it: one line per target
    assert (shown[up].target, shown[up].status, shown[up].attempts, shown[up].sent_at, shown[up].last_error) == (
        int(up == "webhook"), "sent", 1, first_at, "")
    assert (shown[down].target, shown[down].status, shown[down].attempts, shown[down].sent_at) == (
        int(down == "webhook"), "pending", 1, None)
    assert shown[down].last_error == r["last_error"]
    assert deliver(app, settings, "w1").claimed == 0  # not before the backoff

    # 2. still down after the backoff: only the failed target is tried again, and the wait doubles
    clock.advance(timedelta(seconds=30))
    second = deliver(app, settings, "w2")
    assert (second.claimed, second.sent, second.failed) == (1, 0, 1)
    assert arrived() == {up: 1}
    r, t = by_channel()
    assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 2, clock() + timedelta(seconds=60))
    assert (t[up]["status"], t[up]["attempts"], t[up]["at"]) == ("sent", 1, first_at.isoformat())
    assert (t[down]["status"], t[down]["attempts"]) == ("pending", 2) and failure(t[down]["error"])
    clock.advance(timedelta(seconds=59))
    assert deliver(app, settings, "w2").claimed == 0

    # 3. back: the failed target arrives once; the one that arrived before is not sent again
    take_down(False)
    clock.advance(timedelta(seconds=1))
    back_at = clock()
    back = deliver(app, settings, "w3")
    assert (back.claimed, back.sent, back.failed, back.warnings) == (1, 1, 0, [])
    assert arrived() == {"email": 1, "webhook": 1}
    assert deliver(app, settings, "w3").claimed == 0
    clock.advance(timedelta(days=1))
    assert deliver(app, settings, "w3").claimed == 0
    assert arrived() == {"email": 1, "webhook": 1}
    r, t = by_channel()
    assert Counter(smtp.received) == mails(messages([r])) and posted(hooks) == hooked(messages([r]))
    assert (r["status"], r["attempts"], r["sent_at"], r["last_error"], r["claimed_by"]) == (
        "sent", 3, back_at, "", None)
    assert (t[up]["status"], t[up]["attempts"], t[up]["at"]) == ("sent", 1, first_at.isoformat())
    assert (t[down]["status"], t[down]["attempts"], t[down]["at"], "error" in t[down]) == (
        "sent", 3, back_at.isoformat(), False)
    # every attempt names its target: the first round tried both, the later ones only the one that failed
    tried = attempts(app, r["id"])
    assert [(to, channel, ok) for to, channel, ok, _ in tried] == [
        ("alice", "email", up == "email"), ("boss", "webhook", up == "webhook"),
        (who[down], down, False), (who[down], down, True)]
    assert [failure(error) for _to, _channel, ok, error in tried if not ok] == [True, True]
    assert all(error == "" for _to, _channel, ok, error in tried if ok)


def _wait_for(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "the child never got there"
        time.sleep(0.01)
    return path.read_text(encoding="utf-8")


def test_a_slow_batch_leaves_what_it_has_not_started_for_after_its_lease(app: App, clock: ManualClock) -> None:
    clock.set(OVERDUE_DAY)
    sweeps.flag_overdue(app)
    got: list[tuple[int, int]] = []

    def slow(msg: Message) -> None:  # the first send takes more than half the lease
        if not got:
            clock.advance(timedelta(seconds=LEASE_S / 2 + 1))
        got.append((msg.id, msg.target))

    first = deliver(app, settings_for(app, None), "w1", send=slow)
    # past half its lease it starts no more sends: the reminder it started is recorded with what it sent
    # (the rest due again at once), the one it had not started is left to its lease
    assert (first.claimed, first.sent, first.deferred) == (2, 1, 1)
    (started, left) = outbox(app)
    assert got == [(started["id"], 0)]
    assert (started["status"], started["claimed_by"], [t["status"] for t in started["targets"]]) == (
        "pending", None, ["sent", "pending"])
    assert (left["status"], left["claimed_by"]) == ("sending", "w1")
    rest = deliver(app, settings_for(app, None), "w2", send=lambda m: got.append((m.id, m.target)))
    assert (rest.claimed, rest.sent, got[-1]) == (1, 1, (started["id"], 1))  # the started one's rest, at once
    clock.advance(timedelta(seconds=LEASE_S / 2))
    second = deliver(app, settings_for(app, None), "w2", send=lambda m: got.append((m.id, m.target)))
    assert (second.claimed, second.sent) == (1, 2)
    rows = outbox(app)
    assert sorted(got) == [(m["id"], m["target"]) for m in messages(rows)]
    assert {r["status"] for r in rows} == {"sent"}
    assert [r["attempts"] for r in rows] == [2, 1]  # delivery rounds: the started one took two
    assert {(m["status"], m["attempts"]) for m in messages(rows)} == {("sent", 1)}
    assert all(sent_once(app, r) for r in rows)


def test_a_send_that_outlasts_its_lease_is_taken_over_and_the_double_send_is_counted(
        app: App, clock: ManualClock) -> None:
    clock.set(OVERDUE_DAY)
    sweeps.flag_overdue(app)
    got: list[tuple[str, int, int]] = []
    settings = settings_for(app, None, delivery_batch=1)

    def stuck(msg: Message) -> None:  # while w1 hangs past its lease on its first send, w2 drains the outbox
        got.append(("w1", msg.id, msg.target))
        if len(got) == 1:
            clock.advance(timedelta(seconds=LEASE_S + 1))
            deliver(app, settings, "w2", send=lambda m: got.append(("w2", m.id, m.target)))

    result = deliver(app, settings, "w1", send=stuck)

    rows = outbox(app)
    first = rows[0]
    # past its lease w1 starts no more sends; the one it made is recorded too late to count
    assert (result.claimed, result.sent, result.overtaken) == (1, 1, 1)
    # at least once: the first reminder's first target got it twice, everything else once
    assert sorted(got) == sorted([("w1", first["id"], 0)] + [("w2", m["id"], m["target"]) for m in messages(rows)])
    assert {(r["status"], r["attempts"], r["claimed_by"]) for r in rows} == {("sent", 1, None)}
    assert {(m["status"], m["attempts"]) for m in messages(rows)} == {("sent", 1)}  # w1's record came too late
    done = [(t["to"], t["channel"], True, "") for t in first["targets"]]
    assert attempts(app, first["id"]) == done + done[:1]  # w2's, then w1's: both sends are on record
    assert sent_once(app, rows[1])


def test_a_worker_killed_after_its_claim_loses_nothing_the_reminders_go_out_once_after_its_lease(
        app: App, clock: ManualClock, smtp: MailServer, tmp_path: Path) -> None:
    clock.set(OVERDUE_DAY)
    sweeps.flag_overdue(app)
    url = str(app.engine.url.database)
    child = processes().Process(target=claim_then_hang, args=(url, clock().isoformat(), str(tmp_path / "flag")))
    child.start()
    flag = _wait_for(tmp_path / "flag")
    child.kill()
    child.join(timeout=10)
    assert child.exitcode == -9
    rows = outbox(app)
    assert flag == f"{rows[0]['id']}:0"  # it hung sending the first reminder to its first target
    assert {(r["status"], r["claimed_by"], r["attempts"]) for r in rows} == {("sending", "doomed", 0)}
    assert {(m["status"], m.get("attempts", 0)) for m in messages(rows)} == {("pending", 0)}

    settings = settings_for(app, smtp.url, tmp_path / "mb")
    assert deliver(app, settings, "heir").claimed == 0  # the dead worker's lease still holds
    clock.advance(timedelta(seconds=LEASE_S - 1))
    assert deliver(app, settings, "heir").claimed == 0
    clock.advance(timedelta(seconds=2))
    result = deliver(app, settings, "heir")

    assert (result.claimed, result.sent, result.failed) == (2, 4, 0)
    rows = outbox(app)
    assert Counter(smtp.received) == mails(messages(rows)) and len(smtp.received) == 2
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    assert {(m["status"], m["attempts"]) for m in messages(rows)} == {("sent", 1)}
    assert all(sent_once(app, r) for r in rows)
    assert len(list((tmp_path / "mb").iterdir())) == 2  # boss and deputy, in the log


def test_reminders_committed_by_a_sweep_killed_before_sending_are_delivered_by_another_worker(
        app: App, clock: ManualClock, smtp: MailServer, tmp_path: Path) -> None:
    clock.set(OVERDUE_DAY)
    url = str(app.engine.url.database)
    child = processes().Process(target=sweep_then_hang, args=(url, clock().isoformat(), str(tmp_path / "flag")))
    child.start()
    assert _wait_for(tmp_path / "flag") == "2"  # reminders: b1-1.1.1 and b1-2.1.1, each to owner and leader
    child.kill()
    child.join(timeout=10)
    assert child.exitcode == -9
    rows = outbox(app)
    assert {r["status"] for r in rows} == {"pending"}
    assert told(rows) == [[("alice", "email"), ("boss", "log")], [("bob", "email"), ("deputy", "log")]]

    result = deliver(app, settings_for(app, smtp.url, tmp_path / "mb"), "other")

    assert (result.claimed, result.sent) == (2, 4)
    rows = outbox(app)
    assert Counter(smtp.received) == mails(messages(rows)) and len(smtp.received) == 2
    assert all(sent_once(app, r) for r in rows)
    assert deliver(app, settings_for(app, smtp.url, tmp_path / "mb"), "other").claimed == 0


def test_two_workers_draining_at_once_send_every_message_exactly_once(
        make_app: AppFactory, db_url: str, clock: ManualClock, smtp: MailServer, hooks: Hooks, tmp_path: Path
) -> None:
    app = make_app(db_url, plan_file=None)
    importer.import_plan(app, hooks_plan(hooks, 30), "hooks.yaml")
    clock.set(OVERDUE_DAY)
    assert sweeps.flag_overdue(app).reminders == 30
    total = len(messages(outbox(app)))
    assert total == 80
    apps = [app, make_app(db_url, plan_file=None)]
    start = threading.Barrier(2)

    def drain(i: int) -> tuple[int, int]:
        a = apps[i]
        settings = settings_for(a, smtp.url, tmp_path / "mb", delivery_batch=4)
        start.wait(timeout=30)
        claimed = sent = 0
        while (r := deliver(a, settings, f"w{i}")).claimed:
            assert r.failed == 0, r.warnings
            claimed, sent = claimed + r.claimed, sent + r.sent
        return claimed, sent

    with ThreadPoolExecutor(2) as pool:
        claimed, sent = zip(*pool.map(drain, [0, 1]), strict=True)

    rows = outbox(app)
    assert sum(claimed) == 30 and sum(sent) == total and min(sent) > 0, (claimed, sent)  # both took part
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    msgs = messages(rows)
    assert {(m["status"], m["attempts"]) for m in msgs} == {("sent", 1)}
    assert Counter(smtp.received) == mails(msgs)
    assert posted(hooks) == hooked(msgs)
    assert len(smtp.received) + len(hooks.received) + len(list((tmp_path / "mb").iterdir())) == total
    assert all(sent_once(app, r) for r in rows)


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
    for who in ("alice", "boss", "bob", "deputy"):
        assert who in listed.output
    pending = json.loads(runner.invoke(cli, ["reminders", "--db", db, "--status", "pending", "--format", "json"]
                                       ).output)
    # one line per target: two reminders, each to an owner and a leader
    assert [(r["measure"], r["target"], r["recipient"], r["channel"]) for r in pending] == [
        ("b1-1.1.1", 0, "alice", "email"), ("b1-1.1.1", 1, "boss", "log"),
        ("b1-2.1.1", 0, "bob", "email"), ("b1-2.1.1", 1, "deputy", "log")]
    assert len({r["id"] for r in pending}) == 2

    sent = runner.invoke(cli, ["reminders", "--db", db, "send"])
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith("delivery: claimed 2, sent 4, failed 0")
    assert len(smtp.received) == 2

    shown = json.loads(runner.invoke(cli, ["reminders", "--db", db, "--measure", "b1-2.1.1", "--format", "json"]
                                     ).output)
    assert len({r["id"] for r in shown}) == 1  # one reminder, listed once per target
    assert [(r["target"], r["recipient"], r["channel"], r["status"], r["attempts"]) for r in shown] == \
        [(0, "bob", "email", "sent", 1), (1, "deputy", "log", "sent", 1)]


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
