"""The web pages without a browser: language choice, the catalog, the diagram, sign-in and refusals as pages."""

from __future__ import annotations

import gettext
import io
import re
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from states.machine import TRANSITIONS
from states.model import EVENT_LABELS, STATE_LABELS, Event, Kind, Role, State
from workflow import ledger
from workflow.app import App
from workflow.auth import set_password
from workflow.clock import ManualClock
from workflow.services import fire
from workflow.web import diagram, i18n
from workflow.web.pages_ledger import summary_sentence

WEB = Path(i18n.__file__).parent
PO = WEB / "locale" / "en" / "LC_MESSAGES" / "messages.po"
PASSWORD = "correct-horse-1"


@pytest.mark.parametrize(("query", "cookie", "accept", "chosen"), [
    (None, None, None, "zh"),
    (None, None, "en-GB,en;q=0.9", "en"),
    (None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    (None, None, "fr-FR,en;q=0.5,zh;q=0.7", "zh"),  # the best one it has, by weight
    (None, "en", "zh-CN", "en"),  # a remembered choice beats the browser
    ("zh", "en", "en", "zh"),  # and an explicit one beats both
    ("xx", None, "en", "en"),  # an unknown language is ignored
])
def test_the_language_comes_from_the_query_the_cookie_then_the_browser(query: str | None, cookie: str | None,
                                                                       accept: str | None, chosen: str) -> None:
    assert i18n.choose(query, cookie, accept) == chosen


def test_every_label_of_the_domain_is_in_the_catalog() -> None:
    labels = {*EVENT_LABELS.values(), *(k.label for k in Kind), *(r.label for r in Role)}
    assert labels <= set(i18n.LABELS)
    assert set(STATE_LABELS.values()) == set(i18n.STATES)


def test_the_english_catalog_translates_every_text_of_the_pages_and_its_mo_is_current() -> None:
    used = {(ctx, msg) for _f, _l, msg, _c, ctx in extract_from_dir(
        str(WEB), method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords={"_": None, "N_": None, "NP_": ((1, "c"), 2), "gettext": None})}
    with PO.open("rb") as f:
        catalog = read_po(f)
    translated = {(m.context, m.id) for m in catalog if m.id and m.string}
    assert used - translated == set(), "run `make messages` and translate the new texts"
    fresh = io.BytesIO()
    write_mo(fresh, catalog)
    assert PO.with_suffix(".mo").read_bytes() == fresh.getvalue(), "run `make messages` to compile the catalog"


def test_english_pages_translate_a_state_and_an_event_of_the_same_words_apart() -> None:
    assert i18n.state_label("en", "submitted") == "Submitted"
    assert i18n.translations("en").gettext(Event.SUBMIT.label) == "Submit for close-out"
    assert i18n.state_label("zh", "submitted") == "申请销号"


def test_the_summary_sentence_is_the_published_one_in_chinese(app: App) -> None:
    s = ledger.summary(ledger.ledger(app))
    assert summary_sentence(s, gettext.NullTranslations().gettext) == ledger.summary_sentence(s)


@pytest.mark.parametrize("f", [
    ledger.LedgerFilter(), ledger.LedgerFilter(overdue=True), ledger.LedgerFilter(owner="alice"),
    ledger.LedgerFilter(state=State.CLOSED), ledger.LedgerFilter(problem="2.1"), ledger.LedgerFilter(unit="office"),
])
def test_the_summary_of_a_page_is_the_summary_of_all_its_rows(app: App, clock: ManualClock,
                                                               f: ledger.LedgerFilter) -> None:
    for event, actor in [(Event.START, "bob"), (Event.SUBMIT, "bob"), (Event.VERIFY, "checker"),
                         (Event.CLOSE, "deputy")]:
        fire(app, event, "b1-2.1.1", actor=actor, reason="done", notes=["note"] if event is Event.SUBMIT else [])
    fire(app, Event.START, "b1-1.1.2", actor="alice")
    clock.advance(timedelta(days=60))  # b1-1.1.1 (due 2024-09-30) is now overdue
    assert ledger.summary_of(app, f) == ledger.summary(ledger.ledger(app, f))


def test_the_diagram_draws_every_state_and_every_transition() -> None:
    svg = diagram.svg()
    assert [m for m in re.findall(r'data-state="(\w+)"', svg)] == [s.value for s in State]
    drawn = set(re.findall(r'data-event="(\w+)"', svg))
    assert drawn == {str(t["trigger"]) for t in TRANSITIONS}
    assert len(diagram.edges()) == sum(len(t["source"]) if isinstance(t["source"], list) else 1 for t in TRANSITIONS)


def _csrf(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _sign_in(client: TestClient, app: App, person: str) -> None:
    set_password(app, person, PASSWORD)
    r = client.post("/login", data={"csrf": _csrf(client), "handle": person, "password": PASSWORD, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def test_a_page_asks_to_sign_in_and_comes_back_only_to_this_site(client: TestClient, app: App) -> None:
    r = client.get("/measures/b1-1.1.1?lang=en", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=%2Fmeasures%2Fb1-1.1.1%3Flang%3Den")
    set_password(app, "alice", PASSWORD)
    for target, lands in [("//elsewhere.example/x", "/"), ("https://elsewhere.example/", "/"), ("/ledger", "/ledger")]:
        r = client.post("/login", data={"csrf": _csrf(client), "handle": "alice", "password": PASSWORD,
                                        "next": target}, follow_redirects=False)
        assert r.headers["location"] == lands


def test_a_form_without_the_token_changes_nothing(client: TestClient, app: App) -> None:
    _sign_in(client, app, "alice")
    r = client.post("/measures/b1-1.1.1/act/start", data={"csrf": "forged"})
    assert r.status_code == 400
    assert "The form has expired" in r.text
    assert ledger.detail(app, "b1-1.1.1").row.state == "assigned"


@pytest.mark.parametrize(("path", "status", "line"), [
    ("/measures/b1-9.9.9", 404, "No measure &#39;b1-9.9.9&#39; was found"),
    ("/ledger?state=bogus", 422, "state: &#39;bogus&#39; is not a state"),
    ("/ledger?problem=x.y", 422, "is not a problem number"),
    ("/history?since=yesterday", 422, "since: &#39;yesterday&#39; is not a date"),
    ("/ledger?page=two", 422, "page"),
])
def test_bad_addresses_get_a_page_with_the_one_line_message(client: TestClient, app: App, path: str, status: int,
                                                            line: str) -> None:
    _sign_in(client, app, "audrey")
    r = client.get(path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert line in r.text


def test_an_action_refused_by_the_domain_comes_back_as_a_flash_and_is_logged(client: TestClient, app: App) -> None:
    _sign_in(client, app, "checker")
    r = client.post("/measures/b1-1.1.1/act/verify", data={"csrf": _csrf(client, "/ledger")})
    assert r.status_code == 200  # back on the measure's page
    assert "checker may not verify measure b1-1.1.1" not in r.text  # the verifier may, but not from assigned
    assert "Cannot verify measure b1-1.1.1 (state assigned)" in r.text
    with app.uow(read_only=True) as uow:
        assert [(x.actor, x.event, x.outcome) for x in uow.access_log.query()] == [("checker", "verify", "refused")]


def test_the_auditor_exports_the_history_as_a_workbook_with_the_refused_attempts(client: TestClient,
                                                                                 app: App) -> None:
    fire(app, Event.START, "b1-1.1.1", actor="alice")
    _sign_in(client, app, "audrey")
    r = client.post("/measures/b1-1.1.1/act/verify", data={"csrf": _csrf(client, "/ledger")})
    assert "an auditor reads everything and changes nothing" in r.text
    r = client.get("/history/export?fmt=xlsx&measure=b1-1.1.1")
    assert r.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["整改记录", "被拒绝的操作"]
    assert [row[3] for row in book["整改记录"].iter_rows(min_row=2, values_only=True)] == ["交办", "开始整改"]
    assert book["被拒绝的操作"].max_row == 2
