"""REST: evidence files by their SHA-256, for the measure's people and overseers, hash checked."""

from __future__ import annotations

import mimetypes
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from states.errors import NotFound
from storage.blobs import EvidenceDamaged

from . import access
from .deps import ActorDep, AppDep
from .schemas import ERRORS, ErrorOut

router = APIRouter(prefix="/api/evidence", tags=["evidence"], responses=ERRORS)


FILE = {"description": "The file, as it was handed in", "content": {"application/octet-stream": {}}}
GONE = {"description": "The kept file is missing or altered", "model": ErrorOut}
Sha256 = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="The file's SHA-256 (lower-case hex).")]


@router.get("/{sha256}", response_class=FileResponse, responses={200: FILE, 410: GONE})
def download(sha256: Sha256, app: AppDep, actor: ActorDep) -> FileResponse:
    """An evidence file, after checking that it still has its hash. For the owner, verifier or leader of a
    measure that holds it, and for leaders, auditors and admins."""
    with app.uow(read_only=True) as uow:
        holders = uow.evidence.holders(sha256)
    if not holders:
        raise NotFound("evidence file", sha256)
    mine = [(e, m) for e, m in holders if access.sees_inside(actor, m.owner, m.verifier, m.leader)]
    if not mine:
        m = holders[0][1]
        access.refuse(app, actor, "read_evidence", f"read the evidence of measure {m.code}",
                      access.PARTS_OR_OVERSEER, m.code)
    if not app.evidence.verify(sha256):
        raise EvidenceDamaged(sha256)
    name = mine[0][0].name or sha256
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    disposition = f"attachment; filename*=UTF-8''{quote(name)}"
    return FileResponse(app.evidence.path(sha256), media_type=media, headers={
        "Content-Disposition": disposition, "ETag": f'"{sha256}"', "X-Content-SHA256": sha256})
