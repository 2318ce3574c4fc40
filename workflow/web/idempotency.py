"""`Idempotency-Key`: a retried command is answered with the first answer and never fires twice.

The key is claimed in a transaction of its own (unique per person). The command then runs on an
App whose write units of work mark the key done in the same transaction that saves the measure,
provided the claim is still this request's: the change and the key commit together or not at all.
A concurrent retry with the same key waits for the first to finish and gets its stored response;
a refused command gives its claim back, so a retry tries again. A claim left behind by a crashed
request is taken over after `LEASE`; its command, if it is still running, then fails at commit.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from states.chain import Record
from states.errors import InvalidInput, RectificationError
from states.measure import Measure
from storage.repositories import MeasureRepository
from storage.uow import UnitOfWork

from ..app import App

LEASE = timedelta(seconds=60)  # a pending claim older than this (by the app's clock) is taken over
KEEP = timedelta(hours=24)  # how long a used key answers a retry with the first answer; then it is new again
WAIT_S = 20.0  # how long a concurrent retry waits for the first attempt before giving up with 409
POLL_S = 0.02
DONE_WAIT_S = 0.5  # a key done but not yet answered: how long to wait for the answer before rebuilding it
MAX_KEY = 128


class KeyInUse(RectificationError):
    """Another request with the same Idempotency-Key is still running, or took this one's claim over (409)."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"A request with Idempotency-Key {key!r} is still being processed; retry it in a moment")


@dataclass(frozen=True)
class Claim:
    """This request's hold on a key."""

    person: str
    key: str
    token: str


@dataclass(frozen=True)
class Stored:
    """The answer a key already has."""

    status: int
    body: dict[str, Any] | None  # None: done, but the response was not kept (rebuild it)


class _Watched(MeasureRepository):
    """Measures that remember whether this transaction saved one."""

    saved = False

    def save(self, measure: Measure, records: Sequence[Record], at: datetime) -> None:
        super().save(measure, records, at)
        self.saved = True


class KeyedUnitOfWork(UnitOfWork):
    """A unit of work that, when it saved a measure, marks the claim's key done before committing."""

    def __init__(self, engine: Engine, claim: Claim, clock: Callable[[], datetime]):
        super().__init__(engine)
        self.claim, self.clock = claim, clock

    def __enter__(self) -> KeyedUnitOfWork:
        super().__enter__()
        self.measures = _Watched(self.session)
        return self

    def commit(self) -> None:
        c = self.claim
        if isinstance(self.measures, _Watched) and self.measures.saved and not self.idempotency.mark_done(
                c.person, c.key, c.token, self.clock()):
            raise KeyInUse(c.key)  # the claim was taken over: this (late) attempt must not land
        super().commit()


@dataclass
class KeyedApp(App):
    """The App a keyed command runs on: its write transactions carry the key."""

    claim: Claim | None = None

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        if read_only or self.claim is None:
            return super().uow(read_only=read_only)
        return KeyedUnitOfWork(self.engine, self.claim, self.clock)


def fingerprint(data: Any) -> str:
    """The SHA-256 of a request's inputs, so a key reused for something else is noticed."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def check_key(key: str) -> str:
    """A usable key: 1 to 128 visible ASCII characters."""
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        raise InvalidInput("Idempotency-Key", f"give 1 to {MAX_KEY} visible ASCII characters")
    return key


def claim(app: App, person: str, key: str, method: str, path: str, print_: str) -> Claim | Stored:
    """Claim `key` for this request, or the answer it already has (waiting while another request holds it)."""
    key = check_key(key)
    token = secrets.token_hex(8)
    deadline = time.monotonic() + WAIT_S
    done_seen: float | None = None
    while True:
        with app.uow() as uow:
            row = uow.idempotency.get(person, key)
            if row is None:
                if uow.idempotency.claim(person, key, method, path, print_, token, app.clock()):
                    # a key answers retries for KEEP; a person's older keys go as they make new ones,
                    # so the table holds about a day of each person's commands
                    uow.idempotency.forget(person, app.clock() - KEEP)
                    uow.commit()
                    return Claim(person, key, token)
                continue  # lost a race for a fresh key: read the winner's row
            if (row.method, row.path, row.fingerprint) != (method, path, print_):
                raise InvalidInput("Idempotency-Key", f"{key!r} was used for another request ({row.method} "
                                   f"{row.path}); use a new key for a new request")
            if row.status == "done":
                if row.response_status is not None:
                    return Stored(row.response_status, row.response_body)
                # done but not answered yet: the first request is storing its response, or crashed before it
                done_seen = done_seen or time.monotonic()
                if time.monotonic() - done_seen > DONE_WAIT_S:
                    return Stored(200, None)
            elif _stale(row.claimed_at, app.clock()) and uow.idempotency.take_over(row.id, row.token, token,
                                                                                      app.clock()):
                uow.commit()
                return Claim(person, key, token)
        if time.monotonic() > deadline:
            raise KeyInUse(key)
        time.sleep(POLL_S)


def _stale(claimed_at: datetime, now: datetime) -> bool:
    at = claimed_at if claimed_at.tzinfo else claimed_at.replace(tzinfo=UTC)
    return now - at > LEASE


def keyed(app: App, c: Claim) -> KeyedApp:
    """`app` with its write transactions carrying the claim."""
    return KeyedApp(engine=app.engine, evidence=app.evidence, clock=app.clock, request_id=app.request_id, claim=c)


def finish(app: App, c: Claim, status: int, body: dict[str, Any]) -> None:
    """Keep the response for retries."""
    with app.uow() as uow:
        uow.idempotency.store_response(c.person, c.key, c.token, status, body)
        uow.commit()


def release(app: App, c: Claim) -> None:
    """Give the key back after a refused command (nothing was changed)."""
    with app.uow() as uow:
        uow.idempotency.release(c.person, c.key, c.token)
        uow.commit()
