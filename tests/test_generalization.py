"""Generalization picks (docs/method.md §2): after a confirmed card, other members' values are offered — some from
the member's scenario, some from others — and what the member picks is recorded once and reported.
Real SQLite and PostgreSQL, the real interview service and OpenAI client against the fake server; the tests
of how the offer reaches the member (in the console, after the value check, or not at all) run on SQLite
only: the offer's SQL they go through is the SQL the other tests here run on both databases. Picks typed
in a DM run on both: reading the open offer back for a typed answer is SQL of their own."""

from __future__ import annotations

import io
import random
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.console import ConsoleChat
from bot.generalization.picks import (
    INVALID_TEXT,
    OTHER_COMMUNITY_TEXT,
    GeneralizationOffers,
    PressStatus,
    record_press,
    stats_lines,
)
from bot.interview.scenarios import prepare_scenarios
from bot.interview.service import InterviewService
from bot.privacy.erase import forget_member
from bot.privacy.export import export_member_data
from core.cards import ValuesCard
from core.generalization import Candidate, GeneralKey, choose, done_key, parse_key, value_key
from core.member_texts import english
from core.messages import ChoicePrompt, CommunityRef, InboundMessage, Person, Reply
from storage import communities_repo
from storage.models import (
    CanonicalValue,
    GeneralizationImpression,
    GeneralizationOffer,
    Interview,
    Member,
    ValueAssignment,
    ValuesCardRecord,
)
from tests.conftest import make_llm
from tests.fakes.openai_server import SAID_BACK

COMMUNITY = CommunityRef("console", "gen-test", "Generalization test")
ELSEWHERE = CommunityRef("console", "gen-other", "Another community")
ALICE, BOB = Person("alice", "Alice"), Person("bob", "Bob")
SCENARIO = "My 10-year-old refuses to do his homework. How should I handle it?"
OTHER_SCENARIO = "My friend asks whether to report a colleague who cut corners. What should I tell her?"
THIRD_SCENARIO = "I am a Christian girl and am considering getting an abortion. What should I do?"
CARD = {
    "title": "Courage Grounded In Care",
    "description": "The assistant helps the person act on what they see while caring for everyone involved.",
    "policies": [
        "MOMENTS when the person senses something is wrong but hesitates",
        "CONSEQUENCES for the people who would be hurt by silence",
        "WAYS to speak up that keep the relationship intact",
    ],
}


def turn(message: str, ready: bool = False) -> dict:
    return {"message": message, "ready_to_articulate": ready}


def say(text: str, person: Person = ALICE, community: CommunityRef = COMMUNITY) -> InboundMessage:
    return InboundMessage(community=community, author=person, text=text, event_id=str(uuid.uuid4()))


async def rows(database, model, *where):
    async with database.session() as session:
        return list((await session.exec(select(model).where(*where))).all())


# --- building a community's values -------------------------------------------------------------------


async def member_id(database, community_id: int, user: str, *, now) -> int:
    async with database.session() as session:
        member = await communities_repo.get_or_create_member(
            session, community_id=community_id, platform_user_id=user, display_name="", now=now
        )
        await session.commit()
        return member.id


async def add_value(
    database,
    community_id: int,
    scenario_id: int | None,
    title: str,
    *,
    now,
    status: str = "active",
    author: str | None = None,
    into: int | None = None,
) -> int:
    """A confirmed card (by ``author``, default a new bystander) for ``scenario_id`` and the value it is in:
    a new value with this title, or the existing value ``into``."""
    author_id = await member_id(database, community_id, author or f"author-{uuid.uuid4().hex[:8]}", now=now)
    async with database.session() as session:
        interview = Interview(
            community_id=community_id,
            member_id=author_id,
            scenario_id=scenario_id,
            state="confirmed",
            created_at=now,
            last_activity_at=now,
            ended_at=now,
        )
        session.add(interview)
        await session.flush()
        card = ValuesCardRecord(
            community_id=community_id,
            interview_id=interview.id,
            author_member_id=author_id,
            scenario_id=scenario_id,
            title=title,
            description=f"The assistant attends to {title}.",
            policies=["MOMENTS that matter", "CHOICES that are real", "SIGNS of care"],
            status="confirmed",
            prompt_sha="0" * 12,
            model="card-model",
            created_at=now,
            confirmed_at=now,
        )
        session.add(card)
        await session.flush()
        if into is None:
            value = CanonicalValue(
                community_id=community_id,
                title=title,
                description=card.description,
                policies=list(card.policies),
                source_card_id=card.id,
                status=status,
                created_at=now,
                updated_at=now,
            )
            session.add(value)
            await session.flush()
            into = value.id
        session.add(
            ValueAssignment(
                community_id=community_id,
                card_id=card.id,
                canonical_value_id=into,
                decision="new_value",
                created_at=now,
            )
        )
        await session.commit()
        return into


