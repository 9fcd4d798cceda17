"""The Discord client: intents, command tree, event wiring, and ``run_discord``.

Event handlers are thin delegations to one module per concern (``dm``, ``buttons``, the command
modules); later concerns (poll votes, reactions) add ``on_raw_*`` methods that delegate the same way.

Nothing a member or Discord sends ends the process: a dispatch discord.py cannot parse is dropped with
one log line (``errors.guard_parsers`` says why that is the seam), a failing event handler is logged in
one line by ``on_error``, and an interaction the bot has no handler for (a stale command, a button it no
longer makes, an interaction type it does not know) gets a short private answer instead of Discord's
"This interaction failed".
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import discord
from discord import app_commands

from adapters.discord.buttons import ChoiceButton, is_choice_custom_id
from adapters.discord.commands import STALE_TEXT, SubcommandInstaller, answer, build_groups, on_command_error
from adapters.discord.config import BotContext, DiscordConfig
from adapters.discord.dm import on_direct_message
from adapters.discord.errors import guard_parsers, one_line
from adapters.discord.member_commands import install_member_commands
from adapters.discord.moderator_actions import install_moderator_actions
from adapters.discord.moderator_commands import install_moderator_commands
from adapters.discord.polls import on_raw_reaction
from adapters.discord.presses import answer_press
from bot.commands.buttons import STALE_BUTTON_TEXT
from bot.interview.routing import DmRouter
from bot.interview.service import InterviewService
from core.clock import utcnow
from storage.database import Database

log = logging.getLogger("mge.discord")

MEMBER_INSTALLERS: tuple[SubcommandInstaller, ...] = (install_member_commands,)
MODERATOR_INSTALLERS: tuple[SubcommandInstaller, ...] = (install_moderator_commands, install_moderator_actions)


def bot_intents() -> discord.Intents:
    """Only what the bot uses. No privileged intents: DMs carry their text without message_content,
    and raw reaction/poll events need no member cache (so no members intent)."""
    intents = discord.Intents.none()
    intents.guilds = True  # guild list (DM routing), slash commands' guild context
    intents.dm_messages = True  # the interview
    intents.reactions = True  # guild + DM reactions: story poll votes (polls.py)
    intents.polls = True  # guild + DM poll votes: voting (a later round)
    return intents


class MgeCommandTree(app_commands.CommandTree):
    async def _call(self, interaction: discord.Interaction) -> None:
        # discord.py's tree passes only AppCommandErrors to ``on_error``; anything else raised while it
        # reads the interaction's data (a malformed INTERACTION_CREATE) would end its task with a traceback.
        try:
            if interaction.type is discord.InteractionType.application_command:
                self._check_options(interaction.data)
            await super()._call(interaction)
        except app_commands.AppCommandError:
            raise
        except Exception as error:
            # interaction.command is None when the command is unknown; CommandInvokeError's hint leaves None out.
            raise app_commands.CommandInvokeError(interaction.command, error) from error  # type: ignore[arg-type]

    def _check_options(self, data: Any) -> None:
        """Refuse options the command does not have, or of another type than it declares: a member's
        Discord app sends a command as it was when the app loaded it. discord.py checks only that the
        required options are there, and would pass a number where the command takes text."""
        command: Any = self.get_command(str(data.get("name")))
        options = data.get("options") or []
        while isinstance(command, app_commands.Group):
            chosen = next((o for o in options if isinstance(o, dict) and o.get("type") in (1, 2)), None)
            if chosen is None:
                return  # discord.py says what is wrong (CommandSignatureMismatch, CommandNotFound)
            command, options = command.get_command(str(chosen.get("name"))), chosen.get("options") or []
        if command is None:
            return
        declared = {param.display_name: param.type.value for param in command.parameters}
        for option in options:
            if not isinstance(option, dict) or declared.get(option.get("name")) != option.get("type"):
                raise app_commands.CommandSignatureMismatch(command)


class MgeDiscordClient(discord.Client):
    def __init__(
        self,
        config: DiscordConfig,
        context: BotContext,
        *,
        member_installers: Sequence[SubcommandInstaller] = MEMBER_INSTALLERS,
        moderator_installers: Sequence[SubcommandInstaller] = MODERATOR_INSTALLERS,
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
        guard_parsers(self._connection.parsers, log)
        self.tree = MgeCommandTree(self)
        self.tree.error(on_command_error)
        for group in build_groups(context, member_installers, moderator_installers):
            self.tree.add_command(group)

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
        log.info(
            "connected to Discord as %s (%s), in %d guilds", self.user, self.user and self.user.id, len(self.guilds)
        )

    async def on_message(self, message: discord.Message) -> None:
        await on_direct_message(self, message)

    async def answer_choice_press(self, interaction: discord.Interaction, key: str) -> None:
        """A press on a ``ChoiceButton`` (which has no way to import ``presses`` itself)."""
        await answer_press(interaction, key)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """A handler failed (its own task: nothing else is affected). One line, not discord.py's traceback."""
        error = sys.exc_info()[1]
        log.error("%s handler failed: %s", event_method, one_line(error) if error else "unknown error")

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Answer what no handler will: a button the bot no longer makes, a form or an interaction type
        it does not know. (Commands, stale ones included, are the tree's: see ``on_command_error``.)"""
        kind = interaction.type
        if kind in (
            discord.InteractionType.application_command,
            discord.InteractionType.autocomplete,
            discord.InteractionType.ping,
        ):
            return
        data: Mapping[str, object] = interaction.data if isinstance(interaction.data, dict) else {}
        custom_id = data.get("custom_id")
        if kind is discord.InteractionType.component and isinstance(custom_id, str) and is_choice_custom_id(custom_id):
            return  # a choice button: ChoiceButton answers it
        log.info("unknown interaction from %s: type %s, custom_id %.100r", interaction.user.id, kind, custom_id)
        text = STALE_BUTTON_TEXT if kind is discord.InteractionType.component else STALE_TEXT
        try:
            await answer(interaction, text)
        except (discord.HTTPException, discord.InteractionResponded) as error:
            log.warning("could not answer interaction %s: %s", interaction.id, one_line(error))

    # Story poll votes: raw events, so reactions on uncached messages (and after a restart) count.
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if _well_formed(payload):
            await on_raw_reaction(self, payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if _well_formed(payload):
            await on_raw_reaction(self, payload, added=False)


def _well_formed(payload: discord.RawReactionActionEvent) -> bool:
    """discord.py converts a reaction's ids (a bad one never gets here) but keeps its emoji's name as
    sent; a name that is not text is a malformed event, dropped here in one line like the others."""
    name = payload.emoji.name
    if name is None or isinstance(name, str):
        return True
    log.warning("ignored a malformed reaction on message %s: emoji name is %s", payload.message_id, type(name).__name__)
    return False


def build_client(
    config: DiscordConfig,
    *,
    interviews: InterviewService,
    router: DmRouter,
    database: Database,
    member_installers: Sequence[SubcommandInstaller] = MEMBER_INSTALLERS,
    moderator_installers: Sequence[SubcommandInstaller] = MODERATOR_INSTALLERS,
    clock: Callable[[], datetime] = utcnow,
) -> MgeDiscordClient:
    context = BotContext(
        interviews=interviews,
        router=router,
        database=database,
        clock=clock,
        moderator_role_ids=config.moderator_role_ids,
        poll_duration=config.poll_duration,
        token_prices=config.token_prices,
    )
    return MgeDiscordClient(
        config, context, member_installers=member_installers, moderator_installers=moderator_installers
    )


async def run_discord(
    config: DiscordConfig,
    *,
    interviews: InterviewService,
    router: DmRouter,
    database: Database,
) -> None:
    """Connect and serve until cancelled (or the connection fails for good). Closes the client —
    its HTTP session and websocket — on the way out, cancellation included."""
    client = build_client(config, interviews=interviews, router=router, database=database)
    async with client:
        await client.start(config.token)
