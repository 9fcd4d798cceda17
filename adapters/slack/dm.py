"""Direct messages: a member's DM to the bot → ``InterviewService.handle`` → replies in the DM.

Bolt runs with ``process_before_response=False`` (the default for a long-running server): event
listeners are acknowledged as soon as they are dispatched, and the listener itself runs as a
separate asyncio task, so Slack gets its HTTP 200 (or the Socket Mode ack) in milliseconds while the
LLM takes its time. Lazy listeners exist for FaaS hosts, where work after the response may be
frozen; we are not one.

Slack retries an event it thinks was not acknowledged (header ``x-slack-retry-num``), and Bolt does
not de-duplicate; the interview service does, on the envelope's ``event_id``.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.context import SlackDeps, community_of, deliver, run_member_work
from adapters.slack.render import render
from core.messages import InboundMessage, Person, Reply

#: Message subtypes that are a member speaking. Edits, deletions, joins, bot posts and the like are not.
MEMBER_SUBTYPES = {None, "file_share", "thread_broadcast"}

FILES_ONLY = (
    "I can only read text, so files and images don't reach the interview. Please answer in words in a normal message."
)


def is_member_dm(event: dict[str, Any]) -> bool:
    return (
        event.get("channel_type") == "im"
        and event.get("subtype") in MEMBER_SUBTYPES
        and not event.get("bot_id")  # other bots (our own messages Bolt already drops)
        and bool(event.get("user"))
    )


def event_id_of(body: dict[str, Any], event: dict[str, Any]) -> str:
    """The envelope's event id (the same on Slack's retries), else channel + ts (unique per message)."""
    return str(body.get("event_id") or f"{event.get('channel')}-{event.get('ts')}")


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("message")
    async def on_message(ack, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()  # before anything slow: Slack wants the ack within 3 seconds
        if not is_member_dm(event):
            return
        channel = str(event["channel"])
        community = community_of(body)
        person = Person(str(event["user"]))
        text = event.get("text") or ""

        async def work() -> None:
            if not text.strip() and event.get("files"):
                await client.chat_postMessage(channel=channel, **render(Reply(FILES_ONLY)))
                return
            message = InboundMessage(community=community, author=person, text=text, event_id=event_id_of(body, event))
            outbound = await deps.interviews.handle(message)
            await deliver(client, channel, outbound)

        await run_member_work(client, deps, channel, work)