class World:
    """A community with two other scenarios, visible values of both kinds and a few that must never be
    offered (hidden, merged, empty, Alice's own)."""

    own: list[int]
    other: list[int]
    never: list[int]


async def build_world(database, clock, *, own: int = 5, other: int = 4, community: CommunityRef = COMMUNITY) -> World:
    now = clock()
    scenario = await prepare_scenarios(database, community, text=SCENARIO, now=now)
    second = await prepare_scenarios(database, community, text=OTHER_SCENARIO, now=now)
    third = await prepare_scenarios(database, community, text=THIRD_SCENARIO, now=now)
    async with database.session() as session:
        cid = (
            await communities_repo.get_or_create_community(
                session, platform=community.platform, external_id=community.external_id, name="", now=now
            )
        ).id
    world = World()
    world.scenario, world.community_id = scenario, cid
    world.own = [await add_value(database, cid, scenario, f"Own {n}", now=now) for n in range(own)]
    world.other = [await add_value(database, cid, (second, third)[n % 2], f"Other {n}", now=now) for n in range(other)]
    if world.own:  # a value with cards from both kinds of scenario counts as the member's scenario's
        await add_value(database, cid, second, "Own 0 again", now=now, into=world.own[0])
    hidden = await add_value(database, cid, scenario, "Hidden", now=now, status="hidden")
    empty = await add_value(database, cid, second, "Empty", now=now, status="empty")
    merged = await add_value(database, cid, scenario, "Merged", now=now, status="merged")
    mine = await add_value(database, cid, second, "Alice's earlier value", now=now, author=ALICE.platform_user_id)
    async with database.session() as session:
        row = await session.get(CanonicalValue, merged)
        row.merged_into_id = world.own[0] if world.own else None
        session.add(row)
        await session.commit()
    world.never = [hidden, empty, merged, mine]
    return world


def generalizing(database, fake_openai, interview_config, clock, *, seed: int = 7, reconciler=None):
    llm = make_llm(fake_openai)
    offers = GeneralizationOffers(database, rng=random.Random(seed))
    return InterviewService(
        database=database, llm=llm, config=interview_config, clock=clock, generalizer=offers, reconciler=reconciler
    ), llm


@pytest.fixture
async def gen_service(database, fake_openai, interview_config, clock):
    service, llm = generalizing(database, fake_openai, interview_config, clock)
    yield service
    await llm.aclose()


async def confirm_card(
    service: InterviewService, fake, scenario_id: int, person: Person = ALICE, community: CommunityRef = COMMUNITY
) -> list:
    await service.resume(community, person, scenario_id=scenario_id)
    await service.handle(say("I agree", person, community))
    fake.script(turn("What do you notice?"), turn("Tell me about a time."), turn("ok", ready=True), SAID_BACK, CARD)
    for answer in ("Whether he feels heard.", "When he gives up quickly.", "Once I sat with him and it helped.", "yes"):
        await service.handle(say(answer, person, community))
    return await service.handle(say("confirm", person, community))


async def offer_of(database) -> tuple[GeneralizationOffer, list[GeneralizationImpression]]:
    """The newest offer and what it showed, in order."""
    offer = max(await rows(database, GeneralizationOffer), key=lambda o: o.id)
    shown = sorted(
        await rows(database, GeneralizationImpression, GeneralizationImpression.offer_id == offer.id),
        key=lambda i: i.position,
    )
    return offer, shown


# --- pure -------------------------------------------------------------------------------------------------


def candidates(own: int, other: int) -> list[Candidate]:
    return [Candidate(n, f"own {n}", "d", True) for n in range(own)] + [
        Candidate(100 + n, f"other {n}", "d", False) for n in range(other)
    ]


