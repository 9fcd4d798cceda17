"""Moderator subcommands of ``/mge`` on Slack: ``poll`` for now, and the gate later ones reuse.

Slack has no permission model for slash commands: anyone who sees ``/mge`` can run every subcommand.
So the operator lists moderators in ``MGE_SLACK_MODERATOR_IDS``: user ids (``U…``/``W…``) and user-group
ids (``S…``), each either bare (a moderator in every workspace the bot serves) or scoped to one workspace
as ``T…:U…`` / ``T…:S…`` (``bot.commands.permissions``); the command's ``team_id`` decides which apply. A
user-group's members are looked up with ``usergroups.users.list`` (scope ``usergroups:read``) only when
such an id applies in the command's workspace, and cached for a minute: the method is rate-limited
(Tier 2, ~20 calls a minute) and the lookup happens before the 3-second ack.

``/mge poll`` picks the story and posts it in the command's channel; the ack says it is posted only once
it is, or why it could not be (the bot is not in the channel …). A post slower than Slack's 3-second ack
is reported in a DM when it ends (``answer_when_done``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.commands import COMMAND, CommandCall, CommandRegistry, CommandReply, Subcommand
from adapters.slack.moderator_actions import answer_when_done, install_actions, post_failure_text
from adapters.slack.polls import PLATFORM, SlackPollPublisher
from adapters.slack.render import escape
from bot.commands.base import ActionReply, terminal_command
from bot.commands.permissions import ModeratorFacts, SlackModeratorId, denial_text, is_moderator, slack_moderator_ids
from bot.commands.schedule import audit_poll
from bot.voting.polls import post_story_poll, story_poll_view
from bot.voting.selection import next_story_for
from storage.communities_repo import ensure_community

log = logging.getLogger("mge.slack.moderation")

#: How long a user-group's member list is trusted.
GROUP_CACHE_SECONDS = 60.0
#: A user-group lookup happens before the ack (due within 3 s): give up early rather than miss it.
GROUP_LOOKUP_TIMEOUT = 1.5

NOTHING_TO_POLL_TEXT = "No story needs votes right now — run {command} in the bot's terminal."
POSTING_TEXT = "Posting the poll takes longer than usual: I'll tell you in a direct message once it is up."
IN_A_CHANNEL_TEXT = f"Run `{COMMAND} poll` in the channel where the poll should appear (not in a direct message)."
GROUPS_UNCHECKED_TEXT = " (I couldn't check the moderator user-groups just now: try again in a moment.)"


@dataclass
class UsergroupMembers:
    """Members of Slack user-groups, cached per group for ``ttl`` seconds."""

    ttl: float = GROUP_CACHE_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)

    async def groups_of(
        self, client: AsyncWebClient, user_id: str, groups: Iterable[str | SlackModeratorId]
    ) -> tuple[tuple[str, ...], bool]:
        """The groups among ``groups`` (ids, or configured entries: a scoped one is looked up in its
        workspace) that ``user_id`` belongs to, and whether every lookup worked."""
        found: list[str] = []
        complete = True
        for group in slack_moderator_ids(groups):
            members = await self._members(client, group.id, team_id=group.team_id)
            if members is None:
                complete = False
            elif user_id in members and group.id not in found:
                found.append(group.id)
        return tuple(found), complete

    async def _members(self, client: AsyncWebClient, group_id: str, *, team_id: str = "") -> frozenset[str] | None:
        key = f"{team_id}:{group_id}"
        cached = self._cache.get(key)
        if cached is not None and self.monotonic() - cached[0] < self.ttl:
            return cached[1]
        # team_id: which workspace the group is in (required by Slack for org-wide tokens, harmless otherwise);
        # slack_sdk leaves a None parameter out of the request.
        try:
            response = await asyncio.wait_for(
                client.usergroups_users_list(usergroup=group_id, team_id=team_id or None), GROUP_LOOKUP_TIMEOUT
            )
        except SlackApiError as error:
            # missing_scope (no usergroups:read), no_such_subteam (a typo), plan_upgrade_required (free plan)
            log.warning("could not list user-group %s: %s", group_id, error.response.get("error"))
            return None
        except TimeoutError:
            log.warning("listing user-group %s took too long", group_id)
            return None
        members = frozenset(str(user) for user in response.get("users") or ())
        self._cache[key] = (self.monotonic(), members)
        return members


@dataclass
class ModeratorGate:
    """Decides whether a ``/mge`` caller is a moderator; every moderator subcommand asks it first."""

    moderator_ids: tuple[str, ...]
    groups: UsergroupMembers = field(default_factory=UsergroupMembers)

    async def refusal(self, call: CommandCall, *, action: str) -> str | None:
        """None when the caller may go on; otherwise the text telling them why not. Only the entries that
        apply in the command's workspace count (bare ones, and ones scoped to it)."""
        user_id, team_id = call.person.platform_user_id, call.community.external_id
        facts = ModeratorFacts(platform=PLATFORM, user_id=user_id, team_id=team_id)
        complete = True
        if not is_moderator(facts, moderator_ids=self.moderator_ids):  # user ids first: no API call needed
            groups = [e for e in slack_moderator_ids(self.moderator_ids) if e.is_group and e.applies_in(team_id)]
            group_ids, complete = await self.groups.groups_of(call.client, user_id, groups)
            facts = ModeratorFacts(platform=PLATFORM, user_id=user_id, team_id=team_id, group_ids=group_ids)
        if is_moderator(facts, moderator_ids=self.moderator_ids):
            return None
        log.info("refused a moderator command (%s) to %s in %s", action, user_id, team_id)
        text = denial_text(PLATFORM, action=action, moderator_ids=self.moderator_ids, team_id=team_id)
        return text if complete else text + GROUPS_UNCHECKED_TEXT


