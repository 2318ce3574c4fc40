"""Schema migrations through Alembic, applied by `rectify init`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def upgrade(engine: Engine, to: str = "head") -> None:
    """Bring the schema to the newest revision, or to `to` (creates it on an empty database)."""
    _run(engine, command.upgrade, to)


def downgrade(engine: Engine, to: str) -> None:
    """Take the schema back to revision `to`, converting the data it holds."""
    _run(engine, command.downgrade, to)


def _run(engine: Engine, step: Callable[[Config, str], None], to: str) -> None:
    """Run migrations in one transaction. On SQLite with foreign keys off, as SQLite's own recipe for
    changing a table has it: a change to a table that others refer to rebuilds it (copy, drop, rename),
    and the drop would fail on the rows referring to it. Every key is checked before the commit."""
    cfg = _config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw = conn.connection.driver_connection
        if sqlite:  # outside any transaction: inside one SQLite ignores the pragma
            raw.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                step(cfg, to)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all() if sqlite else []
                if broken:
                    raise RuntimeError(f"migration to {to} would leave rows with a broken foreign key: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between the tables and the database."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)


def status(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision, the newest revision)."""
    head = ScriptDirectory.from_config(_config()).get_current_head() or ""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision(), head
