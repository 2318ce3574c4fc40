"""Who may read what through the API, and the refusals it records for the auditors.

Reads (decided here; the domain decides the writes):

- everyone signed in: the ledger and a measure's detail (without its evidence), inspections, the
  problem tree, rebound checks, statistics, the published report and the ledger as CSV;
- a measure's evidence (the list and the files) and its history: its owner, verifier and leader,
  and every overseer: a person with the leader, auditor or admin role;
- the history search: overseers see everything; anyone else sees only the measures they hold a
  part in now (a list is narrowed quietly; naming someone else's measure is refused);
- refused attempts: overseers all of them; anyone else their own;
- reminders: overseers all of them; anyone else those of the measures they hold a part in;
- the ledger workbook (xlsx, which carries the people sheet with their addresses): overseers.

Writes: events, evidence, extensions and outcome figures are checked by the domain against the
parts held on the measure (states/permissions.py). An auditor writes nothing, refused here first
even where they hold a part. A plan import is for admins. Every refusal made here is written to
the access log, as the services do for the refusals they make.
"""

from __future__ import annotations

from typing import NoReturn

from states.errors import PermissionDenied
from states.model import Role
from states.permissions import Actor
from storage.tables import AccessLogRow

from ..app import App

OVERSEERS = frozenset({Role.LEADER, Role.AUDITOR, Role.ADMIN})
PARTS_OR_OVERSEER = "only its owner, verifier or leader, or a person with the leader, auditor or admin role may"


class Forbidden(PermissionDenied):
    """A read or a command the API refuses before the domain is asked."""

    def __init__(self, actor: str, what: str, measure: str, why: str):
        super().__init__(actor, what, measure, why)
        Exception.__init__(self, f"{actor} may not {what}: {why}")


def oversees(actor: Actor) -> bool:
    """Whether the person reads everything (leaders, auditors, admins)."""
    return bool(actor.roles & OVERSEERS)


def holds_part(actor: Actor, owner: str, verifier: str, leader: str) -> bool:
    """Whether the person is the measure's owner, verifier or leader."""
    return actor.handle in (owner, verifier, leader)


def sees_inside(actor: Actor, owner: str, verifier: str, leader: str) -> bool:
    """Whether the person may read a measure's evidence and history."""
    return oversees(actor) or holds_part(actor, owner, verifier, leader)


def held(app: App, actor: Actor) -> set[int]:
    """The ids of the measures the person holds a part in."""
    with app.uow(read_only=True) as uow:
        return uow.measures.held_by(actor.handle)


def refuse(app: App, actor: Actor, action: str, what: str, why: str, measure: str = "") -> NoReturn:
    """Record the refusal in the access log, then raise it (403)."""
    with app.uow() as uow:
        uow.access_log.add(AccessLogRow(at=app.clock(), actor=actor.handle, event=action, measure=measure,
                                        outcome="denied", message=f"{actor.handle} may not {what}: {why}",
                                        request_id=app.request_id))
        uow.commit()
    raise Forbidden(actor.handle, what, measure, why)


def ensure_inside(app: App, actor: Actor, action: str, code: str, owner: str, verifier: str, leader: str) -> None:
    """Refuse (and record) a read of a measure's evidence or history by an outsider."""
    if not sees_inside(actor, owner, verifier, leader):
        refuse(app, actor, action, f"{action.replace('_', ' ')} of measure {code}", PARTS_OR_OVERSEER, code)


def ensure_writer(app: App, actor: Actor, action: str, code: str) -> None:
    """Refuse (and record) any change asked by an auditor: auditors read everything and write nothing."""
    if Role.AUDITOR in actor.roles:
        refuse(app, actor, action, f"{action.replace('_', ' ')} measure {code}",
               "an auditor reads everything and changes nothing", code)


def ensure_role(app: App, actor: Actor, roles: frozenset[Role], action: str, what: str) -> None:
    """Refuse (and record) what only people with one of `roles` may do."""
    if not actor.roles & roles:
        names = " or ".join(sorted(str(r) for r in roles))
        refuse(app, actor, action, what, f"only a person with the {names} role may do that")
