"""The composition root: wires storage, the clock and the evidence store into the services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from storage.blobs import EvidenceStore
from storage.engine import make_engine, normalise_url
from storage.uow import UnitOfWork

from .clock import Clock, system_clock
from .settings import Settings


@dataclass
class App:
    """Everything a service needs: a way to open transactions, a clock and the evidence folder."""

    engine: Engine
    evidence: EvidenceStore
    clock: Clock = system_clock
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work (one transaction)."""
        return UnitOfWork(self.engine, read_only=read_only)


def evidence_dir_for(url: str, configured: Path | None) -> Path:
    """Evidence files live beside a SQLite file (`x.db` → `x.evidence/`) unless configured."""
    if configured:
        return configured
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        return db.with_name(db.stem + ".evidence")
    return Path("rectify-evidence")


def open_app(url: str | None = None, *, clock: Clock = system_clock, settings: Settings | None = None) -> App:
    """Open the database at `url` (or the configured one) with everything wired."""
    settings = settings or Settings()
    url = url or settings.database_url
    engine = make_engine(url, synchronous=settings.sqlite_synchronous)
    return App(engine=engine, evidence=EvidenceStore(evidence_dir_for(url, settings.evidence_dir)), clock=clock)
