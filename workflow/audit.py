"""Audit of the history: walk every chain, hold the ledger against it and against a checkpoint.

A checkpoint is a file kept outside the database with each chain's length and last hash;
whoever rewrites a whole chain (and the measure row with it) cannot also rewrite that file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from states.chain import ChainBreak, check_chain
from states.errors import InvalidInput
from states.measure import replay

from .app import App

FORMAT = "rectify-checkpoint/1"


@dataclass
class AuditReport:
    """What a verification walked and every break it found (the first per measure)."""

    measures: int = 0
    records: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every chain held."""
        return not self.breaks


def verify(app: App, checkpoint: Path | None = None, progress: Callable[[int], None] | None = None) -> AuditReport:
    """Walk every measure's chain; compare the measure rows with their replayed history."""
    marks = _read_checkpoint(checkpoint) if checkpoint else {}
    report = AuditReport()
    with app.uow(read_only=True) as uow:
        for row, chain in uow.history.chains():
            report.measures += 1
            report.records += len(chain)
            assert row.id is not None
            brk = check_chain(row.id, chain, head=row.head if row.version >= 0 else None,
                              length=row.version if row.version >= 0 else None)
            if brk is None and row.version < 0:
                brk = ChainBreak(row.id, None, None, "its measure row was deleted")
            if brk is None:
                brk = _against_row(row, chain)
            if brk is None and row.id in marks:
                brk = _against_mark(row.id, chain, marks.pop(row.id))
            marks.pop(row.id, None)
            if brk is not None:
                report.breaks.append(brk)
            if progress:
                progress(1)
    for measure_id, mark in marks.items():  # in the checkpoint, gone from the database
        report.breaks.append(ChainBreak(measure_id, None, None,
                                        f"measure {mark.get('code', measure_id)} is in the checkpoint but not in "
                                        "the database"))
    return report


def verify_measures(app: App, measure_ids: Sequence[int], checkpoint: Path | None = None) -> AuditReport:
    """The same checks as `verify`, for these measures only (an audit packet's)."""
    marks = _read_checkpoint(checkpoint) if checkpoint else {}
    report = AuditReport()
    with app.uow(read_only=True) as uow:
        for mid in measure_ids:
            row = uow.measures.row(mid)
            chain = uow.measures.history(mid)
            report.measures += 1
            report.records += len(chain)
            brk = check_chain(mid, chain, head=row.head, length=row.version) or _against_row(row, chain)
            if brk is None and mid in marks:
                brk = _against_mark(mid, chain, marks[mid])
            if brk is not None:
                report.breaks.append(brk)
    return report


def _against_row(row: Any, chain: list[Any]) -> ChainBreak | None:
    """The measure row must be what its history says it is."""
    try:
        m = replay([rec for _, rec in chain], row.code)
    except (ValueError, KeyError) as e:
        return ChainBreak(row.id, None, None, f"its history cannot be replayed ({e})")
    for name in ("state", "owner", "due", "version", "head", "evidence_count", "rebounds"):
        want, have = getattr(m, name), getattr(row, name)
        if str(want) != str(have):
            return ChainBreak(row.id, None, None,
                              f"the measure row says {name}={have} but its history says {want}")
    return None


def _against_mark(measure_id: int, chain: list[Any], mark: dict[str, Any]) -> ChainBreak | None:
    length, head = int(mark["length"]), str(mark["head"])
    if len(chain) < length:
        return ChainBreak(measure_id, None, None, f"the checkpoint saw {length} rows, the database has {len(chain)}")
    row_id, rec = chain[length - 1]
    if rec.hash != head:
        return ChainBreak(measure_id, rec.seq, row_id, "differs from the checkpoint (the chain was rewritten)")
    return None


def write_checkpoint(app: App, path: Path) -> int:
    """Write every chain's length and last hash to `path`; returns how many measures."""
    with app.uow(read_only=True) as uow:
        rows = uow.measures.all_rows()
        marks = [{"id": r.id, "code": r.code, "length": r.version, "head": r.head} for r in rows]
    body = {"format": FORMAT, "written_at": app.clock().isoformat(), "measures": marks}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return len(marks)


def _read_checkpoint(path: Path) -> dict[int, dict[str, Any]]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput("--checkpoint", f"no such file {str(path)!r}") from None
    except (OSError, ValueError) as e:
        raise InvalidInput("--checkpoint", f"{str(path)!r} is not a checkpoint file ({e})") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise InvalidInput("--checkpoint", f"{str(path)!r} is not a {FORMAT} file")
    return {int(m["id"]): m for m in body["measures"]}
