"""Who may fire which event on which measure: denied unless a rule grants it."""

from __future__ import annotations

import pytest

from states.errors import PermissionDenied
from states.model import Event, Role
from states.permissions import SYSTEM, Actor, Assignment, may, role_for

# Each person holds one round-wide role. "own" is a measure where they hold that part (its owner,
# its verifier, its leader); "other" is a measure where somebody else holds every part. Auditors and
# admins hold no part on a measure, so both columns say the same for them.
# Y = allowed, under the role in brackets as it goes into the history; - = denied.
MATRIX = """
event           | own: owner verifier leader  auditor admin | other: owner verifier leader auditor admin
start           |      Y     -        -       -       -     |        -     -        -      -       -
submit          |      Y     -        -       -       -     |        -     -        -      -       -
evidence        |      Y     -        -       -       -     |        -     -        -      -       -
extend_request  |      Y     -        -       -       -     |        -     -        -      -       -
reject          |      -     Y        -       -       -     |        -     -        -      -       -
verify          |      -     Y        -       -       -     |        -     -        -      -       -
close           |      -     -        Y       -       -     |        -     -        -      -       -
reopen          |      -     Y        Y       -       -     |        -     -        -      -       -
reassign        |      -     -        Y       -       Y     |        -     -        -      -       Y
extend_approve  |      -     -        Y       -       -     |        -     -        -      -       -
extend_refuse   |      -     -        Y       -       -     |        -     -        -      -       -
create          |      -     -        -       -       Y     |        -     -        -      -       Y
overdue         |      -     -        -       -       -     |        -     -        -      -       -
recheck         |      -     Y        Y       -       -     |        -     -        -      -       -
rebound         |      -     -        -       -       Y     |        -     -        -      -       Y
outcome         |      Y     -        -       -       -     |        -     -        -      -       -
"""
ROLES = [Role.OWNER, Role.VERIFIER, Role.LEADER, Role.AUDITOR, Role.ADMIN]
PERSON = {Role.OWNER: "alice", Role.VERIFIER: "checker", Role.LEADER: "boss", Role.AUDITOR: "audrey",
          Role.ADMIN: "root"}
OWN = Assignment("b1-1.1.1", owner="alice", verifier="checker", leader="boss")
OTHERS = Assignment("b1-2.1.1", owner="bob", verifier="deputy", leader="deputy")


def _cases() -> list[tuple[Role, Event, str, bool]]:
    out = []
    for line in MATRIX.strip().splitlines()[1:]:
        event, own, other = (part.split() for part in line.split("|"))
        for whose, cells in (("own", own), ("other", other)):
            assert len(cells) == len(ROLES), line
            out += [(role, Event(event[0]), whose, cell == "Y") for role, cell in zip(ROLES, cells, strict=True)]
    return out


CASES = _cases()


def test_the_matrix_covers_every_role_every_event_and_both_kinds_of_measure() -> None:
    assert {(r, e, w) for r, e, w, _ in CASES} == {(r, e, w) for r in ROLES for e in Event for w in ("own", "other")}


@pytest.mark.parametrize(("role", "event", "whose", "allowed"), CASES,
                         ids=[f"{r}-{e}-{w}" for r, e, w, _ in CASES])
def test_a_role_may_fire_an_event_only_where_the_matrix_allows(role: Role, event: Event, whose: str,
                                                              allowed: bool) -> None:
    actor = Actor(PERSON[role], frozenset({role}))
    measure = OWN if whose == "own" else OTHERS
    assert may(actor, event, measure) is allowed
    if allowed:
        assert role_for(actor, event, measure) is role, "the history records the part they acted in"
    else:
        with pytest.raises(PermissionDenied) as denied:
            role_for(actor, event, measure)
        assert (denied.value.actor, denied.value.event, denied.value.measure) == (actor.handle, str(event),
                                                                                  measure.code)


def test_a_round_wide_role_without_the_part_grants_nothing_on_a_measure() -> None:
    # holding the verifier role across the round does not make you this measure's verifier
    actor = Actor("deputy", frozenset({Role.VERIFIER, Role.LEADER}))
    assert not may(actor, Event.VERIFY, OWN)
    assert not may(actor, Event.CLOSE, OWN)


def test_a_person_holding_two_parts_acts_in_the_first_part_the_rule_names() -> None:
    both = Assignment("m", owner="alice", verifier="deputy", leader="deputy")
    assert role_for(Actor("deputy"), Event.REOPEN, both) is Role.VERIFIER
    assert role_for(Actor("deputy"), Event.CLOSE, both) is Role.LEADER


def test_the_system_may_create_and_reopen_but_not_move_a_measure_along() -> None:
    assert role_for(SYSTEM, Event.CREATE, OWN) is Role.SYSTEM
    assert role_for(SYSTEM, Event.REOPEN, OWN) is Role.SYSTEM  # a failed rebound check
    for event in (Event.START, Event.SUBMIT, Event.VERIFY, Event.CLOSE, Event.REASSIGN):
        assert not may(SYSTEM, event, OWN)


def test_a_denial_says_who_may_do_it_instead() -> None:
    with pytest.raises(PermissionDenied) as denied:
        role_for(Actor("bob", frozenset({Role.OWNER})), Event.REASSIGN, OWN)
    assert str(denied.value) == ("bob may not reassign measure b1-1.1.1: only its leader (boss) or a person with "
                                 "the admin role may do that")


def test_an_unknown_person_with_no_roles_is_denied_everything() -> None:
    nobody = Actor("ghost")
    assert not [e for e in Event if may(nobody, e, OWN)]
