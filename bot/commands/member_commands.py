"""The member commands, platform-neutral: one declaration of `/mge join`, `/mge mycard`, `/mge mydata`,
`/mge forget`, `/mge ask`, `/mge vote` and `/mge help` drives Discord's `/mge` subcommands (name, description,
options), Slack's `/mge` parsing and the command list in the help on both.

Each adapter implements every command here (``handlers_for`` refuses to start otherwise) with the use
cases they call: ``bot.interview`` (join), ``bot.values.my_card`` (mycard), ``bot.commands.member_data``
(mydata, forget), ``bot.ask`` (ask), ``bot.voting.dm_vote`` (vote); only the rendering is the platform's.
Moderator commands are the other table (``bot.commands.moderator_actions.ACTIONS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from bot.commands.base import Param
from core.ask import MAX_QUESTION_CHARS

COMMAND = "/mge"
#: What a member is told, on any platform, when the bot failed to handle what they sent (a command, a DM).
SORRY_TEXT = "Sorry, something went wrong on my side. Please try again in a moment."
NO_CARD_TEXT = f"You don't have a values card in this community yet. Run `{COMMAND} join` to start an interview."


@dataclass(frozen=True, slots=True)
class MemberCommand:
    name: str
    #: Its line in the help, on every platform.
    help: str
    #: What Discord shows under the command's name as the member types it.
    description: str
    params: tuple[Param, ...] = ()
    #: What follows the name where commands are typed whole (Slack), when not just its parameters: Slack
    #: confirms `/mge forget` with a second command, Discord with buttons.
    typed_usage: str = ""

    def usage(self) -> str:
        """``<question>``, ``[confirm]``: the words after the name, as a typed command takes them."""
        return self.typed_usage or " ".join(f"<{p.name}>" if p.required else f"[{p.name}]" for p in self.params)


QUESTION = Param("question", f"Your question, up to {MAX_QUESTION_CHARS} characters")

MEMBER_COMMANDS: tuple[MemberCommand, ...] = (
    MemberCommand(
        "join", "start (or continue) your values interview in a DM with me", "Take part: I'll interview you in your DMs"
    ),
    MemberCommand("mycard", "see your values cards and their status", "See your values cards in this community"),
    MemberCommand(
        "mydata",
        "get a file with everything stored about you here",
        "Get a file with everything stored about you in this community",
    ),
    MemberCommand(
        "forget",
        "erase your data here (shows what would go first, and asks you to confirm)",
        "Erase everything stored about you in this community",
        typed_usage="[confirm]",
    ),
    MemberCommand(
        "ask",
        "ask a question; the community's wisest values guide the answer",
        "Ask a question; the community's wisest values guide the answer",
        params=(QUESTION,),
    ),
    MemberCommand(
        "vote",
        "vote in a DM on the stories that most need your vote, one at a time",
        "Vote in your DMs on the stories that most need your vote",
    ),
    MemberCommand("help", "show this help", "How the Moral Graph Bot works"),
)


def member_command(name: str) -> MemberCommand:
    return next(command for command in MEMBER_COMMANDS if command.name == name)


def help_line(path: str, help: str, *, usage: str = "") -> str:
    """One command in a help text: ``"`/mge forget [confirm]` — erase …"``."""
    return f"`{COMMAND} {path}{' ' + usage if usage else ''}` — {help}"


def help_lines() -> list[str]:
    """Every member command's help line, in order, as platforms that show a command's options themselves
    (Discord) list them; Slack adds the usage (its registry's help)."""
    return [help_line(command.name, command.help) for command in MEMBER_COMMANDS]


Handler = TypeVar("Handler")


def handlers_for(platform: str, handlers: Mapping[str, Handler]) -> list[tuple[MemberCommand, Handler]]:
    """Every member command with the platform's handler for it, in the table's order."""
    missing = [command.name for command in MEMBER_COMMANDS if command.name not in handlers]
    unknown = sorted(set(handlers) - {command.name for command in MEMBER_COMMANDS})
    if missing or unknown:
        raise ValueError(f"{platform} member commands differ from the table: missing {missing}, unknown {unknown}")
    return [(command, handlers[command.name]) for command in MEMBER_COMMANDS]
