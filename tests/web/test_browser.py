"""The web pages used as people use them, in headless Chromium (Debian's package, driven by Playwright).

The owner starts and submits with a file, the verifier rejects with a reason and then verifies
the resubmission, the leader closes, the auditor reviews the history and can act on nothing.
Screenshots of a failed test are kept in tests/web/artifacts/ (the path is printed).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser_site import CHROMIUM, CHROMIUM_ARGS, PASSWORD, Site, browser_missing, keep_screenshots, serve

_missing = browser_missing()
if _missing:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        raise RuntimeError(f"browser tests cannot run in CI: {_missing}")
    pytest.skip(f"browser tests skipped: {_missing}", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
MEASURE = "b1-1.1.1"  # alice's; verifier checker, leader boss

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve(tmp_path_factory.mktemp("site")) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


SignIn = Callable[..., Page]


@pytest.fixture
def sign_in(request: pytest.FixtureRequest, site: Site, browser: Browser) -> Iterator[SignIn]:
    """`sign_in("alice")`: a page of a new browser (its own cookies) signed in through the form."""
    pages: list[Page] = []
    contexts: list[Any] = []

    def open_as(person: str | None, *, locale: str = "zh-CN", viewport: dict[str, int] = DESKTOP) -> Page:
        ctx = browser.new_context(locale=locale, viewport=viewport, accept_downloads=True)
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        page = ctx.new_page()
        pages.append(page)
        page.goto(f"{site.url}/ledger")
        if person is not None:
            expect(page).to_have_url(re.compile(r"/login\?next="))
            page.fill("input[name=handle]", person)
            page.fill("input[name=password]", PASSWORD)
            page.click("form.stack button[type=submit]")
            expect(page.locator("header .me")).to_be_visible()
        return page

    failed_before = request.session.testsfailed
    yield open_as
    if request.session.testsfailed > failed_before:  # this test failed: keep what each browser showed
        saved = keep_screenshots(pages, ARTIFACTS, request.node.name)
        print("screenshots of the failed test:", *saved, sep="\n  ")
    for ctx in contexts:
        ctx.close()


def _measure(page: Page, site: Site, code: str = MEASURE) -> None:
    page.goto(f"{site.url}/measures/{code}")


def _act(page: Page, action: str, **fields: str) -> None:
    form = page.locator(f"form.action[data-action={action}]")
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()


def _state(page: Page) -> str:
    return page.locator(".status-line .state").inner_text()


def _actions(page: Page) -> list[str]:
    return [f.get_attribute("data-action") or "" for f in page.locator("form.action").all()]


def test_the_measure_goes_from_owner_to_verifier_to_leader_and_the_auditor_reviews_it(
        sign_in: SignIn, site: Site, tmp_path: Path) -> None:
    # the owner finds the measure in the ledger and starts work
    alice = sign_in("alice")
    expect(alice.locator("p.sentence")).to_contain_text("反馈问题2个,已完成整改0个、正在整改2个,整改完成率0%")
    alice.get_by_role("link", name=MEASURE).click()
    expect(alice.locator("h1")).to_contain_text("完善学习制度")
    assert _actions(alice) == ["start", "evidence", "extend_request"]
    _act(alice, "start")
    expect(alice.locator(".flash.ok")).to_contain_text("开始整改")
    assert _state(alice) == "整改中"

    # submitting without any evidence is refused with the one-line reason, and nothing changes
    _act(alice, "submit", reason="已修订学习制度")
    expect(alice.locator(".flash.error")).to_contain_text("at least one evidence item is required")
    assert _state(alice) == "整改中"

    # with a file it goes through; the file is listed for download
    report = tmp_path / "学习制度(修订稿).txt"
    report.write_text("党组理论学习中心组学习制度(修订稿)\n", encoding="utf-8")
    submit = alice.locator("form.action[data-action=submit]")
    submit.locator("[name=reason]").fill("已修订学习制度,经党组会审议通过")
    submit.locator("input[type=file]").set_input_files(str(report))
    submit.locator("button[type=submit]").click()
    expect(alice.locator(".flash.ok")).to_contain_text("申请销号")
    assert _state(alice) == "申请销号"
    expect(alice.locator("ul.evidence")).to_contain_text(report.name)
    assert "submit" not in _actions(alice)

    # the verifier sends it back with a reason, which the timeline shows
    checker = sign_in("checker")
    _measure(checker, site)
    assert _actions(checker) == ["reject", "verify"]
    _act(checker, "reject", reason="缺少党组会审议记录")
    expect(checker.locator(".flash.ok")).to_contain_text("退回")
    assert _state(checker) == "整改中"
    newest = checker.locator("ol.timeline li").first
    expect(newest).to_contain_text("退回")
    expect(newest).to_contain_text("缺少党组会审议记录")

    # the owner hands it in again with a note; the verifier now verifies it
    alice.reload()
    _act(alice, "submit", reason="补充党组会审议记录", note="2024年8月27日党组会议纪要第3项")
    expect(alice.locator(".flash.ok")).to_be_visible()
    _measure(checker, site)
    _act(checker, "verify", reason="材料齐全")
    expect(checker.locator(".flash.ok")).to_contain_text("核验通过")
    assert _state(checker) == "已核验"

    # the leader closes it, and can download the owner's file
    boss = sign_in("boss")
    _measure(boss, site)
    assert _actions(boss) == ["close", "reopen", "reassign"]
    with boss.expect_download() as download:
        boss.locator("ul.evidence a").first.click()
    saved = tmp_path / "downloaded.txt"
    download.value.save_as(saved)
    assert saved.read_bytes() == report.read_bytes()
    assert download.value.suggested_filename == report.name
    _act(boss, "close", reason="同意销号")
    expect(boss.locator(".flash.ok")).to_contain_text("销号")
    assert _state(boss) == "已销号"

    # the auditor sees the whole story and no form to act with
    audrey = sign_in("audrey")
    _measure(audrey, site)
    assert _actions(audrey) == []
    expect(audrey.locator(".no-actions")).to_be_visible()
    events = audrey.locator("ol.timeline li .what strong").all_inner_texts()
    assert events == ["销号", "核验通过", "申请销号", "退回", "申请销号", "开始整改", "交办"]
    audrey.get_by_role("link", name="审计查询").click()
    audrey.fill("input[name=measure]", MEASURE)
    audrey.locator("form.filters button[type=submit]").click()
    history = audrey.locator("table.history tbody tr")
    expect(history).to_have_count(7)
    expect(audrey.locator("table.history")).to_contain_text("缺少党组会审议记录")
    refused = audrey.locator("table.refused tbody tr")
    expect(refused).to_have_count(1)  # alice's submission without evidence
    expect(refused.first).to_contain_text("alice")
    with audrey.expect_download() as download:
        audrey.get_by_role("link", name="整改记录 CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert [r["event"] for r in rows] == ["create", "start", "submit", "reject", "submit", "verify", "close"]
    assert {r["measure"] for r in rows} == {MEASURE}


def test_a_wrong_password_is_refused_and_signing_out_ends_the_session(sign_in: SignIn, site: Site) -> None:
    page = sign_in(None)
    page.fill("input[name=handle]", "alice")
    page.fill("input[name=password]", "not-the-password")
    page.click("form.stack button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("用户名或密码不正确")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    expect(page).to_have_url(f"{site.url}/ledger")
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(f"{site.url}/login")
    page.goto(f"{site.url}/dashboard")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdashboard"))


def test_a_form_without_the_session_token_is_refused(sign_in: SignIn, site: Site) -> None:
    bob = sign_in("bob")
    _measure(bob, site, "b1-2.1.2")
    bob.locator("form.action[data-action=start] input[name=csrf]").evaluate("e => e.value = 'forged'")
    _act(bob, "start")
    expect(bob.locator(".flash.error")).to_contain_text("The form has expired")
    _measure(bob, site, "b1-2.1.2")
    assert _state(bob) == "已交办"


def test_the_ledger_shows_warning_colours_filters_and_reads_on_a_phone(sign_in: SignIn, site: Site) -> None:
    page = sign_in("deputy", viewport=PHONE)
    rows = page.locator("table.ledger tbody tr")
    colours = {r.locator("td").first.inner_text(): r.get_attribute("class") for r in rows.all()}
    assert colours["b1-2.1.3"] == "w-red"  # due 2024-08-20: overdue
    assert colours["b1-2.1.1"] == "w-orange"  # due 2024-08-31: two working days left
    assert colours["b1-2.1.2"] == "w-yellow"  # due 2024-09-04: five working days left
    assert colours["b1-1.1.2"] == ""
    # the filters narrow it; on a phone each measure is a card no wider than the screen
    page.check("input[name=overdue]")
    page.locator("form.filters button[type=submit]").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("追回违规报销款")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.select_option("select[name=owner]", "alice")
    page.uncheck("input[name=overdue]")
    page.locator("form.filters button[type=submit]").click()
    assert {r.locator("td").first.inner_text() for r in rows.all()} <= {"b1-1.1.1", "b1-1.1.2"}


def test_the_dashboard_the_diagram_and_english(sign_in: SignIn, site: Site) -> None:
    page = sign_in("boss", locale="en-GB")
    expect(page.locator("h1")).to_have_text("Rectification ledger")  # the browser asks for English
    page.get_by_role("link", name="Progress").click()
    expect(page.locator(".tile[data-figure=overdue] .n")).to_have_text("1")
    expect(page.locator(".chart svg")).to_be_visible()
    page.get_by_role("link", name="中文").click()  # and the choice is remembered
    expect(page.locator("h1")).to_contain_text("整改进度")
    page.get_by_role("link", name="流程图").click()
    expect(page.locator(".diagram svg g.state")).to_have_count(5)
    expect(page.locator("pre.mermaid")).to_contain_text("submitted --> verified: verify")
    page.goto(f"{site.url}/ledger")
    expect(page.locator("h1")).to_have_text("整改台账")


def test_an_owner_sees_neither_the_history_search_nor_the_inside_of_others_measures(sign_in: SignIn,
                                                                                     site: Site) -> None:
    page = sign_in("bob")
    assert page.get_by_role("link", name="审计查询").count() == 0
    response = page.goto(f"{site.url}/history")
    assert response is not None and response.status == 403
    expect(page.locator(".flash.error")).to_contain_text("bob may not search the history")
    _measure(page, site, "b1-1.1.2")  # alice's: its facts, but not its evidence or history, and nothing to do
    expect(page.locator("h1")).to_contain_text("建立长效机制")
    expect(page.locator(".outsider")).to_be_visible()
    assert page.locator("ol.timeline").count() == 0
    assert _actions(page) == []
