"""Fixtures of the CLI tests: a database made once by `rectify init` and `import`, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import SMALL_PLAN, rectify


@pytest.fixture(scope="session")
def imported_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database made by `rectify init` and `rectify import` once, copied for each test."""
    folder = tmp_path_factory.mktemp("template")
    rectify(folder, "init")
    rectify(folder, "import", str(SMALL_PLAN))
    return folder / "rectify.db"


@pytest.fixture
def ledger_dir(tmp_path: Path, imported_db: Path) -> Path:
    shutil.copyfile(imported_db, tmp_path / "rectify.db")  # the CLI closes cleanly: no WAL left beside it
    return tmp_path
