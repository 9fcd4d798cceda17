"""The moderator actions (``bot.commands``) as ``/mge-mod`` subcommands on Discord: ``/mge-mod polls
every``, ``/mge-mod digest channel``, ``/mge-mod values hide`` … built from the one table of actions, so
Slack (where they are ``/mge polls every`` …) and Discord offer the same commands with the same words.

Each subcommand's parameters come from the action's :class:`~bot.commands.Param` list (discord.py
reads them from the callback's signature, which is set here). Channels are typed as ``#channel``
mentions (``<#id>``), which Discord completes as you type. Every command checks the caller with
``require_moderator``, defers (the answer may take a moment), and answers privately, files attached.

A channel named in a command must be in the server the command runs in. Discord channel ids are global
and a bot in several servers can post in any of their channels, so without this check Manage Server in
one server would let a moderator point its story polls or digest (its values, stories, votes) at
another server's channel.
"""

from __future__ import annotations

import inspect
import io
from typing import Literal, Optional

import discord
from discord import app_commands

from adapters.discord.commands import answer, discord_text, moderator_command
from adapters.discord.community import community_of_guild
from adapters.discord.config import PLATFORM, BotContext
from adapters.discord.digest import DiscordDigestPublisher
from adapters.discord.moderator_commands import post_failure_text, require_moderator
from adapters.discord.polls import DiscordPollPublisher
from adapters.discord.render import neutralise
from bot.commands.base import ActionReply, ModeratorAction, ModeratorCall, ModeratorServices, channel_id_of, run_action
from bot.commands.moderator_actions import groups
from storage.communities_repo import ensure_community

#: A message's content may hold 2000 characters; longer answers come as a file as well.
MAX_CONTENT = 1900
_TYPES = {"text": str, "int": int, "channel": str, "member": str}


def install_moderator_actions(group: app_commands.Group, context: BotContext) -> None:
    """Add ``/mge-mod <group> <action>`` (or ``/mge-mod <group>`` for a single action) for every action."""
    for name, actions in groups().items():
        if len(actions) == 1 and not actions[0].name:
            group.add_command(_command(actions[0], context, name=name))
            continue
        sub = app_commands.Group(name=name, description=f"Moderators: {name}")
        for action in actions:
            sub.add_command(_command(action, context, name=action.name))
        group.add_command(sub)


def _command(action: ModeratorAction, context: BotContext, *, name: str) -> app_commands.Command:
    async def callback(interaction: discord.Interaction, **values) -> None:
        if not await require_moderator(
            interaction, context, name=action.path, action=f"use {moderator_command(action.group)}"
        ):
            return
        assert interaction.guild_id is not None  # checked by the gate
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = context.clock()
        community = community_of_guild(interaction.guild, interaction.guild_id)
        args = {p.name: _text(p.kind, values.get(p.name)) for p in action.params if values.get(p.name) is not None}
        for param in action.params:
            if (
                param.kind == "channel"
                and param.name in args
                and await _elsewhere(interaction.client, args[param.name], guild_id=interaction.guild_id)
            ):
                await answer(interaction, OTHER_SERVER_TEXT)
                return
        call = ModeratorCall(
            database=context.database,
            community_id=await ensure_community(context.database, community, now=now),
            community=community,
            actor=f"{PLATFORM}:{interaction.user.id}",
            channel_id=str(interaction.channel_id) if interaction.channel_id else None,
            args=args,
            now=now,
            services=ModeratorServices(
                DiscordPollPublisher(interaction.client),
                DiscordDigestPublisher(interaction.client),
                context.poll_duration,
                llm=context.interviews.llm,
                model=context.interviews.articulation_model,
                token_prices=context.token_prices,
                post_failure=post_failure_text,
            ),
        )
        await _reply(interaction, await run_action(action, call))

    parameters = [
        inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)
    ]
    # Discord wants required options before optional ones; options are named, so their order is free.
    for param in sorted(action.params, key=lambda p: not p.required):
        kind = Literal[param.choices] if param.choices else _TYPES[param.kind]
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=kind if param.required else Optional[kind],  # noqa: UP045 (discord.py reads typing.Optional)
                default=inspect.Parameter.empty if param.required else None,
            )
        )
    # discord.py reads the options and their descriptions off these two function attributes, which a
    # function's type does not declare.
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_description__ = {p.name: p.help[:100] for p in action.params}  # type: ignore[attr-defined]
    return app_commands.Command(name=name, description=f"Moderators: {action.help}"[:100], callback=callback)


OTHER_SERVER_TEXT = (
    "That channel is not in this server. Name one of this server's channels (or run the command in it): "
    "each server's polls and digest stay in that server."
)


async def _elsewhere(client: discord.Client, channel_text: str, *, guild_id: int) -> bool:
    """True when ``channel_text`` is a channel the bot can see outside server ``guild_id`` (another
    server's channel or thread, or a DM). A channel the bot cannot see at all is left to the post
    itself, which fails with its own explanation."""
    if not channel_text.isdigit():
        return False
    channel = client.get_channel(int(channel_text))  # every channel of every server the bot is in
    if channel is None:
        try:  # not cached (an archived thread, say): ask Discord
            channel = await client.fetch_channel(int(channel_text))
        except discord.HTTPException:
            return False
    owner = getattr(getattr(channel, "guild", None), "id", None)
    return owner != guild_id


def _text(kind: str, value: object) -> str:
    text = str(value)
    return channel_id_of(text) if kind == "channel" else text


async def _reply(interaction: discord.Interaction, reply: ActionReply) -> None:
    text = discord.utils.escape_markdown(discord_text(reply.text))
    files = []
    if reply.file is not None:
        files.append(discord.File(io.BytesIO(reply.file[1]), filename=reply.file[0]))
    if len(text) > MAX_CONTENT:
        files.append(discord.File(io.BytesIO(discord_text(reply.text).encode()), filename="answer.txt"))
        text = text[:MAX_CONTENT].rstrip("\\") + "… (the whole answer is in answer.txt)"
    if not files:
        await answer(interaction, text)
        return
    await interaction.followup.send(
        neutralise(text), files=files, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )
