"""Choice buttons: ``mge:choice:<key>`` under a prompt, and what a press does.

A press is a member message whose text is the choice's key, so the interview state machine decides
what it means, exactly as if the member had typed it. The event id is the interaction id: a redelivered
press is ignored by the use case, and a stale press (a button under an old prompt) is read by the state
machine like any other answer in the current state. (One exception: keys starting ``forget:`` are the
confirmation buttons of `/mge forget`, answered by ``member_commands``, never by the interview; keys
starting ``fair:`` or ``survey:`` are the legitimacy questions, answered by ``legitimacy``; keys starting
``general:`` are the generalization picks after a confirmed card, answered by ``generalization``, which
acknowledges them itself: several values may be picked from one message.)

Buttons are a ``DynamicItem``: discord.py routes a press by matching the custom_id against the template,
with no per-message state, so buttons keep working after a restart.

On a press the bot acknowledges at once by editing the pressed message: all its buttons are disabled and
the pressed one is highlighted (the member sees what they chose and can't press twice). Buttons under
*other* old messages stay enabled; pressing one later is the stale case above.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import discord

from adapters.discord.errors import one_line
from core.generalization import is_generalization_key
from core.legitimacy import is_legitimacy_key

log = logging.getLogger("mge.discord.buttons")

CUSTOM_ID_PREFIX = "mge:choice:"
MAX_CUSTOM_ID = 100  # Discord's limit
#: Keys of the buttons under `/mge forget` (``forget:<guild id>:<unix time asked>``, ``forget:cancel``): a
#: press is handled by the privacy command, never read as an answer by the interview.
FORGET_KEY_PREFIX = "forget:"
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
        try:
            await self._answer(interaction)
        except Exception as error:
            # discord.py would log a traceback for the view and leave the member with "This interaction
            # failed"; one line, and the member is told.
            log.error("button %.60r failed: %s", self.key, one_line(error))
            from adapters.discord.commands import ERROR_TEXT, answer  # commands → render → buttons

            try:
                await answer(interaction, ERROR_TEXT)
            except (discord.HTTPException, discord.InteractionResponded):
                pass

    async def _answer(self, interaction: discord.Interaction[Any]) -> None:
        if is_generalization_key(self.key):
            # Not an interview answer: values picked after a confirmed card (MGE.md §2), several per message.
            from adapters.discord.generalization import answer_generalization_button

            await answer_generalization_button(interaction, self.key)
            return
        await acknowledge_press(interaction)
        if self.key.startswith(FORGET_KEY_PREFIX):
            # Not an interview answer: the confirmation under `/mge forget` (member_commands.py).
            from adapters.discord.member_commands import answer_forget_button

            await answer_forget_button(interaction, self.key.removeprefix(FORGET_KEY_PREFIX))
            return
        if is_legitimacy_key(self.key):
            # Not an interview answer: the fair-position question or the survey (MGE.md §8).
            from adapters.discord.legitimacy import answer_legitimacy_button

            await answer_legitimacy_button(interaction, self.key)
            return
        # Imported here: replying renders messages, and rendering builds these buttons.
        from adapters.discord.conversation import reply_to_member

        await reply_to_member(
            interaction.client, interaction.user, self.key, event_id=f"interaction-{interaction.id}", is_choice=True
        )


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
