"""Generalization picks (docs/method.md §2) on Discord: presses on the buttons under "Which of these would be
wise to consider for …?".

The question itself comes from the interview as an ordinary ``ChoicePrompt`` (rendered by ``render``,
mentions disabled), its buttons ``ChoiceButton``s with keys ``general:<offer id>:<value id|done>``;
``bot.commands.buttons`` routes presses on those to ``record_press`` instead of to the interview.

Unlike other choices, a member may pick several values, so a press does not disable the whole message:
it is acknowledged at once (Discord's 3 seconds) by disabling and highlighting the pressed button only,
and relabelling "None of these" to "Done"; "Done" disables them all (``acknowledge_pick``, called by
``presses``). A pick needs no message, the button shows it; anything else (done, a repeat, a refusal)
is answered in the DM, escaped.
"""

from __future__ import annotations

import logging
import re

import discord

from adapters.discord.buttons import CUSTOM_ID_PREFIX, ChoiceButton
from core.generalization import done_label, parse_key

log = logging.getLogger("mge.discord.generalization")


def after_press_view(message: discord.Message, *, pressed: str, finished: bool) -> discord.ui.View:
    """The message's buttons after a press: the pressed one disabled and highlighted, "None of these"
    now "Done"; all disabled when ``finished``."""
    view = discord.ui.View(timeout=None)
    for row, component in enumerate(message.components):
        children = component.children if isinstance(component, discord.ActionRow) else [component]
        for child in children:
            if not isinstance(child, discord.Button):
                continue
            custom_id = child.custom_id or ""
            if not custom_id.startswith(CUSTOM_ID_PREFIX):
                continue
            key = custom_id.removeprefix(CUSTOM_ID_PREFIX)
            parsed = parse_key(key)
            is_pressed = custom_id == pressed
            label = child.label or key
            if parsed is not None and parsed.done and not is_pressed and not finished:
                number = re.match(r"\d+\. ", label)  # labels are numbered when the choices are listed above
                prefix = number.group(0) if number else ""
                label = prefix + done_label(label.removeprefix(prefix))
            style = (
                discord.ButtonStyle.success
                if is_pressed or child.style is discord.ButtonStyle.success
                else discord.ButtonStyle.secondary
            )
            disabled = finished or is_pressed or bool(child.disabled)
            view.add_item(ChoiceButton(key, label, style=style, disabled=disabled, row=min(row, 4)))
    return view


async def acknowledge_pick(interaction: discord.Interaction, key: str) -> None:
    """Within Discord's 3 seconds: the pressed button disabled and highlighted (all of them for "Done")."""
    parsed = parse_key(key)
    try:
        if interaction.message is not None and parsed is not None:
            view = after_press_view(interaction.message, pressed=CUSTOM_ID_PREFIX + key, finished=parsed.done)
            await interaction.response.edit_message(view=view)
        else:
            await interaction.response.defer()
    except discord.HTTPException as error:  # the interaction expired: the press still counts
        log.warning("could not acknowledge generalization press %s: %s", interaction.id, error)
