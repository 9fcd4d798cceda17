"""Each community's data stays its own (docs/architecture.md, "Communities are kept apart"): one running bot
serves two communities on each platform — two Discord guilds through the fake Discord and the real
``discord.Client``, two Slack workspaces (team ids) through the fake Slack Web API and the real Bolt app —
with the same platform user (Alice) taking part in both. Both communities are seeded the way the bot builds
them: a scenario, a full interview ending in a confirmed card (through the interview service and the fake
OpenAI server), other members' cards merged into values, a moral context, transition stories, polls posted
through the platform publisher and votes cast as reactions through the platform. Everything of community A
says "Alpha", everything of B says "Bravo", so "no B data" is checked on every answer, file and LLM prompt as
text; ids are checked as ids.

Then, through the real platform paths, a member of one community never sees, votes in, exports or erases
the other's data, and a moderator of one is not a moderator of the other. Real SQLite and PostgreSQL for
what writes (votes, forgetting: their SQL differs between the two); what only reads and checks permissions
runs on SQLite, its queries being the ones the feature tests run on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from adapters.discord.moderator_actions import OTHER_SERVER_TEXT
from adapters.discord.polls import DiscordPollPublisher
from adapters.slack.polls import SlackPollPublisher
from bot.commands.permissions import denial_text
from bot.graph.build import load_community_graph_input
from bot.interview.routing import DmRouter
from bot.interview.scenarios import prepare_scenarios
from bot.privacy.export import export_member_data, has_member_data
from bot.voting.polls import post_story_poll
from core.messages import CommunityRef, Person
from core.polls import REACTIONS, VoteOutcome
from storage.communities_repo import community_id_of
from storage.models import (
    CanonicalValue,
    LLMCall,
    Member,
    ModerationAction,
    MoralContext,
    Poll,
    Scenario,
    TransitionStory,
    ValuesCardRecord,
    Vote,
)
from tests.discord_support import fake_discord, running_bot, top_level  # noqa: F401 (fixtures)
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord, FakeGuild, FakeUser
from tests.slack_support import Harness, serving_slack
from tests.test_ask import ANSWER, QUESTION, answered, choose
from tests.test_discord_moderation import MANAGE_GUILD
from tests.test_privacy import Builder, card_row, graph_summary, value_for

POLICIES = [
    "MOMENTS when the person senses something is wrong but hesitates",
    "CONSEQUENCES for the people who would be hurt by silence",
    "WAYS to speak up that keep the relationship intact",
]


def card_spec(marker: str, title: str) -> dict:
    return {
        "title": f"{marker} {title}",
        "policies": POLICIES,
        "description": f"The assistant helps the person act on what they see at {marker}.",
    }


@dataclass
class Seeded:
    """One community's seeded data: everything in it says ``marker``."""

    community: CommunityRef
    marker: str
    community_id: int = 0
    scenario_id: int = 0
    context_id: int = 0
    card_ids: list[int] = field(default_factory=list)  # Alice's, Bob's, Carol's
    value_ids: list[int] = field(default_factory=list)  # the shared one (Alice + Bob), Carol's
    story_ids: list[int] = field(default_factory=list)  # shared → Carol's, and back
    poll_ids: list[int] = field(default_factory=list)
    #: Per poll, the platform message: Discord's message dict, or Slack's (channel, ts).
    messages: list[Any] = field(default_factory=list)

    @property
    def phrase(self) -> str:
        """Words only Alice typed, in this community's interview."""
        return f"{self.marker.lower()}-umbrella-731"

    @property
    def winner_id(self) -> str:
        return str(self.value_ids[1])  # voted wiser than the shared value


