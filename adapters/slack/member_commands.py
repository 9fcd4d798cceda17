"""Member subcommands of ``/mge`` on Slack: join, mycard, mydata, forget, vote, help (and ask, in
``ask_command``), registered from the one table of member commands (``bot.commands.member_commands``:
names, what the help says, usage).

`/mge mydata` uploads the member's data file to their DM with the bot; `/mge forget` shows what would be
erased, and `/mge forget confirm` within the window erases it (``bot.commands.member_data`` does both).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.ask_command import ask
from adapters.slack.commands import COMMAND, CommandCall, CommandRegistry, CommandReply, Subcommand
from adapters.slack.context import deliver, run_member_work
from adapters.slack.legitimacy import message_args
from adapters.slack.render import escape
from bot.commands.member_commands import NO_CARD_TEXT, handlers_for
from bot.commands.member_data import FORGET_WINDOW_MINUTES, NO_DATA_TEXT, forget, forget_preview, member_export
from bot.privacy.confirmations import ForgetConfirmations
from bot.privacy.erase import NOTHING_STORED_TEXT
from bot.values.my_card import MemberCard, member_cards
from bot.voting.dm_vote import start_voting

log = logging.getLogger("mge.slack.commands")

#: Slack's limit for an ephemeral response's text is generous, but a list of cards should stay readable.
MAX_CARDS_SHOWN = 10


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
    placed = f"\n_{escape(item.placement.line())}_" if item.placement else ""
    return f"*{escape(item.card.title)}* ({status})\n{escape(item.card.description)}{scenario}\n{policies}{placed}"


async def mycard(call: CommandCall) -> CommandReply:
    cards = await member_cards(call.deps.database, call.community, call.person)
    if not cards:
        return CommandReply(NO_CARD_TEXT)
    shown = cards[-MAX_CARDS_SHOWN:]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Your values cards*"}}]
    for item in shown:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _card_text(item)[:3000], "verbatim": True}}
        )
    text = "Your values cards: " + "; ".join(escape(item.card.title) for item in shown)
    return CommandReply(text, blocks=blocks)


async def vote(call: CommandCall) -> CommandReply:
    """The first story is chosen before the ack (a few queries) and sent to the member's DM after it."""
    first = await start_voting(call.deps.database, call.community, call.person, now=call.deps.clock())

    async def send() -> None:
        opened = await call.client.conversations_open(users=call.person.platform_user_id)
        await call.client.chat_postMessage(
            channel=str(opened["channel"]["id"]), **message_args(first.text, first.buttons)
        )

    return CommandReply("Check your DMs: I've sent you a story to vote on there.", then=send)


# --- the member's own data: mydata, forget ------------------------------------------------------------

MYDATA_TEXT = "I'm sending you a file with everything stored about you in this workspace, in our DM."
MYDATA_COMMENT = "Everything stored about you in this workspace. {summary} Run `/mge forget` to erase it."
UPLOAD_FAILED_TEXT = (
    "I couldn't upload your data file (Slack said: {error}). Please tell the workspace's admin; the bot may "
    "need the `files:write` permission."
)
FORGET_CONFIRM_HINT = (
    f"\n\nTo go ahead, run `{COMMAND} forget confirm` within {FORGET_WINDOW_MINUTES} minutes. Otherwise nothing "
    "happens."
)
FORGET_NOT_ASKED_TEXT = (
    f"Nothing was erased. First run `{COMMAND} forget` to see what would be erased, then "
    f"`{COMMAND} forget confirm` within {FORGET_WINDOW_MINUTES} minutes."
)


async def mydata(call: CommandCall) -> CommandReply:
    """The export is read before the ack (a few queries), uploaded to the member's DM after it."""
    export = await member_export(call.deps.database, call.community, call.person.platform_user_id)
    if export is None:
        return CommandReply(NO_DATA_TEXT)

    async def upload() -> None:
        opened = await call.client.conversations_open(users=call.person.platform_user_id)
        channel = str(opened["channel"]["id"])
        try:
            await call.client.files_upload_v2(
                channel=channel,
                file=export.payload,
                filename=export.filename,
                title="Your Moral Graph Bot data",
                initial_comment=MYDATA_COMMENT.format(summary=export.summary),
            )
        except SlackApiError as error:
            reason = str(error.response.get("error") or "an error")
            log.warning("could not upload a member's data file: %s", reason)
            await call.client.chat_postMessage(channel=channel, text=UPLOAD_FAILED_TEXT.format(error=escape(reason)))

    return CommandReply(MYDATA_TEXT, then=upload)


def forget_command(confirmations: ForgetConfirmations):
    """`/mge forget` shows what would be erased; `/mge forget confirm` within the window erases it.
    Both run before the ack (database work only), so the ephemeral answer says exactly what happened."""

    async def forget_(call: CommandCall) -> CommandReply:
        now = call.deps.clock()
        user_id = call.person.platform_user_id
        word = call.args.strip().casefold()
        if word not in ("", "confirm"):
            return CommandReply(f"Use `{COMMAND} forget`, then `{COMMAND} forget confirm`.")
        if word == "confirm":
            if not confirmations.confirm(call.community, user_id, now):
                return CommandReply(FORGET_NOT_ASKED_TEXT)
            return CommandReply((await forget(call.deps.database, call.community, user_id, now=now)).text())
        preview = await forget_preview(call.deps.database, call.community, user_id, now=now)
        if preview is None:
            return CommandReply(NOTHING_STORED_TEXT)
        confirmations.ask(call.community, user_id, now)
        return CommandReply(preview.preview_text() + FORGET_CONFIRM_HINT)

    return forget_


def member_commands() -> CommandRegistry:
    """``/mge``'s member subcommands, from the table (moderator ones are added by ``moderator_commands``)."""
    registry = CommandRegistry()

    async def help_(call: CommandCall) -> CommandReply:  # dispatch answers "help" itself; listed for the text
        return CommandReply(registry.help_text())

    handlers = {
        "join": join,
        "mycard": mycard,
        "mydata": mydata,
        "forget": forget_command(ForgetConfirmations()),
        "ask": ask,
        "vote": vote,
        "help": help_,
    }
    for command, handler in handlers_for("slack", handlers):
        registry.add(Subcommand(command.name, command.help, handler, usage=escape(command.usage())))
    return registry