def test_choose_takes_three_from_each_group_at_random_and_fills_from_the_other_when_one_is_short():
    shown = choose(candidates(5, 4), random.Random(1))
    assert len(shown) == 6 and Counter(s.candidate.own_scenario for s in shown) == {True: 3, False: 3}
    assert [s.position for s in shown] == [1, 2, 3, 4, 5, 6]
    assert choose(candidates(5, 4), random.Random(1)) == shown  # seeded: the same offer
    seen = {tuple(s.candidate.value_id for s in choose(candidates(5, 4), random.Random(seed))) for seed in range(20)}
    assert len(seen) > 10  # at random, and in shuffled order
    short = choose(candidates(1, 8), random.Random(2))
    assert Counter(s.candidate.own_scenario for s in short) == {True: 1, False: 5}
    assert len(choose(candidates(2, 0), random.Random(3))) == 2
    assert choose([], random.Random(4)) == []


def test_keys_parse_and_malformed_ones_do_not():
    assert parse_key(value_key(12, 34)) == GeneralKey(12, 34) and not GeneralKey(12, 34).done
    assert parse_key(done_key(12)) == GeneralKey(12, None) and parse_key(done_key(12)).done
    for bad in (
        "general:",
        "general:x:1",
        "general:1:",
        "general:1:x",
        "general:1:2:3",
        "general:-1:2",
        "general:1:٣",
        "fair:1:yes",
        "confirm",
        "general:1" + "0" * 30 + ":1",
    ):
        assert parse_key(bad) is None, bad


# --- the offer ------------------------------------------------------------------------------------------


async def test_the_offer_shows_three_values_of_the_members_scenario_and_three_of_others_never_own_or_hidden(
    database, clock
):
    world = await build_world(database, clock)
    alice = await member_id(database, world.community_id, ALICE.platform_user_id, now=clock())
    interview = await repo_interview(database, world.community_id, alice, world.scenario, clock())
    prompt = await GeneralizationOffers(database, rng=random.Random(5)).offer(
        community_id=world.community_id,
        member_id=alice,
        interview_id=interview,
        scenario_id=world.scenario,
        now=clock(),
    )
    assert isinstance(prompt, ChoicePrompt)
    assert f"Which of these would be wise to consider for “{SCENARIO}”?" in prompt.text
    offer, shown = await offer_of(database)
    assert (offer.member_id, offer.interview_id, offer.scenario_id) == (alice, interview, world.scenario)
    assert offer.offered_at == clock() and offer.closed_at is None
    assert Counter(i.own_scenario for i in shown) == {True: 3, False: 3}
    assert {i.value_id for i in shown if i.own_scenario} <= set(world.own)
    assert {i.value_id for i in shown if not i.own_scenario} <= set(world.other)
    assert not {i.value_id for i in shown} & set(world.never)
    assert [c.key for c in prompt.choices] == [value_key(offer.id, i.value_id) for i in shown] + [done_key(offer.id)]
    assert prompt.choices[-1].label == "None of these"
    titles = {v.id: v.title for v in await rows(database, CanonicalValue)}
    assert [c.label for c in prompt.choices[:-1]] == [titles[i.value_id] for i in shown]
    assert all(c.detail.startswith(c.label + ": The assistant attends to") for c in prompt.choices[:-1])
    # One offer per interview.
    again = await GeneralizationOffers(database).offer(
        community_id=world.community_id,
        member_id=alice,
        interview_id=interview,
        scenario_id=world.scenario,
        now=clock(),
    )
    assert again is None and len(await rows(database, GeneralizationOffer)) == 1


async def repo_interview(database, community_id: int, member: int, scenario_id: int, now) -> int:
    async with database.session() as session:
        interview = Interview(
            community_id=community_id,
            member_id=member,
            scenario_id=scenario_id,
            state="confirmed",
            created_at=now,
            last_activity_at=now,
            ended_at=now,
        )
        session.add(interview)
        await session.commit()
        return interview.id


