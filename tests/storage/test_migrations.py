"""The Alembic migrations build exactly the schema the tables declare, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import storage.tables  # noqa: F401  (the tables on the metadata)
from storage import migrate
from storage.engine import make_engine
from storage.tables import BodyRow, InspectionRow, MeasureRow, ProblemRow


def test_migrations_leave_no_difference_from_the_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == []
        current, head = migrate.status(engine)
        assert current == head
    finally:
        engine.dispose()


def test_running_init_twice_changes_nothing(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        migrate.upgrade(engine)
        assert migrate.status(engine)[0] == migrate.status(engine)[1]
    finally:
        engine.dispose()


def _seed_0007(engine: Engine) -> list[int]:
    """A round, one measure, and its reminders as 0007 kept them: one row per recipient and channel."""
    at = "2026-03-02 01:00:00"
    with Session(engine) as s:  # these tables are the same at 0007; added in order, parents first
        for row in (InspectionRow(id=1, code="R", name="r", feedback_date=date(2026, 1, 1),
                                  imported_at=datetime.now(UTC)),
                    BodyRow(id=1, inspection_id=1, code="B", name="b"),
                    ProblemRow(id=1, body_id=1, level="problem", position=1, text="p"),
                    MeasureRow(id=1, code="M1", problem_id=1, position=1, ref="1", title="t", kind="deadline",
                               state="assigned", owner="ann", verifier="vic", leader="lee", due=date(2026, 3, 1),
                               updated_at=datetime.now(UTC))):
            s.add(row)
            s.flush()
        s.commit()
    with engine.begin() as c:
        rows = [  # red to ann (e-mail sent, webhook failing) and lee (cancelled); orange to ann alone
            ("red", "w1", "ann", "email", "ann@x.cn", "sent", 1, "", ""),
            ("red", "w1", "ann", "webhook", "json://h", "pending", 2, "HTTP 500", ""),
            ("red", "w1", "lee", "email", "lee@x.cn", "cancelled", 0, "", "reassigned"),
            ("orange", "w0", "ann", "email", "ann@x.cn", "cancelled", 0, "", "verified"),
        ]
        ids = []
        for rule, window, to, channel, address, status, attempts, error, why in rows:
            c.execute(text(
                'INSERT INTO reminder (measure_id, rule, "window", recipient, channel, address, subject, body, '
                "status, attempts, next_attempt_at, created_at, sent_at, cancelled_reason, last_error) VALUES "
                "(1, :rule, :window, :to, :channel, :address, 's', 'b', :status, :attempts, :at, :at, "
                ":sent, :why, :error)"),
                {"rule": rule, "window": window, "to": to, "channel": channel, "address": address,
                 "status": status, "attempts": attempts, "at": at, "sent": at if status == "sent" else None,
                 "why": why, "error": error})
            ids.append(c.execute(text("SELECT max(id) FROM reminder")).scalar_one())
        for i, ok in ((0, True), (1, False), (1, False)):
            c.execute(text("INSERT INTO delivery_attempt (reminder_id, at, worker, ok, error) "
                           "VALUES (:r, :at, 'w', :ok, '')"), {"r": ids[i], "at": at, "ok": ok})
    return ids


def test_reminders_kept_per_recipient_are_merged_into_targets_and_split_again_on_downgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0007")
        red, _, _, orange = _seed_0007(engine)
        migrate.upgrade(engine)
        with engine.connect() as c:
            got = {r.id: r for r in c.execute(text('SELECT id, rule, status, targets, cancelled_reason, '
                                                   'last_error FROM reminder ORDER BY id'))}
            attempts = sorted(tuple(r) for r in c.execute(text(
                "SELECT reminder_id, recipient, channel, ok FROM delivery_attempt")))
        targets = {k: v.targets if isinstance(v.targets, list) else json.loads(v.targets) for k, v in got.items()}
        assert sorted(got) == [red, orange]  # the red one kept the lowest id of its three rows
        assert (got[red].status, got[red].last_error) == ("pending", "HTTP 500")  # the webhook is still owed
        assert [(t["to"], t["channel"], t["status"], t["attempts"]) for t in targets[red]] == [
            ("ann", "email", "sent", 1), ("ann", "webhook", "pending", 2), ("lee", "email", "cancelled", 0)]
        assert targets[red][1]["error"] == "HTTP 500" and targets[red][2]["reason"] == "reassigned"
        assert (got[orange].status, got[orange].cancelled_reason) == ("cancelled", "verified")
        assert attempts == [(red, "ann", "email", True), (red, "ann", "webhook", False),
                            (red, "ann", "webhook", False)]

        migrate.downgrade(engine, "0007")
        with engine.connect() as c:
            back = sorted((r.rule, r.recipient, r.channel, r.status, r.attempts) for r in c.execute(text(
                "SELECT rule, recipient, channel, status, attempts FROM reminder")))
        assert back == [("orange", "ann", "email", "cancelled", 0), ("red", "ann", "email", "sent", 1),
                        ("red", "ann", "webhook", "pending", 2), ("red", "lee", "email", "cancelled", 0)]
    finally:
        engine.dispose()
