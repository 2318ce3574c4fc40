"""The Alembic migrations build exactly the schema the tables declare, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (the tables on the metadata)
from storage import migrate
from storage.engine import make_engine


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
