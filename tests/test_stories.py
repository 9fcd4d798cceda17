"""Transition stories: the schemas' rules, generation in both directions with provenance, rejection of
malformed answers without partial writes, idempotent and resumable runs, isolation, and the CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlmodel import select
from typer.testing import CliRunner

from bot.stories.generate import generate_stories
from core.llm import LLMError
from core.prompts import combined_sha, load_prompt
from core.stories import pair_schema, story_schema
from storage import communities_repo, stories_repo
from storage import repositories as repo
from storage.database import Database
from storage.models import (
    CanonicalValue,
    JobRun,
    LLMCall,
    TransitionStory,
    ValueAssignment,
    ValuesCardRecord,
)
from tests.conftest import make_llm
from tests.fakes.openai_server import Error, FakeOpenAI

MODEL = "story-model"
POLICIES = {
    "honesty": [
        "FACTS the person needs to decide",
        "MOMENTS when a hard truth is easier to hear",
        "WORDS that say plainly what is known",
    ],
    "care": [
        "FEELINGS the person has not yet named",
        "SIGNS that the person feels heard",
        "TRUTHS the person is ready to hear",
    ],
    "autonomy": [
        "CHOICES the person can still make",
        "REASONS the person gives for their path",
        "LIMITS of what others may decide",
    ],
}


# --- seeding helpers (also used by test_contexts) ---------------------------------------------------------


async def seed_community(session, now: datetime, name: str = "c1") -> int:
    row = await communities_repo.get_or_create_community(
        session, platform="console", external_id=name, name=name, now=now
    )
    return row.id


async def seed_scenario(session, community_id: int, now: datetime, text: str = "A friend asks for advice.") -> int:
    return (await repo.find_or_add_scenario(session, community_id=community_id, text=text, now=now)).id


async def seed_context(
    session, community_id: int, scenario_id: int, now: datetime, text: str = "When in distress"
) -> int:
    context = await stories_repo.add_context(session, community_id=community_id, text=text, source="llm", now=now)
    await stories_repo.link_context(session, scenario_id=scenario_id, context_id=context.id)
    return context.id


async def seed_value(
    session,
    community_id: int,
    scenario_id: int,
    now: datetime,
    title: str,
    policies: list[str],
    *,
    card_status: str = "confirmed",
    value_status: str = "active",
) -> int:
    """A canonical value with one current assignment of a member card from ``scenario_id``."""
    member = await communities_repo.get_or_create_member(
        session, community_id=community_id, platform_user_id=f"u-{title}", display_name=title, now=now
    )
    interview = await repo.add_interview(
        session, community_id=community_id, member_id=member.id, state="done", scenario_id=scenario_id, now=now
    )
    card = ValuesCardRecord(
        community_id=community_id,
        interview_id=interview.id,
        author_member_id=member.id,
        scenario_id=scenario_id,
        title=title,
        description=f"The assistant acts on {title}.",
        policies=policies,
        status=card_status,
        prompt_sha="p",
        model="m",
        created_at=now,
    )
    session.add(card)
    await session.flush()
    value = CanonicalValue(
        community_id=community_id,
        title=title,
        description=card.description,
        policies=policies,
        source_card_id=card.id,
        status=value_status,
        created_at=now,
        updated_at=now,
    )
    session.add(value)
    await session.flush()
    session.add(
        ValueAssignment(
            community_id=community_id,
            card_id=card.id,
            canonical_value_id=value.id,
            decision="new_value",
            created_at=now,
        )
    )
    await session.flush()
    return value.id


def story_text(words: int = 100, seed: str = "I") -> str:
    base = (
        f"{seed} sat with my friend after the call, and I wanted to fix everything at once. I listed facts, "
        "options and risks, and I felt proud of how clear I was. Then I saw her face close. She had not asked "
        "for a briefing; she was frightened and alone with it. I realised that what I cared about was never "
        "the facts for their own sake but her being able to face her situation. "
    )
    filler = "I stayed, I listened, and I let the truth come when she could hold it. "
    text = base
    while len(text.split()) < words:
        text += filler
    return " ".join(text.split()[:words]).rstrip(",") + "."


def story_answer(policies: list[str], *, drop: int | None = None, story: str | None = None) -> dict:
    changes = [
        {
            "policy": p,
            "kind": "partial_view_made_whole",
            "change": f"Attending to {p.split()[0].lower()} in light of the whole person.",
        }
        for i, p in enumerate(policies)
        if i != drop
    ]
    return {
        "shared_meaning": "Both are about the person being able to face their situation.",
        "clarification": "Plain facts were a way of respecting the person, but only part of it.",
        "policy_changes": changes,
        "story": story or story_text(),
    }


def pairs_answer(*pairs: tuple[int, int]) -> dict:
    return {"pairs": [{"from_value_id": a, "to_value_id": b, "reason": "B is the fuller form of A."} for a, b in pairs]}


async def seeded_community(database: Database, now: datetime, name: str = "c1", values=("honesty", "care", "autonomy")):
    """A community with one scenario, one context and the given values; returns ids."""
    async with database.session() as session:
        cid = await seed_community(session, now, name)
        sid = await seed_scenario(session, cid, now)
        ctx = await seed_context(session, cid, sid, now)
        vids = {v: await seed_value(session, cid, sid, now, v.title(), POLICIES[v]) for v in values}
        await session.commit()
    return cid, sid, ctx, vids


async def all_rows(database: Database, model):
    async with database.session() as session:
        return list((await session.exec(select(model))).all())


# --- schemas ---------------------------------------------------------------------------------------------


def test_pair_schema_rejects_unknown_ids_self_pairs_duplicates_and_too_many():
    schema = pair_schema([1, 2, 3], max_pairs=2)
    assert schema.__name__ == "PairProposal"
    assert [p.to_value_id for p in schema.model_validate(pairs_answer((1, 2), (3, 2))).pairs] == [2, 2]
    assert schema.model_validate({"pairs": []}).pairs == []
    for bad, why in [
        (pairs_answer((1, 9)), "not among the candidates"),
        (pairs_answer((2, 2)), "two different values"),
        (pairs_answer((1, 2), (2, 1)), "listed twice"),
        (pairs_answer((1, 2), (1, 3), (2, 3)), "at most 2"),
    ]:
        with pytest.raises(ValidationError, match=why):
            schema.model_validate(bad)


def test_story_schema_requires_every_policy_once_prose_and_no_ids():
    policies = POLICIES["honesty"]
    schema = story_schema(policies)
    draft = schema.model_validate(story_answer(policies))
    assert [c["policy"] for c in draft.steps()["policy_changes"]] == policies
    assert set(draft.steps()) == {"shared_meaning", "clarification", "policy_changes"}
    with pytest.raises(ValidationError, match="misses A's policies"):
        schema.model_validate(story_answer(policies, drop=1))
    repeated = story_answer(policies)
    repeated["policy_changes"][1] = dict(repeated["policy_changes"][0])
    with pytest.raises(ValidationError, match="more than once"):
        schema.model_validate(repeated)
    renamed = story_answer(policies)
    renamed["policy_changes"][0]["policy"] = "FACTS the person wants"
    with pytest.raises(ValidationError, match="doesn't have"):
        schema.model_validate(renamed)
    with pytest.raises(ValidationError, match="not a list"):
        schema.model_validate(story_answer(policies, story="First:\n- I listened\n- I waited\n" + story_text()))
    with pytest.raises(ValidationError, match="80–250 words"):
        schema.model_validate(story_answer(policies, story=story_text(40)))
    with pytest.raises(ValidationError, match="80–250 words"):
        schema.model_validate(story_answer(policies, story=story_text(300)))
    for mention in ("value 12", "#4", "Value A"):
        with pytest.raises(ValidationError, match="must not mention"):
            schema.model_validate(story_answer(policies, story=f"I moved from {mention} slowly. " + story_text()))
    empty = story_answer(policies)
    empty["shared_meaning"] = "  "
    with pytest.raises(ValidationError, match="shared_meaning must not be empty"):
        schema.model_validate(empty)


# --- generation -----------------------------------------------------------------------------------------


async def test_stories_are_written_in_both_directions_with_steps_and_provenance(database, fake_openai, clock):
    cid, _, ctx, v = await seeded_community(database, clock())
    llm = make_llm(fake_openai)
    fake_openai.script(
        pairs_answer((v["honesty"], v["care"])),
        story_answer(POLICIES["honesty"]),
        story_answer(POLICIES["care"], story=story_text(seed="Once I")),
    )
    ticks = []
    report = await generate_stories(
        database,
        llm=llm,
        model=MODEL,
        community_id=cid,
        now=clock(),
        progress=lambda done, total, text: ticks.append((done, total, text)),
    )
    await llm.aclose()
    assert fake_openai.pending == 0 and len(fake_openai.chat_requests) == 3
    assert all(r["model"] == MODEL for r in fake_openai.chat_requests)
    # The candidates are offered by id; the story prompts see titles and policies, never ids.
    assert f"id {v['autonomy']}: Autonomy" in fake_openai.chat_requests[0]["messages"][0]["content"]
    assert report.stories_written == 2 and report.pairs_proposed == 1 and not report.rejected
    assert ticks == [(1, 1, "When in distress")]

    stories = await all_rows(database, TransitionStory)
    [run] = await all_rows(database, JobRun)
    forward, reverse = sorted(stories, key=lambda s: s.steps["direction"])
    assert (forward.from_value_id, forward.to_value_id) == (v["honesty"], v["care"])
    assert (reverse.from_value_id, reverse.to_value_id) == (v["care"], v["honesty"])
    assert reverse.steps["direction"] == "reverse" and forward.steps["pair_reason"] == "B is the fuller form of A."
    assert [c["policy"] for c in forward.steps["policy_changes"]] == POLICIES["honesty"]
    assert [c["policy"] for c in reverse.steps["policy_changes"]] == POLICIES["care"]
    assert forward.steps["shared_meaning"] and forward.steps["clarification"]
    sha = combined_sha(load_prompt("story_pairs"), load_prompt("transition_story"))
    for story in stories:
        assert (story.community_id, story.context_id, story.status) == (cid, ctx, "active")
        assert (story.prompt_sha, story.model, story.run_id) == (sha, MODEL, run.id)
        assert 80 <= len(story.story.split()) <= 250
    assert run.status == "done" and run.job == "stories" and run.input_tokens > 0 and run.output_tokens > 0
    assert (report.input_tokens, report.output_tokens) == (run.input_tokens, run.output_tokens)
    calls = await all_rows(database, LLMCall)
    assert [c.purpose for c in calls] == ["story_pairs", "transition_story", "transition_story"]


async def test_running_again_with_nothing_new_is_a_no_op(database, fake_openai, clock):
    cid, sid, ctx, v = await seeded_community(database, clock())
    llm = make_llm(fake_openai)
    fake_openai.script(
        pairs_answer((v["honesty"], v["care"])), story_answer(POLICIES["honesty"]), story_answer(POLICIES["care"])
    )
    await generate_stories(database, llm=llm, model=MODEL, community_id=cid, now=clock())
    requests = len(fake_openai.chat_requests)
    clock.advance(hours=3)
    again = await generate_stories(database, llm=llm, model=MODEL, community_id=cid, now=clock())
    assert again.already_done and again.run_id is None and len(fake_openai.chat_requests) == requests
    assert len(await all_rows(database, TransitionStory)) == 2 and len(await all_rows(database, JobRun)) == 1

    # A new value makes a new state: the pair-finding is asked again, but a pair with stories is not rewritten.
    async with database.session() as session:
        await seed_value(session, cid, sid, clock(), "Autonomy", POLICIES["autonomy"])
        await session.commit()
    fake_openai.script(pairs_answer((v["care"], v["honesty"])))
    third = await generate_stories(database, llm=llm, model=MODEL, community_id=cid, now=clock())
    await llm.aclose()
    assert third.pairs_skipped == 1 and third.stories_written == 0 and fake_openai.pending == 0
    assert len(fake_openai.chat_requests) == requests + 1
    assert (
        f"{min(v['honesty'], v['care'])} and {max(v['honesty'], v['care'])}"
        in fake_openai.chat_requests[-1]["messages"][0]["content"]
    )
    assert len(await all_rows(database, TransitionStory)) == 2


async def test_unknown_value_ids_in_pairs_are_rejected_with_nothing_written(database, fake_openai, clock):
    cid, _, _, v = await seeded_community(database, clock())
    llm = make_llm(fake_openai)
    # Invalid, then invalid again after the adapter's repair request.
    fake_openai.script(pairs_answer((v["honesty"], 999)), pairs_answer((999, v["care"])))
    report = await generate_stories(database, llm=llm, model=MODEL, community_id=cid, now=clock())
    await llm.aclose()
    assert (
        report.stories_written == 0 and len(report.rejected) == 1 and "not among the candidates" in report.rejected[0]
    )
    assert await all_rows(database, TransitionStory) == []
    [run] = await all_rows(database, JobRun)
    assert run.status == "done" and run.input_tokens > 0  # the wasted tokens are still counted


async def test_a_story_missing_one_of_a_policies_drops_the_whole_pair(database, fake_openai, clock):
    cid, _, ctx, v = await seeded_community(database, clock())
    llm = make_llm(fake_openai)
    fake_openai.script(
        pairs_answer((v["honesty"], v["care"]), (v["autonomy"], v["care"])),
        # pair 1: forward fine, reverse misses a policy twice (first answer and repair) → neither stored
        story_answer(POLICIES["honesty"]),
        story_answer(POLICIES["care"], drop=0),
        story_answer(POLICIES["care"], drop=2),
        # pair 2: both fine
        story_answer(POLICIES["autonomy"]),
        story_answer(POLICIES["care"]),
    )
    report = await generate_stories(database, llm=llm, model=MODEL, community_id=cid, now=clock())
    await llm.aclose()
    assert fake_openai.pending == 0
    assert report.stories_written == 2 and len(report.rejected) == 1 and "misses A's policies" in report.rejected[0]
    pairs = {(s.from_value_id, s.to_value_id) for s in await all_rows(database, TransitionStory)}
    assert pairs == {(v["autonomy"], v["care"]), (v["care"], v["autonomy"])}


async def test_a_crashed_run_resumes_without_rewriting_finished_pairs(database, fake_openai, clock):
    cid, _, _, v = await seeded_community(database, clock())
    llm = make_llm(fake_openai)
    fake_openai.script(
        pairs_answer((v["honesty"], v["care"]), (v["autonomy"], v["care"])),
        story_answer(POLICIES["honesty"]),
        story_answer(POLICIES["care"]),
        story_answer(POLICIES["autonomy"]),
        Error(500),  # the service goes down mid-pair
    )
    with pytest.raises(LLMError):
        await generate_stories(database, llm=llm, model=MODEL, community_id=cid, now=clock())
    assert len(await all_rows(database, TransitionStory)) == 2  # the first pair, whole; nothing of the second
    [run] = await all_rows(database, JobRun)
    assert run.status == "failed"

    fake_openai.script(
        pairs_answer((v["honesty"], v["care"]), (v["autonomy"], v["care"])),
        story_answer(POLICIES["autonomy"]),
        story_answer(POLICIES["care"]),
    )
    before = len(fake_openai.chat_requests)
    report = await generate_stories(database, llm=llm, model=MODEL, community_id=cid, now=clock())
    await llm.aclose()
    assert len(fake_openai.chat_requests) == before + 3 and fake_openai.pending == 0
    assert report.run_id == run.id and report.pairs_skipped == 1 and report.stories_written == 2
    assert len(await all_rows(database, TransitionStory)) == 4
    [run] = await all_rows(database, JobRun)
    assert run.status == "done"


async def test_contexts_with_fewer_than_two_values_ask_nothing(database, fake_openai, clock):
    async with database.session() as session:
        cid = await seed_community(session, clock())
        sid = await seed_scenario(session, cid, clock())
        await seed_context(session, cid, sid, clock())
        await seed_value(session, cid, sid, clock(), "Honesty", POLICIES["honesty"])
        # Not candidates: an unconfirmed card's value, and a hidden value.
        await seed_value(session, cid, sid, clock(), "Care", POLICIES["care"], card_status="proposed")
        await seed_value(session, cid, sid, clock(), "Autonomy", POLICIES["autonomy"], value_status="hidden")
        await session.commit()
    llm = make_llm(fake_openai)
    report = await generate_stories(database, llm=llm, model=MODEL, community_id=cid, now=clock())
    await llm.aclose()
    assert report.contexts == 1 and report.contexts_skipped == 1 and fake_openai.chat_requests == []


async def test_communities_are_isolated(database, fake_openai, clock):
    cid1, _, ctx1, v1 = await seeded_community(database, clock(), "one", values=("honesty",))
    cid2, _, ctx2, v2 = await seeded_community(database, clock(), "two", values=("care", "autonomy"))
    async with database.session() as session:
        # Community one's context has one value of its own: another community's values never join it.
        assert [v.id for v in await stories_repo.values_of_context(session, community_id=cid1, context_id=ctx1)] == [
            v1["honesty"]
        ]
    llm = make_llm(fake_openai)
    assert (
        await generate_stories(database, llm=llm, model=MODEL, community_id=cid1, now=clock())
    ).contexts_skipped == 1
    assert fake_openai.chat_requests == []
    fake_openai.script(pairs_answer((v2["care"], v1["honesty"])), pairs_answer((v2["care"], v1["honesty"])))
    report = await generate_stories(database, llm=llm, model=MODEL, community_id=cid2, now=clock())
    await llm.aclose()
    assert report.rejected and await all_rows(database, TransitionStory) == []  # another community's id is unknown


# --- CLI ------------------------------------------------------------------------------------------------


def cli_environment(monkeypatch, tmp_path, fake: FakeOpenAI) -> str:
    """Point `mge` at a fresh SQLite file and the fake model server, from ``tmp_path``; returns the URL."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test",
        "DATABASE_URL": url,
        "MGE_DATA_DIR": str(tmp_path / "data"),
        "MGE_LLM_MAX_RETRIES": "0",
        "MGE_ARTICULATION_MODEL": MODEL,
    }.items():
        monkeypatch.setenv(key, value)
    return url


