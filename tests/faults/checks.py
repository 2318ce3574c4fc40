"""What every fault test asks of the database afterwards, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import text

from storage.engine import is_sqlite, reader
from workflow import audit
from workflow.app import App

from ..support import versions_match_history


def assert_ledger_whole(app: App, why: str) -> None:
    """The file is intact (SQLite), each measure's version is its number of history rows, every chain
    verifies and every measure row is the replay of its history (state, head, owner, due)."""
    if is_sqlite(app.engine):
        with reader(app.engine).connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok", why
    assert versions_match_history(app) == [], why
    report = audit.verify(app)
    assert report.ok, f"{why}: {report.breaks}"
