"""Story polls on Discord: post a story as an embed with ✅ ❌ 🤔 pre-added; reactions → votes. A private
poll (``core.polls.PollMode.PRIVATE``) has three buttons instead, and its message is edited to show the
tally once it has closed (a press is answered in ``presses``, ephemerally).

Votes come from the *raw* reaction events: the non-raw ones fire only when the message and the user are
cached (we keep no message cache, and the cache is empty after a restart). Raw events carry ids only,
which is all ``apply_reaction`` (the vote inbox) needs.

The bot's own reactions (Discord echoes the three it adds under every poll) and other bots' are
ignored here, before the database is touched. Each handled reaction is announced as the custom event
``mge_reaction_handled(payload, outcome)`` so callers (and tests) can ``client.wait_for`` it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from adapters.discord.buttons import ChoiceButton
from adapters.discord.community import community_of_guild
from adapters.discord.config import PLATFORM, context_of
from adapters.discord.render import MAX_EMBED_DESCRIPTION, _shorten, neutralise
from bot.voting.polls import apply_reaction
from core.eligibility import Facts
from core.graph.votes import CHOICES
from core.messages import Person
from core.polls import (
    BUTTON_LABELS,
    QUESTION,
    PollMode,
    StoryPoll,
    ValueSummary,
    VoteOutcome,
    poll_button_key,
    poll_reactions,
    tally_text,
    voting_rules,
)

log = logging.getLogger("mge.discord.polls")

HANDLED_EVENT = "mge_reaction_handled"
# Discord's embed limits: field name 256, field value 1024, footer 2048, all text together 6000.
# Budget: title ~30 + description 3000 + two fields (256 + 1000) + footer ~150 < 6000.
STORY_LIMIT = min(3000, MAX_EMBED_DESCRIPTION)
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1000


def _clean(text: str) -> str:
    """Echoed text (LLM output built from member words) as inert plain text: no markdown, no mentions."""
    return neutralise(discord.utils.escape_markdown(text))


def _value_field(label: str, value: ValueSummary) -> tuple[str, str]:
    bullets = "\n".join(f"• {_clean(policy)}" for policy in value.policies)
    body = f"*{_clean(value.description)}*\n{bullets}".strip()
    return _shorten(f"{label}: {_clean(value.title)}", FIELD_NAME_LIMIT), _shorten(body, FIELD_VALUE_LIMIT)


def poll_embed(poll: StoryPoll, *, tallies: dict[str, int] | None = None) -> discord.Embed:
    """The story, its context, the two values it moves between, and how to vote (once closed: ``tallies``)."""
    description = f"**{_clean(poll.context)}**\n\n{_clean(poll.story)}"
    embed = discord.Embed(
        title=QUESTION, description=_shorten(description, STORY_LIMIT), colour=discord.Colour.blurple()
    )
    for label, value in (("Before", poll.from_value), ("After", poll.to_value)):
        name, body = _value_field(label, value)
        embed.add_field(name=name, value=body, inline=False)
    embed.set_footer(text=tally_text(tallies) if tallies is not None else voting_rules(PLATFORM, poll.mode))
    return embed


def private_poll_view() -> discord.ui.View:
    """A private poll's three buttons (the message they are on names the poll)."""
    view = discord.ui.View(timeout=None)
    for choice in CHOICES:
        view.add_item(ChoiceButton(poll_button_key(choice), BUTTON_LABELS[choice]))
    return view


class DiscordPollPublisher:
    """``PollPublisher`` for Discord: one embed message, then the three reactions in order (a private
    poll: its three buttons, added by an edit once the poll is recorded)."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def publish(
        self,
        *,
        channel_id: str,
        poll: StoryPoll,
        on_posted: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        # A partial messageable needs no channel cache: the send is a plain REST call by id.
        channel = self._client.get_partial_messageable(int(channel_id))
        message = await channel.send(embed=poll_embed(poll), allowed_mentions=discord.AllowedMentions.none())
        if on_posted is not None:
            await on_posted(str(message.id))
        if poll.mode == PollMode.PRIVATE:
            await message.edit(view=private_poll_view())
            return str(message.id)
        for emoji in poll_reactions(PLATFORM):
            await message.add_reaction(emoji)
        return str(message.id)

    async def show_tally(self, *, channel_id: str, message_id: str, poll: StoryPoll, tallies: dict[str, int]) -> None:
        message = self._client.get_partial_messageable(int(channel_id)).get_partial_message(int(message_id))
        try:
            # view=None sends no components: the buttons go.
            await message.edit(embed=poll_embed(poll, tallies=tallies), view=None)
        except discord.NotFound:
            log.warning("the message of poll %s is gone; its tally is not shown", poll.poll_id)


def _is_bot(client: discord.Client, payload: discord.RawReactionActionEvent) -> bool:
    if client.user is not None and payload.user_id == client.user.id:
        return True
    return payload.member is not None and payload.member.bot  # only REACTION_ADD in a guild carries it


async def on_raw_reaction(client: discord.Client, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
    """MESSAGE_REACTION_ADD / REMOVE → a vote change. Never raises: a failure is logged."""
    outcome: VoteOutcome | None = None
    try:
        outcome = await _apply(client, payload, added=added)
    except Exception:
        log.exception("could not apply a reaction on message %s", payload.message_id)
    client.dispatch(HANDLED_EVENT, payload, outcome)


async def _apply(client: discord.Client, payload: discord.RawReactionActionEvent, *, added: bool) -> VoteOutcome:
    if _is_bot(client, payload):
        return VoteOutcome.IGNORED_BOT
    if payload.guild_id is None or not payload.emoji.is_unicode_emoji():
        # Polls live in guild channels; custom server emoji are never poll reactions.
        return VoteOutcome.IGNORED_UNKNOWN_POLL if payload.guild_id is None else VoteOutcome.IGNORED_EMOJI
    context = context_of(client)
    member = payload.member
    person = Person(str(payload.user_id), member.display_name if member is not None else "")
    facts = member_facts(payload.user_id, member)
    # discord.py runs every event in a task of its own, started in gateway order; nothing above awaits,
    # so the inbox stamps this reaction's arrival order before any later event's (a member's quick ✅
    # then ❌ is applied in that order). Recorded first, then applied; we wait for the outcome.
    return await apply_reaction(
        context.database,
        community=community_of_guild(client.get_guild(payload.guild_id), payload.guild_id),
        platform=PLATFORM,
        channel_id=str(payload.channel_id),
        message_id=str(payload.message_id),
        person=person,
        emoji=payload.emoji.name or "",
        added=added,
        event_id=None,  # the gateway gives reactions no id: each is recorded with a receipt id of its own
        now=context.clock(),
        facts=facts,
    )


def member_facts(user_id: int, member: discord.Member | None) -> Facts:
    """What a gateway event says about the member, for eligibility: the account's creation time (in its
    id), and, when the event carries the member (a reaction added in a server), when they joined and
    their role ids (as sent, cache or not; discord.py keeps them in ``Member._roles``, pinned <2.8)."""
    roles = getattr(member, "_roles", None) if member is not None else None
    return Facts(
        account_created_at=discord.utils.snowflake_time(user_id),
        joined_at=member.joined_at if member is not None else None,
        role_ids=[str(r) for r in roles] if roles is not None else None,
    )
