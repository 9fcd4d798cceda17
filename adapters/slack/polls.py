"""Story polls on Slack: a Block Kit message with :white_check_mark: :x: :thinking_face: pre-added;
``reaction_added`` / ``reaction_removed`` events → votes. A private poll (``core.polls.PollMode.PRIVATE``)
has three buttons instead, a press is answered with ``chat.postEphemeral`` (only the voter sees it), and
the message is updated to show the tally once the poll has closed.

A Slack message is identified by its channel and ``ts``, so a poll's message id is the ``ts``.

Slack retries an event it thinks was not acknowledged (``x-slack-retry-num``) and Bolt does not
de-duplicate, so the envelope's ``event_id`` goes with the event into the vote inbox, which records it
once (``bot.voting.inbox``).
The bot's own reactions (the three it adds) come back as events too: Bolt's self-event middleware
drops them, and the handler checks the bot's user id again in case that middleware is ever disabled.

Scopes: ``reactions:write`` to pre-add the reactions, ``reactions:read`` for the events, ``chat:write``
to post (the bot must be a member of the channel, which is also what makes Slack send its reactions).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.context import SlackDeps, community_of
from adapters.slack.render import HEADER_LIMIT, Blocks, choice_blocks, escape, mrkdwn, plain, split_text
from bot.commands.buttons import ButtonPress, ButtonRoute, PressedMessage
from bot.commands.member_commands import SORRY_TEXT
from bot.voting.inbox import Reaction, inbox_for, slack_event_order
from core.graph.votes import CHOICES
from core.interview import Choice
from core.messages import Person
from core.polls import (
    BUTTON_LABELS,
    QUESTION,
    PollMode,
    StoryPoll,
    ValueSummary,
    VoteOutcome,
    poll_button_key,
    poll_reactions,
    tally_text,
    voting_rules,
)

log = logging.getLogger("mge.slack.polls")

PLATFORM = "slack"
#: Keep the story to one section block (Slack's limit is 3000 characters per section).
STORY_LIMIT = 2900


def _value_text(label: str, value: ValueSummary) -> str:
    bullets = "\n".join(f"• {escape(policy)}" for policy in value.policies)
    return f"*{label}: {escape(value.title)}*\n_{escape(value.description)}_\n{bullets}".strip()


#: A private poll's buttons (``mge_choice_<n>`` actions, answered by ``buttons.register``).
PRIVATE_BUTTONS = tuple(Choice(poll_button_key(choice), BUTTON_LABELS[choice]) for choice in CHOICES)


def poll_blocks(poll: StoryPoll, *, buttons: bool = False, tallies: dict[str, int] | None = None) -> Blocks:
    """Question, context, story, the two values side by side, and the legend (once closed: ``tallies``);
    a private poll's buttons with ``buttons``. All echoed text escaped."""
    story = split_text(escape(poll.story), STORY_LIMIT)[0]
    values = [
        mrkdwn(split_text(_value_text(label, value), 2000)[0])
        for label, value in (("Before", poll.from_value), ("After", poll.to_value))
    ]
    footer = tally_text(tallies) if tallies is not None else voting_rules(PLATFORM, poll.mode)
    return [
        {"type": "header", "text": plain(QUESTION, HEADER_LIMIT)},
        {"type": "section", "text": mrkdwn(f"*{escape(poll.context)}*")},
        {"type": "section", "text": mrkdwn(story)},
        {"type": "section", "fields": values},
        {"type": "context", "elements": [mrkdwn(escape(footer))]},
        *(choice_blocks(PRIVATE_BUTTONS) if buttons else []),
    ]


def poll_message(poll: StoryPoll, **shown: Any) -> dict[str, Any]:
    """``chat.postMessage`` arguments (without ``channel``) for a story poll (``shown``: see ``poll_blocks``)."""
    fallback = f"{QUESTION} {escape(poll.context)}"
    return {
        "text": fallback,
        "blocks": poll_blocks(poll, **shown),
        # Echoed text must never turn into a mention, a rich link preview or a parsed @name.
        "unfurl_links": False,
        "unfurl_media": False,
        "parse": "none",
        "link_names": False,
    }


