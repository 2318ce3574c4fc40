"""The audit packet (审计材料包): one zip archive an auditor can check without rectify.

For a set of measures it holds their history (CSV and JSON, with every record's hash), their
evidence (each item as a file named by its SHA-256: files as kept, notes as UTF-8 text, plus
evidence/manifest.csv), the hash-chain verification of those measures, the refused attempts
concerning them, their ledger rows, a summary in Markdown, and MANIFEST.sha256 listing every
other file's SHA-256 (`sha256sum -c MANIFEST.sha256` checks the packet).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from states.chain import as_utc
from states.errors import InvalidInput
from states.model import Event, Role, State
from storage.blobs import note_hash
from storage.exports import ExportReader

from .app import App
from .audit import AuditReport, verify_measures
from .excel import ledger_sheets, write_csv
from .history_export import HISTORY_KEYS, REFUSED_KEYS, history_item, label, refused_item
from .history_export import write_csv as items_csv
from .ledger import LedgerFilter, LedgerRow, ledger

MANIFEST = "MANIFEST.sha256"
EVIDENCE_KEYS = ("measure", "seq", "kind", "name", "note", "size", "sha256", "added_by", "added_at", "file", "status")


@dataclass(frozen=True)
class PacketResult:
    """What went into a packet."""

    path: Path
    measures: int
    records: int
    evidence: int
    evidence_missing: int
    refused: int
    chains_ok: bool
    files: int


def select(app: App, refs: Sequence[str] = (), problem: str | None = None,
           inspection: str | None = None) -> list[LedgerRow]:
    """The measures named, plus those of the problem or round; every measure when nothing is named."""
    every = ledger(app)
    if not refs and not problem and not inspection:
        return every
    chosen: set[int] = set()
    if refs:
        with app.uow(read_only=True) as uow:
            for ref in refs:
                row = uow.measures.row(ref)  # NotFound names the one that is not there
                assert row.id is not None
                chosen.add(row.id)
    if problem or inspection:
        chosen |= {r.id for r in ledger(app, LedgerFilter(problem=problem, inspection=inspection))}
    return [r for r in every if r.id in chosen]


def write_packet(app: App, rows: Sequence[LedgerRow], output: Path, *, checkpoint: Path | None = None,
                 scope: str = "", zone: ZoneInfo | None = None) -> PacketResult:
    """Write the packet for these measures to `output` (a zip, written whole or not at all)."""
    if not rows:
        raise InvalidInput("measures", "no measure matches; nothing to put in a packet")
    zone = zone or ZoneInfo("Asia/Shanghai")
    now = app.clock()
    ids = [r.id for r in rows]
    codes = {r.id: r.code for r in rows}
    refs = {*codes.values(), *(str(i) for i in ids)}
    with app.uow(read_only=True) as uow:
        chains = {mid: uow.measures.history(mid) for mid in ids}
        hist = [(rec, codes[mid]) for mid in ids for _, rec in chains[mid]]  # a Record reads like a row
        evidence = list(ExportReader(uow.session).evidence(ids))
        refused = [r for r in uow.access_log.query() if r.measure in refs]
    report = verify_measures(app, ids, checkpoint)
    files: dict[str, bytes] = {}
    files["history.json"] = _json([history_item(h, code) for h, code in hist])
    files["history.csv"] = _csv(lambda out: items_csv([history_item(h, code) for h, code in hist], HISTORY_KEYS, out))
    ev_items, blobs = _evidence(app, evidence, codes)
    for sha, data in blobs.items():
        files[f"evidence/{sha}"] = data
    files["evidence/manifest.csv"] = _csv(lambda out: items_csv(ev_items, EVIDENCE_KEYS, out))
    files["verification.json"] = _json(_verification(report, rows, chains, checkpoint, now))
    files["refused.json"] = _json([refused_item(r) for r in refused])
    files["refused.csv"] = _csv(lambda out: items_csv([refused_item(r) for r in refused], REFUSED_KEYS, out))
    ledger_sheet = ledger_sheets(app, rows=list(rows))[0]
    files["ledger.csv"] = _csv(lambda out: write_csv(ledger_sheet, out))
    missing = sum(1 for it in ev_items if it["status"] != "ok")
    files["summary.md"] = _summary(rows, chains, ev_items, refused, report, now, zone, scope, checkpoint).encode()
    files[MANIFEST] = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                              for name, data in sorted(files.items())).encode()
    _zip(files, output, now.astimezone(zone))
    return PacketResult(output, len(rows), sum(len(c) for c in chains.values()), len(ev_items), missing,
                        len(refused), report.ok, len(files))


def _evidence(app: App, evidence: Sequence[Any], codes: dict[int, str]) -> tuple[list[dict[str, Any]],
                                                                               dict[str, bytes]]:
    """The manifest rows and the files (by hash) of the evidence; a file that is gone or altered is marked."""
    items: list[dict[str, Any]] = []
    blobs: dict[str, bytes] = {}
    for e in evidence:
        data: bytes | None
        if e.kind == "note":
            data = e.note.encode("utf-8")
            status = "ok" if note_hash(e.note) == e.sha256 else "altered"
        else:
            path = app.evidence.path(e.sha256)
            data = path.read_bytes() if path.is_file() else None
            status = "missing" if data is None else (
                "ok" if hashlib.sha256(data).hexdigest() == e.sha256 else "altered")
        if status == "ok" and data is not None:
            blobs[e.sha256] = data
        items.append({"measure": codes[e.measure_id], "seq": e.seq, "kind": e.kind, "name": e.name,
                      "note": e.note, "size": e.size, "sha256": e.sha256, "added_by": e.added_by,
                      "added_at": as_utc(e.added_at).isoformat(), "file": f"evidence/{e.sha256}" if status == "ok"
                      else "", "status": status})
    return items, blobs


def _verification(report: AuditReport, rows: Sequence[LedgerRow], chains: dict[int, list[Any]],
                  checkpoint: Path | None, now: datetime) -> dict[str, Any]:
    broken = {b.measure_id: b for b in report.breaks}
    return {
        "ok": report.ok, "verified_at": as_utc(now).isoformat(), "measures": report.measures,
        "records": report.records, "checkpoint": str(checkpoint) if checkpoint else None,
        "chains": [{"measure": r.code, "id": r.id, "records": len(chains[r.id]),
                    "head": chains[r.id][-1][1].hash if chains[r.id] else None, "ok": r.id not in broken,
                    "break": None if r.id not in broken else {"seq": broken[r.id].seq,
                                                              "history_id": broken[r.id].history_id,
                                                              "why": broken[r.id].why}}
                   for r in rows],
    }



def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n").encode()


def _csv(write: Any) -> bytes:
    buf = io.StringIO(newline="")
    write(buf)
    return ("\ufeff" + buf.getvalue()).encode()  # the BOM lets Excel read UTF-8


def _zip(files: dict[str, bytes], output: Path, at: datetime) -> None:
    stamp = (max(at.year, 1980), at.month, at.day, at.hour, at.minute, at.second)
    tmp = output.with_name(output.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name in sorted(files):
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, files[name])
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\r", " ").replace("\n", " ") if v is not None else ""


def _summary(rows: Sequence[LedgerRow], chains: dict[int, list[Any]], evidence: list[dict[str, Any]],
             refused: Sequence[Any], report: AuditReport, now: datetime, zone: ZoneInfo, scope: str,
             checkpoint: Path | None) -> str:
    def local(at: datetime) -> str:
        return as_utc(at).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    ok_files = sum(1 for e in evidence if e["status"] == "ok")
    lines = [
        "# 审计材料包", "",
        f"- 生成时间:{local(now)}({zone.key})",
        f"- 范围:{scope or '全部措施'},共 {len(rows)} 项措施",
        f"- 哈希链校验:{'通过' if report.ok else '未通过'}({report.measures} 项措施,{report.records} 条记录"
        + (f",并与检查点 {checkpoint.name} 核对" if checkpoint else "") + ")",
        f"- 佐证材料:{len(evidence)} 项,完整 {ok_files} 项" + (f",缺失或被改动 {len(evidence) - ok_files} 项"
                                                          if ok_files < len(evidence) else ""),
        f"- 被拒绝的操作:{len(refused)} 次", "",
    ]
    for b in report.breaks:
        lines.append(f"> 校验未通过:{b}")
    if report.breaks:
        lines.append("")
    broken = {b.measure_id for b in report.breaks}
    lines += ["## 措施一览", "",
              "| 编号 | 整改措施 | 状态 | 责任人 | 核验人 | 完成时限 | 记录数 | 佐证数 | 链校验 | 末条哈希 |",
              "|---|---|---|---|---|---|---:|---:|---|---|"]
    per_measure = {r.code: 0 for r in rows}
    for e in evidence:
        per_measure[e["measure"]] += 1
    for r in rows:
        head = chains[r.id][-1][1].hash[:16] if chains[r.id] else ""
        lines.append(f"| {r.code} | {_cell(r.title)} | {r.state_label} | {_cell(r.owner_name)} | {r.verifier} | "
                     f"{r.due} | {len(chains[r.id])} | {per_measure[r.code]} | "
                     f"{'未通过' if r.id in broken else '通过'} | `{head}` |")
    lines += ["", "## 各措施记录", ""]
    for r in rows:
        lines += [f"### {r.code} {_cell(r.title)}", "", "| 序号 | 时间 | 事件 | 状态变化 | 操作人(角色) | 说明 |",
                  "|---:|---|---|---|---|---|"]
        for _, rec in chains[r.id]:
            change = label(State, rec.to_state) if rec.from_state is None else (
                f"{label(State, rec.from_state)}→{label(State, rec.to_state)}"
                if rec.from_state != rec.to_state else "")
            named = [e["note"][:60] if e["kind"] == "note" else f"附件 {e['name']}"
                     for e in evidence if e["measure"] == r.code and e["seq"] == rec.seq]
            said = rec.reason + (f"(佐证:{';'.join(named) or len(rec.evidence)})" if rec.evidence else "")
            lines.append(f"| {rec.seq} | {local(rec.at)} | {label(Event, rec.event)} | {change} | "
                         f"{rec.actor}({label(Role, rec.role)}) | {_cell(said)} |")
        lines.append("")
    if refused:
        lines += ["## 被拒绝的操作", "", "| 时间 | 操作人 | 事件 | 措施 | 结果 | 原因 |", "|---|---|---|---|---|---|"]
        lines += [f"| {local(x.at)} | {x.actor} | {label(Event, x.event)} | {x.measure} | {x.outcome} | "
                  f"{_cell(x.message)} |" for x in refused]
        lines.append("")
    lines += [
        "## 文件说明", "",
        "- `history.csv`、`history.json`:整改记录,每条含哈希(hash)与前一条的哈希(prev_hash)",
        "- `evidence/`:佐证材料,文件名即其 SHA-256(文字说明存为 UTF-8 文本);"
        "`evidence/manifest.csv` 列出名称、大小、哈希与状态",
        "- `verification.json`:这些措施的哈希链校验结果",
        "- `refused.csv`、`refused.json`:涉及这些措施的被拒绝操作",
        "- `ledger.csv`:这些措施的整改台账",
        f"- `{MANIFEST}`:本包其余每个文件的 SHA-256,可用 `sha256sum -c {MANIFEST}` 核对", "",
    ]
    return "\n".join(lines)
