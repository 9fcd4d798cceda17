"""The ``mge`` command line: every command group, registered in the order an operator meets them, in
four panels of ``mge --help``. Each group lives in its own module beside this one; heavy modules are
imported inside commands so ``mge --help`` and the file-only commands (``mge graph build``) start fast."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from bot.cli.ask import ask_command
from bot.cli.cards import cards_app
from bot.cli.communities import communities_app
from bot.cli.db import db_app
from bot.cli.digest import digest_app
from bot.cli.eval import eval_app
from bot.cli.export import export_command
from bot.cli.graph import graph_app  # light: numpy and scipy load only when a graph is built
from bot.cli.ideology import ideology_app
from bot.cli.importing import import_command
from bot.cli.scenarios import contexts_app, scenario_app
from bot.cli.schedule import audit_command, schedule_app
from bot.cli.start import chat, run
from bot.cli.stories import stories_app
from bot.cli.values import dedup_command, values_app

START, DELIBERATION, RESULTS, ADMIN = "Getting started", "The deliberation", "Results", "Administration"
#: ``mge --help`` lists the commands in this order (Typer would put single commands before groups).
OPERATOR_PATH = (
    "chat",
    "run",
    "scenario",
    "contexts",
    "dedup",
    "values",
    "stories",
    "schedule",
    "graph",
    "digest",
    "export",
    "import",
    "ask",
    "db",
    "communities",
    "audit",
    "cards",
    "ideology",
    "eval",
)


class _OperatorPathGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        known = super().list_commands(ctx)
        return [name for name in OPERATOR_PATH if name in known] + [name for name in known if name not in OPERATOR_PATH]


app = typer.Typer(
    cls=_OperatorPathGroup,
    name="mge",
    help="Moral Graph Bot: values interviews, transition-story polls and a moral graph for your community.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("chat", rich_help_panel=START)(chat)
app.command("run", rich_help_panel=START)(run)

app.add_typer(scenario_app, name="scenario", rich_help_panel=DELIBERATION)
app.add_typer(contexts_app, name="contexts", rich_help_panel=DELIBERATION)
app.command("dedup", rich_help_panel=DELIBERATION)(dedup_command)
app.add_typer(values_app, name="values", rich_help_panel=DELIBERATION)
app.add_typer(stories_app, name="stories", rich_help_panel=DELIBERATION)
app.add_typer(schedule_app, name="schedule", rich_help_panel=DELIBERATION)

app.add_typer(graph_app, name="graph", rich_help_panel=RESULTS)
app.add_typer(digest_app, name="digest", rich_help_panel=RESULTS)
app.command("export", rich_help_panel=RESULTS)(export_command)
app.command("import", rich_help_panel=RESULTS)(import_command)
app.command("ask", rich_help_panel=RESULTS)(ask_command)

app.add_typer(db_app, name="db", rich_help_panel=ADMIN)
app.add_typer(communities_app, name="communities", rich_help_panel=ADMIN)
app.command("audit", rich_help_panel=ADMIN)(audit_command)
app.add_typer(cards_app, name="cards", rich_help_panel=ADMIN)
app.add_typer(ideology_app, name="ideology", rich_help_panel=ADMIN)
app.add_typer(eval_app, name="eval", rich_help_panel=ADMIN)


def main() -> None:
    app()
