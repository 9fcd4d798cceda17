"""Members' own data: `mydata` (everything stored about them, one community) and `forget` (erase it).

A small community is built the way the bot builds it — interviews through the interview service and the
fake OpenAI server, votes through the poll use case — plus a few rows a moderator would leave (a value
shared by two members, stories, an audit-log entry). Real SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from bot.graph.build import load_community_graph_input
from bot.interview.routing import DmRouter
from bot.interview.scenarios import prepare_scenarios
from bot.interview.service import InterviewService
from bot.privacy.confirmations import FORGET_CONFIRM_WINDOW, ForgetConfirmations
from bot.privacy.erase import NOTHING_STORED_TEXT, forget_member
from bot.privacy.export import export_bytes, export_member_data, has_member_data
from bot.voting.polls import apply_reaction, record_poll
from core.embeddings import policies_text
from core.graph import build_moral_graph
from core.interview import InterviewState
from core.member_texts import built_in_languages, english, texts_for
from core.messages import ChoicePrompt, CommunityRef, InboundMessage, Person
from core.polls import REACTIONS
from storage import values_repo
from storage.communities_repo import community_id_of
from storage.models import (
    DmRoute,
    EmbeddingCache,
    InboundEvent,
    Interview,
    InterviewTurn,
    LLMCall,
    Member,
    MoralContext,
    ReactionEvent,
    TransitionStory,
    ValueAssignment,
    ValuesCardRecord,
    Vote,
)
from tests.fakes.openai_server import SAID_BACK

SCENARIO = "My friend asks whether to report a colleague who cut corners. What should I tell her?"
COMMUNITY_A = CommunityRef("discord", "900000000000000001", "Guild A")
COMMUNITY_B = CommunityRef("discord", "900000000000000002", "Guild B")
ALICE = Person("alice-uid-77Q", "Alice Q. Privacy")
BOB = Person("bob-uid-31Z", "Bob K. Builder")
CAROL, DAVE, ERIN = Person("carol-uid"), Person("dave-uid"), Person("erin-uid")
#: Words only Alice ever typed (in community A), only Bob typed, only Alice typed in community B.
ALICE_PHRASE = "zebra-umbrella-731"
BOB_PHRASE = "kiwi-lantern-909"
ALICE_B_PHRASE = "walnut-compass-404"

CARD = {
    "title": "Courage Grounded In Care",
    "description": "The assistant helps the person act on what they see while caring for everyone involved.",
    "policies": [
        "MOMENTS when the person senses something is wrong but hesitates",
        "CONSEQUENCES for the people who would be hurt by silence",
        "WAYS to speak up that keep the relationship intact",
    ],
}
BOB_CARD = {**CARD, "title": "Speaking Up With Kindness"}
SOLO_CARD = {
    "title": "Quiet Attention To Detail",
    "description": "The assistant notices the small facts a hurried person would skip.",
    "policies": [
        "DETAILS that change the picture when looked at twice",
        "MOMENTS when slowing down reveals what matters",
        "SIGNS that a quick answer would miss something",
    ],
}
CAROL_CARD = {
    "title": "Honest Reporting Of Harm",
    "description": "The assistant helps the person tell the truth about harm done to others.",
    "policies": [
        "HARMS that others cannot see yet",
        "DUTIES the person has to people at risk",
        "FACTS worth writing down",
    ],
}


def turn(message: str, ready: bool = False) -> dict:
    return {"message": message, "ready_to_articulate": ready}


# --- building a community ----------------------------------------------------------------------------------


@dataclass
class World:
    community: CommunityRef
    community_id: int
    scenario_id: int
    #: The ids of Alice's confirmed card, of the value it is in (shared with Bob), of Carol's value.
    alice_card: int = 0
    shared_value: int = 0
    other_value: int = 0


class Builder:
    """Makes members take part, one step per clock second (so each delivery has its own instant)."""

    def __init__(self, database, service: InterviewService, fake_openai, clock):
        self.database, self.service, self.fake, self.clock = database, service, fake_openai, clock
        self._reaction = 0

    async def say(self, community: CommunityRef, person: Person, text: str):
        self.clock.advance(seconds=1)
        message = InboundMessage(community=community, author=person, text=text, event_id=f"message-{uuid.uuid4()}")
        return await self.service.handle(message)

    async def card(self, community, person, scenario_id, phrase: str, card: dict) -> int:
        """A full interview ending in a confirmed card; the member's answers carry ``phrase``."""
        await self.draft(community, person, scenario_id, phrase, card)
        await self.say(community, person, "confirm")
        async with self.database.session() as session:
            member = (
                await session.exec(
                    select(Member).where(
                        Member.platform_user_id == person.platform_user_id, col(Member.forgotten_at).is_(None)
                    )
                )
            ).all()
            cards = (
                await session.exec(
                    select(ValuesCardRecord)
                    .where(
                        ValuesCardRecord.status == "confirmed",
                        ValuesCardRecord.author_member_id.in_([m.id for m in member]),
                    )
                    .order_by(ValuesCardRecord.id)
                )
            ).all()
            return cards[-1].id

    async def draft(self, community, person, scenario_id, phrase: str, card: dict) -> None:
        """An interview up to a proposed card (consent first, unless given before)."""
        self.clock.advance(seconds=1)
        first = await self.service.resume(community, person, scenario_id=scenario_id)
        if isinstance(first[0], ChoicePrompt):
            await self.say(community, person, "I agree")
        self.fake.script(
            turn("What did you notice?"), turn("Tell me about a time."), turn("ok", ready=True), SAID_BACK, card
        )
        await self.say(community, person, f"She should think about who gets hurt, {phrase}.")
        await self.say(community, person, f"I notice when people hesitate ({phrase}).")
        await self.say(community, person, "Once I spoke up about a safety issue and it mattered.")
        await self.say(community, person, "That's it")

    async def conversation(self, community, person, scenario_id, phrase: str) -> None:
        """An interview still going on: one answer given, one question back."""
        self.clock.advance(seconds=1)
        await self.service.resume(community, person, scenario_id=scenario_id)
        self.fake.script(turn("Why does that matter to you?"))
        await self.say(community, person, f"Mostly the {phrase} moments.")

    async def vote(self, community, person: Person, poll_message: str, choice: str) -> None:
        self.clock.advance(seconds=1)
        self._reaction += 1
        emoji = next(e for e, c in REACTIONS[community.platform].items() if c == choice)
        outcome = await apply_reaction(
            self.database,
            community=community,
            platform=community.platform,
            channel_id=channel_of(community),
            message_id=poll_message,
            person=person,
            emoji=emoji,
            added=True,
            event_id=f"reaction-{self._reaction}",
            now=self.clock(),
        )
        assert outcome.changed_votes, outcome


