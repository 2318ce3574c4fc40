"""The REST API's contract: what each endpoint answers, its filters and pages, its errors, its files."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from states.model import Event
from workflow import services
from workflow.app import App
from workflow.clock import ManualClock

from ..support import SMALL_PLAN, count, history_rows
from .api_support import bearer, one_line

OWN = "b1-1.1.1"  # alice's; verifier checker, leader boss
BOBS = "b1-2.1.1"  # bob's; verifier checker, leader deputy


def test_a_request_without_credentials_is_401_with_a_one_line_reason(client: TestClient) -> None:
    r = client.get("/api/measures")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "sign in" in one_line(r.json())
    bad = client.get("/api/measures", headers=bearer("rct_abc_def"))
    assert bad.status_code == 401 and "unknown or revoked" in one_line(bad.json())


def test_me_says_who_a_token_belongs_to(client: TestClient, tokens: dict[str, str]) -> None:
    body = client.get("/api/me", headers=bearer(tokens["audrey"])).json()
    assert body == {"handle": "audrey", "name": "巡察办联络员", "roles": ["auditor"], "oversees": True}


def test_the_ledger_lists_every_measure_in_tree_order_with_a_total(client: TestClient,
                                                                   tokens: dict[str, str]) -> None:
    body = client.get("/api/measures", headers=bearer(tokens["bob"])).json()
    assert body["total"] == 3 and body["next_offset"] is None
    assert [m["code"] for m in body["items"]] == ["b1-1.1.1", "b1-1.1.2", "b1-2.1.1"]
    first = body["items"][0]
    assert (first["state"], first["state_label"], first["owner_name"], first["due"]) == (
        "assigned", "已交办", "办公室主任", "2024-09-30")


def test_the_ledger_is_paginated(client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["alice"])
    one = client.get("/api/measures?limit=2", headers=h).json()
    assert [m["code"] for m in one["items"]] == ["b1-1.1.1", "b1-1.1.2"]
    assert (one["total"], one["next_offset"]) == (3, 2)
    two = client.get("/api/measures?limit=2&offset=2", headers=h).json()
    assert [m["code"] for m in two["items"]] == ["b1-2.1.1"] and two["next_offset"] is None
    assert client.get("/api/measures?offset=9", headers=h).json()["items"] == []


def test_the_ledger_filters_like_the_cli(client: TestClient, tokens: dict[str, str], app: App,
                                         clock: ManualClock) -> None:
    h = bearer(tokens["alice"])

    def codes(query: str) -> list[str]:
        r = client.get(f"/api/measures?{query}", headers=h)
        assert r.status_code == 200, r.text
        return [m["code"] for m in r.json()["items"]]

    services.fire(app, Event.START, OWN, actor="alice")
    assert codes("owner=bob") == [BOBS]
    assert codes("state=in_progress") == [OWN]
    assert codes("unit=finance") == [BOBS]
    assert codes("problem=1") == ["b1-1.1.1", "b1-1.1.2"]
    assert codes("problem=b1-2.1") == [BOBS]
    assert codes("inspection=test-round") == ["b1-1.1.1", "b1-1.1.2", "b1-2.1.1"]
    assert codes("inspection=nope") == []
    assert codes("overdue=true") == []
    clock.advance(timedelta(days=30))  # 2024-09-12: bob's immediate measure (due 08-31) is late
    assert codes("overdue=true") == [BOBS]
    assert codes("overdue=true&owner=alice") == []
    assert codes("as_of=2024-08-13&state=in_progress") == [OWN]
    assert codes("as_of=2024-08-12") == []  # before the import: nothing existed yet


def test_bad_filters_are_422_with_one_line(client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["alice"])
    for query, where in (("state=lost", "state"), ("limit=0", "limit"), ("limit=5000", "limit"),
                         ("offset=-1", "offset"), ("problem=x.y", "--problem"), ("as_of=yesterday", "as_of"),
                         ("as_of=2999-01-01", "--as-of"), ("overdue=perhaps", "overdue")):
        r = client.get(f"/api/measures?{query}", headers=h)
        assert r.status_code == 422, (query, r.text)
        assert one_line(r.json()).startswith(where), (query, r.json())


def test_a_measure_comes_with_its_version_as_etag_and_what_the_caller_may_do(client: TestClient,
                                                                            tokens: dict[str, str]) -> None:
    r = client.get(f"/api/measures/{OWN}", headers=bearer(tokens["alice"]))
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    body = r.json()
    assert body["points"] == ["学习不够", "落实不够"]
    assert body["available_events"] == ["start", "evidence", "extend_request"]
    assert body["evidence"] == []
    assert client.get(f"/api/measures/{OWN}", headers=bearer(tokens["checker"])).json()["available_events"] == []
    by_number = client.get(f"/api/measures/{body['id']}", headers=bearer(tokens["alice"])).json()
    assert by_number["code"] == OWN


def test_an_unknown_measure_is_404(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.get("/api/measures/b9-9.9.9", headers=bearer(tokens["alice"]))
    assert r.status_code == 404
    assert one_line(r.json()) == "No measure 'b9-9.9.9' was found" and r.json()["error"] == "NotFound"
    assert client.get("/api/measures/²", headers=bearer(tokens["alice"])).status_code == 404
    assert client.get("/api/measures/99999999999999999999999", headers=bearer(tokens["alice"])).status_code == 404


def test_the_owner_starts_and_submits_and_the_history_records_it(client: TestClient, tokens: dict[str, str],
                                                                 app: App) -> None:
    h = bearer(tokens["alice"])
    r = client.post(f"/api/measures/{OWN}/events/start", headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["version"], r.headers["etag"]) == ("in_progress", 2, '"2"')
    r = client.post(f"/api/measures/{OWN}/events/submit", headers=h,
                    json={"reason": "制度已修订", "notes": ["学习记录"]})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "submitted"
    assert [e["note"] for e in r.json()["evidence"]] == ["学习记录"]
    rows = history_rows(app, OWN)
    assert [x["event"] for x in rows] == ["create", "start", "submit"]
    assert rows[1]["request_id"] and rows[1]["request_id"] != rows[2]["request_id"], "one request id per request"


def test_a_refused_event_is_403_or_409_and_recorded(client: TestClient, tokens: dict[str, str], app: App) -> None:
    r = client.post(f"/api/measures/{OWN}/events/verify", headers=bearer(tokens["alice"]))
    assert r.status_code == 403
    assert one_line(r.json()).startswith("alice may not verify measure b1-1.1.1")
    r = client.post(f"/api/measures/{OWN}/events/verify", headers=bearer(tokens["checker"]))
    assert r.status_code == 409 and r.json()["error"] == "TransitionRefused"
    assert count(app, "access_log") == 2
    assert client.post(f"/api/measures/{OWN}/events/fly", headers=bearer(tokens["alice"])).status_code == 422


def test_an_auditor_writes_nothing(client: TestClient, tokens: dict[str, str], app: App) -> None:
    r = client.post(f"/api/measures/{OWN}/evidence", headers=bearer(tokens["audrey"]), json={"notes": ["x"]})
    assert r.status_code == 403
    assert "an auditor reads everything and changes nothing" in one_line(r.json())
    assert count(app, "access_log", "actor = 'audrey' AND outcome = 'denied'") == 1
    assert len(history_rows(app, OWN)) == 1


def test_a_stale_if_match_is_409_and_changes_nothing(client: TestClient, tokens: dict[str, str], app: App) -> None:
    h = bearer(tokens["alice"])
    assert client.post(f"/api/measures/{OWN}/events/start", headers={**h, "If-Match": '"1"'}).status_code == 200
    r = client.post(f"/api/measures/{OWN}/evidence", headers={**h, "If-Match": '"1"'}, json={"notes": ["n"]})
    assert r.status_code == 409
    assert "was changed by someone else" in one_line(r.json())
    assert len(history_rows(app, OWN)) == 2
    assert client.post(f"/api/measures/{OWN}/evidence", headers={**h, "If-Match": 'W/"2"'},
                       json={"notes": ["n"]}).status_code == 200
    bad = client.post(f"/api/measures/{OWN}/evidence", headers={**h, "If-Match": "yesterday"}, json={"notes": ["n"]})
    assert bad.status_code == 422 and one_line(bad.json()).startswith("If-Match")


def test_bad_bodies_are_422_with_one_line(client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["alice"])
    url = f"/api/measures/{OWN}/events/start"
    for kwargs, where in (
        ({"json": {"reasons": "typo"}}, "reasons: unknown field"),
        ({"json": {"notes": "not a list"}}, "notes"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, ""),
        ({"json": {"reason": "a\x00b"}}, "request: text must not contain NUL characters"),
    ):
        r = client.post(url, headers={**h, **kwargs.pop("headers", {})}, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 422, (kwargs, r.text)
        assert where in one_line(r.json()) or not where, r.json()


def test_evidence_files_go_up_with_an_event_and_come_back_hash_checked(client: TestClient, tokens: dict[str, str],
                                                                      app: App) -> None:
    h = bearer(tokens["alice"])
    client.post(f"/api/measures/{OWN}/events/start", headers=h)
    scan = "签到表 2024.pdf".encode(), b"%PDF-1.4 sign-in sheet\n" * 100
    r = client.post(f"/api/measures/{OWN}/events/submit/upload", headers=h,
                    data={"reason": "已完成", "notes": ["见附件"]},
                    files=[("files", (scan[0].decode(), io.BytesIO(scan[1]), "application/pdf"))])
    assert r.status_code == 200, r.text
    files = [e for e in r.json()["evidence"] if e["kind"] == "file"]
    sha = hashlib.sha256(scan[1]).hexdigest()
    assert [(f["name"], f["sha256"], f["size"], f["url"]) for f in files] == [
        ("签到表 2024.pdf", sha, len(scan[1]), f"/api/evidence/{sha}")]
    got = client.get(f"/api/evidence/{sha}", headers=bearer(tokens["checker"]))
    assert got.status_code == 200 and got.content == scan[1]
    assert got.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''%E7%AD%BE" in got.headers["content-disposition"]
    # bob holds no part in it and is no overseer: refused, and the refusal is recorded
    denied = client.get(f"/api/evidence/{sha}", headers=bearer(tokens["bob"]))
    assert denied.status_code == 403 and "read the evidence of measure b1-1.1.1" in one_line(denied.json())
    assert count(app, "access_log", "actor = 'bob' AND event = 'read_evidence'") == 1
    assert client.get(f"/api/measures/{OWN}", headers=bearer(tokens["bob"])).json()["evidence"] is None
    assert client.get(f"/api/evidence/{'0' * 64}", headers=h).status_code == 404
    assert client.get("/api/evidence/not-a-hash", headers=h).status_code == 422
    app.evidence.path(sha).write_bytes(b"altered")
    gone = client.get(f"/api/evidence/{sha}", headers=h)
    assert gone.status_code == 410 and "missing or altered" in one_line(gone.json())


def test_evidence_can_be_added_alone_as_notes_or_files(client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["alice"])
    r = client.post(f"/api/measures/{OWN}/evidence", headers=h, json={"notes": ["会议纪要"], "reason": "补充"})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.post(f"/api/measures/{OWN}/evidence/upload", headers=h,
                    files=[("files", ("a.txt", b"one")), ("files", ("../../b.txt", b"two"))])
    assert r.status_code == 200, r.text
    assert [e["name"] for e in r.json()["evidence"] if e["kind"] == "file"] == ["a.txt", "b.txt"]
    empty = client.post(f"/api/measures/{OWN}/evidence", headers=h, json={})
    assert empty.status_code == 422 and "give at least one" in one_line(empty.json())


def test_an_extension_is_requested_by_the_owner_and_decided_by_the_leader(client: TestClient,
                                                                          tokens: dict[str, str]) -> None:
    r = client.post(f"/api/measures/{OWN}/extensions", headers=bearer(tokens["alice"]),
                    json={"new_due": "2024-10-31", "reason": "需要更多时间"})
    assert r.status_code == 200, r.text
    assert r.json()["extensions"][0]["status"] == "pending" and r.json()["due"] == "2024-09-30"
    no_reason = client.post(f"/api/measures/{OWN}/extensions/refuse", headers=bearer(tokens["boss"]), json={})
    assert no_reason.status_code == 422
    r = client.post(f"/api/measures/{OWN}/extensions/approve", headers=bearer(tokens["boss"]))
    assert r.status_code == 200, r.text
    assert (r.json()["due"], r.json()["extensions"][0]["status"]) == ("2024-10-31", "approved")
    bad = client.post(f"/api/measures/{OWN}/extensions", headers=bearer(tokens["alice"]),
                      json={"new_due": "soon", "reason": "x"})
    assert bad.status_code == 422 and one_line(bad.json()).startswith("new_due")


def test_outcome_figures_are_recorded_by_the_owner_and_read_by_anyone(client: TestClient,
                                                                      tokens: dict[str, str]) -> None:
    r = client.post(f"/api/measures/{OWN}/outcome", headers=bearer(tokens["alice"]),
                    json={"rules": 2, "funds_yuan": 125000})
    assert r.status_code == 200, r.text
    got = client.get(f"/api/measures/{OWN}/outcome", headers=bearer(tokens["bob"])).json()
    assert (got["rules"], got["funds_wan"], got["text"], got["version"]) == (2, "12.5", "制度2项、资金12.5万元", 2)
    assert client.post(f"/api/measures/{OWN}/outcome", headers=bearer(tokens["alice"]),
                       json={"rules": -1}).status_code == 422


def _close(app: App, code: str, owner: str, verifier: str, leader: str) -> None:
    services.fire(app, Event.START, code, actor=owner)
    services.fire(app, Event.SUBMIT, code, actor=owner, reason="done", notes=["done"])
    services.fire(app, Event.VERIFY, code, actor=verifier)
    services.fire(app, Event.CLOSE, code, actor=leader)


def test_a_due_rebound_check_is_answered_through_the_recheck_event(client: TestClient, tokens: dict[str, str],
                                                                   app: App, clock: ManualClock) -> None:
    _close(app, BOBS, "bob", "checker", "deputy")
    checks = client.get(f"/api/rechecks?measure={BOBS}", headers=bearer(tokens["alice"])).json()
    assert checks and {c["status"] for c in checks} == {"pending"}
    h = bearer(tokens["checker"])
    early = client.post(f"/api/measures/{BOBS}/events/recheck", headers=h, json={"outcome": "held", "reason": "ok"})
    assert early.status_code == 409 and "no rebound check is due" in one_line(early.json())
    clock.advance(timedelta(days=200))
    missing = client.post(f"/api/measures/{BOBS}/events/recheck", headers=h, json={"reason": "ok"})
    assert missing.status_code == 422 and one_line(missing.json()).startswith("outcome")
    r = client.post(f"/api/measures/{BOBS}/events/recheck", headers=h, json={"outcome": "held", "reason": "未反弹"})
    assert r.status_code == 200, r.text
    assert client.get(f"/api/rechecks?measure={BOBS}&status=held", headers=h).json()[0]["answered_by"] == "checker"


def test_the_history_is_all_for_overseers_and_narrowed_for_the_rest(client: TestClient, tokens: dict[str, str],
                                                                    app: App) -> None:
    services.fire(app, Event.START, OWN, actor="alice")
    services.fire(app, Event.START, BOBS, actor="bob")
    audit = client.get("/api/history", headers=bearer(tokens["audrey"])).json()
    assert (audit["total"], audit["narrowed"]) == (5, False)
    assert audit["items"][-1]["event_label"] == "开始整改"
    mine = client.get("/api/history", headers=bearer(tokens["alice"])).json()
    assert mine["narrowed"] and {i["measure"] for i in mine["items"]} == {"b1-1.1.1", "b1-1.1.2"}
    page = client.get("/api/history?limit=2&offset=1&event=create", headers=bearer(tokens["audrey"])).json()
    assert (page["total"], len(page["items"]), page["next_offset"]) == (3, 2, None)
    denied = client.get(f"/api/history?measure={BOBS}", headers=bearer(tokens["alice"]))
    assert denied.status_code == 403 and "read history of measure b1-2.1.1" in one_line(denied.json())
    assert client.get(f"/api/measures/{BOBS}/history", headers=bearer(tokens["alice"])).status_code == 403
    one = client.get(f"/api/measures/{BOBS}/history", headers=bearer(tokens["deputy"])).json()
    assert [i["event"] for i in one] == ["create", "start"]
    assert count(app, "access_log", "actor = 'alice' AND event = 'read_history'") == 2
    bad = client.get("/api/history?since=someday", headers=bearer(tokens["audrey"]))
    assert bad.status_code == 422 and one_line(bad.json()).startswith("since")


def test_refused_attempts_are_all_for_overseers_and_ones_own_for_the_rest(client: TestClient,
                                                                          tokens: dict[str, str]) -> None:
    client.post(f"/api/measures/{OWN}/events/verify", headers=bearer(tokens["alice"]))
    client.post(f"/api/measures/{BOBS}/events/start", headers=bearer(tokens["alice"]))
    client.post(f"/api/measures/{BOBS}/events/close", headers=bearer(tokens["bob"]))
    everything = client.get("/api/history/refused", headers=bearer(tokens["audrey"])).json()
    assert [(i["actor"], i["event"], i["outcome"]) for i in everything["items"]] == [
        ("alice", "verify", "denied"), ("alice", "start", "denied"), ("bob", "close", "denied")]
    bobs = client.get("/api/history/refused", headers=bearer(tokens["bob"])).json()
    assert bobs["narrowed"] and [i["actor"] for i in bobs["items"]] == ["bob"]
    assert client.get("/api/history/refused?actor=alice", headers=bearer(tokens["bob"])).json()["items"] == []
    assert client.get(f"/api/history/refused?measure={OWN}",
                      headers=bearer(tokens["boss"])).json()["total"] == 1


def test_the_history_exports_for_overseers(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.get("/api/history/export?format=csv", headers=bearer(tokens["audrey"]))
    assert r.status_code == 200 and r.content.startswith("\ufeffmeasure,seq,event".encode())
    x = client.get("/api/history/export?format=xlsx", headers=bearer(tokens["audrey"]))
    assert x.status_code == 200 and x.content[:2] == b"PK"
    assert client.get("/api/history/export", headers=bearer(tokens["alice"])).status_code == 403


def test_reminders_are_all_for_overseers_and_of_ones_measures_for_the_rest(client: TestClient,
                                                                          tokens: dict[str, str], app: App,
                                                                          clock: ManualClock) -> None:
    from workflow.sweeps import remind

    clock.advance(timedelta(days=15))  # bob's measure is due on 08-31: its warnings are due
    remind(app)
    every = client.get("/api/reminders", headers=bearer(tokens["root"])).json()
    assert every and {r["measure"] for r in every} >= {BOBS}
    alices = client.get("/api/reminders", headers=bearer(tokens["alice"])).json()
    assert {r["measure"] for r in alices} <= {"b1-1.1.1", "b1-1.1.2"}
    assert all("://" not in r["address"] or r["address"].endswith("://…") for r in every)
    assert client.get("/api/reminders?status=lost", headers=bearer(tokens["root"])).status_code == 422


def test_inspections_and_the_problem_tree(client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["bob"])
    rounds = client.get("/api/inspections", headers=h).json()
    assert [(i["code"], [b["code"] for b in i["bodies"]]) for i in rounds] == [("test-round", ["b1"])]
    one = client.get("/api/inspections/test-round", headers=h).json()
    assert one["summary"]["measures"] == 3 and one["summary"]["sentence"].startswith("反馈问题2个")
    assert client.get("/api/inspections/nope", headers=h).status_code == 404
    tree = client.get("/api/problems", headers=h).json()
    assert [(p["ref"], p["points"], p["measures"], p["result"]) for p in tree["items"]] == [
        ("b1-1.1", ["学习不够", "落实不够"], ["b1-1.1.1", "b1-1.1.2"], "正在推进"),
        ("b1-2.1", [], ["b1-2.1.1"], "正在推进")]
    p = client.get("/api/problems/b1-2.1", headers=h).json()
    assert (p["text"], [x["code"] for x in p["lines"]]) == ("报销不规范。", [BOBS])
    assert client.get("/api/problems/b1-9.9", headers=h).status_code == 404
    assert client.get("/api/problems/nonsense", headers=h).status_code == 404


def test_the_report_comes_as_markdown_html_or_word(client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["bob"])
    md = client.get("/api/report", headers=h)
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert "整改" in md.text
    html = client.get("/api/report?format=html&inspection=test-round", headers=h)
    assert html.status_code == 200 and "<html" in html.text.lower()
    docx = client.get("/api/report?format=docx", headers=h)
    assert docx.status_code == 200 and docx.content[:2] == b"PK"
    assert client.get("/api/report?evidence=true", headers=h).status_code == 403
    assert client.get("/api/report?evidence=true", headers=bearer(tokens["audrey"])).status_code == 200
    assert client.get("/api/report?inspection=nope", headers=h).status_code == 404


def test_the_ledger_exports_as_csv_for_all_and_as_a_workbook_for_overseers(client: TestClient,
                                                                          tokens: dict[str, str]) -> None:
    csv_ = client.get("/api/export/ledger?format=csv&owner=bob", headers=bearer(tokens["bob"]))
    assert csv_.status_code == 200 and csv_.text.count("\n") == 2
    assert client.get("/api/export/ledger", headers=bearer(tokens["bob"])).status_code == 403
    xlsx = client.get("/api/export/ledger", headers=bearer(tokens["boss"]))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def _plan_text(code: str) -> bytes:
    data = yaml.safe_load(SMALL_PLAN.read_text(encoding="utf-8"))
    data["inspection"]["code"] = code
    data["bodies"][0]["code"] = "b2"
    return yaml.safe_dump(data, allow_unicode=True).encode()


def test_an_admin_imports_a_plan_and_nobody_else_may(client: TestClient, tokens: dict[str, str], app: App,
                                                     tmp_path: Path) -> None:
    plan = ("plan.yaml", _plan_text("round-2"))
    denied = client.post("/api/import", headers=bearer(tokens["boss"]), files={"file": plan})
    assert denied.status_code == 403 and "only a person with the admin role" in one_line(denied.json())
    dry = client.post("/api/import", headers=bearer(tokens["root"]), files={"file": plan}, data={"dry_run": "true"})
    assert dry.status_code == 200 and dry.json()["dry_run"] and count(app, "measure") == 3
    r = client.post("/api/import", headers=bearer(tokens["root"]), files={"file": plan})
    assert r.status_code == 200, r.text
    assert (r.json()["inspection"], r.json()["measures"]) == ("round-2", 3)
    again = client.post("/api/import", headers=bearer(tokens["root"]), files={"file": plan})
    assert again.status_code == 422 and one_line(again.json()).startswith("plan.yaml: inspection.code")
    broken = client.post("/api/import", headers=bearer(tokens["root"]), files={"file": ("p.yaml", b"a: [")})
    assert broken.status_code == 422 and one_line(broken.json()).startswith("p.yaml: line")
    odd = client.post("/api/import", headers=bearer(tokens["root"]), files={"file": ("p.exe", b"MZ")})
    assert odd.status_code == 422


def test_the_openapi_document_describes_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/api/measures", "/api/measures/{ref}/events/{event}", "/api/evidence/{sha256}", "/api/history",
            "/api/history/refused", "/api/reminders", "/api/rechecks", "/api/report", "/api/export/ledger",
            "/api/import"} <= set(paths)
    ok = paths["/api/measures"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/LedgerPage"}
    assert paths["/api/measures"]["get"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"}
    assert client.get("/docs").status_code == 200


def test_an_unknown_api_path_is_404_in_the_same_shape(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.get("/api/nothing-here", headers=bearer(tokens["alice"]))
    assert r.status_code == 404 and one_line(r.json()) == "Not Found"
