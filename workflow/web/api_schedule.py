"""REST: the reminder outbox (三色预警) and the rebound checks after close-out."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ..reminders import shown
from . import access
from .deps import ActorDep, AppDep
from .schemas import ERRORS, CheckItem, ReminderItem

router = APIRouter(prefix="/api", tags=["reminders and rechecks"], responses=ERRORS)

MeasureQ = Annotated[str | None, Query(max_length=128, description="Only this measure (code or number).")]


@router.get("/reminders", response_model=list[ReminderItem])
def reminders(app: AppDep, actor: ActorDep,
              status: Literal["pending", "sending", "sent", "cancelled"] | None = None,
              measure: MeasureQ = None) -> list[ReminderItem]:
    """The reminders, oldest first, one item per recipient and channel (`target`: its place in the reminder),
    with its state and attempts. Leaders, auditors and admins see them all;
    anyone else those of the measures they hold a part in."""
    with app.uow(read_only=True) as uow:
        mid = uow.measures.row(measure).id if measure else None
        rows = uow.schedule.reminders(status, mid)
    if not access.oversees(actor):
        mine = access.held(app, actor)
        rows = [r for r in rows if r.measure_id in mine]
    return [ReminderItem(
        id=r.id, target=r.target, measure=r.code, rule=r.rule, window=r.window, recipient=r.recipient,
        channel=r.channel, address=shown(r.address), status=r.status, attempts=r.attempts, subject=r.subject,
        created_at=r.created_at, next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
        sent_at=r.sent_at, last_error=r.last_error, cancelled_reason=r.cancelled_reason) for r in rows]


@router.get("/rechecks", response_model=list[CheckItem])
def rechecks(app: AppDep, actor: ActorDep, measure: MeasureQ = None,
             status: Literal["pending", "held", "rebounded", "cancelled"] | None = None) -> list[CheckItem]:
    """The rebound checks (防止问题反弹) by due date; everyone signed in may read them. Answer one with
    `POST /api/measures/{ref}/events/recheck`."""
    with app.uow(read_only=True) as uow:
        mid = uow.measures.row(measure).id if measure else None
        rows = uow.schedule.checks(mid)
    return [CheckItem(id=r.id, measure=r.code, close_seq=r.close_seq, due_on=r.due_on, status=r.status,
                      answered_by=r.answered_by, answered_at=r.answered_at, reason=r.reason)
            for r in rows if status is None or r.status == status]
