"""Schema migrations with Alembic, run from code (``mge db upgrade``) rather than an alembic.ini."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from mge.storage.database import database_backend, ensure_sqlite_directory, install_sqlite_pragmas, sync_url


class SchemaOutOfDate(RuntimeError):
    pass


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("mge.storage") / "migrations"))
    # Passed as an attribute, not an option: configparser would choke on '%' in passwords.
    config.attributes["url"] = url
    return config


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(url: str) -> str | None:
    """The schema revision stored in the database; None for an empty (or not yet created) database."""
    parsed = make_url(url)
    if database_backend(url) == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).expanduser().exists():
            return None  # don't create a database file just to look at it
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    install_sqlite_pragmas(engine)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    ensure_sqlite_directory(url)
    command.upgrade(alembic_config(url), revision)


def ensure_schema(url: str) -> None:
    """Migrate a fresh database; refuse to run on one an older version of the bot left behind.

    An existing database is only migrated on request (``mge db upgrade``) so that an operator running
    several processes, or keeping backups, decides when the schema changes.
    """
    ensure_sqlite_directory(url)
    current = current_revision(url)
    head = head_revision(url)
    if current == head:
        return
    if current is None:
        upgrade(url)
        return
    raise SchemaOutOfDate(
        f"The database schema is at revision {current}, this version of the bot needs {head}. "
        "Back up the database, then run `mge db upgrade`."
    )