async def seed(builder: Builder, seeded: Seeded, *, alice: Person, bob: Person, carol: Person) -> Seeded:
    """Scenario, Alice's interview and card, Bob's and Carol's cards, two values, a context, two stories."""
    database, clock, marker = builder.database, builder.clock, seeded.marker
    seeded.scenario_id = await prepare_scenarios(
        database, seeded.community, text=f"A {marker} colleague cut corners. What should my friend do?", now=clock()
    )
    seeded.community_id = await community_id_of(database, seeded.community)
    alice_card = await builder.card(
        seeded.community, alice, seeded.scenario_id, seeded.phrase, card_spec(marker, "Courage Grounded In Care")
    )
    bob_card = await card_row(
        database, seeded.community_id, bob, card_spec(marker, "Speaking Up With Kindness"), now=clock()
    )
    carol_card = await card_row(
        database, seeded.community_id, carol, card_spec(marker, "Honest Reporting Of Harm"), now=clock()
    )
    seeded.card_ids = [alice_card, bob_card, carol_card]
    seeded.value_ids = [
        await value_for(database, [alice_card, bob_card], now=clock(), agrees=True),
        await value_for(database, [carol_card], now=clock()),
    ]
    async with database.session() as session:
        context = MoralContext(
            community_id=seeded.community_id, text=f"When a {marker} colleague cuts corners", created_at=clock()
        )
        session.add(context)
        await session.flush()
        seeded.context_id = context.id
        for source, target in (seeded.value_ids, seeded.value_ids[::-1]):
            story = TransitionStory(
                community_id=seeded.community_id,
                context_id=context.id,
                from_value_id=source,
                to_value_id=target,
                story=f"At {marker} I moved from {source} to {target}.",
                steps={},
                prompt_sha="0" * 64,
                model="story-model",
                created_at=clock(),
            )
            session.add(story)
            await session.flush()
            seeded.story_ids.append(story.id)
        await session.commit()
    return seeded


async def post_polls(database, publisher, seeded: Seeded, *, channel_id: str, now) -> list[Poll]:
    polls = []
    for story_id in seeded.story_ids:
        poll = await post_story_poll(
            database,
            publisher,
            story_id=story_id,
            platform=seeded.community.platform,
            channel_id=channel_id,
            closes_at=None,
            now=now,
        )
        seeded.poll_ids.append(poll.id)
        polls.append(poll)
    return polls


#: Who votes how on the first story (shared value → Carol's): three "wiser", one "not wiser", so Carol's
#: value wins its context; Alice also says "not sure" on the way back.
VOTES = [
    ("alice", 0, "upgrade"),
    ("dave", 0, "upgrade"),
    ("erin", 0, "upgrade"),
    ("carol", 0, "no_upgrade"),
    ("alice", 1, "not_sure"),
]


def emoji_for(platform: str, choice: str) -> str:
    return next(emoji for emoji, means in REACTIONS[platform].items() if means == choice)


# --- what is checked everywhere ------------------------------------------------------------------------------


def assert_none_of(other: Seeded, *texts: Any) -> None:
    """No text (answers, files, prompts; dicts and lists as JSON) mentions the other community."""
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        elif not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False)
        assert other.marker.casefold() not in text.casefold(), f"{other.marker} data leaked: {text[:2000]}"


async def snapshot(database, seeded: Seeded) -> dict:
    """Everything of one community that the other must never change."""
    async with database.session() as session:

        def of(model):
            return select(model).where(model.community_id == seeded.community_id)

        return {
            "graph": await graph_summary(database, seeded.community_id),
            "values": sorted((v.id, v.title, v.status) for v in (await session.exec(of(CanonicalValue))).all()),
            "cards": sorted(
                (c.id, c.title, c.author_member_id, c.status) for c in (await session.exec(of(ValuesCardRecord))).all()
            ),
            "members": sorted(
                (m.id, m.platform_user_id, m.forgotten_at is None) for m in (await session.exec(of(Member))).all()
            ),
            "votes": sorted(
                (v.poll_id, v.member_id, v.voter_key, v.choice) for v in (await session.exec(of(Vote))).all()
            ),
            "scenarios": sorted((s.id, s.text, s.is_open) for s in (await session.exec(of(Scenario))).all()),
            "contexts": sorted((c.id, c.text) for c in (await session.exec(of(MoralContext))).all()),
            "audit": sorted((a.id, a.action) for a in (await session.exec(of(ModerationAction))).all()),
        }


async def assert_votes_stay_in_their_community(database) -> None:
    """Every vote is in its poll's community, and every voter a member of that community."""
    async with database.session() as session:
        rows = (await session.exec(select(Vote, Poll).join(Poll, Poll.id == Vote.poll_id))).all()
        assert rows
        for vote, poll in rows:
            assert vote.community_id == poll.community_id
            if vote.member_id is not None:
                member = await session.get(Member, vote.member_id)
                assert member.community_id == vote.community_id


