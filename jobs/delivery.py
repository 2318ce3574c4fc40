"""The delivery worker: drains the reminder outbox through apprise (e-mail, webhooks, robots) or the log.

One run claims what is due in a batch (one transaction), sends each reminder to each of its targets
still to be served (a person on a channel) outside any transaction, and records the reminder's
round in a transaction of its own. A failed target is tried again later with exponential backoff,
for ever, alone: the targets that took it are done. A worker that dies holding a claim loses it
when its lease runs out, and the reminder is sent again by whoever claims it next. So every
message is sent; twice only if a worker dies between sending and recording, or a send outlasts
the lease.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import apprise

from states.errors import RectificationError
from storage.schedule import mailbox_file
from workflow.app import App
from workflow.settings import Settings

if sys.version_info < (3, 13):
    with warnings.catch_warnings():
        # apprise's e-mail plugin imports imghdr (for PGPy), deprecated since 3.11; warnings are errors in
        # our tests, so import it quietly before apprise loads its plugins on the first add()
        warnings.simplefilter("ignore", DeprecationWarning)
        import imghdr  # noqa: F401

log = logging.getLogger("rectify.delivery")
NO_SMTP = "no SMTP server configured (RECTIFY_SMTP_URL)"


class DeliveryFailed(RectificationError):
    """A channel did not take a reminder; it is tried again later."""

    def __init__(self, reminder_id: int, channel: str, why: str):
        self.reminder_id = reminder_id
        self.channel = channel
        self.why = why
        super().__init__(f"reminder {reminder_id} ({channel}): {why}")


@dataclass(frozen=True)
class Message:
    """One reminder to one of its targets, as a channel sees it."""

    id: int  # the reminder's
    channel: str  # email | webhook | wecom | dingtalk | log
    address: str  # an e-mail address, an apprise URL, or "log"
    recipient: str
    subject: str
    body: str
    target: int = 0  # the target's place in the reminder

    @classmethod
    def to_targets(cls, row: Any) -> list[Message]:
        """The messages a claimed outbox row still owes: one per target not yet sent or cancelled."""
        return [cls(row.id, t["channel"], t["address"], t["to"], t.get("subject", row.subject),
                    t.get("body", row.body), i)  # a target added later carries its own words
                for i, t in enumerate(row.targets) if t["status"] == "pending"]


Sender = Callable[[Message], None]  # returns when the channel took the message, else raises DeliveryFailed


@dataclass
class DeliveryResult:
    """What one run of the delivery worker did."""

    worker: str
    claimed: int = 0  # reminders
    sent: int = 0  # messages (a reminder to one target)
    failed: int = 0  # messages recorded as failed, to be retried after a backoff
    deferred: int = 0  # reminders claimed but not started: too little lease was left; claimable again once it runs out
    overtaken: int = 0  # reminders sent, but our lease had run out and another worker held them by then
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # one per failed attempt, with the channel's words

    def line(self) -> str:
        """One log line."""
        parts = [f"delivery: claimed {self.claimed}, sent {self.sent}, failed {self.failed} (retried later)"]
        if self.deferred:
            parts.append(f"{self.deferred} left for after the lease")
        if self.overtaken:
            parts.append(f"{self.overtaken} sent after the lease ran out")
        text = ", ".join(parts) + f" in {self.seconds:.2f} s"
        return text + (f"; last error: {self.warnings[-1]}" if self.warnings else "")


def worker_name() -> str:
    """A name for this process as a delivery worker: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts: int, settings: Settings) -> timedelta:
    """How long to wait after a failure when `attempts` attempts came before it: base × 2^attempts, capped."""
    return timedelta(seconds=min(settings.retry_cap_s, settings.retry_base_s * 2 ** min(attempts, 40)))


def apprise_url(msg: Message, smtp_url: str | None) -> str:
    """The apprise URL a message goes to: the SMTP URL with `to=` for e-mail, else its own address."""
    if msg.channel != "email":
        return msg.address
    if not smtp_url:
        raise DeliveryFailed(msg.id, msg.channel, NO_SMTP)
    return f"{smtp_url}{'&' if '?' in smtp_url else '?'}to={quote(msg.address, safe='@')}"


