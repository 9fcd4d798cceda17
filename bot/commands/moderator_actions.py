"""The moderator actions table: every action, in the order help lists them. One declaration drives the
Discord command signatures, Slack's parsing and both helps (``base`` says how adapters run an action)."""

from bot.commands import deliberation, members, reports, schedule, stories, values
from bot.commands.base import ModeratorAction

ACTIONS: tuple[ModeratorAction, ...] = (
    *deliberation.ACTIONS,
    *schedule.ACTIONS,
    *values.ACTIONS,
    *members.ACTIONS,
    *reports.ACTIONS,
    *stories.ACTIONS,
)


def groups() -> dict[str, list[ModeratorAction]]:
    """Actions by their first word, in order."""
    grouped: dict[str, list[ModeratorAction]] = {}
    for action in ACTIONS:
        grouped.setdefault(action.group, []).append(action)
    return grouped


def find_action(group: str, name: str = "") -> ModeratorAction | None:
    return next((a for a in ACTIONS if a.group == group and a.name == name), None)