async def ask_call_communities(database) -> set[int]:
    """The communities the ``/mge ask`` LLM calls were recorded (and counted) for."""
    async with database.session() as session:
        calls = (await session.exec(select(LLMCall).where(col(LLMCall.purpose).startswith("ask")))).all()
    assert calls
    return {call.community_id for call in calls}


def export_ids(document: dict) -> dict[str, set[str]]:
    return {
        "values": {str(v["id"]) for v in document["values"]},
        "stories": {str(s["id"]) for s in document["stories"]},
    }


def assert_export_is_only(document: dict, mine: Seeded, other: Seeded) -> None:
    ids = export_ids(document)
    assert ids["values"] == {str(v) for v in mine.value_ids}
    assert ids["stories"] <= {str(s) for s in mine.story_ids} and ids["stories"]
    assert not ids["values"] & {str(v) for v in other.value_ids}
    assert not ids["stories"] & {str(s) for s in other.story_ids}
    assert_none_of(other, document)


# =============================================================================================================
# Discord: two guilds, one bot
# =============================================================================================================


@dataclass
class DiscordWorld:
    fake: FakeDiscord
    bot: Any
    guilds: dict[str, FakeGuild]
    users: dict[str, FakeUser]
    seeded: dict[str, Seeded]
    outcomes: list[tuple[int, VoteOutcome | None]]

    def other(self, key: str) -> str:
        return "B" if key == "A" else "A"

    async def react(self, user: str, message: dict, emoji: str) -> VoteOutcome | None:
        """``user`` reacts under ``message``; returns what the bot made of it (the bot's own reactions,
        echoed back by the gateway, are handled too: only this user's outcomes count)."""
        user_id = self.users[user].id

        def theirs() -> list[VoteOutcome | None]:
            return [outcome for who, outcome in self.outcomes if who == user_id]

        before = len(theirs())
        await self.fake.add_reaction(self.users[user], message, emoji)
        for _ in range(250):  # the bot handles the gateway event in its own task
            if len(theirs()) > before:
                return theirs()[-1]
            await asyncio.sleep(0.02)
        raise AssertionError("the bot did not handle the reaction")

    async def command(
        self,
        user: str,
        key: str,
        subcommand: str,
        *,
        responses: int,
        permissions: int = 0,
        group: str | None = None,
        **options,
    ) -> tuple[int, list[dict]]:
        interaction = await self.fake.send_slash_command(
            self.users[user],
            self.guilds[key],
            top_level(group or subcommand),
            subcommand,
            group=group,
            member_permissions=permissions,
            options=[{"name": k, "type": 4 if isinstance(v, int) else 3, "value": v} for k, v in options.items()],
        )
        return interaction, await self.fake.wait_for_responses(interaction, responses)

    async def moderate(
        self, user: str, key: str, path: str, *, permissions: int = MANAGE_GUILD, responses: int = 2, **options
    ) -> list[dict]:
        group, _, name = path.partition(" ")
        _, replies = await self.command(
            user,
            key,
            name or group,
            group=group if name else None,
            permissions=permissions,
            responses=responses,
            **options,
        )
        return replies

    def files_of(self, interaction: int) -> list[tuple[str, bytes]]:
        message = self.fake.interactions[interaction].messages[-1]
        return [(a["filename"], self.fake.files[a["id"]]) for a in message.get("attachments", [])]


