"""Generalization picks (docs/method.md §2): after a member confirms a card, which of the community's other
values would they call wise to consider for their scenario?

The offer. When an interview ends with a confirmed card (``InterviewService`` calls
:meth:`GeneralizationOffers.offer`), up to three visible canonical values with a card from the member's
scenario and up to three with cards only from other scenarios are chosen at random (a seeded RNG can
be injected; a short group leaves its places to the other, six at most), never a value the member's
own cards are in, never a hidden, merged or empty one. The offer row and one impression row per value
shown (with whether it belongs to the member's scenario) are committed *before* the message is
returned for sending, so what was shown is known even if sending fails. One offer per interview; no
visible values, no offer.

The presses. Buttons carry ``general:<offer id>:<value id>`` or ``general:<offer id>:done`` (stateless:
they work after a restart, on Discord, Slack and in the console). A pick sets the impression's
``picked_at`` once (a second press changes nothing); "None of these" / "Done" closes the offer. A press
is refused, with a message saying why, when the offer is another member's, belongs to another
community (another platform, or another Slack workspace or console community), is closed, or names a
value that was not offered.

Stats: offers, values shown, picks, and the pick rate for values from the member's own scenario vs from
other scenarios, beside the paper's 38.2% vs 38.3%.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.interview.member_texts import stored_or_written
from core.answers import fold_label
from core.cards import ValueStatus
from core.generalization import (
    PAPER_RATES,
    Candidate,
    Shown,
    choose,
    offer_choices,
    parse_key,
    question_text,
)
from core.interview import match_choice
from core.member_texts import InterviewTexts, english
from core.messages import ChoicePrompt, CommunityRef
from core.text import counted
from storage import generalization_repo as repo
from storage import values_repo
from storage.database import Database
from storage.models import CanonicalValue, Community, GeneralizationOffer, Interview, Member, Scenario

log = logging.getLogger("mge.generalization")

# What a refused press is told before the offer (and so its language) is known.
INVALID_TEXT = english().offer_invalid
OTHER_COMMUNITY_TEXT = english().offer_other_community


class PressStatus(enum.StrEnum):
    PICKED = "picked"
    ALREADY_PICKED = "already_picked"
    DONE = "done"
    CLOSED = "closed"
    REFUSED = "refused"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class PressResult:
    """What a press did, and the plain text (escaped by the adapter) to tell the member."""

    status: PressStatus
    text: str
    #: The picked value's title, for a pick (adapters show it on the pressed message).
    title: str | None = None

    @property
    def closes_offer(self) -> bool:
        """True when no further press on this offer will be recorded."""
        return self.status in (PressStatus.DONE, PressStatus.CLOSED)


class GeneralizationOffers:
    """Makes the offer after a confirmed card (``InterviewService``'s optional ``generalizer``) and
    reads typed answers to it (``typed``, for DMs and the console alike); button presses on Discord and
    Slack go to :func:`record_press`."""

    def __init__(self, database: Database, *, rng: random.Random | None = None) -> None:
        self._db = database
        self._rng = rng or random.Random()

    async def offer(
        self,
        *,
        community_id: int,
        member_id: int,
        interview_id: int,
        scenario_id: int | None,
        now: datetime,
        texts: InterviewTexts | None = None,
    ) -> ChoicePrompt | None:
        """Choose and record the values to show; the question to send (in the interview's ``texts``), or
        None when there is nothing to offer (no other visible values) or this interview had its offer
        already."""
        texts = texts or english()
        async with self._db.session() as session:
            candidates = await candidates_for(
                session, community_id=community_id, member_id=member_id, scenario_id=scenario_id
            )
            shown = choose(candidates, self._rng)
            if not shown:
                return None
            offer_id = await repo.add_offer(
                session,
                community_id=community_id,
                member_id=member_id,
                interview_id=interview_id,
                scenario_id=scenario_id,
                now=now,
            )
            if offer_id is None:
                await session.rollback()
                return None
            for item in shown:
                repo.add_impression(
                    session,
                    community_id=community_id,
                    offer_id=offer_id,
                    value_id=item.candidate.value_id,
                    own_scenario=item.candidate.own_scenario,
                    position=item.position,
                )
            scenario = await session.get(Scenario, scenario_id) if scenario_id is not None else None
            text = question_text(
                scenario.text if scenario is not None and scenario.community_id == community_id else None, texts
            )
            await session.commit()  # offer and impressions are stored before anything is sent
        return ChoicePrompt(text, offer_choices(offer_id, shown, texts))

    async def press(self, *, key: str, community: CommunityRef, platform_user_id: str, now: datetime) -> PressResult:
        return await record_press(
            self._db,
            key=key,
            platform=community.platform,
            platform_user_id=platform_user_id,
            community_external_id=community.external_id,
            now=now,
        )

    async def typed(
        self,
        *,
        community: CommunityRef,
        community_id: int,
        member_id: int,
        platform_user_id: str,
        text: str,
        now: datetime,
    ) -> PressResult | None:
        """A DM typed while the member's latest offer is open, read as a press when it names one of its
        options (its number, a value's title, or "done"/"none"); None for anything else, which is a
        message for the interview (every option offered with buttons can be typed instead)."""
        async with self._db.session() as session:
            offer = await repo.latest_open_offer(session, community_id=community_id, member_id=member_id)
            if offer is None:
                return None
            rows = await repo.impressions_with_values(session, offer_id=offer.id)
            texts = await _offer_texts(session, offer)
        # The options as they were shown (same labels, same order, "None of these" last).
        choices = offer_choices(
            offer.id,
            [
                Shown(Candidate(i.value_id, title, description, i.own_scenario), i.position)
                for i, title, description in rows
            ],
            texts,
        )
        choice = match_choice(text, choices)
        finishing = ("done", "none", texts.choices.done, texts.choices.none)
        if choice is None and fold_label(text) in {fold_label(word) for word in finishing}:
            choice = choices[-1]
        if choice is None:
            return None
        return await self.press(key=choice.key, community=community, platform_user_id=platform_user_id, now=now)


async def candidates_for(
    session: AsyncSession, *, community_id: int, member_id: int, scenario_id: int | None
) -> list[Candidate]:
    """The community's active values that none of the member's confirmed cards is in, each marked with
    whether a card of ``scenario_id`` is in it. Values with no current confirmed card are left out."""
    from bot.graph.build import resolve_values

    values = await values_repo.all_values_of(session, community_id=community_id)
    resolved = resolve_values(values)
    links = await repo.confirmed_card_links(session, community_id=community_id)
    own: set[int] = set()
    scenarios: dict[int, set[int | None]] = {}
    for value_id, card_scenario, author in links:
        current = resolved.get(value_id)
        if current is None:
            continue
        if author == member_id:
            own.add(current)
        scenarios.setdefault(current, set()).add(card_scenario)
    by_id = {v.id: v for v in values}
    found = []
    for value_id, linked in sorted(scenarios.items()):
        value = by_id[value_id]
        if value_id in own or value.status != ValueStatus.ACTIVE:
            continue
        found.append(
            Candidate(
                value_id, value.title, value.description, own_scenario=scenario_id is not None and scenario_id in linked
            )
        )
    return found


async def record_press(
    database: Database,
    *,
    key: str,
    platform: str,
    platform_user_id: str,
    now: datetime,
    community_external_id: str | None = None,
) -> PressResult:
    """A press on a generalization button by ``platform_user_id`` on ``platform``. Pass
    ``community_external_id`` where the platform says which community the press comes from (a Slack
    workspace, a console community); Discord DMs carry no guild, so there the offer's own community is
    checked against the platform and the member's account."""
    parsed = parse_key(key)
    if parsed is None:
        return PressResult(PressStatus.INVALID, INVALID_TEXT)
    async with database.session() as session:
        offer = await session.get(GeneralizationOffer, parsed.offer_id)
        if offer is None:
            return PressResult(PressStatus.INVALID, INVALID_TEXT)
        community = await session.get(Community, offer.community_id)
        if (
            community is None
            or community.platform != platform
            or (community_external_id is not None and community.external_id != community_external_id)
        ):
            return PressResult(PressStatus.REFUSED, OTHER_COMMUNITY_TEXT)
        member = await session.get(Member, offer.member_id) if offer.member_id is not None else None
        if (
            member is None
            or member.forgotten_at is not None
            or member.community_id != offer.community_id
            or member.platform_user_id != platform_user_id
        ):
            # Said in the offer's language: the member pressing is not the one it was for, but the
            # message they pressed is in it.
            return PressResult(PressStatus.REFUSED, (await _offer_texts(session, offer)).offer_not_yours)
        texts = await _offer_texts(session, offer)
        if parsed.value_id is None:  # "done": the member has finished picking
            await repo.close_offer(session, offer_id=offer.id, now=now)
            picked = await repo.count_picked(session, offer_id=offer.id)
            await session.commit()
            if picked == 1:
                return PressResult(PressStatus.DONE, texts.offer_finished_one)
            if picked:
                return PressResult(PressStatus.DONE, texts.offer_finished.format(count=picked))
            return PressResult(PressStatus.DONE, texts.offer_none_fit)
        if offer.closed_at is not None:
            return PressResult(PressStatus.CLOSED, texts.offer_closed)
        impression = await repo.find_impression(
            session, offer_id=offer.id, community_id=offer.community_id, value_id=parsed.value_id
        )
        if impression is None:
            return PressResult(PressStatus.INVALID, INVALID_TEXT)
        value = await session.get(CanonicalValue, impression.value_id)
        title = " ".join(value.title.split()) if value is not None else "that value"
        updated = await repo.pick_impression(session, impression_id=impression.id, offer_id=offer.id, now=now)
        await session.commit()
    if not updated:
        return PressResult(PressStatus.ALREADY_PICKED, texts.offer_already_picked.format(title=title), title)
    picked_text = texts.offer_picked.format(title=title, done=texts.choices.done)
    return PressResult(PressStatus.PICKED, picked_text, title)


async def _offer_texts(session: AsyncSession, offer: GeneralizationOffer) -> InterviewTexts:
    """The texts of the interview the offer followed (its language is set when the card is confirmed)."""
    interview = await session.get(Interview, offer.interview_id)
    return await stored_or_written(session, interview.language if interview is not None else None)


# --- stats ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneralizationStats:
    offers: int
    closed: int
    own_shown: int
    own_picked: int
    other_shown: int
    other_picked: int

    @property
    def shown(self) -> int:
        return self.own_shown + self.other_shown

    @property
    def picked(self) -> int:
        return self.own_picked + self.other_picked


async def generalization_stats(database: Database, *, community_id: int) -> GeneralizationStats:
    async with database.session() as session:
        offers, closed = await repo.offer_counts(session, community_id=community_id)
        groups = await repo.impression_counts(session, community_id=community_id)
    own_shown, own_picked = groups.get(True, (0, 0))
    other_shown, other_picked = groups.get(False, (0, 0))
    return GeneralizationStats(offers, closed, own_shown, own_picked, other_shown, other_picked)


def _rate(picked: int, shown: int) -> str:
    return f"{picked}/{shown} ({picked / shown:.1%})" if shown else "0/0 (—)"


async def stats_lines(database: Database, *, community_id: int) -> list[str]:
    """The moderators' stats line: offers, impressions, picks, own-scenario vs other-scenario pick rates."""
    s = await generalization_stats(database, community_id=community_id)
    return [
        f"Generalization: {counted(s.offers, 'offer')} after confirmed cards ({s.closed} finished), "
        f"{s.shown} values shown, {s.picked} picked; own scenario {_rate(s.own_picked, s.own_shown)} picked, "
        f"other scenarios {_rate(s.other_picked, s.other_shown)}; {PAPER_RATES}."
    ]
