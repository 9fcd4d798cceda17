"""The legitimacy questions (docs/method.md §8) on Slack: DMs with Block Kit buttons, and what a press does.

The buttons are our usual choice buttons (``mge_choice_<n>``) whose values are ``fair:…`` or
``survey:…`` keys (``core.legitimacy``); ``bot.commands.buttons`` routes those presses to
``record_answer`` instead of the interview, and ``buttons`` sends its answers with ``message_args``.
Texts are plain in the use case and escaped here by the usual renderer (``render.escape``: no
mentions, links or channel references from value titles).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import render
from bot.legitimacy.checks import DmRefused
from core.interview import Choice
from core.legitimacy import Button
from core.messages import ChoicePrompt, Reply


def message_args(text: str, buttons: list[Button]) -> dict[str, Any]:
    if not buttons:
        return render(Reply(text))
    return render(ChoicePrompt(text, tuple(Choice(key, label) for key, label in buttons)))


#: ``conversations.open`` errors that say the member cannot be DMed at all (not a passing failure).
REFUSED_DM_ERRORS = frozenset({"user_disabled", "user_not_found", "user_not_visible", "cannot_dm_bot"})


class SlackDirectMessenger:
    """``bot.legitimacy.checks.DirectMessenger`` on a Slack Web API client (``conversations.open`` + post)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, *, platform_user_id: str, text: str, buttons: list[Button]) -> None:
        try:
            opened = await self._client.conversations_open(users=platform_user_id)
        except SlackApiError as error:
            if error.response.get("error") in REFUSED_DM_ERRORS:
                raise DmRefused(f"Slack refused a DM to {platform_user_id}: {error.response.get('error')}") from error
            raise
        channel = str((opened.get("channel") or {}).get("id") or "")
        if not channel:
            raise RuntimeError("conversations.open gave no channel")
        await self._client.chat_postMessage(channel=channel, **message_args(text, buttons))
