"""Discord adapter: DM interviews, choice buttons and the `/mge` slash commands.

One module per concern, so later rounds (polls, reactions, moderator commands) add modules rather than
grow these ones:

- ``config``   — ``DiscordConfig`` (token, command sync scope) and ``BotContext`` (the services handlers use)
- ``client``   — the ``discord.Client`` subclass, its intents, ``build_client`` and ``run_discord``
- ``community``— which community a DM belongs to (Discord DMs carry no guild)
- ``render``   — neutral ``Outbound`` → Discord message kwargs (content, embed, buttons), mention-safe
- ``delivery`` — sending rendered messages to a channel in order
- ``dm``       — ``on_message`` for direct messages
- ``buttons``  — choice buttons (``mge:choice:<key>``), and how a press is acknowledged
- ``presses``  — what a press does (``bot.commands.buttons`` decides, by the key), rendered
- ``commands`` — the ``/mge`` (members) and ``/mge-mod`` (moderators) groups and their subcommand installers
- ``errors``   — one-line failure logs, and the guard that drops a malformed gateway dispatch
- ``member_commands`` — the member subcommands of ``/mge``, from ``bot.commands.member_commands``
"""

from adapters.discord.client import MgeDiscordClient, bot_intents, build_client, run_discord
from adapters.discord.config import BotContext, DiscordConfig

__all__ = ["BotContext", "DiscordConfig", "MgeDiscordClient", "bot_intents", "build_client", "run_discord"]
