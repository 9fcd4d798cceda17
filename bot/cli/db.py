"""``mge db``: the database schema — upgrade it, or show where it stands."""

from __future__ import annotations

import typer

from bot.cli.support import operator_errors, settings_or_exit

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to this version's schema (back it up first). All or nothing: interrupted, the
    database stays as it was."""
    from storage.migrate import head_revision, upgrade

    url = settings_or_exit().resolved_database_url
    with operator_errors():
        before = upgrade(url)
    typer.echo(f"database at {head_revision(url)} (was {before or 'empty'})")


@db_app.command("status")
def db_status() -> None:
    """Show the database URL (without password) and its schema revision."""
    from sqlalchemy.engine import make_url

    from storage.migrate import current_revision, head_revision

    url = settings_or_exit().resolved_database_url
    with operator_errors():
        current, head = current_revision(url), head_revision(url)
    typer.echo(f"url: {make_url(url).render_as_string(hide_password=True)}")
    typer.echo(f"revision: {current or 'none'} (this version needs {head})")
    if current != head:
        raise typer.Exit(1)
