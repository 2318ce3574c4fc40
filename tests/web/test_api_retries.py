"""Retries and races over HTTP: `Idempotency-Key` makes a retry harmless, `If-Match` lets one of two racing
clients win. The races run against a live uvicorn on a loopback port, with real threads, on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from states.model import Event
from workflow import services
from workflow.app import App
from workflow.clock import ManualClock
from workflow.web import idempotency
from workflow.web.server import create_app

from ..conftest import AppFactory
from ..support import count, history_rows
from .api_support import bearer, live, on_database, one_line

OWN = "b1-1.1.1"


def test_the_same_key_twice_fires_once_and_answers_the_same(client: TestClient, tokens: dict[str, str],
                                                            app: App) -> None:
    h = bearer(tokens["alice"], **{"Idempotency-Key": "k-1"})
    first = client.post(f"/api/measures/{OWN}/evidence", headers=h, json={"notes": ["纪要"]})
    again = client.post(f"/api/measures/{OWN}/evidence", headers=h, json={"notes": ["纪要"]})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["etag"] == first.headers["etag"] == '"2"'
    assert [r["event"] for r in history_rows(app, OWN)] == ["create", "evidence"]
    assert count(app, "idempotency_key", "status = 'done' AND response_status = 200") == 1


def test_a_key_is_per_person(client: TestClient, tokens: dict[str, str], app: App) -> None:
    client.post(f"/api/measures/{OWN}/events/start", headers=bearer(tokens["alice"], **{"Idempotency-Key": "k"}))
    r = client.post("/api/measures/b1-2.1.1/events/start", headers=bearer(tokens["bob"], **{"Idempotency-Key": "k"}))
    assert r.status_code == 200 and r.json()["code"] == "b1-2.1.1"


def test_a_key_reused_for_another_request_is_422(client: TestClient, tokens: dict[str, str], app: App) -> None:
    h = bearer(tokens["alice"], **{"Idempotency-Key": "k-2"})
    assert client.post(f"/api/measures/{OWN}/evidence", headers=h, json={"notes": ["a"]}).status_code == 200
    other = client.post(f"/api/measures/{OWN}/evidence", headers=h, json={"notes": ["b"]})
    assert other.status_code == 422 and "was used for another request" in one_line(other.json())
    elsewhere = client.post(f"/api/measures/{OWN}/events/start", headers=h)
    assert elsewhere.status_code == 422
    assert len(history_rows(app, OWN)) == 2
    bad = client.post(f"/api/measures/{OWN}/events/start", headers={**h, "Idempotency-Key": "x" * 200})
    assert bad.status_code == 422


def test_a_refused_command_gives_its_key_back_so_a_retry_tries_again(client: TestClient, tokens: dict[str, str],
                                                                     app: App) -> None:
    h = bearer(tokens["alice"], **{"Idempotency-Key": "k-3"})
    body = {"reason": "已完成", "notes": ["签到表"]}
    early = client.post(f"/api/measures/{OWN}/events/submit", headers=h, json=body)
    assert early.status_code == 409  # not started yet
    services.fire(app, Event.START, OWN, actor="alice")
    retry = client.post(f"/api/measures/{OWN}/events/submit", headers=h, json=body)
    assert retry.status_code == 200 and retry.json()["state"] == "submitted"
    assert [r["event"] for r in history_rows(app, OWN)] == ["create", "start", "submit"]


def test_a_used_key_answers_retries_for_a_day_then_goes_when_its_owner_makes_new_ones(
        client: TestClient, tokens: dict[str, str], app: App, clock: ManualClock) -> None:
    alice = bearer(tokens["alice"], **{"Idempotency-Key": "old"})
    assert client.post(f"/api/measures/{OWN}/evidence", headers=alice, json={"notes": ["a"]}).status_code == 200
    client.post("/api/measures/b1-2.1.1/events/start", headers=bearer(tokens["bob"], **{"Idempotency-Key": "bob's"}))
    clock.advance(idempotency.KEEP - timedelta(minutes=1))
    again = client.post(f"/api/measures/{OWN}/evidence", headers=alice, json={"notes": ["a"]})
    assert again.headers["idempotent-replayed"] == "true"  # within the day: still the first answer
    clock.advance(timedelta(minutes=2))
    new = bearer(tokens["alice"], **{"Idempotency-Key": "new"})
    assert client.post(f"/api/measures/{OWN}/evidence", headers=new, json={"notes": ["b"]}).status_code == 200
    # alice's day-old key went when she made a new one; bob's stays until he makes one
    assert count(app, "idempotency_key", "person = 'alice'") == 1
    assert count(app, "idempotency_key", "person = 'bob'") == 1
    late = client.post(f"/api/measures/{OWN}/evidence", headers=alice, json={"notes": ["a"]})
    assert late.status_code == 200 and "idempotent-replayed" not in late.headers  # a new command now
    assert [r["event"] for r in history_rows(app, OWN)] == ["create", "evidence", "evidence", "evidence"]


def test_a_claim_left_by_a_crash_is_taken_over_after_the_lease(client: TestClient, tokens: dict[str, str],
                                                               app: App, clock: ManualClock) -> None:
    fp = idempotency.fingerprint({"inputs": {"reason": "", "notes": [], "new_owner": None, "outcome": None},
                                  "if_match": None})
    crashed = idempotency.claim(app, "alice", "k-4", "POST", f"/api/measures/{OWN}/events/start", fp)
    assert isinstance(crashed, idempotency.Claim)
    clock.advance(idempotency.LEASE + timedelta(seconds=1))
    r = client.post(f"/api/measures/{OWN}/events/start", headers=bearer(tokens["alice"], **{"Idempotency-Key": "k-4"}))
    assert r.status_code == 200
    # the crashed request, had it only been slow, cannot land its change any more
    late = idempotency.keyed(app, crashed)
    with pytest.raises(idempotency.KeyInUse):
        services.add_evidence(late, OWN, actor="alice", notes=["late"])
    assert [x["event"] for x in history_rows(app, OWN)] == ["create", "start"]


def test_a_key_done_without_a_stored_answer_gets_the_measure_as_it_is(client: TestClient, tokens: dict[str, str],
                                                                      app: App) -> None:
    h = bearer(tokens["alice"], **{"Idempotency-Key": "k-5"})
    fp = idempotency.fingerprint({"inputs": {"reason": "", "notes": [], "new_owner": None, "outcome": None},
                                  "if_match": None})
    c = idempotency.claim(app, "alice", "k-5", "POST", f"/api/measures/{OWN}/events/start", fp)
    assert isinstance(c, idempotency.Claim)
    services.fire(idempotency.keyed(app, c), Event.START, OWN, actor="alice")  # then "crashed" before answering
    r = client.post(f"/api/measures/{OWN}/events/start", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "in_progress"
    assert r.headers["idempotent-replayed"] == "true"
    assert len(history_rows(app, OWN)) == 2


def _together(n: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Run `call(i)` for i < n in threads released at the same moment."""
    gate = threading.Barrier(n)
    out: list[Any] = [None] * n

    def one(i: int) -> None:
        gate.wait()
        try:
            out[i] = call(i)
        except Exception as e:  # noqa: BLE001  (reported by the assertion below)
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, httpx.Response) for r in out), out
    return out


