"""Value checks (docs/method.md §4): after dedup moves a member's card into another value, or replaces the
text their value shows, the member is asked by DM, outside any interview, whether the value still
represents them — "Yes" or "No, keep mine separate" (which splits their card back out, as a member's "no"
in the interview does). The paper asked its participants the same: 33 of 43 said it was the same value.

The changes write ``value_check`` rows (one per card and change); the maintenance job sends the unsent ones
through the platforms' ``DirectMessenger`` (as the legitimacy questions), claiming each before sending and
giving the claim back when the DM fails for a passing reason, so each change is asked once; a DM the
platform refuses (closed DMs, a deactivated account) is stored as undelivered and not tried again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime

from bot.interview.member_texts import member_texts
from bot.legitimacy.checks import DirectMessenger, DmRefused, Outgoing
from bot.values.corrections import record_member_verdict
from core.cards import ValuesCard
from core.value_checks import SAME, SEPARATE, UNDELIVERED, check_buttons, check_text, parse_key, thanks_text
from storage import dedup_repo
from storage import values_repo as repo
from storage.database import Database
from storage.models import Community

log = logging.getLogger("mge.values")


async def send_value_checks(
    database: Database, messengers: Mapping[str, DirectMessenger], *, community_id: int, now: datetime
) -> int:
    """DM every member with an unsent value check of the community (on its platform). Returns how many were sent."""
    async with database.session() as session:
        community = await session.get(Community, community_id)
        messenger = messengers.get(community.platform) if community is not None else None
        if messenger is None:
            return 0
        pending = await dedup_repo.unsent_value_checks(session, community_id=community_id)
    sent = 0
    for check, user_id in pending:
        async with database.session() as session:
            value = await repo.get_value(session, value_id=check.value_id)
            claimed = value is not None and await dedup_repo.claim_value_check(session, check_id=check.id, now=now)
            await session.commit()
            texts = await member_texts(session, member_id=check.member_id)
        if not claimed or value is None:
            continue
        shown = ValuesCard.model_construct(
            title=value.title, description=value.description, policies=list(value.policies)
        )
        try:
            await messenger.send(
                platform_user_id=user_id,
                text=check_text(shown, moved=check.change.startswith("moved:"), texts=texts),
                buttons=check_buttons(check.id, texts),
            )
        except DmRefused as error:
            # Asking again would fail again, every run: the check stays claimed and is counted as not sent.
            log.info("member %s cannot be DMed about value %s: %s", check.member_id, check.value_id, error)
            async with database.session() as session:
                await dedup_repo.answer_value_check(session, check_id=check.id, answer=UNDELIVERED, now=now)
                await session.commit()
            continue
        except Exception as error:
            log.warning("could not ask member %s about value %s: %r", check.member_id, check.value_id, error)
            async with database.session() as session:
                await dedup_repo.release_value_check(session, check_id=check.id)
                await session.commit()
            continue
        sent += 1
    return sent


async def record_check_answer(
    database: Database, *, key: str, platform: str, platform_user_id: str, now: datetime
) -> list[Outgoing]:
    """A press on a value check's button by ``platform_user_id``: stored once; "keep mine separate" splits
    the card out of its value. Nothing for a press that is not the member's own or malformed."""
    parsed = parse_key(key)
    if parsed is None:
        return []
    async with database.session() as session:
        found = await dedup_repo.value_check_member(session, check_id=parsed.check_id)
        if found is None:
            return []
        check, member, community = found
        if member.platform_user_id != platform_user_id or community.platform != platform or member.forgotten_at:
            return []
        first = await dedup_repo.answer_value_check(session, check_id=check.id, answer=parsed.answer, now=now)
        await session.commit()
        texts = await member_texts(session, member_id=member.id)
        card_id = check.card_id
        current = await repo.current_assignment(session, card_id=card_id)
    if not first:
        return [Outgoing(texts.later_check_already_answered)]
    if current is None or current.canonical_value_id != check.value_id:
        # The card moved on since (an undo, a later merge): the answer is about a value it is no longer in.
        return [Outgoing(texts.later_check_moved_since)]
    # LookupError: the card is in no value any more; the answer is stored, there is nothing to split.
    with contextlib.suppress(LookupError):
        await record_member_verdict(database, card_id=card_id, agrees=parsed.answer == SAME, now=now)
    return [Outgoing(thanks_text(parsed.answer, texts))]


async def stats_lines(database: Database, *, community_id: int) -> list[str]:
    """The verification rate for the moderators' stats (the paper's "33 of 43 said same")."""
    async with database.session() as session:
        counts = await dedup_repo.value_check_counts(session, community_id=community_id)
    same, answered = counts.get(SAME, 0), counts.get(SAME, 0) + counts.get(SEPARATE, 0)
    undelivered = counts.get(UNDELIVERED, 0)
    share = f"{same / answered:.0%}" if answered else "—"
    line = (
        f"Value checks after merges: {same} of {answered} who answered said it is still their value ({share}); "
        f"{sum(counts.values()) - undelivered} asked, {counts.get('', 0)} not answered yet."
    )
    return [line + (f" {undelivered} could not be sent (DMs closed)." if undelivered else "")]
