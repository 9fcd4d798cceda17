"""Who may run moderator commands: one gate every moderator command uses, on every platform.

Adapters gather the facts about the caller from their platform (``ModeratorFacts``) — Discord's
resolved permissions and role ids from the interaction, Slack's user id and the configured user-groups
the user belongs to — and this module decides. A member is a moderator when:

- the platform says they administer the community (Discord: Manage Server or Administrator), or
- one of their roles is a configured moderator role (Discord), or
- their user id, or a user-group they belong to, is a configured moderator id (Slack has no permission
  model for slash commands: everyone who can see ``/mge`` can run it, so the operator's list decides).

Every denial explains why, so a member who expected to be a moderator knows what to ask for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Configured ids beginning with this are Slack user-groups (``S…``), not users (``U…``/``W…``).
SLACK_GROUP_PREFIX = "S"
SLACK_SETTING = "MGE_SLACK_MODERATOR_IDS"
DISCORD_SETTING = "MGE_DISCORD_MODERATOR_ROLE_IDS"


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


def is_moderator(
    facts: ModeratorFacts,
    *,
    moderator_role_ids: Iterable[int | str] = (),
    moderator_ids: Iterable[str] = (),
) -> bool:
    """Whether the caller may run moderator commands (rules in the module docstring)."""
    if facts.is_admin_by_platform:
        return True
    roles = {str(role).strip() for role in moderator_role_ids}
    if roles.intersection(facts.role_ids):
        return True
    ids = {str(item).strip() for item in moderator_ids}
    return facts.user_id in ids or bool(ids.intersection(facts.group_ids))


def slack_group_ids(moderator_ids: Iterable[str]) -> tuple[str, ...]:
    """The configured ids that are user-groups: only these need a ``usergroups.users.list`` lookup."""
    return tuple(item for item in (str(i).strip() for i in moderator_ids) if item.startswith(SLACK_GROUP_PREFIX))


def denial_text(
    platform: str,
    *,
    action: str = "post polls",
    moderator_role_ids: Iterable[int | str] = (),
    moderator_ids: Iterable[str] = (),
) -> str:
    """Why a non-moderator was refused, and what would let them in. Names no role or user (the text is
    shown to the caller only, but a role name in it would still be a ping waiting to happen)."""
    head = f"Only moderators can {action}"
    if platform == "discord":
        if tuple(moderator_role_ids):
            return f"{head}: you need the Manage Server permission or one of the moderator roles."
        return f"{head}: you need the Manage Server permission (no moderator roles are configured)."
    if platform == "slack":
        if not tuple(moderator_ids):
            return (
                f"{head}, and none are configured yet: the bot's operator lists moderators "
                f"(user ids or user-group ids) in {SLACK_SETTING}."
            )
        return (
            f"{head}: the bot's operator lists moderators (user ids or user-group ids) in {SLACK_SETTING}, "
            "and you are not on that list."
        )
    return f"{head}."
