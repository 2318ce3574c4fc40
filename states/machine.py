"""The measure state machine, declared once with `transitions` and checked when built.

The machine is never bound to ORM rows: one module-level `Machine(model=None)` runs the
guards on a small `Attempt` object, and `fire()` turns a refusal into `TransitionRefused`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine, MachineError
from transitions.core import EventData

from .errors import TransitionRefused
from .model import MACHINE_EVENTS, Event, State


@dataclass
class Attempt:
    """One try at an event: what the guards look at, and why they said no."""

    state: str
    measure: str
    actor: str
    owner: str
    reason: str = ""
    evidence_count: int = 0
    new_owner: str | None = None
    refusal: str = field(default="", init=False)


def _guard(why: str) -> Callable[[Callable[[Attempt], bool]], Callable[[EventData], bool]]:
    """Wrap a predicate so a refusal leaves its reason on the attempt."""

    def decorate(check: Callable[[Attempt], bool]) -> Callable[[EventData], bool]:
        def guard(event: EventData) -> bool:
            attempt = event.model
            assert isinstance(attempt, Attempt)
            ok = bool(check(attempt))
            if not ok and not attempt.refusal:
                attempt.refusal = why
            return ok

        guard.__name__ = check.__name__
        guard.__doc__ = why
        return guard

    return decorate


@_guard("a summary of what was done is required")
def has_summary(a: Attempt) -> bool:
    return bool(a.reason.strip())


@_guard("at least one evidence item is required (--note or --evidence)")
def has_evidence(a: Attempt) -> bool:
    return a.evidence_count > 0


@_guard("a reason is required (--reason)")
def has_reason(a: Attempt) -> bool:
    return bool(a.reason.strip())


@_guard("the measure's owner cannot verify or close their own measure")
def actor_is_not_owner(a: Attempt) -> bool:
    return a.actor != a.owner


@_guard("a new owner different from the current one is required (--to)")
def new_owner_differs(a: Attempt) -> bool:
    return bool(a.new_owner) and a.new_owner != a.owner


S = State
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": Event.START, "source": S.ASSIGNED, "dest": S.IN_PROGRESS},
    {
        "trigger": Event.SUBMIT,
        "source": S.IN_PROGRESS,
        "dest": S.SUBMITTED,
        "conditions": [has_summary, has_evidence],
    },
    {"trigger": Event.REJECT, "source": S.SUBMITTED, "dest": S.IN_PROGRESS, "conditions": [has_reason]},
    {"trigger": Event.VERIFY, "source": S.SUBMITTED, "dest": S.VERIFIED, "conditions": [actor_is_not_owner]},
    {"trigger": Event.CLOSE, "source": S.VERIFIED, "dest": S.CLOSED, "conditions": [actor_is_not_owner]},
    {
        "trigger": Event.REOPEN,
        "source": [S.VERIFIED, S.CLOSED],
        "dest": S.IN_PROGRESS,
        "conditions": [has_reason],
    },
    {
        "trigger": Event.REASSIGN,
        "source": [s for s in S if s is not S.CLOSED],
        "dest": "=",
        "conditions": [new_owner_differs],
    },
]


def _plain(transitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table with enum members turned into the plain strings `transitions` compares."""

    def conv(v: Any) -> Any:
        if isinstance(v, list):
            return [str(x) for x in v]
        return str(v) if isinstance(v, str) else v

    return [{k: (conv(v) if k != "conditions" else v) for k, v in t.items()} for t in transitions]


def build_machine(graph: bool = False) -> Machine:
    """Build the machine from TRANSITIONS and check it has no unreachable state or dead end."""
    kwargs: dict[str, Any] = {
        "model": None,
        "states": [str(s) for s in State],
        "transitions": _plain(TRANSITIONS),
        "initial": None,
        "auto_transitions": False,
        "send_event": True,
    }
    if graph:
        from transitions.extensions import GraphMachine

        # a graph needs a model to draw; a throwaway one starting where measures start
        kwargs.update(model=type("Drawing", (), {})(), initial=str(State.ASSIGNED))
        machine: Machine = GraphMachine(graph_engine="mermaid", title="rectify measure", **kwargs)
    else:
        machine = Machine(**kwargs)
    validate(machine)
    return machine


def validate(machine: Machine) -> None:
    """Refuse a machine with an event it does not know, an unreachable state, or a dead end."""
    edges: dict[str, set[str]] = {s: set() for s in machine.states}
    for name, event in machine.events.items():
        if name not in {str(e) for e in MACHINE_EVENTS}:
            raise ValueError(f"event {name!r} is not a machine event")
        for source, transitions in event.transitions.items():
            for t in transitions:
                edges[source].add(t.dest or source)
    seen = {str(State.ASSIGNED)}
    todo = [str(State.ASSIGNED)]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    if unreachable := set(machine.states) - seen:
        raise ValueError(f"unreachable states: {sorted(unreachable)}")
    if dead := [s for s, out in edges.items() if not out - {s}]:
        raise ValueError(f"dead-end states: {sorted(dead)}")


MACHINE = build_machine()


def fire(event: Event, attempt: Attempt) -> State:
    """Run `event` on the attempt; return the new state or raise TransitionRefused."""
    try:
        ok = MACHINE.events[str(event)].trigger(attempt)
    except MachineError:
        raise TransitionRefused(
            attempt.measure, str(event), attempt.state, f"not possible from {State(attempt.state).label}"
        ) from None
    if not ok:
        raise TransitionRefused(attempt.measure, str(event), attempt.state, attempt.refusal)
    return State(attempt.state)


def allowed_from(state: State) -> list[Event]:
    """The machine events that can leave (or keep) `state`, guards aside."""
    return [e for e in MACHINE_EVENTS if str(state) in MACHINE.events[str(e)].transitions]


def mermaid() -> str:
    """The state diagram in Mermaid, drawn from the same definition."""
    machine = build_machine(graph=True)
    text = str(machine.models[0].get_graph().draw(None))
    # drop the styling that marks a "current" state: the diagram is of the definition
    keep = [ln for ln in text.splitlines() if not ln.strip().startswith(("classDef", "Class "))]
    return "\n".join(ln for i, ln in enumerate(keep) if ln.strip() or (i and keep[i - 1].strip())) + "\n"
