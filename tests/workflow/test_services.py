"""The services on a real database: the guards hold whoever the people on a measure turn out to be."""

from __future__ import annotations

import pytest

from states.errors import InvalidInput, NotFound, PermissionDenied, TransitionRefused
from states.model import Event
from workflow import importer, services
from workflow.app import App
from workflow.plan import Plan

from ..conftest import AppFactory
from ..support import make_plan, measure_row, plan_data

M = "b1-1.1.1"


@pytest.fixture
def two_hats(make_app: AppFactory) -> App:
    """A round where deputy may own measures too: p1-1.1.2 is verified by deputy, p1-1.1.3 led by deputy."""
    app = make_app(plan_file=None)
    data = plan_data("hats", "p1")
    next(p for p in data["people"] if p["id"] == "deputy")["roles"].append("owner")
    importer.import_plan(app, Plan.model_validate(data), "hats.yaml")
    return app


def test_a_verifier_who_becomes_the_owner_can_no_longer_verify(two_hats: App) -> None:
    code = "p1-1.1.2"
    services.fire(two_hats, Event.REASSIGN, code, actor="boss", new_owner="deputy")
    services.fire(two_hats, Event.START, code, actor="deputy")
    services.fire(two_hats, Event.SUBMIT, code, actor="deputy", reason="已整改", notes=["记录"])
    with pytest.raises(TransitionRefused, match="cannot verify or close their own measure"):
        services.fire(two_hats, Event.VERIFY, code, actor="deputy")
    assert measure_row(two_hats, code)["state"] == "submitted"


def test_a_leader_who_becomes_the_owner_can_no_longer_close(two_hats: App) -> None:
    code = "p1-1.1.3"
    services.fire(two_hats, Event.START, code, actor="alice")
    services.fire(two_hats, Event.SUBMIT, code, actor="alice", reason="已整改", notes=["记录"])
    services.fire(two_hats, Event.VERIFY, code, actor="deputy")
    services.fire(two_hats, Event.REASSIGN, code, actor="root", new_owner="deputy")
    with pytest.raises(TransitionRefused, match="cannot verify or close their own measure"):
        services.fire(two_hats, Event.CLOSE, code, actor="deputy")
    assert measure_row(two_hats, code)["state"] == "verified"


@pytest.mark.parametrize(("new_owner", "error", "says"), [
    (None, TransitionRefused, "a new owner different from the current one is required"),
    ("alice", TransitionRefused, "a new owner different from the current one is required"),
    ("checker", InvalidInput, "'checker' does not have the owner role"),
    ("ghost", NotFound, "No person 'ghost' was found"),
])
def test_a_reassignment_needs_a_different_person_who_can_own_measures(app: App, new_owner: str | None,
                                                                       error: type[Exception], says: str) -> None:
    before = measure_row(app, M)
    with pytest.raises(error, match=says):
        services.fire(app, Event.REASSIGN, M, actor="boss", new_owner=new_owner)
    assert measure_row(app, M) == before


def test_reassignment_keeps_the_state_and_hands_over_the_owner_part(app: App) -> None:
    services.fire(app, Event.START, M, actor="alice")
    services.fire(app, Event.REASSIGN, M, actor="boss", new_owner="bob", reason="岗位调整")
    row = measure_row(app, M)
    assert (row["state"], row["owner"]) == ("in_progress", "bob")
    with pytest.raises(PermissionDenied, match="alice may not submit"):
        services.fire(app, Event.SUBMIT, M, actor="alice", reason="done", notes=["n"])
    services.fire(app, Event.SUBMIT, M, actor="bob", reason="done", notes=["n"])


def test_a_measure_is_found_by_its_id_as_well_as_its_code(app: App) -> None:
    row = measure_row(app, M)
    assert services.fire(app, Event.START, row["id"], actor="alice").code == M
    assert measure_row(app, M)["state"] == "in_progress"


def test_an_event_that_is_not_a_machine_event_is_refused_by_fire(app: App) -> None:
    with pytest.raises(InvalidInput, match="not a state-machine event"):
        services.fire(app, Event.EVIDENCE, M, actor="alice")


def test_plans_build_in_code_import_like_files(make_app: AppFactory) -> None:
    app = make_app(plan_file=None)
    result = importer.import_plan(app, make_plan("r", "x1", measures=5), "r.yaml")
    assert (result.bodies, result.problems, result.measures, result.people) == (1, 1, 5, 7)
