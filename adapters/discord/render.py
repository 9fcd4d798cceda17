"""Neutral outbound messages → keyword arguments for ``Messageable.send``.

Pure translation, no I/O. Every message carries ``AllowedMentions.none()`` (nothing the bot sends can
ping anyone), and echoed text is also defused (belt and braces: a mention that is not even rendered as
one can't be re-enabled by a later change to the allowed mentions, and reads as plain text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import discord

from adapters.discord.buttons import ChoiceButton
from core.cards import ValuesCard
from core.interview import Choice
from core.member_texts import english
from core.messages import CardProposal, ChoicePrompt, Outbound, Reply

# Discord's limits (https://discord.com/developers/docs/resources/message, …/components).
MAX_CONTENT = 2000
MAX_BUTTONS = 25
BUTTONS_PER_ROW = 5
MAX_BUTTON_LABEL = 80
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096

ZWSP = "\u200b"
_MASS_MENTION = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
# <@123>, <@!123> (users), <@&123> (roles), <#123> (channels): a zero-width space before the id breaks
# the syntax, so Discord shows the text instead of resolving (and possibly pinging) it.
_ENTITY_MENTION = re.compile(r"<(@[!&]?|#)(\d+)>")


def neutralise(text: str) -> str:
    """``text`` with mass mentions and user/role/channel mentions made inert."""
    text = _MASS_MENTION.sub(lambda m: "@" + ZWSP + m.group(1), text)
    return _ENTITY_MENTION.sub(lambda m: "<" + m.group(1) + ZWSP + m.group(2) + ">", text)


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One Discord message to send."""

    content: str | None = None
    embed: discord.Embed | None = None
    view: discord.ui.View | None = None

    def kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
        if self.content:
            kwargs["content"] = self.content
        if self.embed is not None:
            kwargs["embed"] = self.embed
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs


def render(item: Outbound) -> list[DiscordMessage]:
    """The Discord messages for one outbound item, in sending order."""
    match item:
        case Reply(text=text):
            return [DiscordMessage(content=chunk) for chunk in split_content(neutralise(text))]
        case ChoicePrompt(text=text, choices=choices):
            return _with_buttons(_choice_text(text, choices), choices)
        case CardProposal(card=card, heading=heading, choices=choices, attention_heading=attention):
            *before, last = _with_buttons(neutralise(heading), choices)
            embed = card_embed(card, attention_heading=attention)
            return [*before, DiscordMessage(content=last.content, embed=embed, view=last.view)]
    raise TypeError(f"cannot render {item!r}")


def card_embed(card: ValuesCard, *, footer: str | None = None, attention_heading: str | None = None) -> discord.Embed:
    """A values card as an embed. Card text is LLM output from member words: markdown is escaped
    (a card is plain text) and mentions defused. ``attention_heading`` in the language of the card."""

    def clean(text: str) -> str:
        return neutralise(discord.utils.escape_markdown(text))

    bullets = "\n".join(f"• {clean(policy)}" for policy in card.policies)
    heading = clean(attention_heading or english().attention_heading)
    description = f"*{clean(card.description)}*\n\n**{heading}**\n{bullets}"
    embed = discord.Embed(
        title=_shorten(clean(card.title), MAX_EMBED_TITLE),
        description=_shorten(description, MAX_EMBED_DESCRIPTION),
        colour=discord.Colour.blurple(),
    )
    if footer:
        embed.set_footer(text=footer)
    return embed


def choice_view(choices: tuple[Choice, ...] | list[Choice], *, numbered: bool = False) -> discord.ui.View | None:
    """Buttons for the first 25 choices, 5 per row; None when there are no choices.

    ``timeout=None`` and only DynamicItem buttons: discord.py then keeps no per-message state for the
    view, and presses are routed by custom_id alone (so buttons keep working after a restart)."""
    if not choices:
        return None
    view = discord.ui.View(timeout=None)
    for index, choice in enumerate(choices[:MAX_BUTTONS]):
        label = f"{index + 1}. {choice.label}" if numbered else choice.label
        style = discord.ButtonStyle.primary if index == 0 else discord.ButtonStyle.secondary
        view.add_item(
            ChoiceButton(
                choice.key,
                _shorten(label, MAX_BUTTON_LABEL) or str(index + 1),
                style=style,
                row=index // BUTTONS_PER_ROW,
            )
        )
    return view


def split_content(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, split at paragraph, line or word breaks."""
    return list(_pieces(text.strip(), limit)) or [""]


def _pieces(text: str, limit: int) -> Iterator[str]:
    while len(text) > limit:
        window = text[:limit]
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > limit // 2:  # don't leave a tiny piece just to split at a nicer place
                break
        else:
            cut = limit
        yield text[:cut].rstrip()
        text = text[cut:].lstrip()
    if text:
        yield text


def _choice_text(text: str, choices: tuple[Choice, ...]) -> str:
    """The prompt, plus the choices written out when buttons can't show them in full (a shortened
    label, or more choices than buttons). The member can also type a choice's number."""
    needs_list = len(choices) > MAX_BUTTONS or any(c.detail and c.detail != c.label for c in choices)
    if not needs_list:
        return neutralise(text)
    lines = [f"**{number}.** {choice.detail or choice.label}" for number, choice in enumerate(choices, start=1)]
    return neutralise(text + "\n\n" + "\n".join(lines))


def _with_buttons(content: str, choices: tuple[Choice, ...]) -> list[DiscordMessage]:
    numbered = any(c.detail and c.detail != c.label for c in choices)
    chunks = split_content(content)
    view = choice_view(choices, numbered=numbered)
    # The buttons go under the last piece, right after the text they answer.
    return [DiscordMessage(content=chunk) for chunk in chunks[:-1]] + [DiscordMessage(content=chunks[-1], view=view)]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