@pytest.fixture
async def discord_world(fake_discord, service, database, fake_openai, clock):
    guilds = {"A": fake_discord.add_guild("Alpha Guild"), "B": fake_discord.add_guild("Bravo Guild")}
    users = {name: fake_discord.add_user(name) for name in ("alice", "bob", "carol", "dave", "erin", "mod")}
    people = {name: Person(str(user.id), name) for name, user in users.items()}
    outcomes: list[tuple[int, VoteOutcome | None]] = []
    async with running_bot(
        fake_discord, service, database, clock, sync_commands=False, poll_duration=timedelta(hours=48)
    ) as bot:

        async def on_handled(payload, outcome) -> None:
            outcomes.append((payload.user_id, outcome))

        bot.on_mge_reaction_handled = on_handled
        world = DiscordWorld(fake_discord, bot, guilds, users, {}, outcomes)
        builder = Builder(database, service, fake_openai, clock)
        for key, marker in (("A", "Alpha"), ("B", "Bravo")):
            guild = guilds[key]
            seeded = await seed(
                builder,
                Seeded(CommunityRef("discord", str(guild.id), guild.name), marker),
                alice=people["alice"],
                bob=people["bob"],
                carol=people["carol"],
            )
            await post_polls(database, DiscordPollPublisher(bot), seeded, channel_id=str(guild.channel_id), now=clock())
            seeded.messages = fake_discord.bot_messages(guild.channel_id)[-2:]
            for voter, index, choice in VOTES:
                outcome = await world.react(voter, seeded.messages[index], emoji_for("discord", choice))
                assert outcome is VoteOutcome.COUNTED
            world.seeded[key] = seeded
        # Alice's DMs belong to the guild where she last ran /mge join: A.
        await DmRouter(database).remember(
            user_id=people["alice"].platform_user_id, community=world.seeded["A"].community, now=clock()
        )
        yield world


@pytest.mark.sqlite_only
async def test_discord_a_member_sees_only_the_community_they_ask_in(discord_world, database, fake_openai):
    world = discord_world
    for key in ("A", "B"):
        mine, other = world.seeded[key], world.seeded[world.other(key)]
        # /mge mycard: her card of this guild only, placed in this guild's value.
        _, [shown] = await world.command("alice", key, "mycard", responses=1)
        assert shown["flags"] == EPHEMERAL
        assert [e["title"] for e in shown["embeds"]] == [f"{mine.marker} Courage Grounded In Care"]
        assert_none_of(other, shown)
        # /mge mydata: the file holds this guild's transcripts, cards and votes only.
        interaction, (_, followup) = await world.command("alice", key, "mydata", responses=2)
        [(name, content)] = world.files_of(interaction)
        data = json.loads(content)
        assert data["community"]["id"] == mine.community.external_id
        assert mine.phrase in content.decode() and [c["title"] for c in data["values_cards"]] == [
            f"{mine.marker} Courage Grounded In Care"
        ]
        assert {v["poll_id"] for v in data["votes"]} == set(mine.poll_ids)
        assert_none_of(other, followup, content)

    # /mge ask in A: only A's contexts are offered to the LLM; naming B's context is refused like any
    # unknown id, and the answer cites A's winning value only.
    a, b = world.seeded["A"], world.seeded["B"]
    fake_openai.script(choose(b.context_id), choose(b.context_id))
    _, (_, refused) = await world.command("alice", "A", "ask", responses=2, question=QUESTION)
    assert "couldn't" in refused["content"] or "could not" in refused["content"]
    fake_openai.script(choose(a.context_id), answered(ANSWER, a.winner_id))
    _, (_, reply) = await world.command("alice", "A", "ask", responses=2, question=QUESTION)
    assert ANSWER in reply["content"] and "Alpha Honest Reporting Of Harm" in reply["content"]
    assert_none_of(b, reply, [request.body for request in fake_openai.chat_requests[-4:]])
    assert await ask_call_communities(database) == {a.community_id}
    # In DMs, the remembered guild (A) is the one asked about.
    interaction = await world.fake.send_slash_command(world.users["alice"], None, "mge", "mycard")
    [in_dm] = await world.fake.wait_for_responses(interaction, 1)
    assert [e["title"] for e in in_dm["embeds"]] == ["Alpha Courage Grounded In Care"]


