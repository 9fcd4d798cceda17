"""What every Slack handler shares: the services, who is talking, and how replies are delivered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from mge.adapters.slack.render import has_buttons, render, without_buttons
from mge.adapters.slack.tracking import ButtonMessage, LiveButtons, MemberKey
from mge.bot.interviews import InterviewService
from mge.core.messages import CommunityRef, Outbound, Person, Reply
from mge.storage.database import Database

log = logging.getLogger("mge.slack")

SORRY = "Sorry, something went wrong on my side. Please try again in a moment."


class Background:
    """Counts handlers still working after their ack, so shutdown (and tests) can wait for them."""

    def __init__(self) -> None:
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    @property
    def active(self) -> int:
        return self._active

    async def wait_idle(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._idle.wait(), timeout)


@dataclass
class SlackDeps:
    interviews: InterviewService
    database: Database
    buttons: LiveButtons = field(default_factory=LiveButtons)
    background: Background = field(default_factory=Background)


# --- who is talking --------------------------------------------------------------------------------


def community_of(body: dict[str, Any]) -> CommunityRef:
    """The workspace a request comes from. Events carry ``team_id``; slash commands ``team_id`` and
    ``team_domain``; interactions a ``team`` object. The domain is the only name Slack sends for free."""
    team = body.get("team") if isinstance(body.get("team"), dict) else {}
    team_id = body.get("team_id") or team.get("id") or (body.get("event") or {}).get("team") or ""
    name = body.get("team_domain") or team.get("domain") or ""
    return CommunityRef("slack", str(team_id), str(name))


def member_key(community: CommunityRef, person: Person) -> MemberKey:
    return (community.external_id, person.platform_user_id)


# --- delivering replies ----------------------------------------------------------------------------


async def deliver(
    client: AsyncWebClient,
    deps: SlackDeps,
    community: CommunityRef,
    person: Person,
    channel: str,
    outbound: list[Outbound],
) -> None:
    """Post ``outbound`` to the member's DM ``channel``, keeping track of which message has live buttons."""
    if not outbound:
        return
    key = member_key(community, person)
    await retire(client, deps.buttons.replace(key, None))
    for item in outbound:
        message = render(item)
        response = await client.chat_postMessage(channel=channel, **message)
        if has_buttons(message["blocks"]):
            posted = ButtonMessage(str(response.get("channel") or channel), str(response["ts"]), message["text"], message["blocks"])
            await retire(client, deps.buttons.replace(key, posted))


async def retire(client: AsyncWebClient, message: ButtonMessage | None, note: str | None = None) -> None:
    """Remove the buttons from a message the member can no longer usefully press."""
    if message is None or not message.blocks:
        return
    try:
        await client.chat_update(
            channel=message.channel, ts=message.ts, text=message.text, blocks=without_buttons(message.blocks, note)
        )
    except SlackApiError as error:  # a deleted message or a lost permission must not block the reply
        log.warning("could not remove old buttons: %s", error.response.get("error"))


async def run_member_work(
    client: AsyncWebClient,
    deps: SlackDeps,
    channel: str | None,
    work: Callable[[], Awaitable[None]],
) -> None:
    """Run what follows an ack; on an unexpected failure tell the member instead of going silent."""
    async with deps.background.running():
        try:
            await work()
        except Exception:
            log.exception("Slack handler failed")
            if channel:
                try:
                    await client.chat_postMessage(channel=channel, **render(Reply(SORRY)))
                except Exception:
                    log.exception("could not tell the member about the failure")
