"""Legitimacy checks of docs/method.md §8: the fair-position question after each digest, and the follow-up survey.

Fair position. After a community's scheduled digest is posted (``digest_posting``), every member whose
value is in the graph — the current canonical value of their newest confirmed card that has a kept edge
in some context — gets a DM showing their value between one neighbour voted less wise and one voted
wiser (``core.legitimacy.fair_position_view``) and the question "Do you think your value ended up in
a fair position?" with Yes / No / "Don't ask me again". One ``fair_position_ask`` row per member and
digest period is claimed *before* the DM is sent, so no member is asked twice for one digest; a DM that
fails (DMs closed) gives the claim back and the others are still asked. An answer is recorded on the
row of the question pressed, so a late answer counts for its own period; a repeated press changes
nothing.

Survey. Offered once per member, to members with a confirmed card and at least one vote of their own
(``vote.member_id``) who were not offered it yet. Two triggers, both in the one scheduler process: a
posted digest (``after_digest``), and polls closing (``after_polls_closed``, from the poll-closing tick),
so communities without a digest schedule are offered it too. "Once" is the ``survey_offer`` row, keyed
by the member alone and claimed (insert, nothing on conflict) *before* the DM is sent: two triggers
running at the same time, or one running twice, offer it once; a DM that fails gives the claim back.
Questions come one at a time with 1–5, "Skip" and "Stop the survey"; one ``survey_answer`` row per
(member, question), a skip stored with no score.

Who is never asked: members who erased their data (``forgotten_at``), who pressed "Don't ask me again"
(``legitimacy_opt_out``: no more fair-position questions nor a survey offer), and members a moderator
blocked (``member_facts.blocked_at``: they were taken out of the process, their votes left out).
Members whose votes an eligibility rule leaves out (too new an account, no required role) are still
asked: their card is still in the graph, so whether their value ended up in a fair position, and what
they thought of the process, are theirs to answer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.graph.build import load_community_graph_input, resolve_values
from core.graph import GraphParams, build_moral_graph
from core.legitimacy import (
    ALREADY_ANSWERED_TEXT,
    FAIR_THANKS,
    OPTED_OUT_TEXT,
    SKIP,
    STOP,
    SURVEY_DONE_TEXT,
    SURVEY_QUESTIONS,
    SURVEY_STOPPED_TEXT,
    Button,
    FairKey,
    FairPositionView,
    SurveyKey,
    fair_position_buttons,
    fair_position_text,
    fair_position_view,
    parse_key,
    survey_buttons,
    survey_question_text,
)
from storage import legitimacy_repo as repo
from storage import values_repo
from storage.database import Database
from storage.models import Community, FairPositionAsk, Member, SurveyOffer

log = logging.getLogger("mge.legitimacy")


class DirectMessenger(Protocol):
    """A platform's way to DM a member a plain text (the adapter escapes it) with buttons under it. Raises
    :class:`DmRefused` when the platform will not deliver it to that member; anything else may pass."""

    async def send(self, *, platform_user_id: str, text: str, buttons: list[Button]) -> None: ...


class DmRefused(Exception):
    """The platform refuses DMs to this member (DMs closed, account deactivated or gone): asking again
    later will not reach them, unlike a timeout or a server error."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send back in the member's DM after a press: plain text (escaped by the adapter)."""

    text: str
    buttons: list[Button] = field(default_factory=list)


async def _member_values(session, *, community_id: int) -> list[tuple[int, str, int]]:
    """(member id, platform user id, value id the card counts for), newest confirmed card first."""
    rows = await repo.card_values_of_members(session, community_id=community_id)
    resolved = resolve_values(await values_repo.all_values_of(session, community_id=community_id))
    return [(m, user, resolved[v]) for m, user, v in rows if v in resolved]