@pytest.mark.sqlite_only
async def test_discord_a_moderator_sees_and_exports_only_their_own_guild(discord_world, database):
    world = discord_world
    before = {key: await snapshot(database, s) for key, s in world.seeded.items()}
    for key in ("A", "B"):
        mine, other = world.seeded[key], world.seeded[world.other(key)]
        _, listed = await world.moderate("mod", key, "values list")
        assert f"{mine.value_ids[0]}. {mine.marker} Courage Grounded In Care" in listed["content"]
        assert_none_of(other, listed)
        _, shown = await world.moderate("mod", key, "values show", value=mine.value_ids[0])
        assert f"{mine.marker} Speaking Up With Kindness" in shown["content"]
        # The other guild's ids, in every command that takes one, are unknown here.
        for path, options in (
            ("values show", {"value": other.value_ids[0]}),
            ("values hide", {"value": other.value_ids[0]}),
            ("values merge", {"keep": mine.value_ids[0], "merge": other.value_ids[1]}),
            ("values split", {"card": other.card_ids[0]}),
            ("round close", {"scenario": other.scenario_id}),
            ("contexts edit", {"context": other.context_id, "text": "When taken over"}),
            ("contexts remove", {"context": other.context_id}),
        ):
            _, refused = await world.moderate("mod", key, path, **options)
            assert refused["content"].casefold().startswith("no "), (path, refused)
            assert_none_of(other, refused)
        # The digest preview and every export format: this guild's values and stories only.
        interaction, (_, preview) = await world.command(
            "mod", key, "preview", group="digest", responses=2, permissions=MANAGE_GUILD
        )
        assert f"{mine.marker} Honest Reporting Of Harm" in preview["content"]
        assert_none_of(other, preview)
        for fmt in ("json", "graphml", "csv", "html"):
            interaction, (_, exported) = await world.command(
                "mod", key, "export", responses=2, permissions=MANAGE_GUILD, format=fmt
            )
            [(name, content)] = world.files_of(interaction)
            if fmt == "json":
                assert_export_is_only(json.loads(content), mine, other)
            elif fmt == "csv":
                with zipfile.ZipFile(io.BytesIO(content)) as archive:
                    for member in archive.namelist():
                        assert_none_of(other, archive.read(member))
                    values = json.loads(archive.read("moral-graph/values.json"))
                    assert {str(v["id"]) for v in values} == {str(v) for v in mine.value_ids}
            else:
                assert f"{mine.marker} Courage Grounded In Care" in content.decode()
            assert_none_of(other, exported, content)
        _, stats = await world.moderate("mod", key, "stats")
        _, log = await world.moderate("mod", key, "audit")
        assert_none_of(other, stats, log)
        # This guild's audit log: its own four exports, none of the other guild's.
        assert [line.split(" · ")[-1] for line in log["content"].splitlines()] == [
            "export html",
            "export csv",
            "export graphml",
            "export json",
        ]
    after = {key: await snapshot(database, s) for key, s in world.seeded.items()}
    for key in ("A", "B"):  # nothing changed but each guild's own audit log (its exports)
        assert {k: v for k, v in after[key].items() if k != "audit"} == {
            k: v for k, v in before[key].items() if k != "audit"
        }


@pytest.mark.sqlite_only
async def test_discord_manage_server_in_one_guild_grants_nothing_in_the_other(discord_world, database):
    world = discord_world
    b_before = await snapshot(database, world.seeded["B"])
    # The same user: Manage Server in A (a moderator there) …
    _, listed = await world.moderate("mod", "A", "values list")
    assert "Alpha" in listed["content"]
    # … and an ordinary member of B: every moderator action there is refused.
    b = world.seeded["B"]
    for path, options in (
        ("values list", {}),
        ("values hide", {"value": b.value_ids[0]}),
        ("export", {}),
        ("digest preview", {}),
        ("member block", {"member": f"<@{world.users['alice'].id}>"}),
        ("round close", {"scenario": b.scenario_id}),
        ("stats", {}),
    ):
        [refused] = await world.moderate("mod", "B", path, permissions=0, responses=1, **options)
        group = path.split()[0]
        assert refused["content"] == denial_text("discord", action=f"use /mge-mod {group}"), path
        assert_none_of(world.seeded["B"], refused)
    _, _ = await world.command("mod", "B", "poll", responses=1, permissions=0)
    assert await snapshot(database, world.seeded["B"]) == b_before


@pytest.mark.sqlite_only
async def test_discord_a_moderator_cannot_post_into_another_guilds_channel(discord_world, database):
    world = discord_world
    b_channel = world.guilds["B"].channel_id
    posted_before = len(world.fake.bot_messages(b_channel))
    b_before = await snapshot(database, world.seeded["B"])
    for path in ("polls channel", "digest channel", "polls post-now", "digest post-now"):
        _, refused = await world.moderate("mod", "A", path, channel=f"<#{b_channel}>")
        assert refused["content"] == OTHER_SERVER_TEXT, (path, refused)
    assert len(world.fake.bot_messages(b_channel)) == posted_before  # nothing of A's appeared in B
    assert await snapshot(database, world.seeded["B"]) == b_before
    async with database.session() as session:
        from storage.models import CommunitySchedule

        row = await session.get(CommunitySchedule, world.seeded["A"].community_id)
        assert row is None or str(b_channel) not in (row.poll_channel_id, row.digest_channel_id)
    # Its own channel is fine.
    _, saved = await world.moderate("mod", "A", "polls channel", channel=f"<#{world.guilds['A'].channel_id}>")
    assert saved["content"].startswith("Saved.")


