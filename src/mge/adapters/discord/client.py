"""The Discord client: intents, command tree, event wiring, and ``run_discord``.

Event handlers are thin delegations to one module per concern (``dm``, ``buttons``, the command
modules); later concerns (poll votes, reactions) add ``on_raw_*`` methods that delegate the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import discord
from discord import app_commands

from mge.adapters.discord.ask_command import install_ask_command
from mge.adapters.discord.buttons import ChoiceButton
from mge.adapters.discord.commands import SubcommandInstaller, build_mge_group, on_command_error
from mge.adapters.discord.config import BotContext, DiscordConfig
from mge.adapters.discord.dm import on_direct_message
from mge.adapters.discord.member_commands import install_member_commands
from mge.adapters.discord.moderator_actions import install_moderator_actions
from mge.adapters.discord.moderator_commands import install_moderator_commands
from mge.adapters.discord.polls import on_raw_reaction
from mge.bot.interviews import InterviewService, utcnow
from mge.bot.routing import DmRouter
from mge.storage.database import Database

log = logging.getLogger("mge.discord")

DEFAULT_INSTALLERS: tuple[SubcommandInstaller, ...] = (
    install_member_commands, install_ask_command, install_moderator_commands, install_moderator_actions,
)


def bot_intents() -> discord.Intents:
    """Only what the bot uses. No privileged intents: DMs carry their text without message_content,
    and raw reaction/poll events need no member cache (so no members intent)."""
    intents = discord.Intents.none()
    intents.guilds = True  # guild list (DM routing), slash commands' guild context
    intents.dm_messages = True  # the interview
    intents.reactions = True  # guild + DM reactions: story poll votes (polls.py)
    intents.polls = True  # guild + DM poll votes: voting (a later round)
    return intents


class MgeDiscordClient(discord.Client):
    def __init__(
        self,
        config: DiscordConfig,
        context: BotContext,
        *,
        installers: Sequence[SubcommandInstaller] = DEFAULT_INSTALLERS,
    ) -> None:
        super().__init__(
            intents=bot_intents(),
            # A default for every send; each send also passes it explicitly (see render.py).
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=config.guild_ready_timeout,
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            max_messages=None,  # handlers use raw events and ids, never the message cache
        )
        self.mge_context = context
        self._config = config
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = on_command_error
        self.tree.add_command(build_mge_group(context, installers))

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ChoiceButton)
        if self._config.sync_commands:
            await self._sync_commands()

    async def _sync_commands(self) -> None:
        if self._config.command_guild_ids:
            for guild_id in self._config.command_guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d commands to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%s), in %d guilds", self.user, self.user and self.user.id, len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        await on_direct_message(self, message)

    # Story poll votes: raw events, so reactions on uncached messages (and after a restart) count.
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await on_raw_reaction(self, payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await on_raw_reaction(self, payload, added=False)


def build_client(
    config: DiscordConfig,
    *,
    interviews: InterviewService,
    router: DmRouter,
    database: Database,
    installers: Sequence[SubcommandInstaller] = DEFAULT_INSTALLERS,
    clock: Callable[[], datetime] = utcnow,
) -> MgeDiscordClient:
    context = BotContext(
        interviews=interviews, router=router, database=database, clock=clock,
        moderator_role_ids=config.moderator_role_ids, poll_duration=config.poll_duration,
        token_prices=config.token_prices,
    )
    return MgeDiscordClient(config, context, installers=installers)


async def run_discord(
    config: DiscordConfig,
    *,
    interviews: InterviewService,
    router: DmRouter,
    database: Database,
    installers: Sequence[SubcommandInstaller] = DEFAULT_INSTALLERS,
) -> None:
    """Connect and serve until cancelled (or the connection fails for good). Closes the client —
    its HTTP session and websocket — on the way out, cancellation included."""
    client = build_client(config, interviews=interviews, router=router, database=database, installers=installers)
    async with client:
        await client.start(config.token)
