"""Schema migrations through Alembic, applied by `rectify init`."""

from __future__ import annotations

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


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (creates it on an empty database)."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


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
