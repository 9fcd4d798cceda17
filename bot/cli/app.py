"""The ``mge`` command line. Heavy modules are imported inside commands so ``mge --help`` and the
file-only commands (``mge graph build``) start fast."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from enum import StrEnum

import typer

from bot.cli.support import COMMUNITY_HELP_ALL, OutputFormat, fail, operator_errors, settings_or_exit
from bot.cli.ask import ask_command
from bot.cli.communities import communities_app
from bot.cli.digest import digest_app
from bot.cli.export import export_command
from bot.cli.graph import graph_app  # light: numpy and scipy load only when a graph is built
from bot.cli.ideology import ideology_app
from bot.cli.schedule import audit_command, schedule_app
from bot.cli.stories import contexts_app, scenario_app, stories_app
from bot.cli.values import dedup_command, values_app

app = typer.Typer(
    name="mge",
    help="Moral Graph Bot: values interviews, transition-story polls and a moral graph for your community.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
cards_app = typer.Typer(help="Values cards members confirmed.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(communities_app, name="communities")
app.add_typer(cards_app, name="cards")
app.add_typer(graph_app, name="graph")
app.add_typer(scenario_app, name="scenario")
app.add_typer(contexts_app, name="contexts")
app.add_typer(values_app, name="values")
app.add_typer(stories_app, name="stories")
app.command("dedup")(dedup_command)
app.command("export")(export_command)
app.add_typer(digest_app, name="digest")
app.add_typer(schedule_app, name="schedule")
app.command("audit")(audit_command)
app.command("ask")(ask_command)
app.add_typer(ideology_app, name="ideology")


@app.command()
def chat(
    scenario: str | None = typer.Option(None, "--scenario", help="Start on this scenario (added if new)."),
    yes: bool = typer.Option(False, "--yes", help="Accept the consent notice without being asked."),
    user: str | None = typer.Option(None, "--user", help="Participant name; the same name resumes the same interview. Default: your OS user."),
    community: str = typer.Option("local", "--community", help="Console community to use."),
) -> None:
    """Be interviewed in the terminal until you have a values card.

    Piped input works too: each line is one message, and the session ends at end of input with the
    interview saved (run again with the same --user to continue).
    """
    from adapters.console import ConsoleChat
    from bot.interview.scenarios import ScenarioError, prepare_scenarios
    from bot.runtime.wiring import build_app
    from core.messages import CommunityRef, Person

    settings = settings_or_exit()
    with operator_errors():
        bot = build_app(settings)
    name = user or getpass.getuser()
    community_ref = CommunityRef("console", community, community)
    person = Person(name, name)

    async def session() -> None:
        from bot.interview.service import utcnow

        try:
            scenario_id = await prepare_scenarios(bot.database, community_ref, text=scenario, now=utcnow())
            await ConsoleChat(bot.interviews, community_ref, person).run(scenario_id=scenario_id, consent=yes)
        finally:
            await bot.close()

    try:
        asyncio.run(session())
    except ScenarioError as error:
        raise fail(str(error)) from None
    except KeyboardInterrupt:
        # asyncio.run turned Ctrl-C into a cancellation of the session (the prompt or the model's answer),
        # and the bot was closed; what the member said is already saved.
        again = "mge chat" if user is None else f"mge chat --user {user}"
        typer.echo(f"\nInterrupted; your interview is saved. Run `{again}` to continue.", err=True)
        raise typer.Exit(130) from None


class Role(StrEnum):
    all = "all"
    discord = "discord"
    slack = "slack"
    worker = "worker"


@app.command()
def run(
    role: Role = typer.Option(
        Role.all, "--role",
        help="all: every configured platform and the scheduler. discord or slack: that platform's events only. "
        "worker: only the scheduler (posts polls and digests). Split roles need PostgreSQL.",
    ),
    http_port: int | None = typer.Option(None, "--http-port", help="Serve Slack in HTTP mode on this port instead of Socket Mode."),
    http_host: str = typer.Option("0.0.0.0", "--http-host", help="Address for Slack's HTTP mode."),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run the bot on Discord and/or Slack (whichever have tokens configured) until Ctrl-C."""
    import logging

    from bot.runtime.runner import plan_role, serve
    from bot.runtime.wiring import build_app
    from storage.database import database_backend

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic says "Context impl SQLiteImpl" at every start; mge.migrate logs the schema changes themselves.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(log_level.upper())))
    settings = settings_or_exit()
    with operator_errors():
        plan = plan_role(settings, role.value)
        if "slack" in plan.platforms:
            settings.require_slack(http=http_port is not None)
        if role is not Role.all and database_backend(settings.resolved_database_url) == "sqlite":
            logging.getLogger("mge.run").warning(
                "--role %s on SQLite: run the other roles on the same machine only; several machines need "
                "PostgreSQL (DATABASE_URL)", role.value)
        bot = build_app(settings)
    asyncio.run(serve(bot, plan, http_port=http_port, http_host=http_host))


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


class CardStatus(StrEnum):
    confirmed = "confirmed"
    proposed = "proposed"
    all = "all"


@cards_app.command("list")
def cards_list(
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="json or table."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP_ALL),
    status: CardStatus = typer.Option(CardStatus.confirmed, "--status", help="confirmed, proposed or all."),
) -> None:
    """List saved values cards (id, title, description, policies, author, scenario, created)."""
    from bot.values.cards import card_rows

    settings = settings_or_exit()
    statuses = ("confirmed", "proposed", "superseded") if status is CardStatus.all else (status.value,)
    with operator_errors(LookupError):
        rows = asyncio.run(card_rows(settings, community=community, statuses=statuses))
    if format is OutputFormat.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    _print_card_table(rows)


def _print_card_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    for column in ("id", "title", "description", "policies", "author", "scenario", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["title"],
            row["description"],
            "\n".join(row["policies"]),
            row["author"] or "",
            row["scenario"] or "",
            row["created"][:16],
        )
    Console(markup=False, highlight=False).print(table)
    if not rows:
        typer.echo("no cards yet")


def main() -> None:
    app()
