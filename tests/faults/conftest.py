"""Fixtures of the fault suite: a PostgreSQL server of its own (to restart), and what may be done only as root.

Where the machine cannot do a fault (no PostgreSQL binaries, no root, no `mount`), the test is skipped
with the reason, except in CI, where that is a failure: the fault suite must really run there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..conftest import in_ci
from ..jobs.test_scheduler import webhook  # noqa: F401  (the counting webhook fixture, for the soak)
from .pgserver import ThrowawayPostgres, available


def cannot(reason: str) -> None:
    """Skip, or fail in CI, because this machine cannot stage the fault."""
    if in_ci():
        pytest.fail(f"{reason}; CI must run the fault suite", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def throwaway_pg() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server of this test's own, up; removed afterwards."""
    if why := available():
        cannot(why)
    server = ThrowawayPostgres()
    try:
        yield server
    finally:
        server.close()
