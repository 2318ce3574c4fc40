"""Idempotency keys of the HTTP API: claim one, mark it done inside the command's transaction, keep the response.

A key is claimed in a transaction of its own (a unique (person, key) row, `pending`, with a random
token). The command's own transaction then flips it to `done` only while the token still holds it,
so the change and the key commit together or not at all: a retry never fires twice, even when it
races the first attempt. The response is stored afterwards; a key found `done` without one (a crash
in between) means the change was made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from states.chain import as_utc

from .tables import IdempotencyRow

_K = IdempotencyRow.__table__  # type: ignore[attr-defined]



class IdempotencyRepository:
    """The rows of `idempotency_key`."""

    def __init__(self, session: Session):
        self.session = session

    def get(self, person: str, key: str) -> Any | None:
        """The key's row as a plain row, if it was ever claimed."""
        stmt = core_select(_K).where(_K.c.person == person, _K.c.key == key)
        return self.session.connection().execute(stmt).first()

    def claim(self, person: str, key: str, method: str, path: str, fingerprint: str, token: str,
              at: datetime) -> bool:
        """Claim a fresh key; False when it exists already (whoever holds it)."""
        conn = self.session.connection()
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        # RETURNING tells whether a row went in (rowcount is -1 for it on psycopg)
        stmt = dialect.insert(_K).on_conflict_do_nothing(index_elements=["person", "key"]).returning(_K.c.id)
        result = conn.execute(stmt, {"person": person, "key": key, "method": method, "path": path,
                                     "fingerprint": fingerprint, "status": "pending", "token": token,
                                     "claimed_at": as_utc(at)})
        return result.first() is not None

    def forget(self, person: str, before: datetime) -> int:
        """Drop the person's keys claimed before `before` (kept that long for retries); how many went."""
        result = self.session.connection().execute(
            delete(_K).where(_K.c.person == person, _K.c.claimed_at < as_utc(before)))
        return int(result.rowcount)

    def take_over(self, row_id: int, old_token: str, token: str, at: datetime) -> bool:
        """Take a pending claim whose holder went quiet; False if it moved meanwhile."""
        result = self.session.connection().execute(
            update(_K).where(_K.c.id == row_id, _K.c.token == old_token, _K.c.status == "pending")
            .values(token=token, claimed_at=as_utc(at)))
        return bool(result.rowcount)

    def mark_done(self, person: str, key: str, token: str, at: datetime) -> bool:
        """In the command's transaction: the key is used, if this claim still holds it."""
        result = self.session.connection().execute(
            update(_K).where(_K.c.person == person, _K.c.key == key, _K.c.token == token, _K.c.status == "pending")
            .values(status="done", completed_at=as_utc(at)))
        return bool(result.rowcount)

    def store_response(self, person: str, key: str, token: str, status: int, body: dict[str, Any]) -> None:
        """Keep the response a retry gets back."""
        self.session.connection().execute(
            update(_K).where(_K.c.person == person, _K.c.key == key, _K.c.token == token)
            .values(response_status=status, response_body=body))

    def release(self, person: str, key: str, token: str) -> None:
        """Give up a claim whose command was refused (nothing changed; a retry may try again)."""
        self.session.connection().execute(
            delete(_K).where(_K.c.person == person, _K.c.key == key, _K.c.token == token, _K.c.status == "pending"))