def channel_of(community: CommunityRef) -> str:
    """Each community's polls are in its own channel."""
    return "7" + community.external_id[-2:]


async def value_for(database, card_ids: list[int], *, now, agrees: bool | None = None) -> int:
    """A canonical value showing the first card's text, with every card assigned to it."""
    async with database.session() as session:
        first = await values_repo.get_card(session, card_id=card_ids[0])
        value = await values_repo.create_value_from_card(session, card=first, now=now)
        for index, card_id in enumerate(card_ids):
            card = await values_repo.get_card(session, card_id=card_id)
            await values_repo.add_assignment(
                session,
                card=card,
                value_id=value.id,
                decision="new_value" if index == 0 else "judged_same",
                reason="the same attention",
                now=now,
                member_agrees=agrees,
            )
        await session.commit()
        return value.id


async def card_row(database, community_id: int, person: Person, card: dict, *, now) -> int:
    """A member with a confirmed card, written as rows (no interview needed for a bystander)."""
    async with database.session() as session:
        member = Member(community_id=community_id, platform_user_id=person.platform_user_id, created_at=now)
        session.add(member)
        await session.flush()
        interview = Interview(
            community_id=community_id,
            member_id=member.id,
            state="confirmed",
            created_at=now,
            last_activity_at=now,
            ended_at=now,
        )
        session.add(interview)
        await session.flush()
        record = ValuesCardRecord(
            community_id=community_id,
            interview_id=interview.id,
            author_member_id=member.id,
            status="confirmed",
            prompt_sha="0" * 64,
            model="card-model",
            created_at=now,
            **card,
        )
        session.add(record)
        await session.commit()
        return record.id


