"""What every `mge` command shares: readable failures, settings and the database, output formats.

Kept light (typer only at import) so `mge --help` stays fast; the rest is imported when called.
"""

from __future__ import annotations

from enum import StrEnum

import typer


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` to stderr and return the Exit to raise (exit 2: the input was wrong)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings_or_exit():
    """The settings, or a one-line explanation of what is misconfigured and exit 2."""
    from mge.bot.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as error:
        raise fail(str(error)) from None


def database_or_exit(settings):
    """The migrated database, or a one-line explanation (bad URL, schema needing `mge db upgrade`)."""
    from mge.bot.wiring import open_database
    from mge.storage.database import DatabaseURLError
    from mge.storage.migrate import SchemaOutOfDate

    try:
        return open_database(settings)
    except (SchemaOutOfDate, DatabaseURLError) as error:
        raise fail(str(error)) from None
