"""The weekly graph digest as a Discord message: one embed (participation and changes in the
description, one field per context with its top values) and the graph picture as an attachment.

Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits):
title 256, description 4096, 25 fields, field name 256 and value 1024, 6000 characters in all. Texts
over a limit end in "…"; contexts that do not fit are counted in a last field. Member text is
markdown-escaped and mention-defused, and ``allowed_mentions`` is none.
"""

from __future__ import annotations

import io
from typing import Any

import discord

from adapters.discord.render import MAX_EMBED_DESCRIPTION, MAX_EMBED_TITLE, neutralise
from core.digest import Digest, change_lines, participation_line

MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_EMBED_TOTAL = 6000
#: Keep a margin under the 6000 total for the footer and rounding.
_TOTAL_BUDGET = MAX_EMBED_TOTAL - 100
FILENAME = "moral-graph.png"
MAX_POLICIES = 2


def esc(text: str) -> str:
    """Member text for an embed: one line, no markdown, no mentions."""
    return neutralise(discord.utils.escape_markdown(" ".join(text.split()), as_needed=False))


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Never leave a lone escaping backslash at the end.
    while cut.endswith("\\"):
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _context_field(scenario: str | None, ctx) -> tuple[str, str]:
    name = _cut(esc(ctx.context), MAX_FIELD_NAME)
    lines = [f"_{_cut(esc(scenario), 200)}_"] if scenario else []
    for top in ctx.top:
        line = f"**{top.rank}. {esc(top.title)}** · {top.score:.3f}"
        if top.beaten:
            line += f"\n↳ {top.how_it_won_escaped(esc)}"
        line += "".join(f"\n↻ {_cut(cycle, 300)}" for cycle in top.cycle_lines(esc))
        lines.append(line)
        lines += [f"• {_cut(esc(p), 150)}" for p in top.policies[:MAX_POLICIES]]
    return name, _cut("\n".join(lines), MAX_FIELD_VALUE)


def digest_embed(digest: Digest, *, image: bool = False) -> discord.Embed:
    title = _cut(
        f"Moral graph digest — {neutralise(' '.join(digest.community.split()))} — {digest.period}", MAX_EMBED_TITLE
    )
    description = "\n".join(
        [
            f"**Participation**\n{participation_line(digest.participation)}",
            "",
            "**What changed**",
            *(f"• {line}" for line in change_lines(digest.changes, esc)),
        ]
    )
    if not digest.scenarios:
        description += "\n\nNo context has a ranking yet: polls need a few more votes."
    embed = discord.Embed(title=title, description=_cut(description, min(MAX_EMBED_DESCRIPTION, 2000)))
    embed.set_footer(text=f"{digest.values} values · {digest.edges} wiser-than edges")
    if image:
        embed.set_image(url=f"attachment://{FILENAME}")

    contexts = digest.contexts()
    for n, (scenario, ctx) in enumerate(contexts):
        name, value = _context_field(scenario, ctx)
        left = len(contexts) - n
        room_for_note = 1 if left > 1 else 0
        fits = len(embed.fields) + 1 + room_for_note <= MAX_FIELDS and len(embed) + len(name) + len(value) <= (
            _TOTAL_BUDGET - (60 if room_for_note else 0)
        )
        if not fits:
            embed.add_field(name="…", value=f"and {left} more contexts: see the full digest", inline=False)
            break
        embed.add_field(name=name, value=value, inline=False)
    return embed


def digest_message(digest: Digest, png: bytes | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Messageable.send``: the embed, the picture (when given), no mentions."""
    kwargs: dict[str, Any] = {
        "embeds": [digest_embed(digest, image=png is not None)],
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    if png is not None:
        kwargs["file"] = discord.File(io.BytesIO(png), filename=FILENAME, description="The moral graph")
    return kwargs


async def post_digest(channel: discord.abc.Messageable, digest: Digest, png: bytes | None) -> discord.Message:
    """Send the digest (with its picture) to ``channel``."""
    return await channel.send(**digest_message(digest, png))


class DiscordDigestPublisher:
    """``DigestPublisher`` for Discord: the embed and picture in one message, by channel id (a partial
    messageable needs no channel cache, so a REST-only client will do)."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def publish_digest(self, *, channel_id: str, digest: Digest, png: bytes) -> str:
        message = await post_digest(self._client.get_partial_messageable(int(channel_id)), digest, png)
        return str(message.id)