async def stories_between(database, community_id: int, a: int, b: int, *, now) -> list[int]:
    """A context and the two stories a→b and b→a."""
    async with database.session() as session:
        context = MoralContext(community_id=community_id, text="When someone is afraid to speak up", created_at=now)
        session.add(context)
        await session.flush()
        ids = []
        for source, target in ((a, b), (b, a)):
            story = TransitionStory(
                community_id=community_id,
                context_id=context.id,
                from_value_id=source,
                to_value_id=target,
                story=f"I moved from {source} to {target}.",
                steps={},
                prompt_sha="0" * 64,
                model="story-model",
                created_at=now,
            )
            session.add(story)
            await session.flush()
            ids.append(story.id)
        await session.commit()
        return ids


async def build_world(
    builder: Builder, community: CommunityRef = COMMUNITY_A, *, with_bob: bool = True, alice: Person = ALICE
) -> World:
    """Alice (card in a value shared with Bob's; two votes, one explained; an interview going on; a DM
    route; an LLM error echoing her words; an audit-log entry), Bob, and Carol, Dave, Erin who vote."""
    database, clock = builder.database, builder.clock
    scenario_id = await prepare_scenarios(database, community, text=SCENARIO, now=clock())
    community_id = await community_id_of(database, community)
    world = World(community, community_id, scenario_id)
    await DmRouter(database).remember(user_id=alice.platform_user_id, community=community, now=clock())

    world.alice_card = await builder.card(community, alice, scenario_id, ALICE_PHRASE, CARD)
    if with_bob:
        bob_card = await builder.card(community, BOB, scenario_id, BOB_PHRASE, BOB_CARD)
        world.shared_value = await value_for(database, [world.alice_card, bob_card], now=clock(), agrees=True)
    else:
        world.shared_value = await value_for(database, [world.alice_card], now=clock(), agrees=True)
    carol_card = await card_row(database, community_id, CAROL, CAROL_CARD, now=clock())
    world.other_value = await value_for(database, [carol_card], now=clock())

    forward, backward = await stories_between(
        database, community_id, world.shared_value, world.other_value, now=clock()
    )
    for story_id, message_id in ((forward, "801"), (backward, "802")):
        await record_poll(
            database,
            story_id=story_id,
            platform=community.platform,
            channel_id=channel_of(community),
            message_id=message_id,
            closes_at=None,
            now=clock(),
        )
    voters = [
        (alice, "801", "upgrade"),
        (DAVE, "801", "upgrade"),
        (CAROL, "801", "no_upgrade"),
        (ERIN, "802", "upgrade"),
        (alice, "802", "not_sure"),
    ]
    if with_bob:
        voters.append((BOB, "801", "upgrade"))
    for person, message, emoji in voters:
        await builder.vote(community, person, message, emoji)
    async with database.session() as session:  # Alice explained one vote in her own words
        vote = (
            await session.exec(
                select(Vote).where(Vote.community_id == community_id, Vote.choice == "upgrade").order_by(Vote.id)
            )
        ).first()
        vote.why = f"Because of {ALICE_PHRASE}."
        session.add(vote)
        await session.commit()

    await builder.conversation(community, alice, scenario_id, ALICE_PHRASE)  # still going on
    async with database.session() as session:  # a failed LLM call whose error echoed her words
        interview = (
            await session.exec(
                select(Interview).where(Interview.community_id == community_id).order_by(Interview.id.desc())
            )
        ).first()
        call = (await session.exec(select(LLMCall).where(LLMCall.interview_id == interview.id))).first()
        call.ok, call.error = False, f"invalid output: '{ALICE_PHRASE}'"
        session.add(call)
        await session.commit()
    await audit_entry(database, community_id, community.platform, alice, now=clock())
    await measurement_entries(database, world, now=clock())
    return world


