"""Story polls on Slack: a Block Kit message with :white_check_mark: :x: :thinking_face: pre-added;
``reaction_added`` / ``reaction_removed`` events → votes.

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
from adapters.slack.render import HEADER_LIMIT, Blocks, escape, mrkdwn, plain, split_text
from bot.voting.inbox import Reaction, inbox_for, slack_event_order
from core.messages import Person
from core.polls import QUESTION, StoryPoll, ValueSummary, VoteOutcome, how_to_vote, poll_reactions

log = logging.getLogger("mge.slack.polls")

PLATFORM = "slack"
#: Keep the story to one section block (Slack's limit is 3000 characters per section).
STORY_LIMIT = 2900


def _value_text(label: str, value: ValueSummary) -> str:
    bullets = "\n".join(f"• {escape(policy)}" for policy in value.policies)
    return f"*{label}: {escape(value.title)}*\n_{escape(value.description)}_\n{bullets}".strip()


def poll_blocks(poll: StoryPoll) -> Blocks:
    """Question, context, story, the two values side by side, and the legend. All echoed text escaped."""
    story = split_text(escape(poll.story), STORY_LIMIT)[0]
    values = [
        mrkdwn(split_text(_value_text(label, value), 2000)[0])
        for label, value in (("Before", poll.from_value), ("After", poll.to_value))
    ]
    return [
        {"type": "header", "text": plain(QUESTION, HEADER_LIMIT)},
        {"type": "section", "text": mrkdwn(f"*{escape(poll.context)}*")},
        {"type": "section", "text": mrkdwn(story)},
        {"type": "section", "fields": values},
        {"type": "context", "elements": [mrkdwn(escape(how_to_vote(PLATFORM)))]},
    ]


def poll_message(poll: StoryPoll) -> dict[str, Any]:
    """``chat.postMessage`` arguments (without ``channel``) for a story poll."""
    fallback = f"{QUESTION} {escape(poll.context)}"
    return {
        "text": fallback,
        "blocks": poll_blocks(poll),
        # Echoed text must never turn into a mention, a rich link preview or a parsed @name.
        "unfurl_links": False,
        "unfurl_media": False,
        "parse": "none",
        "link_names": False,
    }


class SlackPollPublisher:
    """``PollPublisher`` for Slack: the message, then ``reactions.add`` for each poll reaction."""

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
        for name in poll_reactions(PLATFORM):
            try:
                await self._client.reactions_add(channel=channel_id, timestamp=ts, name=name)
            except SlackApiError as error:
                # Already there (a retried publish) is fine; anything else (a missing scope) is not.
                if error.response.get("error") != "already_reacted":
                    raise
        return ts


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
