"""The storage contract, run against every database we support: a SQLite file and PostgreSQL.

Whatever the backend: an import is all or nothing; a transition writes state and one history row
together; a stale version writes nothing; refusals are logged; evidence files are kept by hash;
the due date moves only through an approved extension; the audit holds.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from states.chain import GENESIS
from states.errors import (
    ConcurrentUpdate,
    InvalidInput,
    InvalidPlan,
    NotFound,
    PermissionDenied,
    RectificationError,
    TransitionRefused,
)
from states.model import Event
from storage import migrate
from storage.tables import HistoryRow
from workflow import audit, importer, services
from workflow.app import App
from workflow.clock import ManualClock
from workflow.plan import Plan

from ..conftest import AppFactory
from ..support import count, counts, history_rows, make_plan, measure_row, plan_data

M = "b1-1.1.1"  # alice owns it, checker verifies, boss leads


@pytest.fixture
def app(make_app: AppFactory, db_url: str) -> App:
    """The small plan on the backend under test."""
    return make_app(db_url)


def test_the_schema_is_at_the_newest_revision_and_upgrading_again_changes_nothing(app: App) -> None:
    before = counts(app)
    migrate.upgrade(app.engine)
    current, head = migrate.status(app.engine)
    assert current == head != ""
    assert counts(app) == before


def _clashing_person() -> dict[str, Any]:
    data = plan_data("round-2", "b2")
    data["units"] = [{"code": "audit-office", "name": "审计科"}]
    data["people"].insert(0, {"id": "carol", "name": "新人", "roles": ["owner"]})
    alice = next(p for p in data["people"] if p["id"] == "alice")
    alice["name"] = "另一个爱丽丝"
    return data


def _body_from_another_round() -> dict[str, Any]:
    data = plan_data("round-2", "b2", measures=3)
    data["people"].insert(0, {"id": "carol", "name": "新人", "roles": ["owner"]})
    second = plan_data("x", "b1", measures=1)["bodies"][0]  # b1 is the small plan's body
    data["bodies"].append(second)  # b2 goes in whole before b1 is found to clash
    return data


@pytest.mark.parametrize(("plan", "where", "problem"), [
    (_clashing_person, "people[", "person 'alice' already exists as '办公室主任'"),
    (_body_from_another_round, "bodies[1].code", "body 'b1' is already in the ledger"),
], ids=["person-clash", "body-clash-after-a-whole-body"])
def test_a_plan_failing_midway_leaves_no_rows(app: App, plan: Any, where: str, problem: str) -> None:
    before = counts(app)
    checked = Plan.model_validate(plan())
    with pytest.raises(InvalidPlan) as refused:
        importer.import_plan(app, checked, "round-2.yaml")
    assert refused.value.file == "round-2.yaml"
    assert refused.value.where.startswith(where)
    assert problem in str(refused.value)
    assert counts(app) == before
    assert count(app, "person", "handle = 'carol'") == 0
    assert audit.verify(app).ok


def test_a_plan_cannot_be_imported_twice(app: App) -> None:
    before = counts(app)
    with pytest.raises(InvalidPlan, match="'test-round' was already imported"):
        importer.import_plan(app, Plan.model_validate(plan_data("test-round", "b7")), "again.yaml")
    assert counts(app) == before


def test_a_second_round_reuses_people_and_adds_its_own_measures(app: App) -> None:
    result = importer.import_plan(app, make_plan("round-2", "b2", measures=4), "round-2.yaml")
    assert (result.measures, result.people) == (4, 0)
    assert count(app, "person") == 7
    assert count(app, "measure") == 3 + 4
    assert count(app, "history") == 3 + 4, "each measure starts with its create record"


def test_fire_writes_the_new_state_and_one_history_row_together(app: App, clock: ManualClock) -> None:
    clock.advance(timedelta(hours=2))
    measure = services.fire(app, Event.START, M, actor="alice")
    row, history = measure_row(app, M), history_rows(app, M)
    assert (row["state"], row["version"], measure.version) == ("in_progress", 2, 2)
    assert len(history) == 2
    last = history[-1]
    assert (last["seq"], last["event"], last["from_state"], last["to_state"], last["actor"], last["role"]) == (
        2, "start", "assigned", "in_progress", "alice", "owner")
    assert last["prev_hash"] == history[0]["hash"] != GENESIS
    assert row["head"] == last["hash"] == measure.head
    assert last["request_id"] == app.request_id


def test_a_failing_history_write_takes_the_state_change_back_with_it(app: App) -> None:
    row = measure_row(app, M)
    squatter = HistoryRow(measure_id=row["id"], seq=row["version"] + 1, event="start", actor="x", role="owner",
                          at=app.clock(), prev_hash="0" * 64, hash="0" * 64)
    with app.engine.begin() as conn:
        conn.execute(HistoryRow.__table__.insert(), [squatter.model_dump(exclude={"id"})])  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError):
        services.fire(app, Event.START, M, actor="alice")
    after = measure_row(app, M)
    assert (after["state"], after["version"], after["head"]) == ("assigned", row["version"], row["head"])


def test_a_stale_expected_version_is_refused_and_writes_nothing(app: App) -> None:
    services.fire(app, Event.START, M, actor="alice", expected_version=1)
    before, history_before = measure_row(app, M), history_rows(app, M)
    with pytest.raises(ConcurrentUpdate, match="changed by someone else") as stale:
        services.add_evidence(app, M, actor="alice", notes=["会议记录"], expected_version=1)
    assert (stale.value.expected_version, stale.value.actual_version) == (1, 2)
    assert measure_row(app, M) == before
    assert history_rows(app, M) == history_before
    assert count(app, "evidence") == 0
    with app.uow(read_only=True) as uow:
        (logged,) = uow.access_log.query()
    assert (logged.outcome, logged.event, logged.actor) == ("conflict", "evidence", "alice")


def _attempts() -> list[tuple[str, Any, type[RectificationError], str]]:
    return [
        ("denied", lambda app: services.fire(app, Event.START, M, actor="bob"), PermissionDenied, "start"),
        ("refused", lambda app: services.fire(app, Event.VERIFY, M, actor="checker"), TransitionRefused, "verify"),
        ("refused", lambda app: services.decide_extension(app, M, actor="boss", approve=True), TransitionRefused,
         "extend_approve"),
        ("not_found", lambda app: services.fire(app, Event.START, "b9-9.9.9", actor="alice"), NotFound, "start"),
        ("not_found", lambda app: services.fire(app, Event.START, M, actor="mallory"), NotFound, "start"),
        ("invalid", lambda app: services.add_evidence(app, M, actor="alice", notes=["  "]), InvalidInput,
         "evidence"),
        ("conflict", lambda app: services.fire(app, Event.START, M, actor="alice", expected_version=5),
         ConcurrentUpdate, "start"),
    ]


@pytest.mark.parametrize(("outcome", "attempt", "error", "event"), _attempts(),
                         ids=[f"{o}-{i}" for i, (o, *_) in enumerate(_attempts())])
def test_a_refused_attempt_lands_in_the_access_log_and_nowhere_else(
    app: App, outcome: str, attempt: Any, error: type[RectificationError], event: str
) -> None:
    before = counts(app)
    with pytest.raises(error) as refused:
        attempt(app)
    assert counts(app) == before
    with app.uow(read_only=True) as uow:
        (logged,) = uow.access_log.query()
    assert (logged.outcome, logged.event, logged.message, logged.request_id) == (
        outcome, event, str(refused.value), app.request_id)


def test_evidence_files_are_kept_by_their_sha256_and_recorded_in_the_history(app: App, tmp_path: Path) -> None:
    content = "会议纪要 2024-08-20\n".encode() * 1000
    sha = hashlib.sha256(content).hexdigest()
    upload = tmp_path / "upload" / "纪要.docx"
    upload.parent.mkdir()
    upload.write_bytes(content)
    services.fire(app, Event.START, M, actor="alice")
    services.add_evidence(app, M, actor="alice", files=[upload], notes=["已召开专题会"])
    services.add_evidence(app, "b1-1.1.2", actor="alice", files=[upload])  # the same file on another measure

    kept = app.evidence.path(sha)
    assert kept == app.evidence.root / sha[:2] / sha
    assert kept.read_bytes() == content
    assert app.evidence.verify(sha)
    assert [p for p in app.evidence.root.rglob("*") if p.is_file()] == [kept], "one copy, no leftovers"
    if app.engine.dialect.name == "sqlite":
        db = Path(app.engine.url.database or "")
        assert app.evidence.root == db.with_name(db.stem + ".evidence"), "beside the database file"

    last = history_rows(app, M)[-1]
    note_sha = hashlib.sha256("已召开专题会".encode()).hexdigest()
    assert (last["event"], sorted(last["evidence"])) == ("evidence", sorted([sha, note_sha]))
    with app.uow(read_only=True) as uow:
        items = {e.kind: e for e in uow.evidence.of(measure_row(app, M)["id"])}
    assert (items["file"].sha256, items["file"].name, items["file"].size) == (sha, "纪要.docx", len(content))
    assert (items["note"].sha256, items["note"].note, items["file"].seq) == (note_sha, "已召开专题会", last["seq"])
    assert measure_row(app, M)["evidence_count"] == 2


def test_the_due_date_moves_only_through_an_approved_extension(app: App) -> None:
    due = measure_row(app, M)["due"]
    later, latest = date(2024, 10, 31), date(2024, 11, 30)
    services.request_extension(app, M, actor="alice", new_due=later, reason="需协调外部单位")
    assert measure_row(app, M)["due"] == due, "asking does not move it"
    with pytest.raises(TransitionRefused, match="already waiting"):
        services.request_extension(app, M, actor="alice", new_due=latest, reason="再延")
    with pytest.raises(PermissionDenied):
        services.decide_extension(app, M, actor="alice", approve=True)
    services.decide_extension(app, M, actor="boss", approve=False, reason="时间足够")
    assert measure_row(app, M)["due"] == due, "a refusal does not move it"

    services.request_extension(app, M, actor="alice", new_due=latest, reason="确需延期")
    moved = services.decide_extension(app, M, actor="boss", approve=True)
    assert moved.due == measure_row(app, M)["due"] == latest

    events = [(h["event"], h["data"].get("old_due"), h["data"].get("new_due")) for h in history_rows(app, M)[1:]]
    assert events == [
        ("extend_request", due.isoformat(), later.isoformat()),
        ("extend_refuse", due.isoformat(), later.isoformat()),
        ("extend_request", due.isoformat(), latest.isoformat()),
        ("extend_approve", due.isoformat(), latest.isoformat()),
    ]
    with app.uow(read_only=True) as uow:
        decided = [(x.status, x.decided_by) for x in uow.extensions.of(measure_row(app, M)["id"])]
    assert decided == [("refused", "boss"), ("approved", "boss")]
    with pytest.raises(TransitionRefused, match="must be after the current one"):
        services.request_extension(app, M, actor="alice", new_due=later, reason="提前")
    assert audit.verify(app).ok


def test_a_whole_life_of_a_measure_verifies(app: App, clock: ManualClock) -> None:
    steps: list[tuple[Event, str, dict[str, Any]]] = [
        (Event.START, "alice", {}),
        (Event.SUBMIT, "alice", {"reason": "已修订制度", "notes": ["制度文件"]}),
        (Event.REJECT, "checker", {"reason": "缺少会议记录"}),
        (Event.REASSIGN, "root", {"new_owner": "bob"}),
        (Event.SUBMIT, "bob", {"reason": "补充会议记录", "notes": ["会议记录"]}),
        (Event.VERIFY, "checker", {}),
        (Event.CLOSE, "boss", {}),
        (Event.REOPEN, "boss", {"reason": "问题反弹"}),
    ]
    for event, actor, kw in steps:
        clock.advance(timedelta(days=1))
        services.fire(app, event, M, actor=actor, **kw)
    row = measure_row(app, M)
    assert (row["state"], row["owner"], row["rebounds"], row["version"]) == ("in_progress", "bob", 1, 9)
    report = audit.verify(app)
    assert report.ok, report.breaks
    assert (report.measures, report.records) == (3, 3 + len(steps))
