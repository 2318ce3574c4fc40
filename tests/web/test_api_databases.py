"""A subset of the API contract run on both databases: SQLite files and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from workflow.clock import ManualClock
from workflow.web.server import create_app

from ..conftest import AppFactory
from ..support import history_rows
from .api_support import bearer, on_database, one_line

OWN, BOBS = "b1-1.1.1", "b1-2.1.1"


@pytest.fixture
def on_db(request: pytest.FixtureRequest, make_app: AppFactory,
          db_url: str) -> Iterator[tuple[TestClient, dict[str, str], Any]]:
    """(client, tokens, app) over the small plan on SQLite, then on PostgreSQL."""
    app, tokens = on_database(request, make_app, db_url)
    with TestClient(create_app(app, session_secret="tests")) as c:
        yield c, tokens, app


def test_the_ledger_pages_and_filters_on_both_databases(on_db: Any, clock: ManualClock) -> None:
    client, tokens, _ = on_db
    h = bearer(tokens["alice"])
    page = client.get("/api/measures?limit=2&offset=1", headers=h).json()
    assert (page["total"], [m["code"] for m in page["items"]]) == (3, ["b1-1.1.2", BOBS])
    clock.advance(timedelta(days=30))
    late = client.get("/api/measures?overdue=true", headers=h).json()
    assert (late["total"], [m["code"] for m in late["items"]]) == (1, [BOBS])
    assert client.get("/api/measures?problem=1.1&unit=office", headers=h).json()["total"] == 2


def test_a_measure_is_worked_through_the_api_on_both_databases(on_db: Any) -> None:
    client, tokens, app = on_db
    alice, checker = bearer(tokens["alice"]), bearer(tokens["checker"])
    assert client.post(f"/api/measures/{OWN}/events/start", headers=alice).status_code == 200
    data = b"minutes of the study session\n" * 50
    up = client.post(f"/api/measures/{OWN}/events/submit/upload", headers={**alice, "If-Match": '"2"'},
                     data={"reason": "已完成"}, files=[("files", ("纪要.txt", data, "text/plain"))])
    assert up.status_code == 200, up.text
    sha = hashlib.sha256(data).hexdigest()
    assert client.get(f"/api/evidence/{sha}", headers=checker).content == data
    stale = client.post(f"/api/measures/{OWN}/events/reject", headers={**checker, "If-Match": '"2"'},
                        json={"reason": "x"})
    assert stale.status_code == 409 and "changed by someone else" in one_line(stale.json())
    assert client.post(f"/api/measures/{OWN}/events/verify", headers=checker).json()["state"] == "verified"
    assert [r["event"] for r in history_rows(app, OWN)] == ["create", "start", "submit", "verify"]
    history = client.get(f"/api/history?measure={OWN}", headers=bearer(tokens["audrey"])).json()
    assert [i["event"] for i in history["items"]] == ["create", "start", "submit", "verify"]
    refused = client.get("/api/history/refused", headers=bearer(tokens["audrey"])).json()
    assert [(i["actor"], i["outcome"]) for i in refused["items"]] == [("checker", "conflict")]


def test_idempotent_retries_and_the_import_on_both_databases(on_db: Any) -> None:
    client, tokens, app = on_db
    h = bearer(tokens["bob"], **{"Idempotency-Key": "retry-1"})
    first = client.post(f"/api/measures/{BOBS}/evidence", headers=h, json={"notes": ["凭证"]})
    again = client.post(f"/api/measures/{BOBS}/evidence", headers=h, json={"notes": ["凭证"]})
    assert first.json() == again.json() and len(history_rows(app, BOBS)) == 2
    broken = client.post("/api/import", headers=bearer(tokens["root"]), files={"file": ("p.json", b"{")})
    assert broken.status_code == 422 and one_line(broken.json()).startswith("p.json: line 1")



def test_readiness_answers_after_a_query_to_the_database_without_signing_in(on_db: Any) -> None:
    # the database down: tests/faults/test_database_outage.py (503 from /readyz, 200 from /healthz)
    client, _, app = on_db
    seen: list[str] = []
    sqlalchemy.event.listen(app.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    r = client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ok", "database": "ok"})
    assert "SELECT 1" in seen
