"""Who may fire which event on which measure: denied unless a rule grants it."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PermissionDenied
from .model import Event, Role


@dataclass(frozen=True)
class Actor:
    """A person acting, with the round-wide roles they hold."""

    handle: str
    roles: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class Assignment:
    """Who holds each part on one measure."""

    code: str
    owner: str
    verifier: str
    leader: str


SYSTEM = Actor("system", frozenset({Role.SYSTEM}))

# event -> the measure parts (and round-wide roles) that may fire it, in order of preference
_BY_PART: dict[Event, tuple[Role, ...]] = {
    Event.START: (Role.OWNER,),
    Event.SUBMIT: (Role.OWNER,),
    Event.EVIDENCE: (Role.OWNER,),
    Event.EXTEND_REQUEST: (Role.OWNER,),
    Event.REJECT: (Role.VERIFIER,),
    Event.VERIFY: (Role.VERIFIER,),
    Event.CLOSE: (Role.LEADER,),
    Event.EXTEND_APPROVE: (Role.LEADER,),
    Event.EXTEND_REFUSE: (Role.LEADER,),
    Event.REOPEN: (Role.VERIFIER, Role.LEADER),
    Event.REASSIGN: (Role.LEADER,),
    Event.RECHECK: (Role.VERIFIER, Role.LEADER),
    Event.OUTCOME: (Role.OWNER,),
}
_BY_ROUND_ROLE: dict[Event, tuple[Role, ...]] = {
    Event.REASSIGN: (Role.ADMIN,),
    Event.CREATE: (Role.ADMIN, Role.SYSTEM),
    Event.REOPEN: (Role.SYSTEM,),
    Event.OVERDUE: (Role.SYSTEM,),
    Event.REBOUND: (Role.ADMIN, Role.SYSTEM),
}


def _holder(m: Assignment, part: Role) -> str:
    return {Role.OWNER: m.owner, Role.VERIFIER: m.verifier, Role.LEADER: m.leader}[part]


def role_for(actor: Actor, event: Event, measure: Assignment) -> Role:
    """The role under which `actor` may fire `event` on `measure`, or PermissionDenied."""
    for part in _BY_PART.get(event, ()):
        if _holder(measure, part) == actor.handle:
            return part
    for role in _BY_ROUND_ROLE.get(event, ()):
        if role in actor.roles:
            return role
    parts = [f"its {p.value} ({_holder(measure, p)})" for p in _BY_PART.get(event, ())]
    parts += [f"a person with the {r.value} role" for r in _BY_ROUND_ROLE.get(event, ()) if r is not Role.SYSTEM]
    who = " or ".join(parts) if parts else "nobody"
    return _deny(actor, event, measure, f"only {who} may do that")


def _deny(actor: Actor, event: Event, measure: Assignment, why: str) -> Role:
    raise PermissionDenied(actor.handle, str(event), measure.code, why)


def may(actor: Actor, event: Event, measure: Assignment) -> bool:
    """Whether `actor` holds a part that lets them fire `event` on `measure`."""
    try:
        role_for(actor, event, measure)
    except PermissionDenied:
        return False
    return True