def test_cli_scenario_contexts_and_stories(tmp_path, monkeypatch):
    from bot.cli.scenarios import contexts_app, scenario_app
    from bot.cli.stories import stories_app

    runner = CliRunner()
    with FakeOpenAI.in_thread() as fake:
        url = cli_environment(monkeypatch, tmp_path, fake)
        contexts = [
            "When in distress",
            "When facing a hard truth",
            "When a friend asks for help",
            "When trust is at stake",
            "When time is short",
        ]
        fake.script({"contexts": contexts}, {"groups": []})
        result = runner.invoke(scenario_app, ["add", "A friend asks for advice.", "--community", "club"])
        assert result.exit_code == 0, result.output
        assert "scenario 1: A friend asks for advice." in result.output
        assert all(text in result.output for text in contexts)

        listed = runner.invoke(contexts_app, ["list", "--scenario", "1", "--community", "club"])
        assert listed.exit_code == 0 and "1. When in distress (llm)" in listed.output
        added = runner.invoke(contexts_app, ["add", "--scenario", "1", "when grieving.", "--community", "club"])
        assert added.exit_code == 0 and "context 6: When grieving (scenario 1)" in added.output
        bad = runner.invoke(contexts_app, ["add", "--scenario", "1", "In grief", "--community", "club"])
        assert bad.exit_code == 2 and "must start with 'When'" in bad.output
        edited = runner.invoke(contexts_app, ["edit", "6", "When mourning a loss", "--community", "club"])
        assert edited.exit_code == 0 and "When mourning a loss" in edited.output
        removed = runner.invoke(contexts_app, ["remove", "6", "--community", "club"])
        assert removed.exit_code == 0 and "removed context 6" in removed.output
        scenarios = runner.invoke(scenario_app, ["list", "--community", "club"]).output
        assert "1. A friend asks for advice." in scenarios and "[5] When time is short" in scenarios
        assert "[6]" not in scenarios

        async def seed() -> dict[str, int]:
            database = Database(url)
            now = datetime.now(UTC)
            try:
                async with database.session() as session:
                    ids = {v: await seed_value(session, 1, 1, now, v.title(), POLICIES[v]) for v in ("honesty", "care")}
                    await session.commit()
                    return ids
            finally:
                await database.dispose()

        v = asyncio.run(seed())
        fake.script(
            pairs_answer((v["honesty"], v["care"])),
            story_answer(POLICIES["honesty"]),
            story_answer(POLICIES["care"]),
            *([{"pairs": []}] * 4),  # the other four contexts: no deepening
        )
        generated = runner.invoke(stories_app, ["generate", "--community", "club"])
        assert generated.exit_code == 0, generated.output
        assert "2 stories written" in generated.output and "tokens:" in generated.output
        again = runner.invoke(stories_app, ["generate", "--community", "club"])
        assert again.exit_code == 0 and "nothing new" in again.output

        as_json = runner.invoke(stories_app, ["list", "--format", "json", "--community", "club"])
        rows = json.loads(as_json.output)
        assert {(r["from_title"], r["to_title"]) for r in rows} == {("Honesty", "Care"), ("Care", "Honesty")}
        assert rows[0]["steps"]["policy_changes"] and rows[0]["model"] == MODEL
        assert runner.invoke(stories_app, ["list", "--community", "nowhere"]).exit_code == 2
