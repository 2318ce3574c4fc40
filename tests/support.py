"""What the tests share besides fixtures: plans built in code, apps opened the same way, row counts.

Kept free of pytest so that child processes (spawned for the concurrency and crash tests)
can import it cheaply.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from storage.engine import reader
from storage.tables import HistoryRow, MeasureRow
from workflow import importer
from workflow.app import App, open_app
from workflow.clock import Clock, ManualClock
from workflow.plan import Plan
from workflow.settings import Settings

START = datetime(2024, 8, 13, 8, 0, tzinfo=UTC)
SMALL_PLAN = Path(__file__).parent / "fixtures" / "small-plan.yaml"

# the people of the small plan, by the part they play
OWNER, OTHER_OWNER = "alice", "bob"
VERIFIER, LEADER = "checker", "boss"
DEPUTY = "deputy"  # leader and verifier
AUDITOR, ADMIN = "audrey", "root"
PEOPLE = ("boss", "deputy", "checker", "alice", "bob", "audrey", "root")

MEASURE = MeasureRow.__table__  # type: ignore[attr-defined]
HISTORY = HistoryRow.__table__  # type: ignore[attr-defined]
TABLES = ("inspection", "unit", "person", "body", "problem", "measure", "history", "evidence", "extension")

_PEOPLE: list[dict[str, Any]] = [
    {"id": "boss", "name": "党组书记", "roles": ["leader"]},
    {"id": "deputy", "name": "分管副局长", "roles": ["leader", "verifier"]},
    {"id": "checker", "name": "纪检组长", "roles": ["verifier"]},
    {"id": "alice", "name": "办公室主任", "roles": ["owner"]},
    {"id": "bob", "name": "财务科科长", "roles": ["owner"]},
    {"id": "audrey", "name": "巡察办联络员", "roles": ["auditor"]},
    {"id": "root", "name": "管理员", "roles": ["admin"]},
]


def plan_data(round_code: str, body_code: str, measures: int = 3, **overrides: Any) -> dict[str, Any]:
    """A plan (as data) of one body with one problem and `measures` measures of the small plan's people.

    Owners alternate alice, bob; verifiers checker, deputy; leaders boss, deputy (never the owner).
    The measure codes are `<body>-1.1.<n>`.
    """
    owners = [("alice", "checker", "boss"), ("bob", "deputy", "boss"), ("alice", "deputy", "deputy")]
    data: dict[str, Any] = {
        "inspection": {"code": round_code, "name": f"测试巡察 {round_code}", "feedback_date": "2024-08-13"},
        "people": [dict(p) for p in _PEOPLE],
        "bodies": [{
            "code": body_code,
            "name": f"测试单位 {body_code}",
            "headings": [{"ref": "一", "title": "问题", "problems": [{
                "ref": "1",
                "text": "一是学习不够。",
                "measures": [
                    {"ref": f"({i})", "title": f"措施{i}", "owner": o, "verifier": v, "leader": ld,
                     "due": date(2024, 9, 30).isoformat()}
                    for i, (o, v, ld) in ((i, owners[(i - 1) % 3]) for i in range(1, measures + 1))
                ],
            }]}],
        }],
    }
    data.update(overrides)
    return data


def make_plan(round_code: str, body_code: str, measures: int = 3, **overrides: Any) -> Plan:
    """The checked plan of `plan_data`."""
    return Plan.model_validate(plan_data(round_code, body_code, measures, **overrides))


def codes(body_code: str, measures: int) -> list[str]:
    """The measure codes a `plan_data` plan gets."""
    return [importer.measure_code(body_code, 1, 1, i) for i in range(1, measures + 1)]


def open_test_app(url: str, *, evidence_dir: Path | None = None, clock: Clock | None = None,
                  synchronous: str = "FULL") -> App:
    """An app on `url` with explicit settings (nothing from the environment leaks in)."""
    settings = Settings(database_url=url, evidence_dir=evidence_dir, sqlite_synchronous=synchronous)
    return open_app(url, clock=clock or ManualClock(START), settings=settings)


def count(app: App, table: str, where: str = "", **params: Any) -> int:
    """How many rows `table` has (optionally narrowed by a SQL condition)."""
    with reader(app.engine).connect() as conn:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(conn.execute(text(sql), params).scalar_one())


def counts(app: App) -> dict[str, int]:
    """The row count of every ledger table."""
    return {t: count(app, t) for t in TABLES}


def measure_row(app: App, code: str) -> dict[str, Any]:
    """A measure row as a plain dict (typed as the table says)."""
    with reader(app.engine).connect() as conn:
        return dict(conn.execute(select(MEASURE).where(MEASURE.c.code == code)).mappings().one())


def lock_is_free(path: str) -> bool:
    """Whether another connection could take a SQLite file's write lock right now (without waiting)."""
    c = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as e:
        assert "locked" in str(e)
        return False
    finally:
        c.close()


def history_rows(app: App, code: str) -> list[dict[str, Any]]:
    """A measure's history rows as plain dicts (typed as the table says), in seq order."""
    stmt = (select(HISTORY).join(MEASURE, MEASURE.c.id == HISTORY.c.measure_id)
            .where(MEASURE.c.code == code).order_by(HISTORY.c.seq))
    with reader(app.engine).connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def versions_match_history(app: App) -> list[str]:
    """Measures whose version differs from the number of their history rows (should be none)."""
    with reader(app.engine).connect() as conn:
        rows = conn.execute(text(
            "SELECT m.code, m.version, (SELECT count(*) FROM history h WHERE h.measure_id = m.id) AS n "
            "FROM measure m ORDER BY m.id"
        )).all()
    return [f"{c}: version {v}, {n} history rows" for c, v, n in rows if v != n]