def slack_date(when: datetime) -> str:
    """A date Slack shows in the reader's own time zone, with a UTC fallback for old clients."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def add_moderator_commands(
    registry: CommandRegistry,
    *,
    moderator_ids: Iterable[str],
    poll_duration: timedelta,
    token_prices: tuple[float, float] = (0.0, 0.0),
) -> CommandRegistry:
    """Add the moderator subcommands to ``registry`` (and return it)."""
    gate = ModeratorGate(tuple(moderator_ids))
    # Stories picked but not yet recorded as polls, per workspace: a second `/mge poll` arriving while
    # the first still posts must pick another story (and not the first one's reverse).
    posting: dict[str, set[int]] = {}

    async def poll(call: CommandCall) -> CommandReply:
        refusal = await gate.refusal(call, action="post polls")
        if refusal is not None:
            return CommandReply(refusal)
        if not call.channel_id or call.channel_id.startswith("D"):
            return CommandReply(IN_A_CHANNEL_TEXT)
        busy = posting.setdefault(call.community.external_id, set())
        now = call.deps.clock()
        story_id = await next_story_for(call.deps.database, call.community, now=now, exclude=busy)
        if story_id is None:
            return CommandReply(
                escape(NOTHING_TO_POLL_TEXT.format(command=terminal_command(call.community, "stories generate")))
            )
        busy.add(story_id)
        closes_at = now + poll_duration
        view = await story_poll_view(call.deps.database, story_id)

        async def post() -> ActionReply:
            try:
                recorded = await post_story_poll(
                    call.deps.database,
                    SlackPollPublisher(call.client),
                    story_id=story_id,
                    platform=PLATFORM,
                    channel_id=call.channel_id,
                    closes_at=closes_at,
                    now=now,
                )
            except SlackApiError as error:
                log.warning("could not post a poll in %s: %s", call.channel_id, error.response.get("error"))
                return ActionReply(escape(post_failure_text(error, call.channel_id) or ""))
            finally:
                busy.discard(story_id)
            log.info("poll %s on story %s posted by %s", recorded.id, story_id, call.person.platform_user_id)
            community_id = await ensure_community(call.deps.database, call.community, now=now)
            await audit_poll(
                call.deps.database,
                recorded,
                community_id=community_id,
                actor=f"{PLATFORM}:{call.person.platform_user_id}",
                now=now,
                action="poll",
            )
            return ActionReply(
                f"Posted a poll on “{escape(view.context)}”: {escape(view.from_value.title)} → "
                f"{escape(view.to_value.title)}, in this channel. It closes {slack_date(closes_at)}."
            )

        return await answer_when_done(call, post(), pending=POSTING_TEXT, markup=True)

    registry.add(Subcommand("poll", "(moderators) post the next transition story as a poll in this channel", poll))
    install_actions(registry, gate, poll_duration=poll_duration, token_prices=token_prices)
    return registry