@pytest.fixture
def served(request: pytest.FixtureRequest, make_app: AppFactory, db_url: str) -> Any:
    """(base URL, tokens, app): the small plan on SQLite, then PostgreSQL, served by uvicorn on loopback."""
    a, tokens = on_database(request, make_app, db_url)
    with live(create_app(a, session_secret="tests")) as base:
        yield base, tokens, a


def test_concurrent_retries_with_one_key_fire_once_and_all_get_the_first_answer(served: Any) -> None:
    base, tokens, app = served
    h = bearer(tokens["alice"], **{"Idempotency-Key": "same-key"})
    with httpx.Client(base_url=base, timeout=60) as http:
        got = _together(6, lambda _: http.post(f"/api/measures/{OWN}/evidence", headers=h,
                                               json={"notes": ["同一份纪要"]}))
    assert [r.status_code for r in got] == [200] * 6, [r.text for r in got]
    assert len({r.text for r in got}) == 1
    assert sum(1 for r in got if "idempotent-replayed" not in r.headers) == 1
    assert [r["event"] for r in history_rows(app, OWN)] == ["create", "evidence"]


def test_two_clients_racing_with_the_same_if_match_one_wins_one_gets_409(served: Any) -> None:
    base, tokens, app = served
    with httpx.Client(base_url=base, timeout=60) as http:
        for n in range(3):
            version = http.get(f"/api/measures/{OWN}", headers=bearer(tokens["alice"])).headers["etag"]
            h = bearer(tokens["alice"], **{"If-Match": version})
            got = _together(2, lambda i, h=h, n=n: http.post(f"/api/measures/{OWN}/evidence", headers=h,
                                                             json={"notes": [f"round {n} client {i}"]}))
            assert sorted(r.status_code for r in got) == [200, 409], [r.text for r in got]
            lost = next(r for r in got if r.status_code == 409)
            assert "was changed by someone else" in one_line(lost.json())
    assert len(history_rows(app, OWN)) == 4
    assert count(app, "access_log", "outcome = 'conflict'") == 3
