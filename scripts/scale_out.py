"""rectify scaled out on one machine, for a try: API replicas, schedulers and delivery workers on one PostgreSQL.

It makes a fresh database, applies the migrations and imports the reference plan, then starts
N `rectify serve --no-scheduler` replicas on consecutive ports, M `rectify scheduler` processes,
K delivery workers and a local SMTP server that keeps every e-mail in a maildir, and prints where
everything is. Ctrl-C (or SIGTERM) stops them all, and drops the database unless --keep.

A delivery worker is `rectify scheduler --only delivery` (the delivery sweep alone).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import quote

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "examples" / "reference-plan.yaml"
PASSWORD = "rectify-demo"
PEOPLE = ("office-head", "discipline-lead", "deputy-party", "liaison")  # an owner, a verifier, a leader, an auditor
RECTIFY = [sys.executable, "-m", "workflow"]  # the `rectify` command of this interpreter's environment


@dataclass
class Child:
    """One process of the setup: what it is, how it was started, where it logs."""

    name: str
    argv: list[str]
    log: Path
    where: str = ""  # a URL, or what it does
    proc: subprocess.Popen[bytes] | None = None
    reported: bool = False  # its unexpected exit was already said

    def start(self, env: dict[str, str]) -> None:
        """Start it in a session of its own: Ctrl-C reaches only the script, which stops everything in order."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)


