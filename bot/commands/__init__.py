"""What members and moderators can ask of the bot, platform-neutral; adapters parse, call and render.

- ``base`` and the action modules (deliberation, schedule, values, members, reports): every moderator
  action, in the order help lists them (``ACTIONS``), and how adapters run them
- ``member_commands``: the member commands (`/mge join` …), one table for both platforms and the help
- ``member_data``: a member's own data (`/mge mydata`, `/mge forget` and its confirmation)
- ``buttons``: the one registry from a choice button's key to what a press does
- ``permissions``: who is a moderator
"""

from bot.commands import deliberation, members, reports, schedule, values
from bot.commands.base import (
    ActionError,
    ActionReply,
    ModeratorAction,
    ModeratorCall,
    ModeratorServices,
    Param,
    run_action,
    split_words,
)

ACTIONS: tuple[ModeratorAction, ...] = (
    *deliberation.ACTIONS, *schedule.ACTIONS, *values.ACTIONS, *members.ACTIONS, *reports.ACTIONS,
)


def groups() -> dict[str, list[ModeratorAction]]:
    """Actions by their first word, in order."""
    grouped: dict[str, list[ModeratorAction]] = {}
    for action in ACTIONS:
        grouped.setdefault(action.group, []).append(action)
    return grouped


def find_action(group: str, name: str = "") -> ModeratorAction | None:
    return next((a for a in ACTIONS if a.group == group and a.name == name), None)


__all__ = ["ACTIONS", "ActionError", "ActionReply", "ModeratorAction", "ModeratorCall", "ModeratorServices", "Param",
           "find_action", "groups", "run_action", "split_words"]
