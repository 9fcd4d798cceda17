"""``/mge forget`` asks before it erases: the member's pending confirmations, each valid for
``FORGET_CONFIRM_WINDOW``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.messages import CommunityRef

#: How long a member has to confirm `/mge forget`.
FORGET_CONFIRM_WINDOW = timedelta(minutes=5)


def confirmation_is_fresh(asked_at: datetime, now: datetime, window: timedelta = FORGET_CONFIRM_WINDOW) -> bool:
    """True when a confirmation given at ``now`` answers a request made at ``asked_at``."""
    return timedelta(0) <= now - asked_at <= window


class ForgetConfirmations:
    """Who asked to be forgotten, and when, for platforms that confirm by a second command
    (`/mge forget confirm`). In memory: after a restart the member simply asks again."""

    def __init__(self, window: timedelta = FORGET_CONFIRM_WINDOW) -> None:
        self.window = window
        self._asked: dict[tuple[str, str, str], datetime] = {}

    def ask(self, community: CommunityRef, platform_user_id: str, now: datetime) -> None:
        self._forget_stale(now)
        self._asked[(community.platform, community.external_id, platform_user_id)] = now

    def confirm(self, community: CommunityRef, platform_user_id: str, now: datetime) -> bool:
        """True (once) when the member asked within the window."""
        asked = self._asked.pop((community.platform, community.external_id, platform_user_id), None)
        return asked is not None and confirmation_is_fresh(asked, now, self.window)

    def _forget_stale(self, now: datetime) -> None:
        for key, asked in list(self._asked.items()):
            if now - asked > self.window:
                del self._asked[key]
