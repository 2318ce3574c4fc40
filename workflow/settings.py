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
    # signs the web pages' session cookies; give every replica the same one, else a sign-in made on one
    # replica is unknown to the next (default: a random one per process)
    session_secret: str | None = None

    # scheduled jobs
    holidays_file: Path | None = None  # extra holidays / make-up workdays (YAML), beyond chinese-calendar
    overdue_interval_s: float = 300.0  # how often the overdue sweep runs under `rectify scheduler`
    reminder_interval_s: float = 300.0  # how often due reminders are written to the outbox
    delivery_interval_s: float = 30.0  # how often the delivery worker drains the outbox
    # delivery: an apprise mailto:// URL without `to=`, e.g.
    # mailto://localhost:2525?smtp=127.0.0.1&from=rectify@example.com&secure=no
    smtp_url: str | None = None
    mailbox_dir: Path | None = None  # the log channel also writes each message here as a file
    delivery_batch: int = 50
    delivery_lease_s: float = 120.0  # a claimed reminder not recorded by then is sent again
    retry_base_s: float = 30.0  # backoff: base × 2^attempts, capped
    retry_cap_s: float = 3600.0
