"""REST: measures (the ledger) and their detail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .. import ledger
from .deps import ActorDep, AppDep

router = APIRouter(prefix="/api", tags=["measures"])


@router.get("/measures/{ref}")
def get_measure(ref: str, app: AppDep, actor: ActorDep) -> dict[str, Any]:
    """One measure with its evidence, extensions and the events the caller may fire now."""
    return ledger.detail(app, ref, actor.handle).as_json()
