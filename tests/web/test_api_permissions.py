"""The permission matrix over HTTP: every role × every event a person can ask for × own or other's measure.

The same table as tests/states/test_permissions.py, asked through the API: the measure is first
brought to a state where the event is legal, so an allowed person gets 200 (and the history names
the part they acted in), and anyone else gets 403, recorded in the access log, with nothing changed.
create, overdue and rebound are not HTTP events (imports and sweeps make them) and are left out;
the auditor's column differs from the domain's only where the API refuses first (never here: the
domain grants auditors nothing either).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from states.model import Event, Role
from workflow import importer, services
from workflow.app import App
from workflow.clock import ManualClock
from workflow.plan import Plan
from workflow.web.server import create_app

from ..states.test_permissions import CASES
from ..support import START, count, history_rows, open_test_app, plan_data
from .api_support import bearer, make_tokens, one_line

PERSON = {Role.OWNER: "alice", Role.VERIFIER: "checker", Role.LEADER: "boss", Role.AUDITOR: "audrey",
          Role.ADMIN: "root"}
# own: alice's, verified by checker, led by boss; other: somebody else holds every part
MEASURES = {"own": ("p-1.1.1", "alice", "checker", "boss"), "other": ("p-1.1.2", "bob", "deputy", "deputy")}
NOT_HTTP = {Event.CREATE, Event.OVERDUE, Event.REBOUND}
HTTP_CASES = [c for c in CASES if c[1] not in NOT_HTTP]


def _plan() -> Plan:
    data = plan_data("perm-round", "p", measures=2)
    measures = data["bodies"][0]["headings"][0]["problems"][0]["measures"]
    for m, (_, owner, verifier, leader) in zip(measures, MEASURES.values(), strict=True):
        m.update(owner=owner, verifier=verifier, leader=leader)
    return Plan.model_validate(data)


# what brings a measure to where the event is legal: (event, person part) steps through the services
Step = tuple[Event, str, dict[str, Any]]
DONE = {"reason": "已完成", "notes": ["见附件"]}
BEFORE: dict[Event, list[Step]] = {
    Event.START: [],
    Event.SUBMIT: [(Event.START, "owner", {})],
    Event.EVIDENCE: [],
    Event.EXTEND_REQUEST: [],
    Event.REJECT: [(Event.START, "owner", {}), (Event.SUBMIT, "owner", DONE)],
    Event.VERIFY: [(Event.START, "owner", {}), (Event.SUBMIT, "owner", DONE)],
    Event.CLOSE: [(Event.START, "owner", {}), (Event.SUBMIT, "owner", DONE), (Event.VERIFY, "verifier", {})],
    Event.REOPEN: [(Event.START, "owner", {}), (Event.SUBMIT, "owner", DONE), (Event.VERIFY, "verifier", {})],
    Event.REASSIGN: [],
    Event.EXTEND_APPROVE: [(Event.EXTEND_REQUEST, "owner", {})],
    Event.EXTEND_REFUSE: [(Event.EXTEND_REQUEST, "owner", {})],
    Event.RECHECK: [(Event.START, "owner", {}), (Event.SUBMIT, "owner", DONE), (Event.VERIFY, "verifier", {}),
                    (Event.CLOSE, "leader", {})],
    Event.OUTCOME: [],
}
# how each event is asked over HTTP: (path under the measure, JSON body)
REQUEST: dict[Event, tuple[str, dict[str, Any]]] = {
    Event.START: ("events/start", {}),
    Event.SUBMIT: ("events/submit", DONE),
    Event.EVIDENCE: ("evidence", {"notes": ["会议纪要"]}),
    Event.EXTEND_REQUEST: ("extensions", {"new_due": "2024-12-31", "reason": "需要时间"}),
    Event.REJECT: ("events/reject", {"reason": "佐证不足"}),
    Event.VERIFY: ("events/verify", {}),
    Event.CLOSE: ("events/close", {}),
    Event.REOPEN: ("events/reopen", {"reason": "问题反弹"}),
    Event.REASSIGN: ("events/reassign", {"new_owner": "bob", "reason": "调整分工"}),
    Event.EXTEND_APPROVE: ("extensions/approve", {}),
    Event.EXTEND_REFUSE: ("extensions/refuse", {"reason": "不予延期"}),
    Event.RECHECK: ("events/recheck", {"outcome": "held", "reason": "未反弹"}),
    Event.OUTCOME: ("outcome", {"rules": 1}),
}


def _step(app: App, event: Event, code: str, actor: str, kw: dict[str, Any]) -> None:
    if event is Event.EXTEND_REQUEST:
        from datetime import date

        services.request_extension(app, code, actor=actor, new_due=date(2024, 12, 31), reason="需要时间")
    else:
        services.fire(app, event, code, actor=actor, **kw)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Event, str], Path]]:
    """A database file per (event, own/other): the measure brought to where the event is legal; made once."""
    folder = tmp_path_factory.mktemp("matrix")
    base = folder / "base.db"
    a = open_test_app(str(base))
    from storage import migrate

    migrate.upgrade(a.engine)
    importer.import_plan(a, _plan(), "perm-plan")
    tokens = make_tokens(a)
    a.engine.dispose()
    made: dict[tuple[Event, str], Path] = {}

    def get(event: Event, whose: str) -> Path:
        if (event, whose) not in made:
            db = folder / f"{event}-{whose}.db"
            shutil.copyfile(base, db)
            clock = ManualClock(START)
            prep = open_test_app(str(db), clock=clock)
            code, *parts = MEASURES[whose]
            holders = dict(zip(("owner", "verifier", "leader"), parts, strict=True))
            for e, part, kw in BEFORE[event]:
                clock.advance(timedelta(hours=1))
                _step(prep, e, code, holders[part], kw)
            prep.engine.dispose()
            made[(event, whose)] = db
        return made[(event, whose)]

    get.tokens = tokens  # type: ignore[attr-defined]
    yield get


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FastAPI, TestClient]]:
    """One web app for the whole matrix; each case points it at its own database."""
    web = create_app(open_test_app("sqlite:///:memory:"), session_secret="tests")
    with TestClient(web) as c:
        yield web, c


@pytest.mark.parametrize(("role", "event", "whose", "allowed"), HTTP_CASES,
                         ids=[f"{r}-{e}-{w}" for r, e, w, _ in HTTP_CASES])
def test_an_http_request_is_allowed_only_where_the_matrix_allows(
        role: Role, event: Event, whose: str, allowed: bool, prepared: Callable[[Event, str], Path],
        server: tuple[FastAPI, TestClient], tmp_path: Path) -> None:
    db = tmp_path / "case.db"
    shutil.copyfile(prepared(event, whose), db)
    # a rebound check falls due months after the close-out
    clock = ManualClock(START + timedelta(days=400 if event is Event.RECHECK else 1))
    app = open_test_app(str(db), clock=clock)
    web, client = server
    web.state.rectify = app
    code = MEASURES[whose][0]
    person = PERSON[role]
    before = len(history_rows(app, code))
    path, body = REQUEST[event]
    if event is Event.REASSIGN and whose == "other":
        body = {**body, "new_owner": "alice"}  # to someone other than its owner
    token = prepared.tokens[person]  # type: ignore[attr-defined]
    try:
        r = client.post(f"/api/measures/{code}/{path}", headers=bearer(token), json=body)
        if allowed:
            assert r.status_code == 200, r.text
            rows = history_rows(app, code)
            assert len(rows) == before + 1
            assert (rows[-1]["event"], rows[-1]["actor"], rows[-1]["role"]) == (str(event), person, str(role))
        else:
            assert r.status_code == 403, r.text
            assert one_line(r.json()).startswith(f"{person} may not")
            assert len(history_rows(app, code)) == before, "a refused request changes nothing"
            assert count(app, "access_log", "actor = :who AND outcome = 'denied'", who=person) == 1
    finally:
        app.engine.dispose()


def test_the_http_matrix_covers_every_http_event() -> None:
    assert {e for _, e, _, _ in HTTP_CASES} == set(REQUEST) == set(BEFORE) == set(Event) - NOT_HTTP


# Reads that not everyone may do, asked over HTTP of the "own" measure (alice's, verified by checker, led
# by boss): Y = 200, - = 403 (recorded). deputy holds the leader role (and no part on this measure);
# bob and checker hold no overseeing role, checker is this measure's verifier.
READS = """
read                 | alice bob checker boss deputy audrey root
measure_history      |   Y    -     Y      Y     Y      Y     Y
evidence_file        |   Y    -     Y      Y     Y      Y     Y
history_of_measure   |   Y    -     Y      Y     Y      Y     Y
ledger_workbook      |   -    -     -      Y     Y      Y     Y
history_export       |   -    -     -      Y     Y      Y     Y
report_with_evidence |   -    -     -      Y     Y      Y     Y
plan_import          |   -    -     -      -     -      -     Y
"""
NOTE = b"meeting minutes, signed\n"


def _reads() -> list[tuple[str, str, bool]]:
    lines = READS.strip().splitlines()
    people = lines[0].split("|")[1].split()
    out = []
    for line in lines[1:]:
        name, cells = line.split("|")
        out += [(name.strip(), who, cell == "Y") for who, cell in zip(people, cells.split(), strict=True)]
    return out


READ_CASES = _reads()


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory, prepared: Callable[[Event, str], Path]
          ) -> Iterator[tuple[TestClient, App, dict[str, str]]]:
    """The permission plan with a file as evidence on the own measure, served once for every read."""
    db = tmp_path_factory.mktemp("reads") / "reads.db"
    shutil.copyfile(prepared(Event.START, "own"), db)
    app = open_test_app(str(db), clock=ManualClock(START + timedelta(days=1)))
    minutes = db.with_name("minutes.txt")
    minutes.write_bytes(NOTE)
    services.add_evidence(app, MEASURES["own"][0], actor="alice", files=[minutes])
    with TestClient(create_app(app, session_secret="tests")) as c:
        yield c, app, prepared.tokens  # type: ignore[attr-defined]
    app.engine.dispose()


def _ask(client: TestClient, read: str, headers: dict[str, str]) -> Any:
    import hashlib

    code = MEASURES["own"][0]
    if read == "measure_history":
        return client.get(f"/api/measures/{code}/history", headers=headers)
    if read == "evidence_file":
        return client.get(f"/api/evidence/{hashlib.sha256(NOTE).hexdigest()}", headers=headers)
    if read == "history_of_measure":
        return client.get(f"/api/history?measure={code}", headers=headers)
    if read == "ledger_workbook":
        return client.get("/api/export/ledger?format=xlsx", headers=headers)
    if read == "history_export":
        return client.get("/api/history/export?format=csv", headers=headers)
    if read == "report_with_evidence":
        return client.get("/api/report?evidence=true", headers=headers)
    assert read == "plan_import"
    return client.post("/api/import", headers=headers, data={"dry_run": "true"},
                       files={"file": ("plan.json", _plan().model_dump_json().encode())})


@pytest.mark.parametrize(("read", "person", "allowed"), READ_CASES, ids=[f"{r}-{p}" for r, p, _ in READ_CASES])
def test_a_guarded_read_is_allowed_only_where_the_table_allows(read: str, person: str, allowed: bool,
                                                              reads: tuple[TestClient, App, dict[str, str]]) -> None:
    client, app, tokens = reads
    refused_before = count(app, "access_log", "actor = :who", who=person)
    r = _ask(client, read, bearer(tokens[person]))
    if allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403, r.text
        assert one_line(r.json()).startswith(f"{person} may not")
        assert count(app, "access_log", "actor = :who AND outcome = 'denied'", who=person) == refused_before + 1
