"""Settings, read once at start from the environment (RECTIFY_*) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the data lives and how hard SQLite syncs."""

    model_config = SettingsConfigDict(env_prefix="RECTIFY_")

    database_url: str = "sqlite:///rectify.db"
    evidence_dir: Path | None = None  # default: beside a SQLite file, else ./rectify-evidence
    sqlite_synchronous: str = "FULL"
    timezone: str = "Asia/Shanghai"  # how times are shown, and what a bare date means
