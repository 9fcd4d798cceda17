"""Moderators' control over transition stories: the stories of a chosen pair, withdrawing a bad story,
correcting one, the per-context cap on the model's pairs, and the same from Discord, Slack and the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.graph.build import load_community_graph_input
from bot.stories.generate import generate_stories
from bot.stories.moderation import StoryActionError, edit_story, withdraw_story, write_pair_stories
from bot.voting.polls import story_poll_view
from core.prompts import load_prompt
from core.stories import StoryStatus
from storage.models import LLMCall, ModerationAction, Poll, TransitionStory
from tests.conftest import make_llm
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.fakes.story_rows import TO_VALUE, add_story
from tests.test_poll_selection import HERE, add_votes, open_poll
from tests.test_stories import (
    MODEL,
    POLICIES,
    all_rows,
    cli_environment,
    pairs_answer,
    seed_value,
    seeded_community,
    story_answer,
    story_text,
)

EDIT = "I used to think helping meant fixing. Now I sit with my friend first, and ask what she needs."


async def story(database, story_id: int) -> TransitionStory:
    async with database.session() as session:
        row = await session.get(TransitionStory, story_id)
        assert row is not None
        return row


async def test_a_pair_chosen_by_a_moderator_gets_both_stories_with_provenance(database, fake_openai, clock):
    cid, _, ctx, v = await seeded_community(database, clock())
    llm = make_llm(fake_openai)
    fake_openai.script(story_answer(POLICIES["honesty"]), story_answer(POLICIES["autonomy"]))

    async def pair(a: int, b: int, context_id: int | None):
        return await write_pair_stories(
            database,
            llm=llm,
            model=MODEL,
            community_id=cid,
            from_value_id=a,
            to_value_id=b,
            context_id=context_id,
            actor="slack:UMOD",
            now=clock(),
        )

    written = await pair(v["honesty"], v["autonomy"], None)  # the one context both are candidates in
    assert written.context_id == ctx and len(written.written) == 2 and written.existing == ()
    rows = sorted(await all_rows(database, TransitionStory), key=lambda s: s.id)
    assert [(r.from_value_id, r.to_value_id) for r in rows] == [
        (v["honesty"], v["autonomy"]),
        (v["autonomy"], v["honesty"]),
    ]
    for row in rows:
        assert (row.prompt_sha, row.model, row.run_id) == (load_prompt("transition_story").sha, MODEL, None)
        assert row.steps["chosen_by"] == "slack:UMOD" and row.steps["policy_changes"]
    assert [c.purpose for c in await all_rows(database, LLMCall)] == ["transition_story"] * 2

    # Asking again writes nothing: both directions exist. An invalid answer stores nothing of the pair.
    again = await pair(v["autonomy"], v["honesty"], ctx)
    assert again.written == () and len(again.existing) == 2
    fake_openai.script(story_answer(POLICIES["care"]), story_answer(POLICIES["honesty"], drop=0), {"bad": 1})
    with pytest.raises(StoryActionError, match="Nothing was stored"):
        await pair(v["care"], v["honesty"], ctx)
    await llm.aclose()
    assert len(await all_rows(database, TransitionStory)) == 2
    with pytest.raises(LookupError, match="No active value 999"):
        await pair(999, v["care"], ctx)


async def test_the_cap_counts_the_models_pairs_and_a_larger_one_writes_only_the_extra(database, fake_openai, clock):
    cid, sid, _, v = await seeded_community(database, clock())
    llm = make_llm(fake_openai)
    fake_openai.script(
        pairs_answer((v["honesty"], v["care"])), story_answer(POLICIES["honesty"]), story_answer(POLICIES["care"])
    )
    first = await generate_stories(
        database, llm=llm, model=MODEL, community_id=cid, now=clock(), max_pairs_per_context=1
    )
    assert first.stories_written == 2
    same = await generate_stories(
        database, llm=llm, model=MODEL, community_id=cid, now=clock(), max_pairs_per_context=1
    )
    assert same.already_done
    requests = len(fake_openai.chat_requests)
    # Nothing changed but the cap: asked for one more pair (the room left), told the one it gave.
    fake_openai.script(
        pairs_answer((v["care"], v["autonomy"])), story_answer(POLICIES["care"]), story_answer(POLICIES["autonomy"])
    )
    more = await generate_stories(
        database, llm=llm, model=MODEL, community_id=cid, now=clock(), max_pairs_per_context=2
    )
    assert more.stories_written == 2 and more.pairs_proposed == 1 and fake_openai.pending == 0
    ask = fake_openai.chat_requests[requests]
    assert "Give at most 1 pairs" in ask["messages"][0]["content"]
    # A new value makes a new state, but a context at the cap costs no model call at all.
    async with database.session() as session:
        await seed_value(session, cid, sid, clock(), "Kindness", POLICIES["care"])
        await session.commit()
    full = await generate_stories(
        database, llm=llm, model=MODEL, community_id=cid, now=clock(), max_pairs_per_context=2
    )
    await llm.aclose()
    assert full.contexts_full == 1 and full.stories_written == 0 and len(fake_openai.chat_requests) == requests + 3
    assert len(await all_rows(database, TransitionStory)) == 4


async def test_a_withdrawn_story_closes_its_polls_and_its_votes_leave_the_graph(database, clock):
    story_id = await add_story(database, HERE, now=clock())
    poll = await open_poll(database, story_id, now=clock(), closes_at=clock() + timedelta(hours=48))
    await add_votes(database, poll, 3, now=clock())
    before = await load_community_graph_input(database, community_id=poll.community_id)
    assert len(before.votes) == 3 and before.dropped_votes == 0

    withdrawn = await withdraw_story(database, community_id=poll.community_id, story_id=story_id, now=clock())
    assert withdrawn.polls_closed == (poll.id,) and withdrawn.status_before == "active"
    assert (await story(database, story_id)).status == StoryStatus.RETRACTED
    async with database.session() as session:
        closed = await session.get(Poll, poll.id)
    assert closed.state == "closed" and closed.tallies["upgrade"] == 3  # the votes are kept
    after = await load_community_graph_input(database, community_id=poll.community_id)
    assert after.votes == [] and after.dropped_votes == 3 and after.stories == []
    with pytest.raises(StoryActionError, match="already withdrawn"):
        await withdraw_story(database, community_id=poll.community_id, story_id=story_id, now=clock())
    with pytest.raises(LookupError, match="No story 999"):
        await withdraw_story(database, community_id=poll.community_id, story_id=999, now=clock())


async def test_an_edit_is_shown_everywhere_and_the_models_text_kept(database, clock):
    story_id = await add_story(database, HERE, now=clock())
    poll = await open_poll(database, story_id, now=clock(), closes_at=None)
    await add_votes(database, poll, 1, now=clock())
    model_text = (await story(database, story_id)).story
    edited = await edit_story(
        database, community_id=poll.community_id, story_id=story_id, text=f"  {EDIT} ", actor="cli:ana", now=clock()
    )
    assert (edited.before, edited.after) == (model_text, EDIT)
    row = await story(database, story_id)
    assert (row.story, row.edited_story, row.edited_by) == (model_text, EDIT, "cli:ana")
    assert row.edited_at is not None
    assert (await story_poll_view(database, story_id)).story == EDIT
    graph = await load_community_graph_input(database, community_id=poll.community_id)
    assert [s.story for s in graph.stories] == [EDIT]
    with pytest.raises(StoryActionError, match="1–400 words"):
        await edit_story(database, community_id=poll.community_id, story_id=story_id, text=" ", actor="x", now=clock())
    with pytest.raises(StoryActionError, match="1–400 words"):
        await edit_story(
            database, community_id=poll.community_id, story_id=story_id, text=story_text(401), actor="x", now=clock()
        )


# --- the platforms ---------------------------------------------------------------------------------------


@pytest.mark.sqlite_only
async def test_slack_moderators_edit_and_withdraw_stories(service, database, clock):
    from tests.slack_support import serving_slack
    from tests.test_slack_moderation import ask
    from tests.test_slack_moderator_actions import COMMUNITY, MODERATOR, audit

    story_id = await add_story(database, COMMUNITY, now=clock())
    async with serving_slack(service, database, clock=clock, moderator_ids=(MODERATOR,)) as slack:
        listed = (await ask(slack, "stories list", user=MODERATOR))["text"]
        assert listed.startswith(f"{story_id}. [") and "Fixing The Problem → 2 Being With The Person" in listed
        edited = await ask(slack, f"stories edit {story_id} {EDIT} &lt;@U2&gt;", user=MODERATOR)
        assert "now reads as you wrote it" in edited["text"]
        assert "(edited)" in (await ask(slack, "stories list", user=MODERATOR))["text"]
        withdrawn = await ask(slack, f"stories withdraw {story_id}", user=MODERATOR)
        assert "is withdrawn" in withdrawn["text"] and "left out of the graph" in withdrawn["text"]
        assert (await ask(slack, "stories list", user=MODERATOR))["text"] == "No stories to vote on yet."
    row = await story(database, story_id)
    assert row.edited_story == f"{EDIT} <@U2>" and row.edited_by == f"slack:{MODERATOR}"
    entries = await audit(database)
    assert [e.action for e in entries] == ["stories.edit", "stories.withdraw"]
    assert entries[0].after == {"text": f"{EDIT} <@U2>"} and entries[1].after["status"] == "retracted"


@pytest.mark.sqlite_only
async def test_discord_moderators_ask_for_a_pairs_stories(fake_discord, guild, service, database, clock, fake_openai):
    from core.messages import CommunityRef
    from tests.test_discord_moderator_actions import run

    community = CommunityRef("discord", str(guild.id), guild.name)
    story_id = await add_story(database, community, now=clock())
    first = await story(database, story_id)
    mod = fake_discord.add_user("mod")
    fake_openai.script(story_answer(TO_VALUE["policies"]))
    async with running_bot(fake_discord, service, database, clock, sync_commands=False):
        deferred, answer = await run(
            fake_discord,
            mod,
            guild,
            "stories pair",
            value_a=first.to_value_id,
            value_b=first.from_value_id,
            context=first.context_id,
        )
    assert deferred["type"] == 5
    assert answer["content"].startswith(f"Wrote story {story_id + 1} for values {first.to_value_id} and ")
    assert f"(kept story {story_id}, already written)" in answer["content"]
    reverse = await story(database, story_id + 1)
    assert (reverse.from_value_id, reverse.to_value_id) == (first.to_value_id, first.from_value_id)
    assert reverse.steps["chosen_by"] == f"discord:{mod.id}"
    async with database.session() as session:
        [entry] = (await session.exec(select(ModerationAction))).all()
    assert entry.action == "stories.pair" and entry.after == {"context": first.context_id, "stories": [story_id + 1]}


# --- the terminal ----------------------------------------------------------------------------------------


def test_cli_pair_edit_and_withdraw(tmp_path, monkeypatch):
    import asyncio

    from bot.cli.stories import stories_app
    from storage.database import Database
    from tests.fakes.openai_server import FakeOpenAI
    from tests.test_audit_coverage import audit

    runner = CliRunner()
    with FakeOpenAI.in_thread() as fake:
        url = cli_environment(monkeypatch, tmp_path, fake)

        async def seed():
            from storage.migrate import ensure_schema

            ensure_schema(url)
            database = Database(url)
            try:
                from core.clock import utcnow

                return await seeded_community(database, utcnow())
            finally:
                await database.dispose()

        _, _, ctx, v = asyncio.run(seed())
        fake.script(story_answer(POLICIES["honesty"]), story_answer(POLICIES["care"]))
        paired = runner.invoke(stories_app, ["pair", str(v["honesty"]), str(v["care"]), "--community", "c1"])
        assert paired.exit_code == 0, paired.output
        assert f"context {ctx}: When in distress" in paired.output and "wrote story 2" in paired.output
        edited = runner.invoke(stories_app, ["edit", "1", EDIT, "--community", "c1"])
        assert edited.exit_code == 0 and "story 1 edited" in edited.output
        empty = runner.invoke(stories_app, ["edit", "1", "  ", "--community", "c1"])
        assert empty.exit_code == 2 and "1–400 words" in empty.output
        withdrawn = runner.invoke(stories_app, ["withdraw", "2", "--community", "c1"])
        assert withdrawn.exit_code == 0 and "story 2 withdrawn; 0 open poll(s) closed" in withdrawn.output
        missing = runner.invoke(stories_app, ["withdraw", "9", "--community", "c1"])
        assert missing.exit_code == 2 and "No story 9" in missing.output
        import json

        rows = json.loads(runner.invoke(stories_app, ["list", "--format", "json", "--community", "c1"]).output)
    assert [(r["id"], r["story"], r["edited_by"]) for r in rows] == [(1, EDIT, rows[0]["edited_by"])]
    assert rows[0]["edited_by"].startswith("cli:") and rows[0]["model_story"] != EDIT

    async def actions():
        database = Database(url)
        try:
            return [e.action for e in await audit(database)]
        finally:
            await database.dispose()

    assert asyncio.run(actions()) == ["stories.pair", "stories.edit", "stories.withdraw"]
