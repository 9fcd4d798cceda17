"""Shared pieces of the benchmarks: the machine's description, databases to run on, percentiles.

PostgreSQL comes from the tests' throwaway-cluster helper (``tests/postgres.py``: initdb in a temporary
folder, a server on 127.0.0.1, gone afterwards), imported with the repository root on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux /proc; ru_maxrss elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the machine -----------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gb() -> float | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def postgres_bin_dir() -> Path | None:
    from tests.postgres import find_bin_dir

    return find_bin_dir()


def postgres_version(bin_dir: Path | None) -> str | None:
    if bin_dir is None:
        return None
    try:
        done = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    found = re.search(r"\d+(\.\d+)*", done.stdout)
    return found.group(0) if found else None


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages: other work on the machine skews every figure here."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def describe_machine() -> dict[str, object]:
    import sqlalchemy

    bin_dir = postgres_bin_dir()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gb": _ram_gb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(bin_dir),
        "sqlalchemy": sqlalchemy.__version__,
        "load_average_at_start": load_average(),
    }


# --- databases -------------------------------------------------------------------------------------


def sqlite_url(directory: Path, name: str) -> str:
    """A migrated, empty SQLite database file under ``directory``."""
    from storage.migrate import upgrade

    url = f"sqlite:///{directory / f'{name}.sqlite3'}"
    upgrade(url)
    return url


class Postgres:
    """A throwaway PostgreSQL cluster (tests/postgres.py) handing out fresh migrated databases."""

    def __init__(self) -> None:
        from tests.postgres import ThrowawayPostgres

        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed")
        self._server = ThrowawayPostgres(bin_dir)

    def __enter__(self) -> Postgres:
        self._server.start()
        try:
            self._server.create_template()
        except BaseException:
            self._server.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()

    def fresh_url(self) -> str:
        return self._server.fresh_database()


@contextlib.contextmanager
def maybe_postgres(enabled: bool) -> Iterator[tuple[Postgres | None, str | None]]:
    """(a running cluster, None) or (None, why there is none)."""
    if not enabled:
        yield None, "disabled (--no-postgres)"
        return
    if postgres_bin_dir() is None:
        yield None, "PostgreSQL is not installed"
        return
    try:
        server = Postgres().__enter__()
    except Exception as error:  # noqa: BLE001 — a benchmark leg to skip, with the reason recorded
        yield None, f"could not start a throwaway cluster: {error}"
        return
    try:
        yield server, None
    finally:
        server.__exit__(None, None, None)