async def test_discord_votes_never_cross_guilds(discord_world, database):
    world = discord_world
    a, b = world.seeded["A"], world.seeded["B"]
    before = {key: await snapshot(database, s) for key, s in world.seeded.items()}
    # A reaction on B's poll message that claims to come from guild A (or a DM) is ignored.
    forged = {**b.messages[0], "guild_id": str(world.guilds["A"].id)}
    assert await world.react("dave", forged, "\u274c") is VoteOutcome.IGNORED_OTHER_COMMUNITY
    assert await world.react("erin", {**b.messages[1], "guild_id": None}, "\u2705") is VoteOutcome.IGNORED_UNKNOWN_POLL
    # A's message ids in B's channel are no poll there.
    moved = {**a.messages[0], "channel_id": str(world.guilds["B"].channel_id), "guild_id": str(world.guilds["B"].id)}
    assert await world.react("dave", moved, "\u274c") is VoteOutcome.IGNORED_UNKNOWN_POLL
    assert {key: await snapshot(database, s) for key, s in world.seeded.items()} == before
    # A real vote in B lands in B, by B's member row of the same user.
    assert await world.react("dave", b.messages[1], "\u2705") is VoteOutcome.COUNTED
    await assert_votes_stay_in_their_community(database)
    assert await snapshot(database, a) == before["A"]


async def test_discord_forgetting_in_one_guild_leaves_the_other_intact(discord_world, database):
    world = discord_world
    a, b = world.seeded["A"], world.seeded["B"]
    alice = str(world.users["alice"].id)
    b_before = await snapshot(database, b)
    b_data = await export_member_data(database, community_id=b.community_id, platform_user_id=alice)
    interaction, _ = await world.command("alice", "A", "forget", responses=2)
    message = world.fake.interactions[interaction].messages[-1]
    erase = next(
        c["custom_id"] for row in message["components"] for c in row["components"] if c["label"] == "Erase my data"
    )
    assert erase.startswith(f"mge:choice:forget:{world.guilds['A'].id}:")
    pressed = await world.fake.press_button(world.users["alice"], message, erase)
    _, done = await world.fake.wait_for_responses(pressed, 2)
    assert done["content"].startswith("Done: your data in this community is erased")
    assert not has_member_data(await export_member_data(database, community_id=a.community_id, platform_user_id=alice))
    # B: the same user's rows are all there, and B's graph is unchanged.
    assert await snapshot(database, b) == b_before
    after = await export_member_data(database, community_id=b.community_id, platform_user_id=alice)
    assert {k: v for k, v in after.items() if k != "exported_at"} == {
        k: v for k, v in b_data.items() if k != "exported_at"
    }
    _, [shown] = await world.command("alice", "B", "mycard", responses=1)
    assert [e["title"] for e in shown["embeds"]] == ["Bravo Courage Grounded In Care"]


# =============================================================================================================
# Slack: two workspaces, one Bolt app
# =============================================================================================================

TEAMS = {"A": "T0ALPHA", "B": "T0BRAVO"}
CHANNELS = {"A": "C0ALPHA", "B": "C0BRAVO"}
SLACK_USERS = {
    "alice": "W0ALICE",
    "bob": "W0BOB",
    "carol": "W0CAROL",
    "dave": "W0DAVE",
    "erin": "W0ERIN",
    "mod": "W0MOD",
}
#: The moderator of A only (Enterprise Grid: the same W… id exists in both workspaces).
SLACK_MODERATORS = (f"{TEAMS['A']}:{SLACK_USERS['mod']}",)