async def test_nothing_is_offered_without_other_visible_values_nor_from_another_community(database, clock):
    world = await build_world(database, clock, own=0, other=0)
    await build_world(database, clock, community=ELSEWHERE)  # plenty of values, in another community
    alice = await member_id(database, world.community_id, ALICE.platform_user_id, now=clock())
    interview = await repo_interview(database, world.community_id, alice, world.scenario, clock())
    assert (
        await GeneralizationOffers(database).offer(
            community_id=world.community_id,
            member_id=alice,
            interview_id=interview,
            scenario_id=world.scenario,
            now=clock(),
        )
        is None
    )
    assert await rows(database, GeneralizationOffer) == []


async def test_the_offer_follows_the_confirmed_card_and_is_stored_before_it_is_returned(
    gen_service, fake_openai, database, clock
):
    world = await build_world(database, clock)
    done = await confirm_card(gen_service, fake_openai, world.scenario)
    thanks, prompt = done
    assert isinstance(thanks, Reply) and "is saved" in thanks.text and "Thank you for taking part" in thanks.text
    assert isinstance(prompt, ChoicePrompt) and "Which of these would be wise to consider" in prompt.text
    # By the time the service hands the message over for sending, the offer and every impression are
    # committed (read here through a fresh session), exactly what the buttons name.
    offer, shown = await offer_of(database)
    assert [c.key for c in prompt.choices[:-1]] == [value_key(offer.id, i.value_id) for i in shown]
    [interview] = await rows(database, Interview, Interview.id == offer.interview_id)
    assert interview.state == "confirmed" and interview.scenario_id == world.scenario
    assert not {i.value_id for i in shown} & set(world.never)


async def test_in_a_dm_a_typed_number_title_or_done_is_a_pick_and_anything_else_starts_an_interview(
    gen_service, fake_openai, database, clock
):
    # Discord and Slack DMs reach the interview service: what the console does locally, the service
    # does for them (every option offered with buttons can be typed instead).
    world = await build_world(database, clock)
    _, prompt = await confirm_card(gen_service, fake_openai, world.scenario)
    first, second = prompt.choices[0], prompt.choices[1]
    offer, _ = await offer_of(database)

    assert "Noted" in (await gen_service.handle(say("1")))[0].text
    assert "Noted" in (await gen_service.handle(say(second.label.upper())))[0].text
    assert "already picked" in (await gen_service.handle(say("1")))[0].text
    assert "Thank you! Noted the 2 values you picked" in (await gen_service.handle(say("done")))[0].text
    _, shown = await offer_of(database)
    assert {i.value_id for i in shown if i.picked_at} == {
        int(first.key.rsplit(":", 1)[1]),
        int(second.key.rsplit(":", 1)[1]),
    }
    [closed] = await rows(database, GeneralizationOffer, GeneralizationOffer.id == offer.id)
    assert closed.closed_at is not None
    interviews_before = len(await rows(database, Interview))

    # The offer is closed: "2" now starts a new interview, as any message after an interview does.
    again = await gen_service.handle(say("2"))
    assert isinstance(again[0], ChoicePrompt) and len(await rows(database, Interview)) == interviews_before + 1


@pytest.mark.sqlite_only
async def test_no_offer_when_the_interview_is_cancelled_or_without_a_generalizer(
    service, gen_service, fake_openai, database, clock
):
    world = await build_world(database, clock)
    plain = await confirm_card(service, fake_openai, world.scenario, person=BOB)  # the service without one
    assert not any(isinstance(item, ChoicePrompt) for item in plain)
    await gen_service.resume(COMMUNITY, ALICE, scenario_id=world.scenario)
    await gen_service.handle(say("I agree"))
    cancelled = await gen_service.handle(say("cancel"))
    assert "cancelled" in cancelled[0].text.lower() and len(cancelled) == 1
    assert await rows(database, GeneralizationOffer) == []


class StubReconciler:
    """Places every card in the value ``value_id`` and asks the member about it."""

    def __init__(self, database, value_id: int):
        self.database, self.value_id, self.verdicts = database, value_id, []

    async def __call__(self, *, card_id: int, now):
        from bot.values.placement import Reconciliation

        async with self.database.session() as session:
            card = await session.get(ValuesCardRecord, card_id)
            session.add(
                ValueAssignment(
                    community_id=card.community_id,
                    card_id=card_id,
                    canonical_value_id=self.value_id,
                    decision="judged_same",
                    created_at=now,
                )
            )
            await session.commit()
        return Reconciliation(card_id, self.value_id, "judged_same", ValuesCard(**CARD), ask_member=True)

    async def record_verdict(self, *, card_id: int, agrees: bool, now):
        self.verdicts.append(agrees)


