"""Which of the bot's messages in a member's DM still has live buttons.

Slack keeps old messages and their buttons forever. A press on an old button (the consent "I agree"
after the interview has moved on, or a second click on the same card's "Confirm") must not be read
as an answer to whatever the interview asks *now*. So the adapter remembers, per member, the one
message whose buttons are current, and:

- a press on that message is accepted, and the message stops being current at once (before any
  ``await``, so two quick clicks cannot both pass);
- a press on any other message is ignored (its buttons are removed);
- when the bot posts something new, the previous message's buttons are removed.

This is process memory: after a restart nothing is known and a press is passed on, marked
``is_choice``, and the interview service refuses a key its current question does not offer. The two
checks differ in one case only: the same question asked again in a newer message; there only this
tracking tells the older message from the newer one. Run one process per workspace, as Socket Mode
does anyway.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

#: Members remembered at once; the oldest are forgotten first (their presses are then passed on).
MAX_MEMBERS = 10_000


@dataclass(frozen=True, slots=True)
class ButtonMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]


_NONE = None  # a member we know has no message with live buttons

MemberKey = tuple[str, str]  # (team id, user id)


class LiveButtons:
    def __init__(self, max_members: int = MAX_MEMBERS) -> None:
        self._current: OrderedDict[MemberKey, ButtonMessage | None] = OrderedDict()
        self._max = max_members

    def _set(self, key: MemberKey, value: ButtonMessage | None) -> None:
        self._current[key] = value
        self._current.move_to_end(key)
        while len(self._current) > self._max:
            self._current.popitem(last=False)

    def claim(self, key: MemberKey, ts: str) -> bool:
        """A press on message ``ts``: True if it may be handled (and the message is no longer current)."""
        if key not in self._current:
            return True  # unknown (e.g. after a restart): let the interview service judge the answer
        current = self._current[key]
        if current is None or current.ts != ts:
            return False
        self._set(key, _NONE)
        return True

    def replace(self, key: MemberKey, message: ButtonMessage | None) -> ButtonMessage | None:
        """Make ``message`` the current one (None: no live buttons); return the one it replaces, if any."""
        previous = self._current.get(key)
        self._set(key, message)
        return previous
