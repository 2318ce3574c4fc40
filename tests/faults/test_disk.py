"""A read-only or full disk under the SQLite file: no success is reported for a write that did not happen.

The database lives on a small tmpfs of the test's own: remounted read-only, or filled to the last byte
(root ignores file modes, a mount does not). The CLI must answer each write with one error line and a
non-zero exit; the API with a 503 and a one-line body. Afterwards the database holds exactly what it held
before, passes `integrity_check`, and the same requests, retried once the disk is back, succeed once.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from workflow.app import App
from workflow.web.server import create_app

from ..conftest import AppFactory
from ..support import history_rows, open_test_app
from ..web.api_support import bearer, make_tokens, one_line
from .checks import assert_ledger_whole
from .conftest import cannot

OWN = "b1-1.1.1"  # alice's
RECTIFY = str(Path(sys.executable).with_name("rectify"))


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(f"mount {' '.join(args)}: {done.stderr.strip()}")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted for this test (removed afterwards)."""
    where = tmp_path / "disk"
    where.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where))
    except OSError as e:
        cannot(f"cannot mount a tmpfs here ({e})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=True)


@pytest.fixture
def ledger(disk: Path, make_app: AppFactory, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The small plan (with a token per person) as a closed SQLite file on the small disk."""
    made = make_app(str(tmp_path / "made.db"))
    tokens = make_tokens(made)
    made.engine.dispose()  # the last connection closing folds the WAL back into the file
    db = disk / "rectify.db"
    db.write_bytes((tmp_path / "made.db").read_bytes())
    return db, tokens


def _dump(db: Path) -> list[str]:
    """The database's content as SQL, committed rows only."""
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.iterdump())


def _fill(disk: Path) -> None:
    """Write a file until the disk has no byte left."""
    with (disk / "filler").open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass  # ENOSPC: full, as wanted
    assert (disk / "filler").stat().st_size > 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECTIFY, *args], capture_output=True, text=True, timeout=120)


def _refused_in_one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The CLI said no: nothing on stdout, one error line on stderr, a non-zero exit."""
    assert done.returncode != 0 and done.stdout == "", (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def _unavailable(r: Any, error: str) -> None:
    """A 503 with Retry-After and a one-line body naming `error`."""
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] and r.json()["error"] == error and one_line(r.json())


def _serve(db: Path) -> tuple[App, TestClient]:
    app = open_test_app(str(db))
    return app, TestClient(create_app(app, session_secret="tests"))


def test_a_read_only_disk_refuses_every_write_and_changes_nothing(ledger: tuple[Path, dict[str, str]],
                                                                  disk: Path, tmp_path: Path) -> None:
    db, tokens = ledger
    before = _dump(db)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 scan\n" * 100)
    _mount("-o", "remount,ro", str(disk))

    said = [_refused_in_one_line(_cli(*args, "--db", str(db))) for args in (
        ("start", OWN, "--as", "alice"),
        ("evidence", "add", OWN, "--as", "alice", "--note", "会议纪要"),
        ("evidence", "add", OWN, "--as", "alice", "--evidence", str(scan)),
    )]
    assert said[:2] == ["error: database error: unable to open database file (the database file or its folder "
                        "cannot be opened: missing, read-only or not permitted); nothing was changed"] * 2
    assert said[2].startswith("error: Read-only file system")

    app, client = _serve(db)
    with client:
        h = bearer(tokens["alice"], **{"Idempotency-Key": "ro-1"})
        _unavailable(client.post(f"/api/measures/{OWN}/evidence", headers=h, json={"notes": ["纪要"]}),
                     "DatabaseUnavailable")
        _mount("-o", "remount,rw", str(disk))
        assert _dump(db) == before
        retried = client.post(f"/api/measures/{OWN}/evidence", headers=h, json={"notes": ["纪要"]})
        assert retried.status_code == 200, retried.text
    assert [r["event"] for r in history_rows(app, OWN)] == ["create", "evidence"]
    assert_ledger_whole(app, "after the read-only disk")
    app.engine.dispose()


def test_a_full_disk_refuses_every_write_and_changes_nothing(ledger: tuple[Path, dict[str, str]],
                                                             disk: Path, tmp_path: Path) -> None:
    db, tokens = ledger
    app, client = _serve(db)
    with client:
        alice = bearer(tokens["alice"])
        assert client.get(f"/api/measures/{OWN}", headers=alice).status_code == 200  # the service is up
        before = _dump(db)  # after the token's first use is noted
        _fill(disk)

        keyed = bearer(tokens["alice"], **{"Idempotency-Key": "full-1"})
        _unavailable(client.post(f"/api/measures/{OWN}/evidence", headers=keyed, json={"notes": ["纪要"]}),
                     "DatabaseUnavailable")
        _unavailable(client.post(f"/api/measures/{OWN}/events/start", headers=alice), "DatabaseUnavailable")
        upload = {"files": ("scan.pdf", b"%PDF-1.4 scan\n" * 1000, "application/pdf")}
        _unavailable(client.post(f"/api/measures/{OWN}/evidence/upload", headers=alice, files=upload),
                     "StorageUnavailable")
        for args in (("start", OWN, "--as", "alice"), ("evidence", "add", OWN, "--as", "alice", "--note", "纪要")):
            line = _refused_in_one_line(_cli(*args, "--db", str(db)))
            assert line in ("error: database error: disk I/O error (the disk refused a write: full, read-only or "
                            "failing); nothing was changed",
                            "error: database error: database or disk is full (the disk holding the database is full); "
                            "nothing was changed")

        (disk / "filler").unlink()
        assert _dump(db) == before
        assert client.post(f"/api/measures/{OWN}/evidence", headers=keyed, json={"notes": ["纪要"]}).status_code == 200
        assert client.post(f"/api/measures/{OWN}/events/start", headers=alice).status_code == 200
        assert client.post(f"/api/measures/{OWN}/evidence/upload", headers=alice, files=upload).status_code == 200
    assert [r["event"] for r in history_rows(app, OWN)] == ["create", "evidence", "start", "evidence"]
    assert_ledger_whole(app, "after the full disk")
    app.engine.dispose()