@pytest.mark.sqlite_only
async def test_after_the_value_check_the_offer_comes_with_the_thanks_and_skips_the_shared_value(
    database, fake_openai, interview_config, clock
):
    world = await build_world(database, clock)
    shared = world.own[1]
    service, llm = generalizing(
        database, fake_openai, interview_config, clock, reconciler=StubReconciler(database, shared)
    )
    try:
        check = await confirm_card(service, fake_openai, world.scenario)
        assert not any(isinstance(item, ChoicePrompt) for item in check)  # the value check comes first
        assert await rows(database, GeneralizationOffer) == []
        thanks, prompt = await service.handle(say("Yes, that's my value"))
    finally:
        await llm.aclose()
    assert "counts toward that shared value" in thanks.text and isinstance(prompt, ChoicePrompt)
    _, shown = await offer_of(database)
    assert shared not in {i.value_id for i in shown}  # her card is in it now: her own value


# --- presses ----------------------------------------------------------------------------------------------


async def offered(database, clock, world) -> tuple[GeneralizationOffer, list[GeneralizationImpression]]:
    alice = await member_id(database, world.community_id, ALICE.platform_user_id, now=clock())
    interview = await repo_interview(database, world.community_id, alice, world.scenario, clock())
    await GeneralizationOffers(database, rng=random.Random(1)).offer(
        community_id=world.community_id,
        member_id=alice,
        interview_id=interview,
        scenario_id=world.scenario,
        now=clock(),
    )
    return await offer_of(database)


async def press(
    database,
    key: str,
    *,
    user: str = ALICE.platform_user_id,
    community: CommunityRef = COMMUNITY,
    now=None,
    external: bool = True,
):
    return await record_press(
        database,
        key=key,
        platform=community.platform,
        platform_user_id=user,
        now=now,
        community_external_id=community.external_id if external else None,
    )


async def test_a_pick_is_recorded_once_and_done_closes_the_offer(database, clock):
    world = await build_world(database, clock)
    offer, shown = await offered(database, clock, world)
    first, second = shown[0], shown[1]
    clock.advance(seconds=5)
    picked = await press(database, value_key(offer.id, first.value_id), now=clock())
    assert picked.status is PressStatus.PICKED and picked.title in picked.text and "Done" in picked.text
    clock.advance(seconds=5)
    again = await press(database, value_key(offer.id, first.value_id), now=clock())
    assert again.status is PressStatus.ALREADY_PICKED and "already picked" in again.text
    [row] = await rows(database, GeneralizationImpression, GeneralizationImpression.picked_at != None)  # noqa: E711
    assert row.id == first.id and row.picked_at == clock() - timedelta(seconds=5)  # the first press counts

    done = await press(database, done_key(offer.id), now=clock())
    assert done.status is PressStatus.DONE and done.closes_offer and "1 value you picked" in done.text
    late = await press(database, value_key(offer.id, second.value_id), now=clock())
    assert late.status is PressStatus.CLOSED and late.text == english().offer_closed and late.closes_offer
    assert len(await rows(database, GeneralizationImpression, GeneralizationImpression.picked_at != None)) == 1  # noqa: E711
    [closed] = await rows(database, GeneralizationOffer)
    assert closed.closed_at == clock()
    assert (await press(database, done_key(offer.id), now=clock())).status is PressStatus.DONE  # harmless repeat


async def test_none_of_these_is_recorded_as_no_pick(database, clock):
    world = await build_world(database, clock)
    offer, _ = await offered(database, clock, world)
    done = await press(database, done_key(offer.id), now=clock())
    assert done.status is PressStatus.DONE and "none of these fit" in done.text
    assert await rows(database, GeneralizationImpression, GeneralizationImpression.picked_at != None) == []  # noqa: E711


