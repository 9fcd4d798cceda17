"""The weekly graph digest: content, changes since the last one, participation, markdown, picture,
the Discord and Slack renderings, and ``mge digest preview``."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from typer.testing import CliRunner

from adapters.discord.digest import MAX_EMBED_TOTAL, MAX_FIELD_NAME, MAX_FIELD_VALUE, MAX_FIELDS, digest_message
from adapters.slack.digest import MAX_BLOCKS, MAX_TOTAL_TEXT, digest_blocks, post_digest
from bot.cli.digest import digest_app
from bot.digest.build import (
    DIGEST_JOB,
    build_digest,
    finish_digest_job,
    prepare_digest,
    previous_snapshot,
)
from bot.digest.picture import graph_png
from bot.graph.build import build_community_graph
from bot.runtime.jobs import claim_job
from bot.voting.polls import apply_reaction, record_poll
from core.digest import build_digest_from_graph, digest_markdown, digest_period
from core.graph import GraphParams, Value, Vote, build_moral_graph
from core.messages import CommunityRef, Person
from core.polls import VoteOutcome
from storage import communities_repo
from storage.database import Database
from storage.models import (
    CanonicalValue,
    Interview,
    Member,
    MoralContext,
    Scenario,
    ScenarioContext,
    TransitionStory,
)
from tests.fakes.slack_api import FakeSlack

GUILD = CommunityRef("discord", "guild-digest-1", "Riverside Guild")
PEOPLE = [Person(f"DIGEST-UID-{n}", f"Person {n}") for n in "ABCDEF"]
YES, NO, UNSURE = "\u2705", "\u274c", "\U0001f914"
GRIEF = "When a friend is grieving"
CHILD = "When a child asks a hard question"
HOSTILE = "@everyone <!here> <@123456> **Loud** [link](http://x.test) Value"
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday: ISO week 2026-W47
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def spec(title: str) -> dict:
    return {
        "title": title,
        "description": f"{title}, described.",
        "policies": [f"MOMENTS of {title}", f"CHOICES that show {title}"],
    }


@dataclass
class Seeded:
    community_id: int
    values: dict[str, int] = field(default_factory=dict)
    contexts: dict[str, int] = field(default_factory=dict)
    now: datetime = START

    def vid(self, letter: str) -> str:
        return str(self.values[letter])


async def add_values(database: Database, seeded: Seeded, values: dict[str, str]) -> None:
    async with database.session() as session:
        rows = {
            k: CanonicalValue(community_id=seeded.community_id, created_at=seeded.now, updated_at=seeded.now, **spec(t))
            for k, t in values.items()
        }
        session.add_all(rows.values())
        await session.commit()
        seeded.values |= {k: r.id for k, r in rows.items()}


async def vote_story(
    database: Database, seeded: Seeded, name: str, a: str, b: str, context: str, votes: list[tuple[Person, str]]
) -> None:
    async with database.session() as session:
        story = TransitionStory(
            community_id=seeded.community_id,
            context_id=seeded.contexts[context],
            from_value_id=seeded.values[a],
            to_value_id=seeded.values[b],
            story=f"Story {name}",
            steps={},
            prompt_sha="0" * 64,
            model="test",
            created_at=seeded.now,
        )
        session.add(story)
        await session.commit()
        story_id = story.id
    await record_poll(
        database,
        story_id=story_id,
        platform="discord",
        channel_id="c1",
        message_id=name,
        closes_at=None,
        now=seeded.now,
    )
    for person, emoji in votes:
        seeded.now += timedelta(minutes=1)
        outcome = await apply_reaction(
            database,
            community=GUILD,
            platform="discord",
            channel_id="c1",
            message_id=name,
            person=person,
            emoji=emoji,
            added=True,
            event_id=None,
            now=seeded.now,
        )
        assert outcome == VoteOutcome.COUNTED


async def seed(database: Database) -> Seeded:
    """Week 1: two scenarios with a context each. In GRIEF, Kind Honesty beat Obedience 5 of 6 and
    Listening First beat it 2 of 3 (one unsure); in CHILD, the hostile-titled value beat Patience."""
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=GUILD.platform, external_id=GUILD.external_id, name=GUILD.name, now=START
        )
        contexts = {text: MoralContext(community_id=row.id, text=text, created_at=START) for text in (GRIEF, CHILD)}
        scenarios = [Scenario(community_id=row.id, text=t, created_at=START) for t in ("A friend in need", "Parenting")]
        session.add_all([*contexts.values(), *scenarios])
        await session.flush()
        session.add_all(
            [
                ScenarioContext(scenario_id=scenarios[0].id, context_id=contexts[GRIEF].id),
                ScenarioContext(scenario_id=scenarios[1].id, context_id=contexts[CHILD].id),
            ]
        )
        await session.commit()
        seeded = Seeded(row.id, contexts={t: c.id for t, c in contexts.items()})
    await add_values(
        database, seeded, {"O": "Obedience", "K": "Kind Honesty", "L": "Listening First", "P": "Patience", "H": HOSTILE}
    )
    p = PEOPLE
    await vote_story(
        database,
        seeded,
        "s1",
        "O",
        "K",
        GRIEF,
        [(p[0], YES), (p[1], YES), (p[2], YES), (p[3], YES), (p[4], YES), (p[5], NO)],
    )
    await vote_story(database, seeded, "s2", "O", "L", GRIEF, [(p[0], YES), (p[1], YES), (p[2], UNSURE)])
    await vote_story(database, seeded, "s3", "P", "H", CHILD, [(p[0], YES), (p[1], YES), (p[2], YES)])

    # Interviews: two confirmed this week, one confirmed long ago, one cancelled, one still going.
    async with database.session() as session:
        member = Member(community_id=seeded.community_id, platform_user_id="INTERVIEWEE", created_at=START)
        session.add(member)
        await session.flush()
        for state, ended in [
            ("confirmed", START),
            ("confirmed", START + timedelta(hours=2)),
            ("confirmed", START - timedelta(days=30)),
            ("cancelled", START),
            ("conversing", None),
        ]:
            session.add(
                Interview(
                    community_id=seeded.community_id,
                    member_id=member.id,
                    state=state,
                    created_at=START - timedelta(days=40),
                    last_activity_at=START,
                    ended_at=ended,
                )
            )
        await session.commit()
    return seeded


async def week_two(database: Database, seeded: Seeded) -> None:
    """A week later: Kind Honesty → Listening First (a new edge, Listening First now wins GRIEF), and a
    new value, Gentle Truth, voted wiser than Patience in CHILD."""
    seeded.now = START + timedelta(days=8)
    p = PEOPLE
    await vote_story(database, seeded, "s4", "K", "L", GRIEF, [(p[0], YES), (p[1], YES), (p[2], YES)])
    await add_values(database, seeded, {"N": "Gentle Truth"})
    await vote_story(database, seeded, "s5", "P", "N", CHILD, [(p[0], YES), (p[1], YES), (p[2], YES)])


# --- content -------------------------------------------------------------------------------------------


async def test_top_values_follow_the_graph_rankings_per_scenario_and_context(database):
    seeded = await seed(database)
    now = START + timedelta(days=1)
    digest, snapshot = await build_digest(database, community_id=seeded.community_id, now=now)
    graph = await build_community_graph(database, community_id=seeded.community_id, params=GraphParams())

    assert digest.community == "Riverside Guild" and digest.period == "2026-W47" == digest_period(now)
    assert [(s, c.context) for s, c in digest.contexts()] == [("A friend in need", GRIEF), ("Parenting", CHILD)]
    for _, ctx in digest.contexts():
        ranking = graph.rankings[ctx.context]
        assert [(t.value_id, t.title, t.score) for t in ctx.top] == [(r.id, r.title, r.score) for r in ranking[:3]]
    grief = dict((c.context, c) for _, c in digest.contexts())[GRIEF]
    winner = grief.top[0]
    assert winner.value_id == seeded.vid("K") and winner.title == "Kind Honesty"
    assert winner.policies == ("MOMENTS of Kind Honesty", "CHOICES that show Kind Honesty")
    assert winner.how_it_won == "wiser than Obedience (5 of 6 voters)"
    assert dict((c.context, c) for _, c in digest.contexts())[GRIEF].top[1].how_it_won == (
        "wiser than Obedience (2 of 3 voters)"
    )
    assert digest.changes.first
    assert snapshot["period"] == "2026-W47" and set(snapshot["contexts"]) == {GRIEF, CHILD}
    assert snapshot["contexts"][GRIEF]["ranking"][0] == seeded.vid("K")
    json.dumps(snapshot)  # storable


async def test_changes_since_the_previous_digest_and_participation(database):
    seeded = await seed(database)
    first_now = START + timedelta(days=1)
    async with database.session() as session:
        run = await claim_job(
            session, job=DIGEST_JOB, community_id=seeded.community_id, period=digest_period(first_now), now=first_now
        )
        _, snapshot = await build_digest(database, community_id=seeded.community_id, now=first_now)
        finish_digest_job(run, snapshot, now=first_now)
        await session.commit()
    assert await previous_snapshot(database, community_id=seeded.community_id) == snapshot

    await week_two(database, seeded)
    now = START + timedelta(days=9)
    digest, _ = await build_digest(database, community_id=seeded.community_id, now=now)
    changes = digest.changes
    assert not changes.first and changes.previous_period == "2026-W47" and digest.period == "2026-W48"
    assert {(e.context, e.source_title, e.wiser_title) for e in changes.new_edges} == {
        (GRIEF, "Kind Honesty", "Listening First"),
        (CHILD, "Patience", "Gentle Truth"),
    }
    moves = {(m.context, m.title): (m.old_rank, m.new_rank) for m in changes.rank_moves}
    assert moves[(GRIEF, "Listening First")] == (2, 1)
    assert moves[(GRIEF, "Kind Honesty")] == (1, 2)
    assert moves[(CHILD, "Gentle Truth")][0] is None
    assert changes.new_values == ("Gentle Truth",)
    md = digest_markdown(digest)
    assert "Listening First up from \\#2 to \\#1" in md or "Listening First up from #2 to #1" in md

    # This week: the 6 votes of week two by 3 members; interviews: none ended this week.
    p = digest.participation
    assert (p.votes_this_period, p.voters_this_period, p.voters_total) == (6, 3, 6)
    assert (p.interviews_this_period, p.interviews_total) == (0, 3)
    first, _ = await build_digest(database, community_id=seeded.community_id, now=first_now, previous={})
    assert (
        first.participation.interviews_this_period,
        first.participation.votes_this_period,
        first.participation.voters_this_period,
    ) == (2, 12, 6)


@pytest.mark.sqlite_only  # rendering: building the digest runs on PostgreSQL in the tests above
async def test_member_text_stays_text_in_markdown_discord_and_slack(database):
    seeded = await seed(database)
    digest, _ = await build_digest(database, community_id=seeded.community_id, now=START + timedelta(days=1))
    child = dict((c.context, c) for _, c in digest.contexts())[CHILD]
    assert child.top[0].title == HOSTILE

    md = digest_markdown(digest)
    for raw in ("@everyone", "<!here>", "<@123456>", "**Loud**", "[link](", "<"):
        assert raw not in md
    assert "everyone" in md and "Loud" in md

    embed = digest_message(digest)["embeds"][0]
    discord_text = json.dumps(embed.to_dict(), ensure_ascii=False)
    for raw in ("@everyone", "<@123456>", "**Loud**"):
        assert raw not in discord_text

    slack = json.dumps(digest_blocks(digest), ensure_ascii=False)
    for raw in ("<!here>", "<@123456>", "<http"):
        assert raw not in slack


# --- the picture --------------------------------------------------------------------------------------


def _check_png(data: bytes, min_size: int) -> None:
    from PIL import Image

    assert data.startswith(PNG_MAGIC) and len(data) > min_size
    image = Image.open(io.BytesIO(data))
    image.load()
    # As wide as ever; as tall as the panels need.
    assert image.size[0] == 1200 and 200 <= image.size[1] <= 4000


@pytest.mark.sqlite_only  # drawing: the graph from the database runs on PostgreSQL in test_export.py
async def test_the_picture_is_a_real_png_for_a_populated_and_an_empty_graph(database, tmp_path: Path):
    seeded = await seed(database)
    graph = await build_community_graph(database, community_id=seeded.community_id, params=GraphParams())
    png = graph_png(graph, title="Riverside — 2026-W47")
    _check_png(png, 20_000)
    assert graph_png(graph, title="Riverside — 2026-W47") == png  # deterministic

    empty = build_moral_graph([Value("1", "Alone $x$ value")], [], GraphParams())
    empty_png = graph_png(empty, title="Nobody voted $yet$")
    _check_png(empty_png, 5_000)

    import matplotlib.image

    path = tmp_path / "g.png"
    path.write_bytes(png)
    assert matplotlib.image.imread(path).shape[1] == 1200

    _, _, prepared = await prepare_digest(database, community_id=seeded.community_id, now=START + timedelta(days=1))
    assert prepared.startswith(PNG_MAGIC)


# --- the platforms, at scale ---------------------------------------------------------------------------


def big_digest():
    """40 values with long hostile titles, 40 contexts: more than either platform takes in a message."""
    values = [
        Value(str(i), f"{HOSTILE} number {i} " + "very long title " * 12, policies=("P " * 200,) * 3) for i in range(40)
    ]
    votes = []
    for c in range(40):
        context = f"<!channel> context {c} " + "x" * 150
        for voter in range(3):
            a, b = c % 40, (c + 1 + voter % 2) % 40
            votes.append(Vote(f"v{voter}", str(a), str(b), context, "upgrade"))
            votes.append(Vote(f"w{voter}", str(a), str(b), context, "upgrade"))
    graph = build_moral_graph(values, votes, GraphParams())
    scenarios = [("@here scenario " + "s" * 300, [f"<!channel> context {c} " + "x" * 150 for c in range(40)])]
    digest, _ = build_digest_from_graph(
        graph,
        community="Big <!everyone>",
        period="2026-W47",
        since=START,
        until=START + timedelta(days=7),
        scenarios=scenarios,
    )
    assert len(digest.contexts()) == 40
    return graph, digest


def test_discord_message_stays_within_embed_limits():
    graph, digest = big_digest()
    kwargs = digest_message(digest, graph_png(graph, title="big"))
    assert isinstance(kwargs["file"], discord.File) and kwargs["file"].filename == "moral-graph.png"
    assert kwargs["allowed_mentions"].everyone is False and kwargs["allowed_mentions"].users is False
    (embed,) = kwargs["embeds"]
    assert len(embed.fields) <= MAX_FIELDS and len(embed) <= MAX_EMBED_TOTAL
    assert len(embed.title) <= 256 and len(embed.description) <= 4096
    assert all(len(f.name) <= MAX_FIELD_NAME and len(f.value) <= MAX_FIELD_VALUE for f in embed.fields)
    assert embed.fields[-1].value.startswith("and ") and "more contexts" in embed.fields[-1].value
    assert any(f.value.endswith("…") or f.name.endswith("…") for f in embed.fields)
    assert embed.image.url == "attachment://moral-graph.png"


def test_slack_blocks_stay_within_limits():
    _, digest = big_digest()
    message = digest_blocks(digest)
    blocks = message["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert "more contexts" in blocks[-1]["text"]["text"]
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    assert sum(len(b["text"]["text"]) for b in blocks if b["type"] == "section") <= MAX_TOTAL_TEXT + 3000 * 2
    # plain_text (the header) is never parsed for mentions; everything else must be escaped.
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["type"] == "plain_text"
    dump = json.dumps({**message, "blocks": blocks[1:]})
    assert "<!channel>" not in dump and "<!everyone>" not in dump


async def test_slack_post_digest_posts_blocks_then_uploads_the_picture(sqlite_url):
    database = Database(sqlite_url)
    try:
        seeded = await seed(database)
        digest, _, png = await prepare_digest(database, community_id=seeded.community_id, now=START + timedelta(days=1))
    finally:
        await database.dispose()
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        result = await post_digest(client, "C0DIGEST", digest, png)
        (post,) = slack.calls_to("chat.postMessage")
        assert post.params["channel"] == "C0DIGEST" and len(post.blocks()) <= MAX_BLOCKS
        (complete,) = slack.calls_to("files.completeUploadExternal")
        assert complete.params["channel_id"] == "C0DIGEST"
        assert [c.method for c in slack.calls] == [
            "chat.postMessage",
            "files.getUploadURLExternal",
            "files.completeUploadExternal",
        ]
        assert result["file_id"] in slack.uploads and slack.uploads[result["file_id"]] == png
        assert result["ts"] == post.result["ts"]


# --- the command ----------------------------------------------------------------------------------------


def test_cli_preview_writes_the_markdown_and_the_picture(sqlite_url, tmp_path: Path, monkeypatch):
    async def main() -> None:
        database = Database(sqlite_url)
        try:
            await seed(database)
        finally:
            await database.dispose()

    asyncio.run(main())
    monkeypatch.chdir(tmp_path)  # no stray .env
    out = tmp_path / "preview"
    result = CliRunner().invoke(
        digest_app, ["preview", "--out", str(out), "--community", "Riverside Guild"], env={"DATABASE_URL": sqlite_url}
    )
    assert result.exit_code == 0, result.output
    md = (out / "digest.md").read_text(encoding="utf-8")
    assert "Kind Honesty" in md and "wiser than Obedience (5 of 6 voters)" in md.replace("\\", "")
    assert (out / "graph.png").read_bytes().startswith(PNG_MAGIC)

    missing = CliRunner().invoke(
        digest_app, ["preview", "--out", str(out), "--community", "Nope"], env={"DATABASE_URL": sqlite_url}
    )
    assert missing.exit_code == 2 and "no community named" in missing.output


@pytest.mark.parametrize(
    "when,period", [(datetime(2026, 1, 1, tzinfo=UTC), "2026-W01"), (datetime(2027, 1, 1, tzinfo=UTC), "2026-W53")]
)
def test_digest_period_is_the_iso_week(when, period):
    assert digest_period(when) == period
