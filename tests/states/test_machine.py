"""The measure state machine: its transition table, its guards, and the checks made when it is built."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from transitions import Machine

from states.errors import TransitionRefused
from states.machine import TRANSITIONS, Attempt, _plain, allowed_from, build_machine, fire, mermaid, validate
from states.model import MACHINE_EVENTS, Event, State

# Every state × every machine event, with every guard satisfied: the state it leads to, or "-" (refused).
MATRIX = """
state         start        submit     reject       verify    close   reopen       reassign
assigned      in_progress  -          -            -         -       -            assigned
in_progress   -            submitted  -            -         -       -            in_progress
submitted     -            -          in_progress  verified  -       -            submitted
verified      -            -          -            -         closed  in_progress  verified
closed        -            -          -            -         -       in_progress  -
"""


def _matrix() -> list[tuple[State, Event, State | None]]:
    header, *rows = [line.split() for line in MATRIX.strip().splitlines()]
    events = [Event(e) for e in header[1:]]
    return [(State(row[0]), e, None if cell == "-" else State(cell)) for row in rows for e, cell in zip(events, row[1:],
                                                                                                       strict=True)]


CASES = _matrix()


def willing(state: State, **changes: Any) -> Attempt:
    """An attempt every guard accepts: a verifier acting, with a reason, evidence and a new owner."""
    attempt = Attempt(state=str(state), measure="b1-1.1.1", actor="checker", owner="alice", reason="已整改",
                      evidence_count=1, new_owner="bob")
    return replace(attempt, **changes)


def test_the_matrix_covers_every_state_and_every_machine_event() -> None:
    assert {(s, e) for s, e, _ in CASES} == {(s, e) for s in State for e in MACHINE_EVENTS}


@pytest.mark.parametrize(("state", "event", "expected"), CASES, ids=[f"{s}-{e}" for s, e, _ in CASES])
def test_an_event_leads_where_the_table_says_or_is_refused(state: State, event: Event, expected: State | None) -> None:
    attempt = willing(state)
    if expected is None:
        with pytest.raises(TransitionRefused) as refused:
            fire(event, attempt)
        assert (refused.value.event, refused.value.state) == (str(event), str(state))
        assert f"not possible from {state.label}" in str(refused.value)
        assert attempt.state == str(state)
    else:
        assert fire(event, attempt) is expected
        assert attempt.state == str(expected)


@pytest.mark.parametrize("state", list(State))
def test_allowed_from_lists_exactly_the_events_the_table_allows(state: State) -> None:
    assert allowed_from(state) == [e for s, e, to in CASES if s is state and to is not None]


# (event, state, what is missing, words of the refusal)
GUARDS: list[tuple[Event, State, dict[str, Any], str]] = [
    (Event.SUBMIT, State.IN_PROGRESS, {"reason": ""}, "summary"),
    (Event.SUBMIT, State.IN_PROGRESS, {"reason": "   "}, "summary"),
    (Event.SUBMIT, State.IN_PROGRESS, {"evidence_count": 0}, "evidence"),
    (Event.REJECT, State.SUBMITTED, {"reason": ""}, "reason is required"),
    (Event.REJECT, State.SUBMITTED, {"reason": " \t"}, "reason is required"),
    (Event.REOPEN, State.VERIFIED, {"reason": ""}, "reason is required"),
    (Event.REOPEN, State.CLOSED, {"reason": ""}, "reason is required"),
    (Event.VERIFY, State.SUBMITTED, {"actor": "alice"}, "owner cannot verify or close"),
    (Event.CLOSE, State.VERIFIED, {"actor": "alice"}, "owner cannot verify or close"),
    (Event.REASSIGN, State.IN_PROGRESS, {"new_owner": None}, "new owner"),
    (Event.REASSIGN, State.IN_PROGRESS, {"new_owner": ""}, "new owner"),
    (Event.REASSIGN, State.ASSIGNED, {"new_owner": "alice"}, "new owner different from the current one"),
]


@pytest.mark.parametrize(("event", "state", "missing", "why"), GUARDS,
                         ids=[f"{e}-without-{'-'.join(m)}" for e, _, m, _ in GUARDS])
def test_a_guard_refuses_an_attempt_that_lacks_what_it_needs(
    event: Event, state: State, missing: dict[str, Any], why: str
) -> None:
    attempt = willing(state, **missing)
    with pytest.raises(TransitionRefused) as refused:
        fire(event, attempt)
    assert why in refused.value.why
    assert attempt.state == str(state), "a refused attempt keeps its state"


def test_a_submit_lacking_both_summary_and_evidence_names_the_first_missing_thing() -> None:
    with pytest.raises(TransitionRefused, match="summary"):
        fire(Event.SUBMIT, willing(State.IN_PROGRESS, reason="", evidence_count=0))


def _table_without(*drop: tuple[Event, str | None]) -> list[dict[str, Any]]:
    """The real table minus some transitions (event, or (event, one of its sources))."""
    out = []
    for t in _plain(TRANSITIONS):
        for event, source in drop:
            if t["trigger"] == str(event) and source is None:
                break
            if t["trigger"] == str(event) and isinstance(t["source"], list) and source in t["source"]:
                t = {**t, "source": [s for s in t["source"] if s != source]}
        else:
            out.append(t)
    return out


def _machine(transitions: list[dict[str, Any]], states: list[str] | None = None) -> Machine:
    return Machine(model=None, states=states or [str(s) for s in State], transitions=transitions, initial=None,
                   auto_transitions=False, send_event=True)


def test_the_real_table_passes_validation() -> None:
    validate(build_machine())


def test_validation_refuses_a_state_nothing_leads_to() -> None:
    table = _table_without((Event.CLOSE, None))  # nothing leads to closed any more
    with pytest.raises(ValueError, match=r"unreachable states: \['closed'\]"):
        validate(_machine(table))


def test_validation_refuses_an_extra_state_nothing_leads_to() -> None:
    states = [str(s) for s in State] + ["limbo"]
    table = [*_plain(TRANSITIONS), {"trigger": "start", "source": "limbo", "dest": "assigned"}]
    with pytest.raises(ValueError, match=r"unreachable states: \['limbo'\]"):
        validate(_machine(table, states))


def test_validation_refuses_a_state_with_no_way_out() -> None:
    table = _table_without((Event.REOPEN, str(State.CLOSED)))  # closed could never be reopened
    with pytest.raises(ValueError, match=r"dead-end states: \['closed'\]"):
        validate(_machine(table))


def test_validation_counts_a_way_back_to_the_same_state_as_no_way_out() -> None:
    states = ["assigned", "in_progress"]
    table: list[dict[str, Any]] = [
        {"trigger": "start", "source": "assigned", "dest": "in_progress"},
        {"trigger": "reassign", "source": ["assigned", "in_progress"], "dest": "="},
        {"trigger": "reopen", "source": "in_progress", "dest": "in_progress"},
    ]
    with pytest.raises(ValueError, match=r"dead-end states: \['in_progress'\]"):
        validate(_machine(table, states))


def test_validation_refuses_an_event_that_is_not_a_machine_event() -> None:
    table = [*_plain(TRANSITIONS), {"trigger": "archive", "source": "closed", "dest": "assigned"}]
    with pytest.raises(ValueError, match="'archive' is not a machine event"):
        validate(_machine(table))


def test_the_diagram_is_drawn_from_the_same_table() -> None:
    edges = {line.strip() for line in mermaid().splitlines() if "-->" in line}
    expected = {f"{s} --> {to}: {e}" for s, e, to in CASES if to is not None} | {"[*] --> assigned"}
    assert edges == expected
