"""The tamper-evident history: canonical records and the per-measure hash chain.

Each record's hash is SHA-256 over the previous record's hash and the record's canonical
JSON, so changing, deleting or reordering any row breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

GENESIS = "0" * 64


def as_utc(at: datetime) -> datetime:
    """An aware time in UTC; a naive one is taken to be UTC already (as the databases store times)."""
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


@lru_cache(maxsize=1024)
def utc_text(at: datetime) -> str:
    """A UTC time as the fixed text that goes into a hash (microseconds, 'Z').

    Memoised: a sweep seals thousands of records at one `now`, and strftime took half a seal's time.
    """
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Record:
    """One entry of a measure's history, as hashed and stored."""

    measure_id: int
    seq: int
    event: str
    from_state: str | None
    to_state: str | None
    actor: str
    role: str
    at: datetime  # UTC
    reason: str = ""
    evidence: tuple[str, ...] = ()
    request_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def canonical(self) -> bytes:
        """The bytes that are hashed: every field but the hash, in a fixed form."""
        body = {
            "measure_id": self.measure_id,
            "seq": self.seq,
            "event": self.event,
            "from": self.from_state,
            "to": self.to_state,
            "actor": self.actor,
            "role": self.role,
            "at": utc_text(self.at),
            "reason": self.reason,
            "evidence": list(self.evidence),
            "request_id": self.request_id,
            "data": self.data,
        }
        return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    def computed_hash(self) -> str:
        """The hash this record should carry, given its prev_hash."""
        return hashlib.sha256(self.prev_hash.encode() + self.canonical()).hexdigest()

    def sealed(self) -> Record:
        """This record with its hash filled in."""
        # a copy of the fields with the hash set: what dataclasses.replace gives, without running __init__
        # and its checks again (a fifth of sealing a record, and a sweep seals ten thousand at once)
        out = object.__new__(Record)
        out.__dict__.update(self.__dict__, hash=self.computed_hash())
        return out


@dataclass(frozen=True)
class ChainBreak:
    """The first place a measure's chain does not hold, and why."""

    measure_id: int
    seq: int | None
    history_id: int | None
    why: str

    def __str__(self) -> str:
        where = f"history row {self.history_id} (seq {self.seq})" if self.history_id else "its end"
        return f"measure {self.measure_id}: {where}: {self.why}"


def check_chain(
    measure_id: int,
    rows: list[tuple[int, Record]],
    head: str | None = None,
    length: int | None = None,
) -> ChainBreak | None:
    """Walk one measure's (row id, record) list in seq order; name the first bad row.

    `head` and `length` are what the measure row (or a checkpoint) says the chain ends
    with; a deleted tail or a rewritten chain shows up as a mismatch there.
    """
    prev = GENESIS
    for expected_seq, (row_id, rec) in enumerate(rows, start=1):
        if rec.seq != expected_seq:
            # a seq seen too early is a gap only if the expected row does not come later (a reordering)
            later = any(r.seq == expected_seq for _, r in rows[expected_seq:])
            why = "a row is missing before it" if rec.seq > expected_seq and not later else "rows are out of order"
            return ChainBreak(measure_id, rec.seq, row_id, f"{why} (expected seq {expected_seq})")
        if rec.prev_hash != prev:
            return ChainBreak(measure_id, rec.seq, row_id, "its link to the previous row is broken")
        if rec.computed_hash() != rec.hash:
            return ChainBreak(measure_id, rec.seq, row_id, "its content was altered")
        prev = rec.hash
    if length is not None and len(rows) != length:
        last = rows[-1] if rows else None
        return ChainBreak(
            measure_id,
            last[1].seq if last else None,
            last[0] if last else None,
            f"the chain has {len(rows)} rows but should have {length} (rows deleted or added at the end)",
        )
    if head is not None and prev != head:
        return ChainBreak(measure_id, None, None, "the chain's last hash does not match the recorded head")
    return None
