"""The ``/mge`` slash command: a small registry of subcommands.

Each subcommand answers with an ephemeral reply, which Bolt sends as the ack itself (the HTTP
response, or the Socket Mode ack payload) so the member sees it at once; slow work (anything that may
call the LLM) goes in ``then`` and runs after the ack. Moderator subcommands can be added from other
modules with ``commands.add(Subcommand(...))`` (the member ones are in ``member_commands``); a permission
check belongs in their handler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.context import SlackDeps, community_of, run_member_work
from adapters.slack.render import escape
from bot.commands.member_commands import COMMAND, SORRY_TEXT, help_line
from core.messages import CommunityRef, Person

#: How long a subcommand may work before the ack must go out without its answer (Slack allows 3 s).
ACK_WITHIN = 2.5
#: Request-context key: when the HTTP gate received the request (``time.monotonic()``). Slack's 3 s, and
#: Bolt's wait for the ack, count from there — not from when this handler starts, which under load can be
#: a good part of a second later. Socket Mode has no such stamp: its handlers count from their start.
ARRIVED_AT = "mge_arrived_at"
STILL_WORKING_TEXT = "Working on it: I'll send you the answer in a direct message."
#: Echoed text never becomes a link preview or a parsed @name.
NO_LINKS: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False, "parse": "none", "link_names": False}
#: A subcommand the bot does not have: a typo, or one that changed since the member learnt it.
UNKNOWN_TEXT = (
    f"`{COMMAND} {{name}}` is not a command I know (commands change now and then). Here is what I can do:\n\n"
)


@dataclass
class CommandCall:
    """One invocation: who, where, and the words after the subcommand."""

    community: CommunityRef
    person: Person
    args: str
    channel_id: str
    body: dict[str, Any]
    client: AsyncWebClient
    deps: SlackDeps
    #: ``time.monotonic()`` by which the ack must go out (``ACK_WITHIN`` after the request arrived).
    ack_by: float

    def seconds_to_ack(self) -> float:
        return max(0.0, self.ack_by - time.monotonic())


@dataclass
class CommandReply:
    text: str
    blocks: list[dict[str, Any]] | None = None
    #: Work to do after the ack (it may be slow): e.g. DM the member.
    then: Callable[[], Awaitable[None]] | None = None


Handler = Callable[[CommandCall], Awaitable[CommandReply]]


@dataclass(frozen=True)
class Subcommand:
    name: str
    summary: str
    handler: Handler
    usage: str = ""


@dataclass
class CommandRegistry:
    subcommands: dict[str, Subcommand] = field(default_factory=dict)

    def add(self, subcommand: Subcommand) -> None:
        self.subcommands[subcommand.name] = subcommand

    def help_text(self) -> str:
        lines = [f"*{COMMAND}* — the Moral Graph Bot. Subcommands:"]
        for sub in self.subcommands.values():
            lines.append("• " + help_line(sub.name, sub.summary, usage=sub.usage))
        return "\n".join(lines)

    async def dispatch(self, call: CommandCall, name: str) -> CommandReply:
        sub = self.subcommands.get(name.casefold())
        if sub is None or sub.name == "help":
            prefix = UNKNOWN_TEXT.format(name=escape(name[:40])) if sub is None and name else ""
            return CommandReply(prefix + self.help_text())
        return await sub.handler(call)


# --- wiring ----------------------------------------------------------------------------------------


def parse(text: str) -> tuple[str, str]:
    """``"join  now"`` → ``("join", "now")``; no words → help."""
    words = (text or "").split(maxsplit=1)
    if not words:
        return "help", ""
    return words[0], words[1].strip() if len(words) > 1 else ""


def register(app: AsyncApp, deps: SlackDeps, registry: CommandRegistry) -> CommandRegistry:

    @app.command(COMMAND)
    async def on_command(ack, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]) -> None:
        name, args = parse(str(body.get("text", "")))
        arrived = context.get(ARRIVED_AT)
        call = CommandCall(
            community=community_of(body),
            person=Person(str(body.get("user_id", "")), str(body.get("user_name", ""))),
            args=args,
            channel_id=str(body.get("channel_id", "")),
            body=body,
            client=client,
            deps=deps,
            ack_by=(arrived if isinstance(arrived, float) else time.monotonic()) + ACK_WITHIN,
        )
        task = asyncio.ensure_future(registry.dispatch(call, name))
        try:
            # Slack drops a command not acknowledged within 3 s: answer in the ack when the work is done in
            # time (the usual case), else say it is under way and send the answer in a DM when it is.
            reply = await asyncio.wait_for(asyncio.shield(task), call.seconds_to_ack())
        except TimeoutError:
            await ack(text=STILL_WORKING_TEXT, response_type="ephemeral")

            async def answer_later() -> None:
                late = await task
                opened = await client.conversations_open(users=call.person.platform_user_id)
                await client.chat_postMessage(
                    channel=str(opened["channel"]["id"]), text=late.text, blocks=late.blocks, **NO_LINKS
                )
                if late.then is not None:
                    await late.then()

            await run_member_work(client, deps, None, answer_later)
            return
        except Exception:
            await ack(text=SORRY_TEXT, response_type="ephemeral")
            raise
        await ack(text=reply.text, blocks=reply.blocks, response_type="ephemeral")
        if reply.then is not None:
            await run_member_work(client, deps, None, reply.then)

    return registry
