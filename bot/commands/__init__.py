"""Every moderator action, in the order help lists them (see ``base`` for how adapters run them)."""

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
