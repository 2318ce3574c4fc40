"""The unit of work: one transaction, with the repositories that act inside it."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import Engine
from sqlmodel import Session

from .credentials import CredentialRepository
from .engine import reader
from .history import HistoryRepository
from .idempotency import IdempotencyRepository
from .outcomes import OutcomeRepository
from .repositories import (
    AccessLogRepository,
    EvidenceRepository,
    ExtensionRepository,
    MeasureRepository,
    PeopleRepository,
    TreeRepository,
)
from .schedule import ScheduleRepository
from .snapshots import SnapshotReader


class UnitOfWork:
    """`with uow: … uow.commit()`; leaving the block without commit rolls everything back."""

    def __init__(self, engine: Engine, *, read_only: bool = False):
        self.engine = reader(engine) if read_only else engine
        self.read_only = read_only

    def __enter__(self) -> UnitOfWork:
        self.session = Session(self.engine, expire_on_commit=False)
        s = self.session
        self.measures = MeasureRepository(s)
        self.people = PeopleRepository(s)
        self.history = HistoryRepository(s)
        self.access_log = AccessLogRepository(s)
        self.evidence = EvidenceRepository(s)
        self.extensions = ExtensionRepository(s)
        self.tree = TreeRepository(s)
        self.schedule = ScheduleRepository(s)
        self.credentials = CredentialRepository(s)
        self.outcomes = OutcomeRepository(s)
        self.snapshots = SnapshotReader(s)
        self.idempotency = IdempotencyRepository(s)
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        # close() rolls back whatever was not committed; unlike rollback() it leaves the
        # loaded objects readable (detached, not expired) for the caller
        self.session.close()

    def commit(self) -> None:
        """Make the transaction's work permanent, or raise and leave nothing."""
        self.session.commit()
