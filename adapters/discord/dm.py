"""Direct messages from members: the interview's text channel.

Only DMs are read. The bot's own messages (Discord echoes them back), other bots, system messages and
guild messages are ignored; the bot has no message_content intent, so guild text would be empty anyway.
discord.py takes a message's fields as Discord sent them, unchecked: a DM whose text is not a string (or
whose attachments are not a list) is malformed and is dropped with one log line.
"""

from __future__ import annotations

import logging

import discord

from adapters.discord.conversation import reply_to_member
from adapters.discord.delivery import deliver
from core.messages import Reply

ATTACHMENT_ONLY_TEXT = (
    "I can only read text, not attachments, images or stickers. Please write your answer as a message."
)
_READABLE_TYPES = (discord.MessageType.default, discord.MessageType.reply)

log = logging.getLogger("mge.discord.dm")


def is_member_dm(client: discord.Client, message: discord.Message) -> bool:
    if message.guild is not None or not isinstance(message.channel, discord.DMChannel):
        return False
    if client.user is not None and message.author.id == client.user.id:
        return False
    return not message.author.bot and message.type in _READABLE_TYPES


async def on_direct_message(client: discord.Client, message: discord.Message) -> None:
    if not is_member_dm(client, message):
        return
    if not isinstance(message.content, str) or not isinstance(message.attachments, list):
        log.warning(
            "ignored a malformed DM %s from %s: content is %s",
            message.id,
            message.author.id,
            type(message.content).__name__,
        )
        return
    if not message.content.strip() and (message.attachments or message.stickers):
        await deliver(message.channel, [Reply(ATTACHMENT_ONLY_TEXT)])
        return
    await reply_to_member(
        client, message.author, message.content, event_id=f"message-{message.id}", channel=message.channel
    )