async def measurement_entries(database, world: World, *, now) -> None:
    """What the method's measurements keep about Alice, if this schema has them (docs/method.md §2, §8): the values
    offered to her after her card (Carol's picked), and the ideology rating of her opening answer, whose
    reason echoes her words."""
    tables = SQLModel.metadata.tables
    if tables.get("generalization_offer") is None:
        return
    async with database.session() as session:
        card = await session.get(ValuesCardRecord, world.alice_card)
        interview = await session.get(Interview, card.interview_id)
        offers, shown = tables["generalization_offer"], tables["generalization_impression"]
        offer_id = (
            await session.exec(
                sa.insert(offers)
                .values(
                    community_id=world.community_id,
                    member_id=interview.member_id,
                    interview_id=interview.id,
                    scenario_id=world.scenario_id,
                    offered_at=now,
                    closed_at=now,
                )
                .returning(offers.c.id)
            )
        ).scalar_one()
        await session.exec(
            sa.insert(shown).values(
                community_id=world.community_id,
                offer_id=offer_id,
                value_id=world.other_value,
                own_scenario=True,
                position=1,
                picked_at=now,
            )
        )
        await session.exec(
            sa.insert(tables["ideology_rating"]).values(
                community_id=world.community_id,
                interview_id=interview.id,
                score=3,
                reason=f"Repeats '{ALICE_PHRASE}' like a slogan.",
                prompt_sha="0" * 12,
                model="judge-model",
                rated_at=now,
            )
        )
        await session.commit()


async def audit_entry(database, community_id: int, platform: str, alice: Person, *, now) -> None:
    """A moderator action by Alice about herself, if the audit log exists in this schema."""
    table = SQLModel.metadata.tables.get("moderation_action")
    if table is None:
        return
    identity = f"{platform}:{alice.platform_user_id}"
    async with database.session() as session:
        await session.exec(
            sa.insert(table).values(
                community_id=community_id,
                actor=identity,
                action="schedule.set",
                target=f"member {identity}",
                before=None,
                after={"by": alice.platform_user_id, "channel": "700"},
                at=now,
            )
        )
        await session.commit()


@pytest.fixture
def builder(database, service, fake_openai, clock) -> Builder:
    return Builder(database, service, fake_openai, clock)


# --- looking at the database ---------------------------------------------------------------------------------


