"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, one server on 127.0.0.1,
a template database migrated once, and a fresh copy of it for every test (CREATE DATABASE … TEMPLATE).

Nothing on the machine is touched: the cluster lives and dies with the test session (with pytest-xdist,
each worker's session has its own cluster on its own free port). Where PostgreSQL
is not installed the PostgreSQL tests are skipped with a message saying so; in CI (CI=true) its absence
is an error, so the PostgreSQL leg can never silently vanish.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

TEMPLATE = "mge_template"


def find_bin_dir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayPostgres:
    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="mge-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        # initdb refuses to run as root: run the server as the postgres user when we are root.
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql)

    def create_template(self) -> None:
        from storage.migrate import upgrade

        self._admin(f"CREATE DATABASE {TEMPLATE}")
        upgrade(self.url(TEMPLATE))

    def empty_database(self) -> str:
        """A new database with no schema at all (what a first start meets); returns its URL."""
        name = f"empty_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    @staticmethod
    def copy_database(source: str, target: str) -> None:
        """Make the database at URL ``target`` a copy of the one at ``source`` (same server; nobody may be
        connected to ``source``): what was there is dropped."""
        import psycopg
        from sqlalchemy.engine import make_url

        source_url, target_url = make_url(source), make_url(target)
        admin = source_url.set(database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{target_url.database}"')
            connection.execute(f'CREATE DATABASE "{target_url.database}" TEMPLATE "{source_url.database}"')

    def fresh_database(self) -> str:
        """A new database with the migrated schema; returns its URL."""
        name = f"test_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)
