"""``mge chat`` and ``mge run``: an operator's first two commands — be interviewed in the terminal, then
serve the community on Discord and/or Slack."""

from __future__ import annotations

import asyncio
import getpass
from enum import StrEnum

import typer

from bot.cli.support import fail, operator_errors, settings_or_exit


def chat(
    scenario: str | None = typer.Option(None, "--scenario", help="Start on this scenario (added if new)."),
    yes: bool = typer.Option(False, "--yes", help="Accept the consent notice without being asked."),
    user: str | None = typer.Option(
        None, "--user", help="Participant name; the same name resumes the same interview. Default: your OS user."
    ),
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
        from core.clock import utcnow

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


def run(
    role: Role = typer.Option(
        Role.all,
        "--role",
        help="all: every configured platform and the scheduler. discord or slack: that platform's events only. "
        "worker: only the scheduler (posts polls and digests). Split roles need PostgreSQL.",
    ),
    http_port: int | None = typer.Option(
        None, "--http-port", help="Serve Slack in HTTP mode on this port instead of Socket Mode."
    ),
    http_host: str = typer.Option("0.0.0.0", "--http-host", help="Address for Slack's HTTP mode."),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run the bot on Discord and/or Slack (whichever have tokens configured) until Ctrl-C."""
    import logging

    from bot.runtime.wiring import build_app
    from storage.database import database_backend
    from storage.migrate import ensure_schema

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic says "Context impl SQLiteImpl" at every start; mge.migrate logs the schema changes themselves.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(log_level.upper())))
    settings = settings_or_exit()
    with operator_errors():
        # A database problem is reported before the platforms' libraries load (seconds on a small machine).
        ensure_schema(settings.resolved_database_url)
        from bot.runtime.runner import plan_role, serve

        plan = plan_role(settings, role.value)
        if "slack" in plan.platforms:
            settings.require_slack(http=http_port is not None)
        if role is not Role.all and database_backend(settings.resolved_database_url) == "sqlite":
            logging.getLogger("mge.run").warning(
                "--role %s on SQLite: run the other roles on the same machine only; several machines need "
                "PostgreSQL (DATABASE_URL)",
                role.value,
            )
        bot = build_app(settings)
    asyncio.run(serve(bot, plan, http_port=http_port, http_host=http_host))