@dataclass
class SlackWorld:
    slack: Harness
    seeded: dict[str, Seeded]

    def other(self, key: str) -> str:
        return "B" if key == "A" else "A"

    async def command(self, user: str, key: str, text: str, *, channel: str | None = None) -> dict:
        response = await self.slack.command(
            text, user=SLACK_USERS[user], user_name=user, team=TEAMS[key], channel=channel or CHANNELS[key]
        )
        await self.slack.settle()
        answer = response.json()
        assert answer["response_type"] == "ephemeral"
        return answer

    async def react(self, user: str, key: str, channel: str, ts: str, emoji: str) -> None:
        await self.slack.react(channel, ts, emoji, user=SLACK_USERS[user], team=TEAMS[key])

    def last_upload(self) -> bytes:
        return list(self.slack.slack.uploads.values())[-1]

    def dms_to(self, user: str) -> list[str]:
        channel = "D" + SLACK_USERS[user].lstrip("U")
        return [c.dump() for c in self.slack.posts_to(channel)]


@pytest.fixture
async def slack_world(service, database, fake_openai, clock):
    people = {name: Person(uid, name) for name, uid in SLACK_USERS.items()}
    async with serving_slack(
        service, database, clock=clock, moderator_ids=SLACK_MODERATORS, poll_duration=timedelta(hours=48)
    ) as slack:
        world = SlackWorld(slack, {})
        builder = Builder(database, service, fake_openai, clock)
        for key, marker in (("A", "Alpha"), ("B", "Bravo")):
            seeded = await seed(
                builder,
                Seeded(CommunityRef("slack", TEAMS[key], marker.lower()), marker),
                alice=people["alice"],
                bob=people["bob"],
                carol=people["carol"],
            )
            polls = await post_polls(
                database, SlackPollPublisher(slack.app.client), seeded, channel_id=CHANNELS[key], now=clock()
            )
            seeded.messages = [(poll.channel_id, poll.message_id) for poll in polls]
            for voter, index, choice in VOTES:
                await world.react(voter, key, *seeded.messages[index], emoji_for("slack", choice))
            world.seeded[key] = seeded
        for seeded in world.seeded.values():
            assert len((await load_community_graph_input(database, community_id=seeded.community_id)).votes) == 5
        yield world


@pytest.mark.sqlite_only
async def test_slack_a_member_sees_only_the_workspace_they_ask_in(slack_world, database, fake_openai):
    world = slack_world
    for key in ("A", "B"):
        mine, other = world.seeded[key], world.seeded[world.other(key)]
        shown = await world.command("alice", key, "mycard")
        assert shown["text"] == f"Your values cards: {mine.marker} Courage Grounded In Care"
        assert_none_of(other, shown)
        answer = await world.command("alice", key, "mydata")
        content = world.last_upload()
        data = json.loads(content)
        assert data["community"]["id"] == TEAMS[key] and mine.phrase in content.decode()
        assert {v["poll_id"] for v in data["votes"]} == set(mine.poll_ids)
        assert_none_of(other, answer, content)

    a, b = world.seeded["A"], world.seeded["B"]
    fake_openai.script(choose(b.context_id), choose(b.context_id))
    await world.command("alice", "A", "ask " + QUESTION)
    refused = world.slack.slack.calls_to("chat.postEphemeral")[-1]
    assert "couldn't" in refused.dump() or "could not" in refused.dump()
    fake_openai.script(choose(a.context_id), answered(ANSWER, a.winner_id))
    await world.command("alice", "A", "ask " + QUESTION)
    reply = world.slack.slack.calls_to("chat.postEphemeral")[-1]
    assert "Alpha Honest Reporting Of Harm" in reply.dump()
    assert_none_of(b, reply.dump(), [request.body for request in fake_openai.chat_requests[-4:]])
    assert await ask_call_communities(database) == {a.community_id}