@dataclass
class Fleet:
    """The started processes; stops them all, each by its own pid."""

    children: list[Child] = field(default_factory=list)

    def start(self, child: Child, env: dict[str, str]) -> Child:
        """Start one more."""
        child.start(env)
        self.children.append(child)
        return child

    def exited(self) -> list[Child]:
        """The children that ended since the last look (each is reported once)."""
        gone = [c for c in self.children if c.proc and c.proc.poll() is not None and not c.reported]
        for c in gone:
            c.reported = True
        return gone

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM to each (schedulers finish their running sweep first), SIGKILL to any still there after grace_s."""
        live = [c.proc for c in self.children if c.proc and c.proc.poll() is None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in live:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def pg_url(admin_url: str, database: str) -> str:
    """The URL of `database` on the server of `admin_url`."""
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> None:
    """Make an empty database; refuse to reuse one (it may hold someone's data)."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise SystemExit(f"error: database {name!r} exists already; drop it (dropdb {name}) or pick "
                             "another with --database")
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    """Drop the database, closing whatever is still connected to it."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def load_plan(url: str, plan: Path, env: dict[str, str]) -> dict[str, str]:
    """`rectify init` and `rectify import PLAN`; passwords for a few people, and an API token for each."""
    for args in (["init"], ["import", str(plan)]):
        done = subprocess.run([*RECTIFY, *args, "--db", url], env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"error: rectify {' '.join(args)}: {(done.stderr or done.stdout).strip()}")
    from workflow.app import open_app
    from workflow.auth import create_token, set_password
    from workflow.settings import Settings

    app = open_app(url, settings=Settings(database_url=url))
    try:
        tokens = {}
        for person in PEOPLE:
            set_password(app, person, PASSWORD)
            tokens[person] = create_token(app, person, "scale-out")
        return tokens
    finally:
        app.engine.dispose()


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_taken(port: int) -> bool:
    """Whether something listens on the loopback port already."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_healthy(child: Child, url: str, timeout_s: float = 90.0) -> None:
    """Wait until a replica is ready (/readyz: it answers and reaches the database); stop with its log's tail
    if it dies or never answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.proc and child.proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    tail = "\n".join(child.log.read_text(errors="replace").splitlines()[-15:])
    raise RuntimeError(f"{child.name} did not come up at {url} (log {child.log}):\n{tail}")


def status_line(url: str) -> str:
    """One line of what the processes did together: breaches flagged, reminders made and sent, sends per worker."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        overdue = conn.execute("SELECT count(*) FROM history WHERE event = 'overdue'").fetchone()
        made = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM reminder").fetchone()
        per = conn.execute("SELECT worker, count(*) FROM delivery_attempt WHERE ok GROUP BY worker "
                           "ORDER BY worker").fetchall()
    by = ", ".join(f"{w.rsplit(':', 1)[-1]}: {n}" for w, n in per) or "none yet"
    assert overdue is not None and made is not None
    return (f"{time.strftime('%H:%M:%S')}  breaches flagged {overdue[0]}, reminders {made[0]} "
            f"(sent {made[1]}); messages sent by pid: {by}")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/scale-out",
        description="Try rectify scaled out on this machine: a fresh PostgreSQL database with the reference plan, "
                    "API replicas (rectify serve --no-scheduler) on consecutive ports, scheduler processes "
                    "(rectify scheduler), delivery workers, and a local SMTP server keeping the e-mails. "
                    "Ctrl-C stops them all.",
        epilog="A delivery worker is `rectify scheduler --only delivery`. Kill one with `kill -9 PID` while "
               "reminders are being sent: another worker sends what it held once its lease "
               "(RECTIFY_DELIVERY_LEASE_S) runs out.")
    p.add_argument("--replicas", type=int, default=2, metavar="N", help="API replicas (default 2)")
    p.add_argument("--schedulers", type=int, default=2, metavar="M", help="scheduler processes (default 2)")
    p.add_argument("--workers", type=int, default=1, metavar="K", help="delivery workers (default 1)")
    p.add_argument("--port", type=int, default=8000, help="the first replica's port; the others follow (default 8000)")
    p.add_argument("--admin-url", default=os.environ.get("RECTIFY_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres"),
                   help="a PostgreSQL URL allowed to create databases (default $RECTIFY_ADMIN_URL or "
                        "postgresql://postgres@127.0.0.1/postgres)")
    p.add_argument("--database", default="rectify_scale_out", help="the database to create (default rectify_scale_out)")
    p.add_argument("--plan", type=Path, default=PLAN, help="the plan to import (default examples/reference-plan.yaml)")
    p.add_argument("--interval", type=float, default=10.0, metavar="S",
                   help="every sweep's interval in seconds (default 10; the production default is 300/300/30)")
    p.add_argument("--smtp-url", default=None, help="an apprise mailto:// URL of a real SMTP server (default: start "
                   "a local one that writes each message into a maildir)")
    p.add_argument("--dir", type=Path, default=None, help="where logs, evidence and mail go (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the database when stopping")
    p.add_argument("--status-every", type=float, default=10.0, metavar="S",
                   help="print a status line this often (0: never; default 10)")
    args = p.parse_args(argv)
    for name in ("replicas", "schedulers", "workers"):
        if getattr(args, name) < (1 if name == "replicas" else 0):
            p.error(f"--{name} must be at least {1 if name == 'replicas' else 0}")
    return args


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop everything."""


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    """Set it all up, run until Ctrl-C, take it all down."""
    args = parse(argv)
    run = args.dir or Path(tempfile.mkdtemp(prefix="rectify-scale-out-"))
    run.mkdir(parents=True, exist_ok=True)
    ports = [args.port + i for i in range(args.replicas)]
    if taken := [p for p in ports if port_taken(p)]:
        raise SystemExit(f"error: port {taken[0]} is in use; pick other ports with --port")
    url = pg_url(args.admin_url, args.database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    interval = f"{args.interval:g}"
    env |= {"RECTIFY_DATABASE_URL": url, "RECTIFY_EVIDENCE_DIR": str(run / "evidence"),
            "RECTIFY_SESSION_SECRET": secrets.token_urlsafe(32),  # one secret: a sign-in holds on every replica
            "RECTIFY_OVERDUE_INTERVAL_S": interval, "RECTIFY_REMINDER_INTERVAL_S": interval,
            "RECTIFY_DELIVERY_INTERVAL_S": interval, "PYTHONUNBUFFERED": "1"}
    fleet, code = Fleet(), 0
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    create_database(args.admin_url, args.database)
    try:
        tokens = load_plan(url, args.plan, env)
        if args.smtp_url:
            env["RECTIFY_SMTP_URL"] = args.smtp_url
        else:
            smtp_port, maildir = free_port(), run / "mail"
            env["RECTIFY_SMTP_URL"] = (f"mailto://localhost:{smtp_port}?smtp=127.0.0.1&from="
                                       f"{quote('rectify@example.com', safe='@')}&secure=no")
            fleet.start(Child("smtp", [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
                                       "-c", "aiosmtpd.handlers.Mailbox", str(maildir)], run / "smtp.log",
                              f"127.0.0.1:{smtp_port}, keeps each e-mail in {maildir}/new/"), env)
        replicas = [fleet.start(Child(f"api-{i + 1}", [*RECTIFY, "serve", "--no-scheduler", "--port", str(port),
                                                        "--db", url], run / f"api-{i + 1}.log",
                                      f"http://127.0.0.1:{port}/"), env)
                    for i, port in enumerate(ports)]
        for i in range(args.schedulers):
            fleet.start(Child(f"scheduler-{i + 1}", [*RECTIFY, "scheduler", "--db", url],
                              run / f"scheduler-{i + 1}.log", f"overdue, reminders and delivery every {interval} s"),
                        env)
        for i in range(args.workers):
            worker = [*RECTIFY, "scheduler", "--only", "delivery", "--db", url]
            fleet.start(Child(f"worker-{i + 1}", worker, run / f"worker-{i + 1}.log", f"delivery every {interval} s"),
                        env)
        for r in replicas:
            wait_healthy(r, r.where)
        print(f"rectify scaled out on {url} (logs, evidence and mail in {run}/):")
        for c in fleet.children:
            assert c.proc is not None
            print(f"  {c.name:<13} pid {c.proc.pid:<8} {c.where}  [{c.log.name}]")
        first = replicas[0].where
        print(f"Web pages: {first}ledger, signed in as {', '.join(PEOPLE)} with the password {PASSWORD!r}.")
        print(f"API: curl -H 'Authorization: Bearer {tokens['liaison']}' '{first}api/measures?limit=3'  (the auditor)")
        print(f"     its ETag and If-Match race: curl -i -X POST -H 'Authorization: Bearer {tokens['office-head']}' "
              f"-H 'If-Match: \"1\"' {replicas[-1].where}api/measures/tcj-1.1.1/events/start")
        print(f"Ctrl-C stops everything{'' if args.keep else ' and drops the database (--keep keeps it)'}.", flush=True)
        next_status = time.monotonic()
        while True:
            for c in fleet.exited():
                assert c.proc is not None
                print(f"{c.name} (pid {c.proc.pid}) exited with {c.proc.returncode}; see {c.log}", flush=True)
            if args.status_every and time.monotonic() >= next_status:
                print(status_line(url), flush=True)
                next_status = time.monotonic() + args.status_every
            time.sleep(0.5)
    except Stop as e:
        print(f"{e}: stopping {len(fleet.children)} processes…", flush=True)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave orphans behind
        fleet.stop()
        if args.keep:
            print(f"kept the database: RECTIFY_DATABASE_URL={url}")
        else:
            drop_database(args.admin_url, args.database)
            print(f"dropped the database {args.database}.")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
