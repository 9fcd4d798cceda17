"""The legitimacy questions (MGE.md §8) on Slack: DMs with Block Kit buttons, and what a press does.

The buttons are our usual choice buttons (``mge_choice_<n>``) whose values are ``fair:…`` or
``survey:…`` keys (``core.legitimacy``); ``buttons.on_choice`` hands those presses to
``answer_legitimacy_press`` instead of the interview. Texts are plain in the use case and escaped here
by the usual renderer (``render.escape``: no mentions, links or channel references from value titles).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import render
from bot.legitimacy.checks import record_answer
from core.interview import Choice
from core.legitimacy import Button
from core.messages import ChoicePrompt, Reply
from storage.database import Database


def message_args(text: str, buttons: list[Button]) -> dict[str, Any]:
    if not buttons:
        return render(Reply(text))
    return render(ChoicePrompt(text, tuple(Choice(key, label) for key, label in buttons)))


class SlackDirectMessenger:
    """``bot.legitimacy.checks.DirectMessenger`` on a Slack Web API client (``conversations.open`` + post)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, *, platform_user_id: str, text: str, buttons: list[Button]) -> None:
        opened = await self._client.conversations_open(users=platform_user_id)
        channel = str((opened.get("channel") or {}).get("id") or "")
        if not channel:
            raise RuntimeError("conversations.open gave no channel")
        await self._client.chat_postMessage(channel=channel, **message_args(text, buttons))


async def answer_legitimacy_press(
    client: AsyncWebClient, database: Database, *, channel: str, key: str, platform_user_id: str, now
) -> None:
    """Record a press on a fair-position or survey button and reply in the member's DM ``channel``."""
    for reply in await record_answer(database, key=key, platform="slack", platform_user_id=platform_user_id, now=now):
        await client.chat_postMessage(channel=channel, **message_args(reply.text, reply.buttons))