@pytest.mark.sqlite_only
async def test_slack_a_moderator_of_one_workspace_sees_exports_and_changes_only_that_one(slack_world, database):
    world = slack_world
    a, b = world.seeded["A"], world.seeded["B"]
    b_before = await snapshot(database, b)
    listed = await world.command("mod", "A", "values list")
    assert f"{a.value_ids[0]}. Alpha Courage Grounded In Care" in listed["text"]
    assert_none_of(b, listed)
    for text in (
        f"values show {b.value_ids[0]}",
        f"values hide {b.value_ids[0]}",
        f"values merge {a.value_ids[0]} {b.value_ids[1]}",
        f"values split {b.card_ids[0]}",
        f"round close {b.scenario_id}",
        f"contexts edit {b.context_id} When taken over",
        f"contexts remove {b.context_id}",
    ):
        refused = await world.command("mod", "A", text)
        assert refused["text"].casefold().startswith("no "), (text, refused)
        assert_none_of(b, refused)
    assert (await world.command("mod", "A", "digest preview"))["text"].startswith("Working on it")
    preview = world.dms_to("mod")[-1]
    assert "Alpha Honest Reporting Of Harm" in preview
    assert_none_of(b, preview)
    for fmt in ("json", "csv", "graphml", "html"):
        await world.command("mod", "A", f"export {fmt}")
        content = world.last_upload()
        if fmt == "json":
            assert_export_is_only(json.loads(content), a, b)
        elif fmt == "csv":
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                for member in archive.namelist():
                    assert_none_of(b, archive.read(member))
        assert_none_of(b, content, world.dms_to("mod")[-1])
    log = await world.command("mod", "A", "audit")
    assert_none_of(b, await world.command("mod", "A", "stats"), log)
    assert [line.split(" · ")[-1] for line in log["text"].splitlines()] == [
        "export html",
        "export graphml",
        "export csv",
        "export json",
    ]

    # The moderator id is scoped to A: the same user in B is refused everything, and told why.
    dms_before = len(world.dms_to("mod"))
    for text in (
        "values list",
        f"values hide {b.value_ids[0]}",
        "export json",
        "digest preview",
        "stats",
        f"member block <@{SLACK_USERS['alice']}>",
        f"round close {b.scenario_id}",
        "poll",
    ):
        refused = await world.command("mod", "B", text)
        action = "post polls" if text == "poll" else f"use /mge {text.split()[0]}"
        assert refused["text"] == denial_text(
            "slack", action=action, moderator_ids=SLACK_MODERATORS, team_id=TEAMS["B"]
        ), text
        assert "none are configured for this workspace" in refused["text"]
    assert len(world.dms_to("mod")) == dms_before
    assert await snapshot(database, b) == b_before


async def test_slack_votes_never_cross_workspaces(slack_world, database):
    world = slack_world
    a, b = world.seeded["A"], world.seeded["B"]
    before = {key: await snapshot(database, s) for key, s in world.seeded.items()}
    # A reaction on B's poll message that carries workspace A is ignored …
    await world.react("dave", "A", *b.messages[0], "x")
    await world.react("erin", "A", *b.messages[1], "white_check_mark")
    # … and so is A's poll message named from B.
    await world.react("dave", "B", *a.messages[0], "x")
    assert {key: await snapshot(database, s) for key, s in world.seeded.items()} == before
    # A real vote in B lands in B, by B's member row of the same user id.
    await world.react("dave", "B", *b.messages[1], "white_check_mark")
    await assert_votes_stay_in_their_community(database)
    assert await snapshot(database, a) == before["A"]
    assert len((await snapshot(database, b))["votes"]) == len(before["B"]["votes"]) + 1


async def test_slack_forgetting_in_one_workspace_leaves_the_other_intact(slack_world, database):
    world = slack_world
    a, b = world.seeded["A"], world.seeded["B"]
    alice = SLACK_USERS["alice"]
    b_before = await snapshot(database, b)
    b_data = await export_member_data(database, community_id=b.community_id, platform_user_id=alice)
    await world.command("alice", "A", "forget")
    # Asked in A, confirmed in B: nothing happens (the confirmation belongs to A).
    assert (await world.command("alice", "B", "forget confirm"))["text"].startswith("Nothing was erased")
    done = await world.command("alice", "A", "forget confirm")
    assert done["text"].startswith("Done: your data in this community is erased")
    assert not has_member_data(await export_member_data(database, community_id=a.community_id, platform_user_id=alice))
    assert await snapshot(database, b) == b_before
    after = await export_member_data(database, community_id=b.community_id, platform_user_id=alice)
    assert {k: v for k, v in after.items() if k != "exported_at"} == {
        k: v for k, v in b_data.items() if k != "exported_at"
    }
    assert (await world.command("alice", "B", "mycard"))["text"] == "Your values cards: Bravo Courage Grounded In Care"
