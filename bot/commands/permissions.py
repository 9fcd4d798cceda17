"""Who may run moderator commands: one gate every moderator command uses, on every platform.

Adapters gather the facts about the caller from their platform (``ModeratorFacts``) — Discord's
resolved permissions and role ids from the interaction, Slack's workspace, user id and the configured
user-groups the user belongs to — and this module decides. A member is a moderator when:

- the platform says they administer the community (Discord: Manage Server or Administrator, which
  Discord resolves per server: it never carries over to another server), or
- one of their roles is a configured moderator role (Discord; role ids belong to one server), or
- their user id, or a user-group they belong to, is a configured moderator id that applies in this
  workspace (Slack has no permission model for slash commands: everyone who can see ``/mge`` can run
  it, so the operator's list decides).

Slack entries are ``U…``/``W…`` (a user) or ``S…`` (a user-group), optionally scoped to one workspace
as ``T…:U…`` / ``T…:S…``. A bare entry applies in **every** workspace the bot serves: right for a
one-workspace install, but with Enterprise Grid (where ``W…`` user ids are the same in every workspace
of the organisation) a bare id makes that user a moderator everywhere. Scope entries when the bot
serves several workspaces.

Every denial explains why, so a member who expected to be a moderator knows what to ask for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Configured ids beginning with this are Slack user-groups (``S…``), not users (``U…``/``W…``).
SLACK_GROUP_PREFIX = "S"
SLACK_SETTING = "MGE_SLACK_MODERATOR_IDS"
DISCORD_SETTING = "MGE_DISCORD_MODERATOR_ROLE_IDS"

_SLACK_TEAM = re.compile(r"T[A-Z0-9]+")
_SLACK_MEMBER = re.compile(r"[UWS][A-Z0-9]+")


@dataclass(frozen=True, slots=True)
class SlackModeratorId:
    """One entry of ``MGE_SLACK_MODERATOR_IDS``: a user (``U…``/``W…``) or user-group (``S…``) id, and the
    workspace (``T…``) it is a moderator in; an empty ``team_id`` means every workspace."""

    team_id: str
    id: str

    @property
    def is_group(self) -> bool:
        return self.id.startswith(SLACK_GROUP_PREFIX)

    def applies_in(self, team_id: str) -> bool:
        return not self.team_id or self.team_id == team_id

    def __str__(self) -> str:
        return f"{self.team_id}:{self.id}" if self.team_id else self.id


def parse_slack_moderator_id(text: str) -> SlackModeratorId:
    """``U0456`` (every workspace) or ``T0123:U0456`` (only workspace T0123); user-groups likewise with
    ``S…``. Raises ``ValueError`` saying which part is wrong and what it should look like."""
    entry = str(text).strip()
    team, sep, member = entry.rpartition(":")
    if sep and not _SLACK_TEAM.fullmatch(team):
        raise ValueError(
            f"in {entry!r}, {team!r} is not a Slack workspace (team) id: those start with T, e.g. T0123ABCD "
            "(the T… in app.slack.com/client/T…/ when the workspace is open in a browser)"
            + _upper_hint(team, _SLACK_TEAM)
        )
    if not _SLACK_MEMBER.fullmatch(member):
        raise ValueError(
            f"in {entry!r}, {member!r} is not a Slack user id (U… or W…: the member's profile → ⋮ → "
            "Copy member ID) or user-group id (S…)" + _upper_hint(member, _SLACK_MEMBER)
        )
    return SlackModeratorId(team, member)


def _upper_hint(text: str, pattern: re.Pattern[str]) -> str:
    return " (Slack ids are upper case)" if text != text.upper() and pattern.fullmatch(text.upper()) else ""


def slack_moderator_ids(moderator_ids: Iterable[str | SlackModeratorId]) -> tuple[SlackModeratorId, ...]:
    """The configured entries, split into workspace and id. Lenient (the settings validated what the
    operator typed with :func:`parse_slack_moderator_id`): a gate must answer, not raise."""
    entries = []
    for item in moderator_ids:
        if isinstance(item, SlackModeratorId):
            entries.append(item)
        elif text := str(item).strip():
            team, _, member = text.rpartition(":")
            entries.append(SlackModeratorId(team.strip(), member.strip()))
    return tuple(entries)


@dataclass(frozen=True, slots=True)
class ModeratorFacts:
    """What the platform told us about the caller. Ids are strings on every platform."""

    platform: str  # discord | slack | console
    user_id: str
    #: Discord: Manage Server or Administrator in this guild. Slack: always False.
    is_admin_by_platform: bool = False
    #: Discord role ids the member has.
    role_ids: tuple[str, ...] = ()
    #: Slack user-group ids the user belongs to (only the configured ones need be resolved).
    group_ids: tuple[str, ...] = ()
    #: Slack: the workspace (team id) the command came from; scoped moderator ids apply only there.
    team_id: str = ""


def is_moderator(
    facts: ModeratorFacts,
    *,
    moderator_role_ids: Iterable[int | str] = (),
    moderator_ids: Iterable[str | SlackModeratorId] = (),
) -> bool:
    """Whether the caller may run moderator commands (rules in the module docstring)."""
    if facts.is_admin_by_platform:
        return True
    roles = {str(role).strip() for role in moderator_role_ids}
    if roles.intersection(facts.role_ids):
        return True
    ids = {entry.id for entry in slack_moderator_ids(moderator_ids) if entry.applies_in(facts.team_id)}
    return facts.user_id in ids or bool(ids.intersection(facts.group_ids))


def slack_group_ids(moderator_ids: Iterable[str | SlackModeratorId], *, team_id: str | None = None) -> tuple[str, ...]:
    """The configured user-groups (that apply in workspace ``team_id``; None: in any): only these need a
    ``usergroups.users.list`` lookup."""
    return tuple(
        dict.fromkeys(
            entry.id
            for entry in slack_moderator_ids(moderator_ids)
            if entry.is_group and (team_id is None or entry.applies_in(team_id))
        )
    )


def denial_text(
    platform: str,
    *,
    action: str = "post polls",
    moderator_role_ids: Iterable[int | str] = (),
    moderator_ids: Iterable[str | SlackModeratorId] = (),
    team_id: str | None = None,
) -> str:
    """Why a non-moderator was refused, and what would let them in. Names no role or user (the text is
    shown to the caller only, but a role name in it would still be a ping waiting to happen).
    ``team_id``: the Slack workspace asked in, to say when moderators are configured only elsewhere."""
    head = f"Only moderators can {action}"
    if platform == "discord":
        if tuple(moderator_role_ids):
            return f"{head}: you need the Manage Server permission or one of the moderator roles."
        return f"{head}: you need the Manage Server permission (no moderator roles are configured)."
    if platform == "slack":
        entries = slack_moderator_ids(moderator_ids)
        if not entries:
            return (
                f"{head}, and none are configured yet: the bot's operator lists moderators "
                f"(user ids or user-group ids) in {SLACK_SETTING}."
            )
        if team_id is not None and not any(entry.applies_in(team_id) for entry in entries):
            return (
                f"{head}, and none are configured for this workspace yet: the bot's operator lists them in "
                f"{SLACK_SETTING} as {team_id}:USER_ID or {team_id}:USERGROUP_ID."
            )
        return (
            f"{head}: the bot's operator lists moderators (user ids or user-group ids) in {SLACK_SETTING}, "
            "and you are not on that list."
        )
    return f"{head}."
