"""Moral contexts: the rules, synonym merging (within a batch and with existing contexts), generation per
scenario, rejection of invalid answers with nothing written, moderator edits, and community isolation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlmodel import select

from bot.stories.contexts import (
    ContextError,
    add_context,
    add_scenario,
    edit_context,
    generate_contexts,
    remove_context,
)
from core.contexts import (
    ContextProposal,
    MergedContext,
    context_problem,
    merge_contexts,
    near_duplicates,
    normalise_context,
    synonym_schema,
)
from core.llm import LLMError
from core.messages import CommunityRef
from core.prompts import load_prompt
from storage import stories_repo
from storage.models import LLMCall, MoralContext, ScenarioContext, TransitionStory
from tests.conftest import make_llm
from tests.test_stories import all_rows, seed_community, seed_context, seed_scenario

MODEL = "context-model"
SIX = [
    "When in distress",
    "When someone is in distress",
    "When grieving",
    "When mourning a loss",
    "When making decisions",
    "When being religious",
]


# --- rules ------------------------------------------------------------------------------------------


def test_normalisation_and_rules():
    assert normalise_context('  "when   in distress."  ') == "When in distress"
    assert normalise_context("When being Christian!") == "When being Christian"
    assert context_problem("In distress") and "start with 'When'" in context_problem("In distress")
    assert "at most 7 words" in context_problem("When a person is unsure about what to do next")
    assert "not what they want" in context_problem("When wanting to be liked")
    assert "first person" in context_problem("When my son lies")
    assert context_problem("When being religious") is None


def test_proposal_schema_enforces_count_form_and_uniqueness():
    assert (
        ContextProposal.model_validate({"contexts": [t.lower() + "." for t in SIX]}).contexts[0] == "When in distress"
    )
    for contexts, why in [
        (SIX[:4], "5–7"),
        (SIX + ["When tired", "When afraid"], "5–7"),
        (SIX[:5] + ["Being in distress"], "start with 'When'"),
        (SIX[:5] + ["when in distress"], "must not repeat"),
    ]:
        with pytest.raises(ValidationError, match=why):
            ContextProposal.model_validate({"contexts": contexts})


def test_near_duplicates_and_merging_keep_existing_wording():
    assert near_duplicates("When in distress", "When someone is in distress")
    assert near_duplicates("When making decisions", "When making a decision")
    assert not near_duplicates("When in distress", "When in distress about faith")
    merged = merge_contexts(
        SIX, ["When making a decision", "When facing loss"], groups=[["When mourning a loss", "When facing loss"]]
    )
    assert merged == [
        MergedContext("When in distress", False, ("When in distress", "When someone is in distress")),
        MergedContext("When grieving", False, ("When grieving",)),
        MergedContext("When facing loss", True, ("When mourning a loss",)),
        MergedContext("When making a decision", True, ("When making decisions",)),
        MergedContext("When being religious", False, ("When being religious",)),
    ]
    # A group of existing contexts only is not the generator's to merge.
    assert [m.text for m in merge_contexts(["When tired"], ["When a", "When b"], groups=[["When a", "When b"]])] == [
        "When tired"
    ]


def test_synonym_schema_only_accepts_listed_contexts():
    schema = synonym_schema(["When grieving", "When mourning a loss", "When in distress"])
    assert schema.model_validate({"groups": [{"contexts": ["When grieving", "when mourning a loss"]}]}).groups
    for groups, why in [
        ([{"contexts": ["When grieving", "When sad"]}], "only use contexts from the list"),
        ([{"contexts": ["When grieving"]}], "at least two"),
        (
            [
                {"contexts": ["When grieving", "When in distress"]},
                {"contexts": ["When grieving", "When mourning a loss"]},
            ],
            "one group only",
        ),
    ]:
        with pytest.raises(ValidationError, match=why):
            schema.model_validate({"groups": groups})


# --- generation ----------------------------------------------------------------------------------------


async def test_generation_merges_synonyms_within_the_batch_and_with_existing_contexts(database, fake_openai, clock):
    async with database.session() as session:
        cid = await seed_community(session, clock())
        first = await seed_scenario(session, cid, clock(), "An older scenario.")
        old_decision = await seed_context(session, cid, first, clock(), "When making a decision")
        old_loss = await seed_context(session, cid, first, clock(), "When facing loss")
        sid = await seed_scenario(session, cid, clock(), "My friend is grieving. What should I say?")
        await session.commit()
    llm = make_llm(fake_openai)
    fake_openai.script({"contexts": SIX}, {"groups": [{"contexts": ["When mourning a loss", "When facing loss"]}]})
    contexts = await generate_contexts(database, llm=llm, model=MODEL, scenario_id=sid, now=clock())
    await llm.aclose()

    assert [c.text for c in contexts] == [
        "When making a decision",
        "When facing loss",
        "When in distress",
        "When grieving",
        "When being religious",
    ]
    assert {c.id for c in contexts} >= {old_decision, old_loss}
    # The synonym judge saw the existing contexts and only the new ones the lexical pass left.
    judge = fake_openai.chat_requests[1]["messages"][0]["content"]
    assert "- When facing loss" in judge and "- When grieving" in judge and "When someone is in distress" not in judge
    assert "- When making decisions" not in judge
    new = [c for c in contexts if c.id not in (old_decision, old_loss)]
    assert all((c.source, c.prompt_sha, c.model) == ("llm", load_prompt("contexts").sha, MODEL) for c in new)
    assert len(await all_rows(database, MoralContext)) == 5
    assert [c.purpose for c in await all_rows(database, LLMCall)] == ["contexts", "context_synonyms"]


async def test_a_scenario_with_contexts_is_not_regenerated_unless_forced(database, fake_openai, clock):
    llm = make_llm(fake_openai)
    fake_openai.script({"contexts": SIX}, {"groups": [{"contexts": ["When grieving", "When mourning a loss"]}]})
    added = await add_scenario(
        database,
        llm=llm,
        model=MODEL,
        community=CommunityRef("console", "c", "c"),
        text="  My friend is grieving.  ",
        now=clock(),
    )
    assert added.scenario.text == "My friend is grieving."
    assert [c.text for c in added.contexts] == [
        "When in distress",
        "When grieving",
        "When making decisions",
        "When being religious",
    ]
    again = await generate_contexts(database, llm=llm, model=MODEL, scenario_id=added.scenario.id, now=clock())
    assert [c.id for c in again] == [c.id for c in added.contexts] and len(fake_openai.chat_requests) == 2

    # Forced: the new set replaces the generated links; an unused context without stories is deleted.
    fake_openai.script(
        {"contexts": ["When in distress", "When tired", "When afraid", "When alone", "When rushed"]}, {"groups": []}
    )
    forced = await generate_contexts(
        database, llm=llm, model=MODEL, scenario_id=added.scenario.id, now=clock(), force=True
    )
    await llm.aclose()
    assert [c.text for c in forced] == ["When in distress", "When tired", "When afraid", "When alone", "When rushed"]
    assert forced[0].id == added.contexts[0].id
    assert len(await all_rows(database, MoralContext)) == 5


@pytest.mark.parametrize(
    "bad",
    [
        {"contexts": SIX[:5] + ["Being in distress"]},
        {"contexts": SIX + ["When tired", "When afraid"]},
    ],
    ids=["not-when", "more-than-seven"],
)
async def test_invalid_proposals_are_rejected_after_the_repair_with_nothing_written(database, fake_openai, clock, bad):
    async with database.session() as session:
        cid = await seed_community(session, clock())
        sid = await seed_scenario(session, cid, clock())
        await session.commit()
    llm = make_llm(fake_openai)
    fake_openai.script(bad, bad)
    with pytest.raises(LLMError) as raised:
        await generate_contexts(database, llm=llm, model=MODEL, scenario_id=sid, now=clock())
    await llm.aclose()
    assert raised.value.kind == "invalid_output" and len(fake_openai.chat_requests) == 2
    assert await all_rows(database, MoralContext) == [] and await all_rows(database, ScenarioContext) == []
    [call] = await all_rows(database, LLMCall)
    assert not call.ok and call.input_tokens > 0


# --- moderator edits ------------------------------------------------------------------------------------


async def test_moderator_add_edit_and_remove(database, clock):
    async with database.session() as session:
        cid = await seed_community(session, clock())
        s1 = await seed_scenario(session, cid, clock(), "One.")
        s2 = await seed_scenario(session, cid, clock(), "Two.")
        existing = await seed_context(session, cid, s1, clock(), "When in distress")
        await session.commit()

    # The same wording reuses the context; new wording is a moderator context.
    reused = await add_context(database, community_id=cid, scenario_id=s2, text="when in distress!", now=clock())
    assert reused.id == existing
    added = await add_context(database, community_id=cid, scenario_id=s2, text="When being religious", now=clock())
    assert added.source == "moderator"
    with pytest.raises(ContextError, match="start with 'When'"):
        await add_context(database, community_id=cid, scenario_id=s2, text="Religious people", now=clock())
    with pytest.raises(ContextError, match="no scenario"):
        await add_context(database, community_id=cid, scenario_id=999, text="When tired", now=clock())

    edited = await edit_context(database, community_id=cid, context_id=added.id, text="When being a person of faith")
    assert edited.text == "When being a person of faith"
    with pytest.raises(ContextError, match="already reads"):
        await edit_context(database, community_id=cid, context_id=added.id, text="When in distress")

    # Without stories, removing deletes the row.
    gone = await remove_context(database, community_id=cid, context_id=added.id)
    assert gone.deleted and gone.withdrawn_stories == 0

    # With stories, removing withdraws them and keeps the row (polls and votes point at the stories).
    from tests.test_stories import POLICIES, seed_value

    async with database.session() as session:
        a = await seed_value(session, cid, s1, clock(), "Honesty", POLICIES["honesty"])
        b = await seed_value(session, cid, s1, clock(), "Care", POLICIES["care"])
        await stories_repo.add_story(
            session,
            community_id=cid,
            context_id=existing,
            from_value_id=a,
            to_value_id=b,
            story="s",
            steps={},
            prompt_sha="p",
            model="m",
            run_id=None,
            now=clock(),
        )
        await session.commit()
    removed = await remove_context(database, community_id=cid, context_id=existing)
    assert not removed.deleted and removed.withdrawn_stories == 1
    [story] = await all_rows(database, TransitionStory)
    assert story.status == "withdrawn"
    async with database.session() as session:
        assert await stories_repo.live_contexts(session, community_id=cid) == []
        assert (await session.exec(select(MoralContext))).one().id == existing


async def test_contexts_are_scoped_to_their_community(database, fake_openai, clock):
    async with database.session() as session:
        one = await seed_community(session, clock(), "one")
        two = await seed_community(session, clock(), "two")
        s1 = await seed_scenario(session, one, clock())
        s2 = await seed_scenario(session, two, clock())
        theirs = await seed_context(session, one, s1, clock(), "When in distress")
        await session.commit()
    with pytest.raises(ContextError, match="no context"):
        await edit_context(database, community_id=two, context_id=theirs, text="When sad")
    with pytest.raises(ContextError, match="no context"):
        await remove_context(database, community_id=two, context_id=theirs)
    with pytest.raises(ContextError, match="no scenario"):
        await add_context(database, community_id=two, scenario_id=s1, text="When sad", now=clock())

    # Community two's generation neither sees nor reuses community one's contexts.
    llm = make_llm(fake_openai)
    fake_openai.script({"contexts": SIX[:1] + SIX[2:6] + ["When tired"]}, {"groups": []})
    contexts = await generate_contexts(database, llm=llm, model=MODEL, scenario_id=s2, now=clock())
    await llm.aclose()
    assert "When in distress" in [c.text for c in contexts] and theirs not in [c.id for c in contexts]
    assert all(c.community_id == two for c in contexts)
    assert "(none yet)" in fake_openai.chat_requests[1]["messages"][0]["content"]


async def test_scenarios_with_cards_but_no_contexts_get_them_before_stories(database, fake_openai, clock):
    from bot.stories.contexts import ensure_contexts
    from tests.test_stories import POLICIES, seed_value

    async with database.session() as session:
        cid = await seed_community(session, clock())
        with_cards = await seed_scenario(session, cid, clock(), "Started from mge chat --scenario.")
        await seed_value(session, cid, with_cards, clock(), "Honesty", POLICIES["honesty"])
        await seed_scenario(session, cid, clock(), "Nobody has answered this one yet.")
        await session.commit()
    llm = make_llm(fake_openai)
    five = ["When in distress", "When making decisions", "When being religious", "When facing loss", "When unsure"]
    fake_openai.script({"contexts": five}, {"groups": []})
    assert await ensure_contexts(database, llm=llm, model=MODEL, community_id=cid, now=clock()) == 1
    assert await ensure_contexts(database, llm=llm, model=MODEL, community_id=cid, now=clock()) == 0  # nothing left
    await llm.aclose()
    async with database.session() as session:
        linked = await stories_repo.contexts_of_scenario(session, scenario_id=with_cards)
    assert sorted(c.text for c in linked) == sorted(five)
