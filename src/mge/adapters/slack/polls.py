"""Story polls on Slack: a Block Kit message with :white_check_mark: :x: :thinking_face: pre-added;
``reaction_added`` / ``reaction_removed`` events → votes.

A Slack message is identified by its channel and ``ts``, so a poll's message id is the ``ts``.

Slack retries an event it thinks was not acknowledged (``x-slack-retry-num``) and Bolt does not
de-duplicate, so the envelope's ``event_id`` goes to ``apply_reaction``, which applies it once.
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

from mge.adapters.slack.context import SlackDeps, community_of, run_member_work
from mge.adapters.slack.render import HEADER_LIMIT, Blocks, escape, mrkdwn, plain, split_text
from mge.bot.polls import VoteOutcome, apply_reaction
from mge.core.messages import Person
from mge.core.polls import QUESTION, StoryPoll, ValueSummary, how_to_vote, poll_reactions

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
    values = [mrkdwn(split_text(_value_text(label, value), 2000)[0])
              for label, value in (("Before", poll.from_value), ("After", poll.to_value))]
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
    item = event.get("item") or {}
    if item.get("type") != "message" or not item.get("channel") or not item.get("ts"):
        return None
    return str(item["channel"]), str(item["ts"])


def register(app: AsyncApp, deps: SlackDeps) -> None:
    """Handle ``reaction_added`` / ``reaction_removed``; ``deps.clock`` decides whether a poll has passed
    its ``closes_at``."""
    async def on_reaction(
        ack, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient,
        *, added: bool,
    ) -> None:
        await ack()  # first: Slack retries anything not acknowledged within 3 seconds
        target = reaction_on_message(event)
        user = str(event.get("user") or "")
        if target is None or not user:
            return  # a reaction on a file or the like: never a poll
        if user == context.bot_user_id:
            log.debug("reaction by the bot itself: %s", VoteOutcome.IGNORED_BOT)
            return
        channel, ts = target

        async def work() -> None:
            outcome = await apply_reaction(
                deps.database,
                community=community_of(body),
                platform=PLATFORM,
                channel_id=channel,
                message_id=ts,
                person=Person(user),
                emoji=str(event.get("reaction") or ""),
                added=added,
                event_id=str(body["event_id"]) if body.get("event_id") else None,
                now=deps.clock(),
            )
            log.debug("reaction by %s on %s/%s: %s", user, channel, ts, outcome)

        # No channel for a failure notice: a poll channel is public, a vote is not worth an error there.
        await run_member_work(client, deps, None, work)

    @app.event("reaction_added")
    async def on_reaction_added(ack, body, event, context, client) -> None:
        await on_reaction(ack, body, event, context, client, added=True)

    @app.event("reaction_removed")
    async def on_reaction_removed(ack, body, event, context, client) -> None:
        await on_reaction(ack, body, event, context, client, added=False)
