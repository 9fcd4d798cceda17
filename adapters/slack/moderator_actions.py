"""The moderator actions (``bot.commands``) as ``/mge`` subcommands on Slack: ``/mge polls every 1d``,
``/mge digest channel #general``, ``/mge values hide 12``, ``/mge export html`` …

Every one asks the :class:`ModeratorGate` first. Quick actions answer in the ack itself (only the
moderator sees it). Slow ones (a picture, a file, a post in a channel) answer in the ack too when they
end within :data:`ANSWER_IN_ACK_WITHIN` with no file; otherwise the ack says the work is under way and
the outcome follows in a DM with the moderator, where files can be attached. Nothing is called posted
before it is.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from adapters.slack.commands import CommandCall, CommandRegistry, CommandReply, Subcommand
from adapters.slack.digest import SlackDigestPublisher
from adapters.slack.polls import PLATFORM, SlackPollPublisher
from adapters.slack.render import escape
from bot.commands.base import ActionReply, ModeratorAction, ModeratorCall, ModeratorServices, run_action, split_words
from bot.commands.moderator_actions import groups
from storage.communities_repo import ensure_community

log = logging.getLogger("mge.slack.moderation")

WORKING_TEXT = "Working on it: I'll send you the result in a direct message."
#: Slack wants the ack within 3 s; slow work that ends sooner is answered in the ack itself.
ANSWER_IN_ACK_WITHIN = 2.0
#: Time the ack itself needs, left between this wait and the command's ack deadline.
ACK_MARGIN = 0.25

_POST_FAILURES = {
    "not_in_channel": "I'm not in that channel. Invite me there (`/invite @Moral Graph Bot`) and try again.",
    "channel_not_found": "I can't see that channel: it is private and I'm not in it, or it no longer exists. "
    "Invite me there or name another channel, and try again.",
    "is_archived": "that channel is archived. Name another channel.",
    "restricted_action": "the workspace doesn't let me post there. Name another channel.",
    "missing_scope": "I lack the chat:write or reactions:write permission: ask the workspace's admin to "
    "reinstall the app with the scopes in its manifest.",
}


def post_failure_text(error: BaseException, channel: str) -> str | None:
    """What a moderator is told when Slack refused a post in ``channel`` (None: not Slack's refusal)."""
    if not isinstance(error, SlackApiError):
        return None
    code = str(error.response.get("error") or "")
    why = _POST_FAILURES.get(code, f"Slack answered {code or 'an error'}. Try again in a moment.")
    return f"I couldn't post in channel {channel}: {why}"


def _usage(actions: list[ModeratorAction]) -> str:
    return "\n".join(f"`/mge {a.usage()}` — {a.help}" for a in actions)


def install_actions(
    registry: CommandRegistry, gate, *, poll_duration: timedelta, token_prices: tuple[float, float] = (0.0, 0.0)
) -> None:
    """Add one subcommand per action group (``polls``, ``digest``, ``values`` …) to ``registry``."""
    for group, actions in groups().items():
        registry.add(
            Subcommand(
                group,
                f"(moderators) {_summary(group, actions)}",
                _handler(group, actions, gate, poll_duration, token_prices),
            )
        )


def _summary(group: str, actions: list[ModeratorAction]) -> str:
    if len(actions) == 1 and not actions[0].name:
        return actions[0].help
    return f"{group}: " + ", ".join(a.name for a in actions)


def _handler(
    group: str, actions: list[ModeratorAction], gate, poll_duration: timedelta, token_prices: tuple[float, float]
):
    async def handle(call: CommandCall) -> CommandReply:
        refusal = await gate.refusal(call, action=f"use /mge {group}")
        if refusal is not None:
            return CommandReply(refusal)
        words = call.args.split(maxsplit=1)
        named = {a.name: a for a in actions}
        if "" in named:
            action, rest = named[""], call.args
        elif words and words[0].casefold() in named:
            action, rest = named[words[0].casefold()], words[1] if len(words) > 1 else ""
        else:
            return CommandReply(escape(_usage(actions)))
        now = call.deps.clock()
        moderator_call = ModeratorCall(
            database=call.deps.database,
            community_id=await ensure_community(call.deps.database, call.community, now=now),
            community=call.community,
            actor=f"{PLATFORM}:{call.person.platform_user_id}",
            channel_id=None if not call.channel_id or call.channel_id.startswith("D") else call.channel_id,
            args=_slack_args(rest, action),
            now=now,
            services=ModeratorServices(
                SlackPollPublisher(call.client),
                SlackDigestPublisher(call.client),
                poll_duration,
                llm=call.deps.interviews.llm,
                model=call.deps.interviews.articulation_model,
                token_prices=token_prices,
                post_failure=post_failure_text,
            ),
        )
        if not action.slow:
            reply = await run_action(action, moderator_call)
            return CommandReply(escape(reply.text))
        return await answer_when_done(call, run_action(action, moderator_call), pending=WORKING_TEXT)

    return handle


def _slack_args(text: str, action: ModeratorAction) -> dict[str, str]:
    """The words after the action, by parameter. Slack sends what people typed with ``&``, ``<`` and
    ``>`` as entities (its own markup, such as ``<#C…>``, uses them literally): typed text is unescaped."""
    args = split_words(text, action.params)
    kinds = {p.name: p.kind for p in action.params}
    return {name: html.unescape(value) if kinds[name] == "text" else value for name, value in args.items()}


async def answer_when_done(
    call: CommandCall, work: Awaitable[ActionReply], *, pending: str, markup: bool = False
) -> CommandReply:
    """The outcome of ``work`` in the ack when it is known in time (and carries no file); otherwise the ack
    is ``pending`` and the outcome goes to the moderator in a DM once known. ``markup``: the reply's
    text is Slack markup already (not escaped)."""
    task = asyncio.ensure_future(work)
    try:
        # Done before the command's own ack deadline, so the ack carries "pending" rather than "working on it".
        wait = min(ANSWER_IN_ACK_WITHIN, call.seconds_to_ack() - ACK_MARGIN)
        reply = await asyncio.wait_for(asyncio.shield(task), max(0.0, wait))
    except TimeoutError:
        reply = None
    if reply is not None and reply.file is None:
        return CommandReply(reply.text if markup else escape(reply.text))

    async def then() -> None:
        await _send_to_moderator(call, reply if reply is not None else await task, markup=markup)

    return CommandReply(pending, then=then)


async def _send_to_moderator(call: CommandCall, reply: ActionReply, *, markup: bool = False) -> None:
    opened = await call.client.conversations_open(users=call.person.platform_user_id)
    channel = str(opened["channel"]["id"])
    text = reply.text if markup else escape(reply.text)
    await call.client.chat_postMessage(channel=channel, text=text, mrkdwn=markup)
    if reply.file is not None:
        name, content = reply.file
        await call.client.files_upload_v2(channel=channel, file=content, filename=name, title=name)