async def where_found(database, needles: list[str]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a text or JSON value of any row contains a needle."""
    hits = []
    async with database.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await session.exec(sa.select(table))).all():
                for column, value in row._mapping.items():
                    if isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    elif isinstance(value, str):
                        text = value
                    else:
                        continue
                    hits += [(table.name, column, needle) for needle in needles if needle in text]
    return hits


async def everything(database) -> dict[str, list]:
    async with database.session() as session:
        return {
            table.name: sorted(
                json.dumps({k: str(v) for k, v in row._mapping.items()}, sort_keys=True)
                for row in (await session.exec(sa.select(table))).all()
            )
            for table in SQLModel.metadata.sorted_tables
        }


async def rows(database, model, *where):
    async with database.session() as session:
        return list((await session.exec(select(model).where(*where))).all())


async def graph_summary(database, community_id: int) -> dict:
    data = await load_community_graph_input(database, community_id=community_id)
    graph = build_moral_graph(data.values, data.votes)
    return {
        "values": sorted(v.id for v in graph.values),
        "edges": sorted(
            (e.source_id, e.wiser_id, e.contexts, tuple(e.counts), e.wiser_likelihood, e.entropy) for e in graph.edges
        ),
        "page_rank": dict(graph.page_rank),
        "rankings": {name: [(r.id, r.score) for r in g.ranking] for name, g in graph.contexts.items()},
        "votes_counted": graph.votes_counted,
        "voters": len({v.voter_id for v in data.votes}),
    }


# --- mydata --------------------------------------------------------------------------------------------------


async def test_mydata_holds_the_transcripts_cards_votes_and_routes_of_this_member_only(builder, database):
    world = await build_world(builder)
    other = await build_world(builder, COMMUNITY_B, with_bob=False)  # Alice in another guild, other words
    data = await export_member_data(database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id)
    assert has_member_data(data) and data["exported_at"] and "forget" in data["explanation"]
    assert data["community"] == {"platform": "discord", "id": COMMUNITY_A.external_id, "name": "Guild A"}
    assert data["member"]["platform_user_id"] == ALICE.platform_user_id
    assert data["member"]["display_name"] == ALICE.display_name and data["member"]["consented_at"]

    finished, ongoing = data["interviews"]
    assert finished["state"] == "confirmed" and ongoing["state"] == "conversing"
    assert finished["question"] == SCENARIO
    mine = [t["text"] for t in finished["transcript"] if t["from"] == "you"]
    assert f"She should think about who gets hurt, {ALICE_PHRASE}." in mine
    assert any(t["from"] == "bot" and t["text"] == "What did you notice?" for t in finished["transcript"])
    assert [c["purpose"] for c in finished["llm_calls"]] == ["interview"] * 3 + ["say_back", "articulate"]
    assert all(c["model"] and c["prompt_sha"] and c["input_tokens"] > 0 for c in finished["llm_calls"])
    assert ongoing["llm_calls"][0]["error"] == f"invalid output: '{ALICE_PHRASE}'"

    [card] = data["values_cards"]
    assert card["id"] == world.alice_card and card["title"] == CARD["title"] and card["status"] == "confirmed"
    assert card["value"] == {
        "id": world.shared_value,
        "title": CARD["title"],
        "status": "active",
        "shows_your_card": True,
    }
    assert [d["decision"] for d in card["decisions"]] == ["new_value"]
    assert data["dedup_verdicts"] == [
        {
            "card_id": world.alice_card,
            "value_id": world.shared_value,
            "value_title": CARD["title"],
            "agrees": True,
            "decided_at": card["decisions"][0]["at"],
            "current": True,
        }
    ]

    assert [(v["poll_id"] is not None, v["choice"]) for v in data["votes"]] == [(True, "upgrade"), (True, "not_sure")]
    assert data["votes"][0]["why"] == f"Because of {ALICE_PHRASE}."
    assert data["votes"][0]["context"] == "When someone is afraid to speak up"
    assert data["votes"][0]["from_value"] == {"id": world.shared_value, "title": CARD["title"]}
    # Her route points at the guild she joined last (B): it is B's, not in A's export.
    assert data["dm_routes"] == []
    # Delivery records: 6 + 1 interview messages (consent, three answers, agreeing, confirm; one answer); her two
    # votes' reactions are kept as the platform reported them, with what each did.
    events = [e["event_id"] for e in data["delivery_records"]]
    assert len([e for e in events if e.startswith("message-")]) == 7 == len(events)
    assert [(r["choice"], r["added"], r["outcome"]) for r in data["poll_reactions"]] == [
        ("upgrade", True, "counted"),
        ("not_sure", True, "counted"),
    ]
    if data["mentions"]:  # the audit log exists in this schema
        assert {m["table"] for m in data["mentions"]} == {"moderation_action"}
    if "ideology_ratings" in data:  # the method's measurements exist in this schema
        [rating] = data["ideology_ratings"]
        assert rating["interview_id"] == finished["id"] and ALICE_PHRASE in rating["reason"]
        [offered] = data["generalization_picks"]
        assert offered["values_shown"][0]["value"]["id"] == world.other_value and offered["values_shown"][0]["picked"]

    dumped = export_bytes(data).decode()
    json.loads(dumped)
    for foreign in (BOB.platform_user_id, BOB.display_name, BOB_PHRASE, ALICE_B_PHRASE, "walnut", "Guild B"):
        assert foreign not in dumped

    in_b = await export_member_data(database, community_id=other.community_id, platform_user_id=ALICE.platform_user_id)
    assert [r["platform_user_id"] for r in in_b["dm_routes"]] == [ALICE.platform_user_id]
    assert ALICE_PHRASE in export_bytes(in_b).decode()  # build_world used the same words there
    assert BOB_PHRASE not in export_bytes(in_b).decode()


async def test_mydata_shows_a_story_as_it_was_polled_with_a_moderators_edit(builder, database):
    world = await build_world(builder)
    data = await export_member_data(database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id)
    story_id = data["votes"][0]["story_id"]
    async with database.session() as session:
        story = await session.get(TransitionStory, story_id)
        model_text, story.edited_story, story.edited_by = story.story, "A clearer telling.", "cli:mod"
        await session.commit()
    data = await export_member_data(database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id)
    assert data["votes"][0]["story"] == "A clearer telling." != model_text


async def test_mydata_of_someone_unknown_is_empty(builder, database):
    world = await build_world(builder, with_bob=False)
    data = await export_member_data(database, community_id=world.community_id, platform_user_id="nobody")
    assert not has_member_data(data) and data["member"] is None and data["interviews"] == data["votes"] == []


# --- forget --------------------------------------------------------------------------------------------------


async def test_forget_leaves_no_personal_data_and_the_graph_unchanged(builder, database, clock):
    world = await build_world(builder)
    needles = [ALICE.platform_user_id, ALICE.display_name, ALICE_PHRASE]
    assert {table for table, _, _ in await where_found(database, needles)} >= {
        "member",
        "interview_turn",
        "dm_route",
        "vote",
        "llm_call",
    }
    before = await graph_summary(database, world.community_id)
    assert before["edges"], "the votes should make at least one edge"
    bob_before = await export_member_data(
        database, community_id=world.community_id, platform_user_id=BOB.platform_user_id
    )

    report = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )

    assert await where_found(database, needles) == []
    assert await graph_summary(database, world.community_id) == before  # edges, counts, ranks, voters

    assert report.identity_erased and report.messages_erased > 10 and report.interviews_emptied == 2
    assert report.interviews_stopped == 1
    assert (report.cards_kept_without_author, report.cards_deleted, report.values_deleted) == (1, 0, 0)
    assert (report.votes_anonymised, report.vote_reasons_erased) == (2, 1)
    assert report.dm_routes_deleted == 1 and report.delivery_records_deleted == 7
    assert report.reaction_events_deleted == 2  # the reactions her two votes came from
    assert report.llm_error_texts_erased == 1
    if SQLModel.metadata.tables.get("ideology_rating") is not None:
        assert (report.ideology_ratings_deleted, report.generalization_offers_anonymised) == (1, 1)
    if SQLModel.metadata.tables.get("moderation_action") is not None:
        assert report.mentions_replaced == {
            "moderation_action.actor": 1,
            "moderation_action.target": 1,
            "moderation_action.after": 1,
        }
    text = report.text()
    assert "cannot be undone" in text and "2 votes anonymised" in text and "/mge join" in text

    [tombstone] = await rows(database, Member, Member.forgotten_at != None)  # noqa: E711
    assert tombstone.platform_user_id.startswith("forgotten:") and tombstone.display_name == ""
    assert tombstone.consented_at is None and tombstone.forgotten_at == clock()
    assert (
        await rows(
            database,
            InterviewTurn,
            InterviewTurn.interview_id.in_(
                [i.id for i in await rows(database, Interview, Interview.member_id == tombstone.id)]
            ),
        )
        == []
    )
    interviews = await rows(database, Interview, Interview.member_id == tombstone.id)
    assert sorted(i.state for i in interviews) == ["cancelled", "confirmed"]
    [card] = await rows(database, ValuesCardRecord, ValuesCardRecord.id == world.alice_card)
    assert card.author_member_id is None and card.title == CARD["title"]  # the shared value's text stays
    votes = await rows(database, Vote, col(Vote.member_id).is_(None))
    assert len(votes) == 2 and len({v.voter_key for v in votes}) == 1
    assert votes[0].voter_key.startswith("forgotten:") and all(v.why is None for v in votes)
    assert await rows(database, DmRoute) == []
    # Bob, Carol and the rest are untouched.
    bob_after = await export_member_data(
        database, community_id=world.community_id, platform_user_id=BOB.platform_user_id
    )
    assert {k: v for k, v in bob_after.items() if k != "exported_at"} == {
        k: v for k, v in bob_before.items() if k != "exported_at"
    }


async def test_a_card_only_the_member_held_is_deleted_with_its_value_and_drafts_too(
    builder, database, clock, fake_openai
):
    world = await build_world(builder, with_bob=False)
    # A second, confirmed card whose value is hers alone and in no story; and a draft card.
    async with database.session() as session:  # end the ongoing interview so a new one can start
        interview = (await session.exec(select(Interview).where(Interview.state == "conversing"))).one()
        interview.state = "cancelled"
        session.add(interview)
        await session.commit()
    solo = await builder.card(COMMUNITY_A, ALICE, world.scenario_id, ALICE_PHRASE, SOLO_CARD)
    solo_value = await value_for(database, [solo], now=clock())
    async with database.session() as session:
        sha = values_repo.text_sha(policies_text(SimpleNamespace(policies=SOLO_CARD["policies"])))
        await values_repo.store_vectors(session, model="embed", vectors={sha: [0.5, 0.5]}, now=clock())
        await session.commit()
    await builder.draft(COMMUNITY_A, ALICE, world.scenario_id, ALICE_PHRASE, SOLO_CARD)  # proposed, not confirmed
    before = await graph_summary(database, world.community_id)
    assert str(solo_value) in before["values"]

    report = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )

    assert (report.cards_deleted, report.values_deleted, report.cards_kept_without_author) == (2, 1, 1)
    assert report.embeddings_deleted == 1
    assert await rows(database, ValuesCardRecord, ValuesCardRecord.id == solo) == []
    assert await rows(database, ValueAssignment, ValueAssignment.card_id == solo) == []
    assert await rows(database, EmbeddingCache) == []
    assert await where_found(database, [SOLO_CARD["title"], ALICE_PHRASE, ALICE.platform_user_id]) == []
    after = await graph_summary(database, world.community_id)
    # The lone value leaves the graph; edges and counts stay, and so does the order of the ranks (PageRank
    # divides by the number of values, so every other score is scaled by one common factor).
    assert after["values"] == [v for v in before["values"] if v != str(solo_value)]
    assert after["edges"] == before["edges"] and after["votes_counted"] == before["votes_counted"]
    ratios = {round(after["page_rank"][v] / before["page_rank"][v], 9) for v in after["values"]}
    assert len(ratios) == 1
    assert [r[0] for r in after["rankings"][next(iter(after["rankings"]))]] == [
        r[0] for r in before["rankings"][next(iter(before["rankings"]))]
    ]


async def test_a_card_only_the_member_held_but_in_a_story_is_kept_without_author(builder, database, clock):
    world = await build_world(builder, with_bob=False)  # her value is hers alone, but stories name it
    report = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )
    assert (report.cards_deleted, report.cards_kept_without_author) == (0, 1)
    [card] = await rows(database, ValuesCardRecord, ValuesCardRecord.id == world.alice_card)
    assert card.author_member_id is None


async def test_forget_is_idempotent_and_the_preview_changes_nothing(builder, database, clock):
    world = await build_world(builder)
    start = await everything(database)
    preview = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock(), dry_run=True
    )
    assert await everything(database) == start
    assert "cannot be undone" in preview.preview_text()

    first = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )
    assert first.as_dict() == preview.as_dict()
    after_first = await everything(database)
    second = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )
    assert not second.erased_anything and second.text() == NOTHING_STORED_TEXT
    assert await everything(database) == after_first


async def test_forgetting_in_one_community_leaves_the_other_intact(builder, database, clock):
    world_a = await build_world(builder)
    world_b = await build_world(builder, COMMUNITY_B, with_bob=False)
    in_b_before = await export_member_data(
        database, community_id=world_b.community_id, platform_user_id=ALICE.platform_user_id
    )
    graph_b = await graph_summary(database, world_b.community_id)

    await forget_member(
        database, community_id=world_a.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )

    in_b_after = await export_member_data(
        database, community_id=world_b.community_id, platform_user_id=ALICE.platform_user_id
    )
    strip = lambda data: {k: v for k, v in data.items() if k != "exported_at"}  # noqa: E731
    assert strip(in_b_after) == strip(in_b_before)
    assert in_b_after["member"]["display_name"] == ALICE.display_name
    assert len(in_b_after["votes"]) == 2 and in_b_after["dm_routes"]  # her DM route leads to B: kept
    assert await graph_summary(database, world_b.community_id) == graph_b
    in_a = await export_member_data(
        database, community_id=world_a.community_id, platform_user_id=ALICE.platform_user_id
    )
    assert not has_member_data(in_a)


async def test_after_forgetting_the_member_starts_afresh(builder, database, clock, service):
    world = await build_world(builder, with_bob=False)
    await forget_member(database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock())
    clock.advance(seconds=1)
    [prompt] = await service.resume(COMMUNITY_A, ALICE, scenario_id=world.scenario_id)
    assert isinstance(prompt, ChoicePrompt) and "Do you agree" in prompt.text  # asked for consent again
    [member] = await rows(database, Member, Member.platform_user_id == ALICE.platform_user_id)
    assert member.consented_at is None and member.forgotten_at is None
    [interview] = await rows(database, Interview, Interview.member_id == member.id)
    assert interview.state == InterviewState.AWAITING_CONSENT
    data = await export_member_data(database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id)
    assert len(data["interviews"]) == 1 and data["values_cards"] == [] and data["votes"] == []


async def test_a_forgotten_voter_who_votes_again_is_a_new_voter(builder, database, clock):
    world = await build_world(builder, with_bob=False)
    await forget_member(database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock())
    await builder.vote(COMMUNITY_A, ALICE, "801", "no_upgrade")  # a new member's vote, next to the anonymous one
    votes = await rows(database, Vote, Vote.poll_id == (await rows(database, Vote))[0].poll_id)
    assert len(votes) == 4 and sum(v.member_id is None for v in votes) == 1


async def test_inbound_events_of_others_are_kept(builder, database, clock):
    world = await build_world(builder)
    before = len(await rows(database, InboundEvent))
    report = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )
    assert len(await rows(database, InboundEvent)) == before - report.delivery_records_deleted
    # Bob's six messages are still de-duplicated, and the reactions of Bob, Carol, Dave and Erin kept.
    assert len(await rows(database, InboundEvent)) == 6
    reactions = await rows(database, ReactionEvent)
    assert len(reactions) == 4 and ALICE.platform_user_id not in {r.user_id for r in reactions}


# --- confirming ------------------------------------------------------------------------------------------------


def test_forget_needs_a_fresh_confirmation(clock):
    confirmations = ForgetConfirmations()
    assert not confirmations.confirm(COMMUNITY_A, "u1", clock())  # nothing asked
    confirmations.ask(COMMUNITY_A, "u1", clock())
    assert not confirmations.confirm(COMMUNITY_B, "u1", clock())  # asked in another community
    assert not confirmations.confirm(COMMUNITY_A, "u2", clock())  # someone else
    assert confirmations.confirm(COMMUNITY_A, "u1", clock() + timedelta(minutes=1))
    assert not confirmations.confirm(COMMUNITY_A, "u1", clock() + timedelta(minutes=1))  # once only
    confirmations.ask(COMMUNITY_A, "u1", clock())
    assert not confirmations.confirm(COMMUNITY_A, "u1", clock() + FORGET_CONFIRM_WINDOW + timedelta(seconds=1))


def test_the_consent_notice_says_what_is_stored_who_sees_it_and_how_to_erase_it():
    notice = english().consent_notice
    assert "What is stored" in notice and "Who sees what" in notice
    assert "/mge mydata" in notice and "/mge forget" in notice
    assert "ask the bot's operator to erase" not in notice
    assert notice.endswith("Do you agree to take part?")


@pytest.mark.parametrize("language", built_in_languages())
def test_the_consent_notice_in_every_language_names_the_commands_and_how_to_stop(language):
    texts = texts_for(language)
    notice = texts.consent_notice
    assert "/mge mydata" in notice and "/mge forget" in notice and notice.endswith("?")
    assert texts.commands.cancel[0] in notice.casefold()  # the word it tells the member to type works
    assert notice.count("\n\n") == english().consent_notice.count("\n\n")  # the same five parts


async def test_a_blocked_members_votes_stay_left_out_after_forgetting(builder, database, clock):
    """Eligibility facts (a later table pointing at member.id) stay with the anonymous tombstone, and the
    votes with them: a block still holds, and every vote is judged as before."""
    facts = SQLModel.metadata.tables.get("member_facts")
    if facts is None:
        pytest.skip("no eligibility facts in this schema")
    world = await build_world(builder)
    [alice] = await rows(
        database, Member, Member.platform_user_id == ALICE.platform_user_id, Member.community_id == world.community_id
    )
    async with database.session() as session:
        await session.exec(
            sa.insert(facts).values(
                member_id=alice.id,
                blocked_at=clock(),
                updated_at=clock(),
                account_created_at=clock() - timedelta(days=400),
            )
        )
        await session.commit()
    before = await graph_summary(database, world.community_id)

    report = await forget_member(
        database, community_id=world.community_id, platform_user_id=ALICE.platform_user_id, now=clock()
    )

    assert report.votes_anonymised == 2
    assert await graph_summary(database, world.community_id) == before
    votes = await rows(database, Vote, Vote.member_id == alice.id)
    assert len(votes) == 2 and all(v.voter_key.startswith("forgotten:") for v in votes)
    assert await where_found(database, [ALICE.platform_user_id, ALICE.display_name, ALICE_PHRASE]) == []
