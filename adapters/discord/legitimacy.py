"""The legitimacy questions (docs/method.md §8) on Discord: DMs with buttons, and what a press on one does.

Buttons are the usual ``ChoiceButton`` (``mge:choice:<key>``) with keys ``fair:…`` and ``survey:…``
(``core.legitimacy``); ``bot.commands.buttons`` routes presses on those to ``record_answer`` rather
than to the interview, and ``presses`` sends what it answers with ``message_kwargs``. A press is
acknowledged first (its message's buttons disabled), so a second press on the same message is
impossible, and the use case ignores repeats anyway.

Texts are plain in the use case; here the whole text is markdown-escaped and mention-defused, and
``allowed_mentions`` is none (value titles are member or LLM text).
"""

from __future__ import annotations

from typing import Any

import discord

from adapters.discord.buttons import ChoiceButton
from adapters.discord.render import BUTTONS_PER_ROW, MAX_BUTTON_LABEL, MAX_CONTENT, neutralise
from bot.legitimacy.checks import DmRefused
from core.legitimacy import Button


def escaped(text: str) -> str:
    """Plain text made inert for a Discord message: no markdown, no mentions, within the length limit."""
    lines = [discord.utils.escape_markdown(line, as_needed=False) for line in text.split("\n")]
    content = neutralise("\n".join(lines))
    if len(content) > MAX_CONTENT:
        content = content[: MAX_CONTENT - 1].rstrip("\\") + "…"
    return content


def buttons_view(buttons: list[Button]) -> discord.ui.View | None:
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for index, (key, label) in enumerate(buttons):
        view.add_item(ChoiceButton(key, label[:MAX_BUTTON_LABEL], row=index // BUTTONS_PER_ROW))
    return view


def message_kwargs(text: str, buttons: list[Button]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"content": escaped(text), "allowed_mentions": discord.AllowedMentions.none()}
    view = buttons_view(buttons)
    if view is not None:
        kwargs["view"] = view
    return kwargs


class DiscordDirectMessenger:
    """``bot.legitimacy.checks.DirectMessenger`` on a (REST-only or connected) ``discord.Client``."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def send(self, *, platform_user_id: str, text: str, buttons: list[Button]) -> None:
        try:
            data = await self._client.http.start_private_message(int(platform_user_id))
            channel = self._client.get_partial_messageable(int(data["id"]), type=discord.ChannelType.private)
            await channel.send(**message_kwargs(text, buttons))
        except (discord.Forbidden, discord.NotFound) as error:  # DMs closed (50007), an unknown user
            raise DmRefused(f"Discord refused a DM to {platform_user_id}: {error}") from error
