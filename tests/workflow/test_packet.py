"""The audit packet, checked the way an auditor without rectify would: unzip, recompute every hash, compare."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from states.errors import InvalidInput, NotFound
from workflow.app import App
from workflow.packet import MANIFEST, select, write_packet

from ..support import history_rows

GENESIS = "0" * 64


def _open(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def _record_hash(item: dict[str, Any], measure_id: int) -> str:
    """The chain hash recomputed from the packet's JSON alone: sha256(prev_hash ‖ canonical JSON of the record)."""
    at = datetime.fromisoformat(item["at"])
    body = {"measure_id": measure_id, "seq": item["seq"], "event": item["event"], "from": item["from"],
            "to": item["to"], "actor": item["actor"], "role": item["role"],
            "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "reason": item["reason"], "evidence": item["evidence"],
            "request_id": item["request_id"], "data": item["data"]}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(item["prev_hash"].encode() + canonical).hexdigest()


@pytest.fixture
def packet(worked_app: App, tmp_path: Path) -> dict[str, bytes]:
    path = tmp_path / "packet.zip"
    result = write_packet(worked_app, select(worked_app, ["b1-1.1.1"], problem="2.1"), path, scope="test")
    assert result.chains_ok and result.measures == 2 and result.evidence == 3
    return _open(path)


def test_every_file_of_the_packet_has_the_hash_its_manifest_says(packet: dict[str, bytes]) -> None:
    listed = {}
    for line in packet[MANIFEST].decode().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert set(listed) == set(packet) - {MANIFEST}
    for name, digest in listed.items():
        assert hashlib.sha256(packet[name]).hexdigest() == digest, name


def test_the_evidence_files_are_named_by_their_hash_and_listed_with_names_and_sizes(packet: dict[str, bytes]) -> None:
    blobs = {n.removeprefix("evidence/"): d for n, d in packet.items()
             if n.startswith("evidence/") and n != "evidence/manifest.csv"}
    for name, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == name
    items = _csv(packet["evidence/manifest.csv"])
    assert {(i["measure"], i["kind"], i["name"]) for i in items} == {
        ("b1-2.1.1", "note", ""), ("b1-2.1.1", "file", "报销台账扫描件.pdf")}
    assert len(items) == 3 and {i["status"] for i in items} == {"ok"}
    for i in items:
        assert i["sha256"] in blobs and int(i["size"]) == len(blobs[i["sha256"]])
    pdf = next(i for i in items if i["kind"] == "file")
    assert blobs[pdf["sha256"]].startswith(b"%PDF-1.4")


def test_the_history_in_the_packet_is_the_database_history_and_its_chain_holds(worked_app: App,
                                                                              packet: dict[str, bytes]) -> None:
    items = json.loads(packet["history.json"])
    for code in ("b1-1.1.1", "b1-2.1.1"):
        mine = [i for i in items if i["measure"] == code]
        db = history_rows(worked_app, code)
        assert [(i["seq"], i["hash"], i["prev_hash"]) for i in mine] == [(r["seq"], r["hash"], r["prev_hash"])
                                                                          for r in db]
        prev = GENESIS
        for item in mine:  # recomputed here, not by rectify
            assert item["prev_hash"] == prev and _record_hash(item, db[0]["measure_id"]) == item["hash"]
            prev = item["hash"]
    assert [r["hash"] for r in _csv(packet["history.csv"])] == [i["hash"] for i in items]
    evidence = {i["sha256"] for i in _csv(packet["evidence/manifest.csv"])}
    assert evidence == {h for i in items for h in i["evidence"]}  # every hash in the history has its file


def test_the_packet_carries_the_verification_the_refused_attempts_and_a_summary(packet: dict[str, bytes]) -> None:
    verification = json.loads(packet["verification.json"])
    assert verification["ok"] is True and verification["measures"] == 2
    assert [(c["measure"], c["ok"], c["records"]) for c in verification["chains"]] == [
        ("b1-1.1.1", True, 2), ("b1-2.1.1", True, 6)]
    refused = json.loads(packet["refused.json"])
    assert [(r["actor"], r["event"], r["measure"], r["outcome"]) for r in refused] == [
        ("alice", "verify", "b1-1.1.1", "denied")]
    summary = packet["summary.md"].decode()
    for says in ("# 审计材料包", "哈希链校验:通过", "b1-2.1.1", "已销号", "附件 报销台账扫描件.pdf", "被拒绝的操作",
                 "sha256sum -c MANIFEST.sha256"):
        assert says in summary
    assert [r["编号"] for r in _csv(packet["ledger.csv"])] == ["b1-1.1.1", "b1-2.1.1"]


def test_a_tampered_chain_and_a_lost_file_show_in_the_packet(worked_app: App, tmp_path: Path) -> None:
    con = sqlite3.connect(str(worked_app.engine.url.database))
    with con:
        con.execute("update history set reason = 'changed' where event = 'verify'")
        pdf = con.execute("select sha256 from evidence where kind = 'file'").fetchone()[0]
    con.close()
    worked_app.evidence.path(pdf).unlink()
    path = tmp_path / "packet.zip"
    result = write_packet(worked_app, select(worked_app, problem="2"), path)
    assert not result.chains_ok and result.evidence_missing == 1
    files = _open(path)
    chains = json.loads(files["verification.json"])["chains"]
    assert chains[0]["ok"] is False and "altered" in chains[0]["break"]["why"] and chains[0]["break"]["seq"] == 5
    assert [i["status"] for i in _csv(files["evidence/manifest.csv"]) if i["kind"] == "file"] == ["missing"]
    assert "哈希链校验:未通过" in files["summary.md"].decode() and f"evidence/{pdf}" not in files


def test_a_packet_needs_measures_that_exist(worked_app: App, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        select(worked_app, ["b1-9.9.9"])
    with pytest.raises(InvalidInput, match="no measure matches"):
        write_packet(worked_app, select(worked_app, problem="9"), tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()
    assert [r.code for r in select(worked_app)] == ["b1-1.1.1", "b1-1.1.2", "b1-2.1.1"]  # nothing named: all


def test_the_cli_writes_a_packet_that_sha256sum_accepts(worked_app: App, tmp_path: Path) -> None:
    import shutil
    import subprocess

    from ..cli.helpers import rectify

    proc = rectify(tmp_path, "audit", "packet", "b1-2.1.1", "--db", str(worked_app.engine.url.database),
                   "-o", "审计.zip")
    assert "1 measures, 6 history records, 3 evidence items, 0 refused attempts" in proc.stdout
    assert "every chain verifies" in proc.stdout
    if shutil.which("sha256sum") is None:
        pytest.skip("no sha256sum on this machine")
    with zipfile.ZipFile(tmp_path / "审计.zip") as z:
        z.extractall(tmp_path / "out")
    check = subprocess.run(["sha256sum", "--strict", "-c", MANIFEST], cwd=tmp_path / "out", capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