async def ask_fair_position(
    database: Database,
    messenger: DirectMessenger,
    *,
    community_id: int,
    now: datetime,
    period: str | None = None,
    params: GraphParams = GraphParams(),
) -> int:
    """DM every member whose value is in the graph (not opted out, not yet asked for ``period``) the
    fair-position question. Returns how many were asked. ``period`` defaults to ``now``'s ISO week."""
    if period is None:
        year, week, _ = now.isocalendar()
        period = f"{year}-W{week:02d}"
    data = await load_community_graph_input(database, community_id=community_id)
    graph = build_moral_graph(data.values, data.votes, params)
    async with database.session() as session:
        opted_out = await repo.opted_out_members(session, community_id=community_id)
        # Blocked members were taken out of the process by a moderator: not asked. Members whose votes an
        # eligibility rule leaves out are asked: they still authored the value, which is still in the graph.
        blocked = await repo.blocked_members(session, community_id=community_id)
        candidates = await _member_values(session, community_id=community_id)
    chosen: dict[int, tuple[str, FairPositionView]] = {}
    for member_id, user_id, value_id in candidates:
        if member_id in chosen or member_id in opted_out or member_id in blocked:
            continue
        view = fair_position_view(graph, str(value_id))
        if view is not None:
            chosen[member_id] = (user_id, view)
    asked = 0
    for member_id, (user_id, view) in chosen.items():
        async with database.session() as session:
            ask = await repo.claim_fair_position_ask(
                session,
                community_id=community_id,
                member_id=member_id,
                period=period,
                value_id=int(view.value_id),
                context=view.context[:120],
                less_wise_value_id=int(view.less_wise.value_id) if view.less_wise else None,
                wiser_value_id=int(view.wiser.value_id) if view.wiser else None,
                now=now,
            )
            await session.commit()
            if ask is None:
                continue  # asked for this period already
            ask_id = ask.id
        assert ask_id is not None
        if await _send_or_give_back(
            database,
            messenger,
            user_id=user_id,
            text=fair_position_text(view),
            buttons=fair_position_buttons(ask_id),
            give_back=functools.partial(repo.delete_fair_position_ask, ask_id=ask_id),
            what=f"ask member {member_id} about their value's position",
        ):
            asked += 1
    return asked


async def _send_or_give_back(
    database: Database,
    messenger: DirectMessenger,
    *,
    user_id: str,
    text: str,
    buttons: list[Button],
    give_back: Callable[[AsyncSession], Awaitable[None]],
    what: str,
) -> bool:
    """Send a claimed DM; when it fails (DMs closed, user gone) delete the claim (``give_back``), so the
    member can be asked another time, and go on with the others. True when it was sent."""
    try:
        await messenger.send(platform_user_id=user_id, text=text, buttons=buttons)
    except Exception as error:
        log.warning("could not %s: %r", what, error)
        async with database.session() as session:
            await give_back(session)
            await session.commit()
        return False
    return True


async def offer_surveys(database: Database, messenger: DirectMessenger, *, community_id: int, now: datetime) -> int:
    """Send the survey's first question to members with a confirmed card and a vote of their own who were
    never offered it (and did not opt out, and are not blocked). Returns how many were offered it."""
    async with database.session() as session:
        rows = await repo.members_to_offer_survey(session, community_id=community_id)
    count = 0
    for member_id, user_id in rows:
        async with database.session() as session:
            claimed = await repo.claim_survey_offer(session, member_id=member_id, community_id=community_id, now=now)
            await session.commit()
        if not claimed:
            continue
        if await _send_or_give_back(
            database,
            messenger,
            user_id=user_id,
            text=survey_question_text(1, intro=True),
            buttons=survey_buttons(member_id, 1),
            give_back=functools.partial(repo.delete_survey_offer, member_id=member_id),
            what=f"offer the survey to member {member_id}",
        ):
            count += 1
    return count


async def after_digest(
    database: Database,
    messenger: DirectMessenger,
    *,
    community_id: int,
    period: str,
    now: datetime,
    params: GraphParams = GraphParams(),
) -> tuple[int, int]:
    """What follows a posted digest: the fair-position question, then survey offers. Never raises."""
    asked = offered = 0
    try:
        asked = await ask_fair_position(
            database, messenger, community_id=community_id, now=now, period=period, params=params
        )
    except Exception:
        log.exception("fair-position questions of community %s failed", community_id)
    try:
        offered = await offer_surveys(database, messenger, community_id=community_id, now=now)
    except Exception:
        log.exception("survey offers of community %s failed", community_id)
    return asked, offered


async def after_polls_closed(
    database: Database,
    messengers: Mapping[str, DirectMessenger],
    *,
    poll_ids: Iterable[int],
    now: datetime,
) -> dict[int, int]:
    """What follows closing polls: survey offers in each community a closed poll belongs to (on a platform
    this process can DM on). Community id → how many were offered it. Never raises."""
    ids = list(poll_ids)
    if not ids or not messengers:
        return {}
    try:
        async with database.session() as session:
            rows = await repo.communities_of_polls(session, poll_ids=ids)
    except Exception:
        log.exception("could not find the communities of closed polls %s", ids)
        return {}
    offered: dict[int, int] = {}
    for community_id, platform in sorted(rows):
        messenger = messengers.get(platform)
        if messenger is None or community_id is None:
            continue
        try:
            offered[community_id] = await offer_surveys(database, messenger, community_id=community_id, now=now)
        except Exception:
            log.exception("survey offers of community %s failed", community_id)
    return offered


