"""A member's own data, platform-neutral: `/mge mydata` (everything stored about them, as a file) and
`/mge forget` (what would be erased, then the erasure once they confirm). Both are about one community.

How the file reaches the member and how they confirm is the platform's: Discord attaches the file to an
ephemeral reply and confirms with buttons (``forget_button_key``, answered in ``bot.commands.buttons``);
Slack uploads the file to the DM and confirms with `/mge forget confirm`. What is read, previewed and
erased is decided here, once, by ``bot.privacy``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.privacy.confirmations import FORGET_CONFIRM_WINDOW, confirmation_is_fresh
from bot.privacy.erase import ForgetReport, forget_member
from bot.privacy.export import export_bytes, export_filename, export_member_data, export_summary, has_member_data
from core.messages import CommunityRef
from storage.communities_repo import community_id_of
from storage.database import Database

log = logging.getLogger("mge.members.data")

#: Keys of the confirmation buttons under `/mge forget`: ``forget:<community external id>:<unix time asked>``
#: and ``forget:cancel``. The key carries all a press needs, so the buttons survive a restart.
FORGET_KEY_PREFIX = "forget:"
FORGET_CANCEL_KEY = FORGET_KEY_PREFIX + "cancel"
FORGET_WINDOW_MINUTES = int(FORGET_CONFIRM_WINDOW.total_seconds() // 60)
FORGET_EXPIRED_TEXT = (
    "That confirmation has expired, so nothing was erased. Run `/mge forget` again if you still want to."
)
FORGET_KEPT_TEXT = "Nothing was erased."
NO_DATA_TEXT = "There is nothing stored about you in this community."


@dataclass(frozen=True, slots=True)
class MemberExport:
    """Everything stored about a member in one community, ready to hand over as a file."""

    payload: bytes
    filename: str
    #: One sentence on what is in it ("3 interviews, 2 values cards …").
    summary: str


async def member_export(database: Database, community: CommunityRef, platform_user_id: str) -> MemberExport | None:
    """The member's data as a JSON file; None when nothing is stored about them here."""
    community_id = await community_id_of(database, community)
    if community_id is None:
        return None
    data = await export_member_data(database, community_id=community_id, platform_user_id=platform_user_id)
    if not has_member_data(data):
        return None
    return MemberExport(export_bytes(data), export_filename(data), export_summary(data))


async def forget_preview(
    database: Database, community: CommunityRef, platform_user_id: str, *, now: datetime
) -> ForgetReport | None:
    """What confirming would erase (the erasure, rolled back); None when there is nothing to erase."""
    community_id = await community_id_of(database, community)
    if community_id is None:
        return None
    preview = await forget_member(
        database, community_id=community_id, platform_user_id=platform_user_id, now=now, dry_run=True
    )
    return preview if preview.erased_anything else None


async def forget(database: Database, community: CommunityRef, platform_user_id: str, *, now: datetime) -> ForgetReport:
    """Erase the member's data in ``community`` (after they confirmed); the report says what went."""
    community_id = await community_id_of(database, community)
    report = ForgetReport()
    if community_id is not None:
        report = await forget_member(database, community_id=community_id, platform_user_id=platform_user_id, now=now)
    log.info("member data erased in %s %s: %s", community.platform, community.external_id, report.as_dict())
    return report


def forget_button_key(community: CommunityRef, *, asked_at: datetime) -> str:
    """The key of the **Erase my data** button: the community and when the member asked."""
    return f"{FORGET_KEY_PREFIX}{community.external_id}:{int(asked_at.timestamp())}"


def forget_button_request(key: str, *, now: datetime) -> str | None:
    """The community external id a fresh **Erase my data** key is for; None for **Keep my data**, an
    expired confirmation, or a key that is not one (``forget_refusal_text`` says which)."""
    external_id, _, asked_text = key.removeprefix(FORGET_KEY_PREFIX).partition(":")
    if not (external_id.isalnum() and asked_text.isdigit()):
        return None
    return external_id if confirmation_is_fresh(datetime.fromtimestamp(int(asked_text), UTC), now) else None


def forget_refusal_text(key: str) -> str:
    """What a press that erases nothing is answered: kept on purpose, or expired (or malformed)."""
    return FORGET_KEPT_TEXT if key == FORGET_CANCEL_KEY else FORGET_EXPIRED_TEXT
