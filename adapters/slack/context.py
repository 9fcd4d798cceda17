"""What every Slack handler shares: the services, who is talking, and how replies are delivered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import render, without_buttons
from bot.commands.member_commands import SORRY_TEXT
from bot.interview.service import InterviewService
from core.clock import utcnow
from core.messages import CommunityRef, Outbound, Reply
from storage.database import Database

log = logging.getLogger("mge.slack")


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
    background: Background = field(default_factory=Background)
    #: What "now" is for poll deadlines; tests move it by hand.
    clock: Callable[[], datetime] = utcnow


# --- who is talking --------------------------------------------------------------------------------


def community_of(body: dict[str, Any]) -> CommunityRef:
    """The workspace a request comes from. Events carry ``team_id``; slash commands ``team_id`` and
    ``team_domain``; interactions a ``team`` object. The domain is the only name Slack sends for free."""
    team = body.get("team")
    team = team if isinstance(team, dict) else {}
    team_id = body.get("team_id") or team.get("id") or (body.get("event") or {}).get("team") or ""
    name = body.get("team_domain") or team.get("domain") or ""
    return CommunityRef("slack", str(team_id), str(name))


# --- delivering replies ----------------------------------------------------------------------------


async def deliver(client: AsyncWebClient, channel: str, outbound: list[Outbound]) -> None:
    """Post ``outbound`` to the member's DM ``channel``, in order."""
    for item in outbound:
        await client.chat_postMessage(channel=channel, **render(item))


@dataclass(frozen=True, slots=True)
class ButtonMessage:
    """A message of ours with buttons, as Slack handed it back with a press."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]


async def retire(client: AsyncWebClient, message: ButtonMessage, note: str) -> None:
    """Replace a pressed message's buttons with a note of what was chosen, so it reads as answered."""
    if not message.blocks:
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
                    await client.chat_postMessage(channel=channel, **render(Reply(SORRY_TEXT)))
                except Exception:
                    log.exception("could not tell the member about the failure")
