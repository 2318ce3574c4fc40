"""Processes of the soak test besides the schedulers: API replicas and a delivery worker, all on the file clock.

Importable by a forkserver child. Each logs to a file of its own and runs until SIGTERM (or SIGKILL).
"""

from __future__ import annotations

import logging
import multiprocessing.context
from pathlib import Path

from jobs.scheduler import Scheduler, sweeps

from ..jobs.scheduler_workers import FileClock, _setup
from ..support import open_test_app

BATCH = 10  # the worker claims more than the schedulers (4) do, so it often holds claims when it is killed


def processes() -> multiprocessing.context.ForkServerContext:
    """Separate processes forked from a server that has imported rectify, APScheduler and the web stack once."""
    ctx = multiprocessing.context.ForkServerContext()
    ctx.set_forkserver_preload(["tests.jobs.scheduler_workers", __name__, "apscheduler.schedulers.blocking",
                                "workflow.web.server", "uvicorn"])
    return ctx


def api_replica(url: str, clock_file: str, log_file: str, port: int, evidence_dir: str) -> None:
    """`rectify serve --no-scheduler` on the file clock: the API on a loopback port until SIGTERM."""
    import uvicorn

    from workflow.web.server import create_app

    logging.basicConfig(filename=log_file, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = open_test_app(url, evidence_dir=Path(evidence_dir), clock=FileClock(clock_file))
    web = create_app(app, session_secret="soak")  # the same secret on every replica, as RECTIFY_SESSION_SECRET
    uvicorn.run(web, host="127.0.0.1", port=port, log_level="warning", access_log=False, log_config=None)
    app.engine.dispose()


def delivery_worker(url: str, clock_file: str, log_file: str) -> None:
    """A delivery worker (the delivery sweep alone, like `rectify scheduler --only delivery`) until SIGTERM."""
    app, settings = _setup(url, clock_file, log_file)
    settings = settings.model_copy(update={"delivery_batch": BATCH})
    Scheduler([s for s in sweeps(app, settings) if s.name == "delivery"]).run()
    app.engine.dispose()
