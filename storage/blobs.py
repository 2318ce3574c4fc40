"""Evidence files kept by their SHA-256 in a folder beside the database."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from states.errors import InvalidInput, RectificationError


class EvidenceDamaged(RectificationError):
    """A kept evidence file is missing, or no longer has its hash."""

    def __init__(self, sha256: str):
        self.sha256 = sha256
        super().__init__(f"Evidence file {sha256} is missing or altered in the evidence store; "
                         "run `rectify audit verify` and restore it from a backup")


@dataclass(frozen=True)
class Stored:
    """What is known of an evidence file once it is kept."""

    sha256: str
    name: str
    size: int


def note_hash(text: str) -> str:
    """The SHA-256 of a note, as recorded in history."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EvidenceStore:
    """A content-addressed folder: each file at `<root>/<first two hex>/<sha256>`."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the file with this hash is (or would be) kept."""
        return self.root / sha256[:2] / sha256

    def put(self, source: Path) -> Stored:
        """Copy `source` in (written to a temporary name, then renamed, so never half there)."""
        if not source.is_file():
            raise InvalidInput("--evidence", f"{str(source)!r} is not a readable file")
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path(sha)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Stored(sha, source.name, size)

    def verify(self, sha256: str) -> bool:
        """Whether the kept file is there and still has its hash."""
        p = self.path(sha256)
        if not p.is_file():
            return False
        h = hashlib.sha256()
        with p.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest() == sha256


def copy_out(store: EvidenceStore, sha256: str, target: Path) -> None:
    """Copy a kept file out (for audit packets and downloads)."""
    shutil.copyfile(store.path(sha256), target)
