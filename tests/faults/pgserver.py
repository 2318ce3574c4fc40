"""A throwaway PostgreSQL server of a test's own, to stop, restart and cut connections of at will.

The shared server on 5432 serves everybody else's tests, so it is never touched: this one lives in a
temporary folder, listens on a free loopback port with its socket beside its data, and runs as the
`postgres` OS user (the server refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    """`initdb` in a temporary folder, then start, stop, restart and terminate backends with `pg_ctl`."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rectify-pg-"))
        shutil.chown(self.folder, USER, USER)
        self.data = self.folder / "data"
        self.port = _free_port()
        self._run("initdb", "-D", str(self.data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = ["runuser", "-u", USER, "--", str(BIN / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", action, "-D", str(self.data), "-w", "-t", "60", "-l", str(self.folder / "log"),
                  "-o", options, *extra)

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it: `fast` rolls back open transactions, `immediate` is a crash (recovery at the next start)."""
        self._ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        """Stop it (`fast` or `immediate`) and start it again."""
        self.stop(mode)
        self.start()

    def admin_url(self) -> str:
        """The maintenance database, for psycopg."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        """A new database; its URL with the psycopg driver."""
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{name}"

    def terminate_backends(self, database: str) -> int:
        """`pg_terminate_backend` every other session on `database`; how many there were."""
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchall()
        return len(rows)

    def close(self) -> None:
        """Stop it for good and remove its folder."""
        with contextlib.suppress(RuntimeError):  # already down
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def available() -> str | None:
    """Why a throwaway server cannot be made here, or None when it can."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL 15 binaries in {BIN}"
    if os.geteuid() != 0:
        return "starting a server as the postgres user needs root"
    return None
