"""Schema migrations with Alembic, run from code (``mge db upgrade``) rather than an alembic.ini.

Every schema change — the first start's creation as much as ``mge db upgrade`` — runs in ONE transaction
that also serialises processes: a kill at any moment leaves the database as it was, and a second process
starting at the same time waits, then finds the schema made and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.database import (
    DatabaseUnavailable,
    ensure_sqlite_directory,
    explained_database_errors,
    install_sqlite_pragmas,
    sqlite_path,
    sync_url,
)

log = logging.getLogger("mge.migrate")

#: Key of the PostgreSQL advisory lock that serialises schema changes (any constant; "mge_sch" in ASCII).
SCHEMA_LOCK_KEY = 0x6D67655F736368
#: How long a process waits for another one's schema change on SQLite (a first start takes well under 5 s).
SQLITE_MIGRATION_WAIT_MS = 120_000


class SchemaError(DatabaseUnavailable):
    """The database's schema is not one this version of the bot can run on (see the subclasses)."""


class SchemaOutOfDate(SchemaError):
    pass


class SchemaFromNewerVersion(SchemaError):
    pass


class SchemaHalfCreated(SchemaError):
    pass


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("storage") / "migrations"))
    # Passed as an attribute, not an option: configparser would choke on '%' in passwords.
    config.attributes["url"] = url
    return config


def _script(url: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(url))


def head_revision(url: str) -> str | None:
    return _script(url).get_current_head()


def _check_known(url: str, current: str | None) -> None:
    if current is not None and current not in {script.revision for script in _script(url).walk_revisions()}:
        raise SchemaFromNewerVersion(
            f"The database schema is at revision {current}, which this version of the bot does not know: a newer "
            "version of the bot wrote it. Run that newer version (upgrade the bot), or restore a backup taken "
            "before the newer version ran."
        )


def _read_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(url: str) -> str | None:
    """The schema revision stored in the database; None for an empty (or not yet created) database."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None  # don't create a database file just to look at it
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    install_sqlite_pragmas(engine)
    try:
        with explained_database_errors(url), engine.connect() as connection:
            return _read_revision(connection)
    finally:
        engine.dispose()


def _sqlite_transactional_ddl(engine: sa.Engine) -> None:
    """SQLAlchemy's documented pysqlite recipe: Python's sqlite3 neither BEGINs before DDL nor keeps it in
    a transaction, so the driver is put in autocommit and the engine emits BEGIN itself. IMMEDIATE takes the
    write lock at once: a second process waits in the busy handler before it has read anything.

    PRAGMA foreign_keys can't change inside a transaction: a revision whose batch operation copies a table
    other rows point at must run ``PRAGMA defer_foreign_keys=ON`` first (checked at COMMIT instead)."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        # After install_sqlite_pragmas' busy_timeout: wait out another process's whole migration.
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_MIGRATION_WAIT_MS}")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _schema_transaction(url: str) -> Iterator[sa.Connection]:
    """One transaction that holds the schema lock from its first statement: on SQLite the write lock
    (BEGIN IMMEDIATE), on PostgreSQL a transaction-scoped advisory lock. Whatever is read inside it is
    current, so a revision read here is never one another process is about to change."""
    ensure_sqlite_directory(url)
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    install_sqlite_pragmas(engine)
    if engine.dialect.name == "sqlite":
        _sqlite_transactional_ddl(engine)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            yield connection
    finally:
        engine.dispose()


def _clear_half_created(connection: sa.Connection) -> None:
    """Tables of ours with no revision recorded: what an interrupted first start of older versions left.
    Empty, they are dropped so the schema is created afresh; with rows in them, nobody can say which
    revision they are at, so the operator decides."""
    import sqlmodel

    from storage import models  # noqa: F401  (registers the tables)

    inspector = sa.inspect(connection)
    present = [table for table in sqlmodel.SQLModel.metadata.sorted_tables if inspector.has_table(table.name)]
    if not present:
        return
    holding = [
        table.name
        for table in present
        if connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None
    ]
    if holding:
        raise SchemaHalfCreated(
            f"The database has the bot's tables, with rows in {', '.join(holding)}, but no schema revision "
            "recorded (an interrupted first start of an older version, or tables made by hand), so its "
            "schema is unknown: restore a backup, or move this database aside and start with a new one."
        )
    log.warning(
        "the database has %d empty tables of the bot but no schema revision (an interrupted first "
        "start of an older version): creating the schema afresh",
        len(present),
    )
    for table in reversed(present):
        table.drop(connection)


def upgrade(url: str, revision: str = "head") -> str | None:
    """Migrate to ``revision`` in one transaction; returns the revision the database was at."""
    with explained_database_errors(url), _schema_transaction(url) as connection:
        current = _read_revision(connection)
        _check_known(url, current)
        if current is None:
            _clear_half_created(connection)
        config = alembic_config(url)
        config.attributes["connection"] = connection  # env.py migrates in our transaction, not its own
        command.upgrade(config, revision)
        after = _read_revision(connection)
        if after != current:
            log.info("database schema migrated from %s to %s", current or "empty", after)
        return current


def ensure_schema(url: str) -> None:
    """Migrate a fresh database; refuse to run on one an older version of the bot left behind.

    An existing database is only migrated on request (``mge db upgrade``) so that an operator running
    several processes, or keeping backups, decides when the schema changes.
    """
    head = head_revision(url)
    current = current_revision(url)  # no lock when, as at most starts, there is nothing to do
    if current == head:
        return
    _check_known(url, current)
    if current is not None:
        raise SchemaOutOfDate(
            f"The database schema is at revision {current}, this version of the bot needs {head}. "
            "Back up the database, then run `mge db upgrade`."
        )
    upgrade(url)  # reads the revision again under the lock: another process may have created it meanwhile
