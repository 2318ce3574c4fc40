"""Running the `rectify` command in tests: a real process on a fresh SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMALL_PLAN = ROOT / "tests" / "fixtures" / "small-plan.yaml"


def rectify(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI in `cwd` with its default database (rectify.db there)."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RECTIFY_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-m", "workflow", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)
    if ok:
        assert proc.returncode == 0, f"rectify {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def snapshot(db: Path) -> tuple[list[tuple[object, ...]], ...]:
    """Everything but the access log (which records refusals on purpose)."""
    con = sqlite3.connect(db)
    try:
        return tuple(con.execute(f"select * from {t} order by id").fetchall()
                     for t in ("measure", "history", "evidence", "extension", "person", "problem", "inspection"))
    finally:
        con.close()