class SlackPollPublisher:
    """``PollPublisher`` for Slack: the message, then ``reactions.add`` for each poll reaction (a private
    poll: ``chat.update`` adds its buttons once the poll is recorded)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def publish(
        self,
        *,
        channel_id: str,
        poll: StoryPoll,
        on_posted: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        response = await self._client.chat_postMessage(channel=channel_id, **poll_message(poll))
        ts = str(response["ts"])
        if on_posted is not None:
            await on_posted(ts)
        if poll.mode == PollMode.PRIVATE:
            await self._client.chat_update(channel=channel_id, ts=ts, **poll_message(poll, buttons=True))
            return ts
        for name in poll_reactions(PLATFORM):
            try:
                await self._client.reactions_add(channel=channel_id, timestamp=ts, name=name)
            except SlackApiError as error:
                # Already there (a retried publish) is fine; anything else (a missing scope) is not.
                if error.response.get("error") != "already_reacted":
                    raise
        return ts

    async def show_tally(self, *, channel_id: str, message_id: str, poll: StoryPoll, tallies: dict[str, int]) -> None:
        try:
            await self._client.chat_update(channel=channel_id, ts=message_id, **poll_message(poll, tallies=tallies))
        except SlackApiError as error:
            if error.response.get("error") not in ("message_not_found", "channel_not_found"):
                raise
            log.warning("the message of poll %s is gone; its tally is not shown", poll.poll_id)


async def answer_poll_press(
    client: AsyncWebClient, deps: SlackDeps, route: ButtonRoute, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """A press on a private poll's button: the message stays as it is; only the member is answered
    (``chat.postEphemeral``), failures included."""
    channel = str((body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id") or "")
    ts = str((body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts") or "")
    user = body.get("user") or {}
    user_id = str(user.get("id") or "")
    if not channel or not ts or not user_id:
        return
    action_ts = action.get("action_ts")
    press = ButtonPress(
        key=str(action.get("value") or ""),
        platform=PLATFORM,
        person=Person(user_id, str(user.get("username") or user.get("name") or "")),
        community=community_of(body),
        # Two members may press in the same microsecond: the key names the member too.
        event_id=f"action-{user_id}-{action_ts or body.get('trigger_id')}",
        now=deps.clock(),
        database=deps.database,
        interviews=deps.interviews,
        message=PressedMessage(channel, ts),
        event_order=slack_event_order(action_ts),
    )
    async with deps.background.running():
        try:
            text = (await route.handler(press)).private or SORRY_TEXT
        except Exception:
            log.exception("a press on poll message %s failed", ts)
            text = SORRY_TEXT
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=escape(text))
        except SlackApiError as error:
            log.warning("could not answer a poll press: %s", error.response.get("error"))


def reaction_on_message(event: dict[str, Any]) -> tuple[str, str] | None:
    """(channel, ts) of the message a reaction event is about; None for files and other items."""
    item = event.get("item")
    if not isinstance(item, dict) or item.get("type") != "message" or not item.get("channel") or not item.get("ts"):
        return None
    return str(item["channel"]), str(item["ts"])


def reaction_of(body: dict[str, Any], *, bot_user_id: str | None, now) -> Reaction | None:
    """The poll reaction a ``reaction_added`` / ``reaction_removed`` envelope carries; None when it
    cannot be a vote (a reaction on a file, the bot's own, a malformed event)."""
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") not in ("reaction_added", "reaction_removed"):
        return None
    target = reaction_on_message(event)
    user = event.get("user")
    if target is None or not isinstance(user, str) or not user or not isinstance(event.get("reaction"), str):
        return None
    if user == bot_user_id:
        log.debug("reaction by the bot itself: %s", VoteOutcome.IGNORED_BOT)
        return None
    channel, ts = target
    event_id = body.get("event_id")
    return Reaction(
        community=community_of(body),
        platform=PLATFORM,
        channel_id=channel,
        message_id=ts,
        person=Person(user),
        emoji=event["reaction"],
        added=event["type"] == "reaction_added",
        event_id=str(event_id) if isinstance(event_id, str) and event_id else None,
        now=now,
        # Slack's own time of the reaction: a member's reactions are applied in this order.
        event_order=slack_event_order(event.get("event_ts")),
    )


def register(app: AsyncApp, deps: SlackDeps) -> None:
    """Record ``reaction_added`` / ``reaction_removed`` as votes-to-be (Socket Mode; HTTP mode records
    them before Bolt, in ``app.SlackHttpGate``). Bolt acknowledges Events API deliveries before any
    listener runs, so the recording happens in a middleware, which runs before that acknowledgement."""

    @app.middleware
    async def record_reactions(body: dict[str, Any], context: AsyncBoltContext, next) -> None:
        reaction = reaction_of(body, bot_user_id=context.bot_user_id, now=deps.clock())
        if reaction is not None:
            # Raises when it could not be stored (after retries): the delivery is then not acknowledged.
            await inbox_for(deps.database).record(reaction)
        await next()

    async def recorded(ack) -> None:
        await ack()

    app.event("reaction_added")(recorded)
    app.event("reaction_removed")(recorded)
