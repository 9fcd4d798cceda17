"""`/mge ask <question>` on Slack: ask the workspace's moral graph (docs/method.md §9).

The ack says "Thinking…" at once (an empty or oversized question is answered in the ack itself); the
LLM work runs after it. The answer goes to the member as an **ephemeral message in the channel where
they asked** (``chat.postEphemeral``: only they see it, like the ack); when Slack refuses that (the bot
is not in the channel, or it was a DM with someone else) it goes to the member's DM with the bot
instead. Everything echoed is escaped with ``render.escape``.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.commands import COMMAND, CommandCall, CommandReply
from adapters.slack.render import FALLBACK_LIMIT, escape, text_sections
from bot.ask.answer import AskAnswer, ask_community
from bot.commands.member_commands import SORRY_TEXT, member_command
from core.ask import question_problem

log = logging.getLogger("mge.slack.ask")

THINKING_TEXT = "Thinking… I'm asking the community's moral graph; the answer will appear here (only you see it)."


def ask_message(result: AskAnswer) -> dict[str, Any]:
    """``chat.postEphemeral`` / ``chat.postMessage`` arguments (without channel) for the reply."""
    body = result.formatted(esc=escape, strong=lambda text: f"*{text}*")
    fallback = body if len(body) <= FALLBACK_LIMIT else body[: FALLBACK_LIMIT - 1] + "…"
    # parse "none" and link_names off: echoed text never becomes a mention or a link.
    return {"text": fallback, "blocks": text_sections(body), "parse": "none", "link_names": False}


async def send_to_member(call: CommandCall, message: dict[str, Any]) -> None:
    """Ephemeral in the command's channel, or the member's DM when Slack won't post there."""
    user = call.person.platform_user_id
    if call.channel_id:
        try:
            await call.client.chat_postEphemeral(channel=call.channel_id, user=user, **message)
            return
        except SlackApiError as error:
            log.info(
                "ephemeral answer refused in %s (%s): sending it by DM", call.channel_id, error.response.get("error")
            )
    opened = await call.client.conversations_open(users=user)
    await call.client.chat_postMessage(
        channel=str(opened["channel"]["id"]), unfurl_links=False, unfurl_media=False, **message
    )


async def ask(call: CommandCall) -> CommandReply:
    if (problem := question_problem(call.args)) is not None:
        return CommandReply(escape(problem) + f"\n\nUsage: `{COMMAND} ask {escape(member_command('ask').usage())}`")

    async def then() -> None:
        try:
            result = await ask_community(
                call.deps.database,
                llm=call.deps.interviews.llm,
                model=call.deps.interviews.articulation_model,
                community=call.community,
                question=call.args,
                now=call.deps.clock(),
            )
        except Exception:
            log.exception("asking the graph failed")
            await send_to_member(call, {"text": SORRY_TEXT, "parse": "none", "link_names": False})
            return
        await send_to_member(call, ask_message(result))

    return CommandReply(THINKING_TEXT, then=then)
