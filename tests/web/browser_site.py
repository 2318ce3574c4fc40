"""A rectify web server for the browser tests: a fresh database with a small plan, passwords set,
served by uvicorn on a free loopback port from a background thread; and Debian's chromium to drive it."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from storage import migrate
from workflow import importer
from workflow.app import App
from workflow.auth import set_password
from workflow.plan import Plan

from ..support import SMALL_PLAN, open_test_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "correct-horse-1"
# the site's today: after the feedback, before most due dates; the extra measures are due soon or overdue
TODAY = datetime(2024, 8, 28, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


def plan() -> Plan:
    """The small plan, with two more measures of bob's: one due in a few working days, one overdue."""
    data: dict[str, Any] = yaml.safe_load(SMALL_PLAN.read_text(encoding="utf-8"))
    measures = data["bodies"][0]["headings"][1]["problems"][0]["measures"]
    measures += [
        {"ref": "(2)", "title": "清理报销凭证", "owner": "bob", "verifier": "checker", "leader": "deputy",
         "unit": "finance", "due": "2024-09-04"},
        {"ref": "(3)", "title": "追回违规报销款", "owner": "bob", "verifier": "checker", "leader": "deputy",
         "unit": "finance", "due": "2024-08-20"},
    ]
    return Plan.model_validate(data)


class TickingClock:
    """The site's clock: TODAY, moving on with real time so that the history keeps its order."""

    def __init__(self, start: datetime):
        self.start, self.t0 = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


@dataclass
class Site:
    """A running server: its address and the app behind it."""

    url: str
    app: App


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(folder: Path) -> Iterator[Site]:
    """Make the database in `folder` and serve it until the block ends."""
    import uvicorn

    from workflow.web.server import create_app

    app = open_test_app(str(folder / "site.db"), clock=TickingClock(TODAY))
    migrate.upgrade(app.engine)
    importer.import_plan(app, plan(), "small-plan.yaml")
    for person in ("alice", "bob", "checker", "boss", "deputy", "audrey"):
        set_password(app, person, PASSWORD)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="rectify-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    try:
        yield Site(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(10)
        app.engine.dispose()


def keep_screenshots(pages: list[Any], folder: Path, name: str) -> list[Path]:
    """Save what each open page shows (for a failed test), into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for i, page in enumerate(pages):
        if page.is_closed():
            continue
        path = folder / f"{name}-{i}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception as e:  # a broken page must not hide the test's own failure
            print(f"could not take a screenshot of {page.url}: {e}")
            continue
        saved.append(path)
    return saved


def clean(folder: Path) -> None:
    """Remove earlier artefacts."""
    shutil.rmtree(folder, ignore_errors=True)