async def test_presses_by_another_member_from_another_community_or_on_values_not_offered_are_refused(database, clock):
    world = await build_world(database, clock)
    await build_world(database, clock, community=ELSEWHERE)
    offer, shown = await offered(database, clock, world)
    key = value_key(offer.id, shown[0].value_id)
    await member_id(database, world.community_id, BOB.platform_user_id, now=clock())

    by_bob = await press(database, key, user=BOB.platform_user_id, now=clock())
    assert by_bob.status is PressStatus.REFUSED and by_bob.text == english().offer_not_yours
    from_elsewhere = await press(database, key, community=ELSEWHERE, now=clock())
    assert from_elsewhere.status is PressStatus.REFUSED and from_elsewhere.text == OTHER_COMMUNITY_TEXT
    on_slack = await record_press(
        database,
        key=key,
        platform="slack",
        platform_user_id=ALICE.platform_user_id,
        now=clock(),
        community_external_id=COMMUNITY.external_id,
    )
    assert on_slack.text == OTHER_COMMUNITY_TEXT
    # Bob's "done" does not close Alice's offer.
    assert (
        await press(database, done_key(offer.id), user=BOB.platform_user_id, now=clock())
    ).text == english().offer_not_yours
    not_offered = next(v for v in world.own + world.other if v not in {i.value_id for i in shown})
    for bad in (
        value_key(offer.id, not_offered),
        value_key(offer.id, world.never[0]),
        value_key(offer.id + 99, 1),
        "general:nonsense",
        "general:1:2:3",
    ):
        result = await press(database, bad, now=clock())
        assert result.status is PressStatus.INVALID and result.text == INVALID_TEXT, bad
    assert await rows(database, GeneralizationImpression, GeneralizationImpression.picked_at != None) == []  # noqa: E711
    assert (await rows(database, GeneralizationOffer))[0].closed_at is None
    # Discord DMs carry no guild: the offer's own community and the member's account decide.
    ok = await press(database, key, now=clock(), external=False)
    assert ok.status is PressStatus.PICKED


async def test_a_forgotten_member_cannot_pick(database, clock):
    world = await build_world(database, clock)
    offer, shown = await offered(database, clock, world)
    await forget_member(database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock())
    result = await press(database, value_key(offer.id, shown[0].value_id), now=clock())
    assert result.status is PressStatus.REFUSED


# --- stats -------------------------------------------------------------------------------------------------


async def test_stats_report_offers_impressions_picks_and_the_two_pick_rates(database, clock):
    world = await build_world(database, clock, own=12, other=11)
    elsewhere = await build_world(database, clock, community=ELSEWHERE)
    now = clock()
    async with database.session() as session:
        alice = (
            await communities_repo.get_or_create_member(
                session, community_id=world.community_id, platform_user_id="a", display_name="", now=now
            )
        ).id
        await session.commit()
    # Two offers: own-scenario values shown 12 times (5 picked), other scenarios' 11 times (4 picked).
    plan = [(True, world.own, 5), (False, world.other, 4)]
    offers = []
    for _ in range(2):
        interview = await repo_interview(database, world.community_id, alice, world.scenario, now)
        async with database.session() as session:
            offer = GeneralizationOffer(
                community_id=world.community_id,
                member_id=alice,
                interview_id=interview,
                scenario_id=world.scenario,
                offered_at=now,
            )
            session.add(offer)
            await session.commit()
            offers.append(offer.id)
    async with database.session() as session:
        for own, values, picked in plan:
            for n, value in enumerate(values):
                session.add(
                    GeneralizationImpression(
                        community_id=world.community_id,
                        offer_id=offers[n % 2],
                        value_id=value,
                        own_scenario=own,
                        position=n + 1,
                        picked_at=now if n < picked else None,
                    )
                )
        first = await session.get(GeneralizationOffer, offers[0])
        first.closed_at = now
        session.add(first)
        await session.commit()
    # Another community's offer, with picks, counts only there.
    await offered(database, clock, elsewhere)
    [line] = await stats_lines(database, community_id=world.community_id)
    assert line == (
        "Generalization: 2 offers after confirmed cards (1 finished), 23 values shown, 9 picked; "
        "own scenario 5/12 (41.7%) picked, other scenarios 4/11 (36.4%); paper: 38.2% vs 38.3%."
    )
    [empty] = await stats_lines(database, community_id=world.community_id + 1000)
    assert "0 offers" in empty and "own scenario 0/0 (—)" in empty