def notify(msg: Message, url: str) -> None:
    """Send one message through apprise; DeliveryFailed with apprise's own words if it was not taken."""
    scheme = url.split("://", 1)[0]
    target = apprise.Apprise()
    if not target.add(url):
        # never echo the URL: robot and webhook URLs carry their secret key
        raise DeliveryFailed(msg.id, msg.channel, f"apprise cannot use this {scheme}:// address")
    with target.notify(body=msg.body, title=msg.subject, body_format=apprise.NotifyFormat.TEXT) as result:
        if result:
            return
        said = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
        raise DeliveryFailed(msg.id, msg.channel, "; ".join(said) or f"apprise: {result.status.name.lower()}")


def to_log(msg: Message, mailbox: Path | None) -> None:
    """The log channel: a log line, and with a mailbox folder one UTF-8 text file per message."""
    log.info("reminder %d to %s: %s", msg.id, msg.recipient, msg.subject)
    if mailbox is None:
        return
    mailbox.mkdir(parents=True, exist_ok=True)
    path = mailbox / mailbox_file(msg.id, msg.target)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    # whole or not at all, and a second delivery of the same reminder rewrites the same file
    scratch.write_text(f"To: {msg.recipient}\nSubject: {msg.subject}\n\n{msg.body}\n", encoding="utf-8")
    os.replace(scratch, path)


def sender(settings: Settings) -> Sender:
    """The real channels: apprise for e-mail, webhooks and robots; the log (and mailbox folder) otherwise."""

    def send(msg: Message) -> None:
        if msg.channel == "log":
            to_log(msg, settings.mailbox_dir)
        else:
            notify(msg, apprise_url(msg, settings.smtp_url))

    return send


def _send_one(send: Sender, msg: Message) -> str:
    """Send; the error text, or "" when the channel took it."""
    try:
        send(msg)
    except DeliveryFailed as e:
        return e.why or "the channel refused it"
    except Exception as e:  # a channel's own bug must not stop the batch: logged, recorded, retried like a failure
        log.exception("reminder %d: the %s channel raised", msg.id, msg.channel)
        return f"{type(e).__name__}: {e}"
    return ""


def deliver(app: App, settings: Settings, worker: str, *, send: Sender | None = None) -> DeliveryResult:
    """Send every reminder that is due, once: claim a batch, send each outside a transaction, record each."""
    send = send or sender(settings)
    started, result = time.perf_counter(), DeliveryResult(worker)
    lease = timedelta(seconds=settings.delivery_lease_s)
    seen: set[int] = set()
    while True:
        claimed_at = app.clock()
        with app.uow() as uow:
            rows = uow.schedule.claim(worker, claimed_at, claimed_at + lease, settings.delivery_batch)
            uow.commit()
        result.claimed += len(rows)
        for row in rows:
            tried = []
            for msg in Message.to_targets(row):
                if app.clock() > claimed_at + lease / 2:
                    # another worker may take it over while we send: leave the rest; what is left of this
                    # reminder comes back right away, an unstarted one when the lease runs out
                    break
                error = _send_one(send, msg)
                tried.append((msg.target, error))
                if error:
                    result.failed += 1
                    result.warnings.append(f"reminder {msg.id} ({msg.channel} to {msg.recipient}): {error}")
                    log.info("%s", result.warnings[-1])  # the run's line carries the count and the last one
                else:
                    result.sent += 1
            if not tried:
                result.deferred += 1
                continue
            at = app.clock()
            with app.uow() as uow:
                failed = any(error for _, error in tried)
                held = uow.schedule.record_attempts(row.id, worker, at, row.targets, tried,
                                                    at + backoff(row.attempts, settings) if failed else at)
                uow.commit()
            if not held:
                result.overtaken += 1
                log.warning("reminder %d: lease ran out during the send; another worker holds it now", row.id)
        fresh = {r.id for r in rows} - seen
        seen |= fresh
        # a short batch means nothing more is due; one of nothing new means only our own retries came back
        if len(rows) < settings.delivery_batch or not fresh:
            break
    result.seconds = time.perf_counter() - started
    return result