# --- presses -------------------------------------------------------------------------------------------


async def _member_matches(session, member_id: int, *, platform: str, platform_user_id: str) -> Member | None:
    member = await session.get(Member, member_id)
    if member is None or member.platform_user_id != platform_user_id or member.forgotten_at is not None:
        return None
    community = await session.get(Community, member.community_id)
    return member if community is not None and community.platform == platform else None


async def record_answer(
    database: Database, *, key: str, platform: str, platform_user_id: str, now: datetime
) -> list[Outgoing]:
    """A press on a fair-position or survey button by ``platform_user_id``: stored once (a repeated press
    changes nothing). Returns what to send back (nothing for a press that is not the member's own, malformed,
    or a repeat on the survey)."""
    parsed = parse_key(key)
    if isinstance(parsed, FairKey):
        return await _fair_press(database, parsed, platform=platform, platform_user_id=platform_user_id, now=now)
    if isinstance(parsed, SurveyKey):
        return await _survey_press(database, parsed, platform=platform, platform_user_id=platform_user_id, now=now)
    return []


async def _fair_press(
    database: Database, key: FairKey, *, platform: str, platform_user_id: str, now: datetime
) -> list[Outgoing]:
    async with database.session() as session:
        ask = await session.get(FairPositionAsk, key.ask_id)
        if ask is None:
            return []
        member = await _member_matches(session, ask.member_id, platform=platform, platform_user_id=platform_user_id)
        if member is None:
            return []
        if key.action == STOP:
            await repo.opt_out(session, member_id=member.id, community_id=member.community_id, now=now)
            await session.commit()
            return [Outgoing(OPTED_OUT_TEXT)]
        if ask.answer is not None:
            return [Outgoing(ALREADY_ANSWERED_TEXT)]
        updated = await repo.answer_fair_position(session, ask_id=ask.id, answer=key.action, now=now)
        await session.commit()
        if not updated:
            return [Outgoing(ALREADY_ANSWERED_TEXT)]
    return [Outgoing(FAIR_THANKS[key.action])]


async def _survey_press(
    database: Database, key: SurveyKey, *, platform: str, platform_user_id: str, now: datetime
) -> list[Outgoing]:
    last = len(SURVEY_QUESTIONS)
    async with database.session() as session:
        member = await _member_matches(session, key.member_id, platform=platform, platform_user_id=platform_user_id)
        if member is None:
            return []
        offer = await session.get(SurveyOffer, member.id)
        if offer is None or offer.ended_at is not None:
            return []
        if key.action == STOP:
            offer.ended_at = now
            session.add(offer)
            await session.commit()
            return [Outgoing(SURVEY_STOPPED_TEXT)]
        score = None if key.action == SKIP else int(key.action)
        inserted = await repo.add_survey_answer(
            session, community_id=member.community_id, member_id=member.id, question=key.question, score=score, now=now
        )
        if not inserted:
            await session.rollback()
            return []  # a repeated press: the next question was sent already
        if key.question >= last:
            offer.ended_at = now
            session.add(offer)
        await session.commit()
    if key.question >= last:
        return [Outgoing(SURVEY_DONE_TEXT)]
    return [Outgoing(survey_question_text(key.question + 1), survey_buttons(key.member_id, key.question + 1))]


# --- stats ---------------------------------------------------------------------------------------------


SURVEY_SHORT = ("clarified", "expressed", "will find its place", "would trust", "learned", "gained respect")


async def stats_lines(database: Database, *, community_id: int) -> list[str]:
    """Lines for the moderators' stats: fair-position answers and survey means."""
    async with database.session() as session:
        answers = await repo.fair_position_answer_counts(session, community_id=community_id)
        offered = await repo.count_survey_offers(session, community_id=community_id)
        per_question = await repo.survey_scores(session, community_id=community_id)
    yes, no, open_ = answers.get("yes", 0), answers.get("no", 0), answers.get("", 0)
    asked = sum(answers.values())
    share = f"{yes / asked:.0%}" if asked else "—"
    lines = [f"Fair position: {yes} of {asked} asked said yes ({share}), {no} no, {open_} not answered."]
    parts = []
    for number in range(1, len(SURVEY_QUESTIONS) + 1):
        count, mean = per_question.get(number, (0, None))
        shown = f"{float(mean):.1f}" if count and mean is not None else "—"
        parts.append(f"Q{number} {SURVEY_SHORT[number - 1]}: {count} answered, mean {shown}")
    lines.append(f"Survey (1–5; offered to {offered}): " + "; ".join(parts) + ".")
    return lines