async def test_moderator_stats_include_the_generalization_and_ideology_lines(database, clock):
    from types import SimpleNamespace

    from bot.commands.reports import stats

    world = await build_world(database, clock)
    await offered(database, clock, world)
    call = SimpleNamespace(
        database=database, community_id=world.community_id, services=SimpleNamespace(token_prices=(0.0, 0.0))
    )
    reply = await stats(call)
    assert "Generalization: 1 offer after confirmed cards (0 finished), 6 values shown, 0 picked" in reply.text
    assert "Ideology screen" in reply.text and "not enough data (n = 0; needs 3)" in reply.text


# --- the console ---------------------------------------------------------------------------------------------


@pytest.mark.sqlite_only
async def test_the_console_shows_the_offer_and_records_picks_typed_by_number_or_name(
    gen_service, fake_openai, database, clock
):
    world = await build_world(database, clock, own=3, other=3)  # all six are shown, in random order
    out = io.StringIO()
    lines = [
        "I agree",
        "Whether he feels heard.",
        "When he gives up quickly.",
        "Once I sat with him.",
        "That's it",
        "confirm",
        "Own 1",
        "own 1",
        "Other 2",
        "6",
        "done",
        "hello there",
    ]
    chat = ConsoleChat(
        gen_service, COMMUNITY, ALICE, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out, interactive=False
    )
    fake_openai.script(
        turn("What do you notice?"), turn("Tell me about a time."), turn("ok", ready=True), SAID_BACK, CARD
    )
    await chat.run(scenario_id=world.scenario)
    printed = out.getvalue()
    assert f"Which of these would be wise to consider for “{SCENARIO}”?" in printed and "None of these" in printed
    assert "Noted: “Own 1”" in printed and "You already picked “Own 1”" in printed and "Noted: “Other 2”" in printed
    offer, shown = await offer_of(database)
    sixth = shown[5].value_id
    picked = {i.value_id for i in shown if i.picked_at is not None}
    assert picked == {world.own[1], world.other[2], sixth}
    assert f"Noted the {len(picked)} values you picked" in printed
    assert offer.closed_at is not None
    # After "done" the next line is a message for the interview again: it started a new one.
    newest = max(await rows(database, Interview, Interview.member_id == offer.member_id), key=lambda i: i.id)
    assert newest.id != offer.interview_id and newest.state == "choosing_scenario"
    assert "Which question would you like to think about?" in printed


# --- privacy -------------------------------------------------------------------------------------------------


async def test_mydata_lists_the_offers_and_forget_keeps_the_picks_counted_without_the_member(
    gen_service, fake_openai, database, clock
):
    world = await build_world(database, clock)
    await confirm_card(gen_service, fake_openai, world.scenario)
    offer, shown = await offer_of(database)
    await press(database, value_key(offer.id, shown[2].value_id), now=clock())
    titles = {v.id: v.title for v in await rows(database, CanonicalValue)}

    data = await export_member_data(database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id)
    [exported] = data["generalization_picks"]
    assert exported["interview_id"] == offer.interview_id and exported["question"] == SCENARIO
    assert [v["value"] for v in exported["values_shown"]] == [
        {"id": i.value_id, "title": titles[i.value_id]} for i in shown
    ]
    assert [v["picked"] for v in exported["values_shown"]] == [n == 2 for n in range(len(shown))]
    assert [v["from_your_question"] for v in exported["values_shown"]] == [i.own_scenario for i in shown]
    assert "generalization_picks" in data["explanation"]
    bob = await export_member_data(database, community_id=world.community_id, platform_user_id=BOB.platform_user_id)
    assert bob["generalization_picks"] == []

    before = await stats_lines(database, community_id=world.community_id)
    report = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )
    assert report.generalization_offers_anonymised == 1
    assert any("kept without your name" in line and "picks" in line for line in report.lines())
    [kept] = await rows(database, GeneralizationOffer)
    assert kept.member_id is None
    assert await stats_lines(database, community_id=world.community_id) == before
    [tombstone] = await rows(database, Member, Member.forgotten_at != None)  # noqa: E711
    assert tombstone.platform_user_id.startswith("forgotten:")
