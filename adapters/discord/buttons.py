"""Choice buttons: ``mge:choice:<key>`` under a prompt, and how a press is acknowledged.

What a press means is decided by its key, in ``bot.commands.buttons`` (the interview, the legitimacy
questions, generalization picks, the `/mge forget` confirmation); ``presses`` asks it and renders the
answer. The event id is the interaction id: a redelivered press is ignored by the use case.

Buttons are a ``DynamicItem``: discord.py routes a press by matching the custom_id against the template,
with no per-message state, so buttons keep working after a restart.

On a press the bot acknowledges at once by editing the pressed message: all its buttons are disabled and
the pressed one is highlighted (the member sees what they chose and can't press twice). Buttons under
*other* old messages stay enabled; pressing one later is answered by the interview as out of date.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import discord

log = logging.getLogger("mge.discord.buttons")

CUSTOM_ID_PREFIX = "mge:choice:"
MAX_CUSTOM_ID = 100  # Discord's limit
_TEMPLATE = re.escape(CUSTOM_ID_PREFIX) + r"(?P<key>.+)"
_CHOICE_CUSTOM_ID = re.compile(_TEMPLATE)


def is_choice_custom_id(custom_id: str) -> bool:
    """Whether a pressed component's custom_id is one of ours (discord.py routes it to ``ChoiceButton``)."""
    return _CHOICE_CUSTOM_ID.fullmatch(custom_id) is not None


def custom_id_for(key: str) -> str:
    custom_id = CUSTOM_ID_PREFIX + key
    if len(custom_id) > MAX_CUSTOM_ID:
        raise ValueError(f"choice key too long for a button: {key[:20]!r}…")
    return custom_id


class ChoiceButton(discord.ui.DynamicItem[discord.ui.Button], template=_TEMPLATE):
    def __init__(
        self,
        key: str,
        label: str,
        *,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
        row: int | None = None,
    ) -> None:
        super().__init__(
            discord.ui.Button(label=label, custom_id=custom_id_for(key), style=style, disabled=disabled), row=row
        )
        self.key = key

    @classmethod
    async def from_custom_id(  # type: ignore[override]  # discord.py passes the Button it read (its docs narrow so too)
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ChoiceButton:
        return cls(match["key"], item.label or "", style=item.style, disabled=item.disabled)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # Answered through the client (``presses``): this module builds buttons for the renderer, so it
        # imports none of the modules that answer a press (they render, and rendering builds buttons).
        await interaction.client.answer_choice_press(interaction, self.key)


async def acknowledge_press(interaction: discord.Interaction) -> None:
    """Answer the interaction within Discord's 3 seconds, before any slow work (the LLM)."""
    data: Mapping[str, object] = interaction.data or {}
    custom_id = str(data.get("custom_id", ""))
    try:
        if interaction.message is not None:
            await interaction.response.edit_message(view=disabled_view(interaction.message, pressed=custom_id))
        else:
            await interaction.response.defer()
    except discord.HTTPException as error:  # e.g. the interaction already expired: the press still counts
        log.warning("could not acknowledge button press %s: %s", interaction.id, error)


def disabled_view(message: discord.Message, *, pressed: str) -> discord.ui.View:
    """The message's choice buttons, all disabled, the pressed one highlighted."""
    view = discord.ui.View(timeout=None)
    for row, component in enumerate(message.components):
        children = component.children if isinstance(component, discord.ActionRow) else [component]
        for child in children:
            if not isinstance(child, discord.Button) or not (child.custom_id or "").startswith(CUSTOM_ID_PREFIX):
                continue
            style = discord.ButtonStyle.success if child.custom_id == pressed else discord.ButtonStyle.secondary
            key = (child.custom_id or "").removeprefix(CUSTOM_ID_PREFIX)
            view.add_item(ChoiceButton(key, child.label or key, style=style, disabled=True, row=min(row, 4)))
    return view
