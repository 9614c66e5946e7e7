"""A throwaway PostgreSQL server for the tests: started once, on loopback, stopped at the end.

The server refuses to run as root, so under root it runs as the `postgres` user
(`runuser`), in a temporary folder that user owns. Durability is switched off (`fsync`,
`synchronous_commit`, `full_page_writes`): nothing here must survive a crash, and the
suite stays fast. Each test gets its own database (`fresh_database`), so tests cannot see
each other's rows, locks or notifications.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SUPERUSER = "bot_test"
"""The cluster's superuser (trust authentication on loopback: a test server only)."""


def find_binaries() -> Path | None:
    """The newest installed PostgreSQL's `bin` folder (Debian's layout), or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """One running cluster; `url` for the maintenance database, `fresh_database` per test."""

    folder: Path
    port: int
    bin_dir: Path
    _as_postgres: bool
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once (nothing to keep) and delete its folder."""
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)


def start_postgres(bin_dir: Path) -> PostgresServer:
    """initdb a cluster in a new temporary folder and start it on a free loopback port."""
    as_postgres = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="bot-pg-"))
    server = PostgresServer(folder, free_port(), bin_dir, as_postgres)
    if as_postgres:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    data = str(folder / "data")
    options = (
        f"-k {folder} -p {server.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    try:
        server._run("initdb", "-D", data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync")
        server._run("pg_ctl", "-D", data, "-l", str(folder / "log"), "-o", options, "-w", "start")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return server
