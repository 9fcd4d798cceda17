"""The ``/mge`` slash command: a small registry of subcommands.

Each subcommand answers with an ephemeral reply, which Bolt sends as the ack itself (the HTTP
response, or the Socket Mode ack payload) so the member sees it at once; slow work (anything that may
call the LLM) goes in ``then`` and runs after the ack. Moderator subcommands can be added from other
modules with ``commands.add(Subcommand(...))``; a permission check belongs in their handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from mge.adapters.slack.context import SlackDeps, community_of, deliver, run_member_work
from mge.adapters.slack.render import escape
from mge.bot.members import MemberCard, member_cards
from mge.core.messages import CommunityRef, Person

COMMAND = "/mge"
#: Slack's limit for an ephemeral response's text is generous, but a list of cards should stay readable.
MAX_CARDS_SHOWN = 10


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
            usage = f" {sub.usage}" if sub.usage else ""
            lines.append(f"• `{COMMAND} {sub.name}{usage}` — {sub.summary}")
        return "\n".join(lines)

    async def dispatch(self, call: CommandCall, name: str) -> CommandReply:
        sub = self.subcommands.get(name.casefold())
        if sub is None or sub.name == "help":
            prefix = f"I don't know `{escape(name[:40])}`.\n\n" if sub is None and name else ""
            return CommandReply(prefix + self.help_text())
        return await sub.handler(call)


# --- member subcommands ----------------------------------------------------------------------------


async def join(call: CommandCall) -> CommandReply:
    async def dm_first_prompt() -> None:
        opened = await call.client.conversations_open(users=call.person.platform_user_id)
        channel = str(opened["channel"]["id"])

        async def work() -> None:
            outbound = await call.deps.interviews.resume(call.community, call.person)
            await deliver(call.client, channel, outbound)

        await run_member_work(call.client, call.deps, channel, work)

    return CommandReply("Check your DMs: I've sent you a message to start the interview.", then=dm_first_prompt)


def _card_text(item: MemberCard) -> str:
    status = "confirmed" if item.status == "confirmed" else "waiting for your confirmation in our DM"
    policies = "\n".join(f"• {escape(p)}" for p in item.card.policies)
    scenario = f"\n_Question:_ {escape(item.scenario)}" if item.scenario else ""
    return f"*{escape(item.card.title)}* ({status})\n{escape(item.card.description)}{scenario}\n{policies}"


async def mycard(call: CommandCall) -> CommandReply:
    cards = await member_cards(call.deps.database, call.community, call.person)
    if not cards:
        return CommandReply(f"You have no values card yet. Use `{COMMAND} join` to start an interview.")
    shown = cards[-MAX_CARDS_SHOWN:]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Your values cards*"}}]
    for item in shown:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _card_text(item)[:3000], "verbatim": True}})
    text = "Your values cards: " + "; ".join(escape(item.card.title) for item in shown)
    return CommandReply(text, blocks=blocks)


def member_commands() -> CommandRegistry:
    registry = CommandRegistry()
    registry.add(Subcommand("join", "start (or continue) your values interview in a DM with me", join))
    registry.add(Subcommand("mycard", "see your values cards and their status", mycard))

    async def help_(call: CommandCall) -> CommandReply:  # dispatch answers "help" itself; listed for the text
        return CommandReply(registry.help_text())

    registry.add(Subcommand("help", "show this help", help_))
    return registry


# --- wiring ----------------------------------------------------------------------------------------


def parse(text: str) -> tuple[str, str]:
    """``"join  now"`` → ``("join", "now")``; no words → help."""
    words = (text or "").split(maxsplit=1)
    if not words:
        return "help", ""
    return words[0], words[1].strip() if len(words) > 1 else ""


def register(app: AsyncApp, deps: SlackDeps, registry: CommandRegistry | None = None) -> CommandRegistry:
    registry = registry or member_commands()

    @app.command(COMMAND)
    async def on_command(ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        name, args = parse(str(body.get("text", "")))
        call = CommandCall(
            community=community_of(body),
            person=Person(str(body.get("user_id", "")), str(body.get("user_name", ""))),
            args=args,
            channel_id=str(body.get("channel_id", "")),
            body=body,
            client=client,
            deps=deps,
        )
        try:
            reply = await registry.dispatch(call, name)
        except Exception:
            await ack(text="Sorry, something went wrong on my side. Please try again in a moment.", response_type="ephemeral")
            raise
        await ack(text=reply.text, blocks=reply.blocks, response_type="ephemeral")
        if reply.then is not None:
            await run_member_work(client, deps, None, reply.then)

    return registry
