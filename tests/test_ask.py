"""Asking the graph (docs/method.md §9): a real graph built from story, poll and vote rows, the real OpenAI
client against the fake OpenAI server; and `mge ask` as a user runs it.

On SQLite only: asking reads the graph's rows with the queries the graph, digest and story tests run on
PostgreSQL too, and records its LLM calls as every feature does; nothing here is SQL of its own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.ask.answer import (
    NO_GRAPH_TEXT,
    AskOutcome,
    ask_community,
    ask_graph,
)
from core.ask import (
    MAX_QUESTION_CHARS,
    Guide,
    citation_line,
    clean_question,
    context_choice_schema,
    format_answer,
    quoted_list,
)
from core.digest import Beaten
from core.messages import CommunityRef
from core.prompts import load_prompt
from storage.database import Database
from storage.models import Community, LLMCall, MoralContext, TransitionStory, Vote
from tests.cli_support import mge_in_process
from tests.conftest import make_llm
from tests.fakes.openai_server import Error, FakeOpenAI, Raw
from tests.fakes.story_rows import CONTEXT, FROM_VALUE, TO_VALUE, add_story
from tests.test_poll_selection import open_poll

pytestmark = pytest.mark.sqlite_only

HERE = CommunityRef("discord", "1001", "Here")
ELSEWHERE = CommunityRef("discord", "2002", "Elsewhere")
MODEL = "ask-model"
QUESTION = "My friend just lost her job and keeps calling me in tears. How should I respond?"
ANSWER = (
    "Before offering fixes, let her feel that you are really there. Ask what the last days have been like and "
    "listen for what she hasn't said yet; the moment for practical help comes when she asks for it."
)
UNRANKED_CONTEXT = "When making a decision together"
SECRET = {
    "title": "Elsewhere Secret Value",
    "description": "A value only the other community has.",
    "policies": ["SECRETS that only the other community knows", "MOMENTS that belong elsewhere"],
}
SECRET_LOSER = {
    "title": "Elsewhere Losing Value",
    "description": "Another value of the other community.",
    "policies": ["HABITS of the other community", "RULES of the other community"],
}
ELSEWHERE_CONTEXT = "When visiting another community"


@dataclass(frozen=True)
class Built:
    community_id: int
    context_id: int  # the ranked context (CONTEXT)
    unranked_context_id: int
    winner_id: str
    loser_id: str


async def add_votes(database: Database, poll, choices: list[str], *, now: datetime) -> None:
    async with database.session() as session:
        for n, choice in enumerate(choices):
            session.add(
                Vote(
                    community_id=poll.community_id,
                    poll_id=poll.id,
                    voter_key=f"voter:{poll.id}:{n}",
                    choice=choice,
                    cast_at=now,
                    updated_at=now,
                )
            )
        await session.commit()


async def context_id(database: Database, community_id: int, text: str) -> int:
    async with database.session() as session:
        query = select(MoralContext.id).where(MoralContext.community_id == community_id, MoralContext.text == text)
        return (await session.exec(query)).one()


async def build_graph(
    database: Database,
    community: CommunityRef,
    *,
    now: datetime,
    votes: bool = True,
    from_value: dict = FROM_VALUE,
    to_value: dict = TO_VALUE,
    context: str = CONTEXT,
    unranked: str | None = UNRANKED_CONTEXT,
) -> Built:
    """Two values in ``context``, the story from one to the other voted 3 × "wiser", 1 × "not wiser"
    (so ``to_value`` wins: "wiser than <from_value> (3 of 4 voters)"), and a second context whose story has
    no votes (no ranking)."""
    story_id = await add_story(database, community, now=now, context=context, from_value=from_value, to_value=to_value)
    if unranked is not None:
        await add_story(
            database,
            community,
            now=now,
            context=unranked,
            from_value={**from_value, "title": from_value["title"] + " Again"},
            to_value={**to_value, "title": to_value["title"] + " Again"},
        )
    if votes:
        poll = await open_poll(database, story_id, now=now, closes_at=now + timedelta(days=1))
        await add_votes(database, poll, ["upgrade", "upgrade", "upgrade", "no_upgrade"], now=now)
    async with database.session() as session:
        story = await session.get(TransitionStory, story_id)
        community_id = story.community_id
        winner, loser = str(story.to_value_id), str(story.from_value_id)
    return Built(
        community_id=community_id,
        context_id=await context_id(database, community_id, context),
        unranked_context_id=await context_id(database, community_id, unranked) if unranked else 0,
        winner_id=winner,
        loser_id=loser,
    )


def choose(*ids: int, reason: str = "The question is about someone in distress.") -> dict:
    return {"contexts": list(ids), "reason": reason}


def answered(answer: str, *ids: str) -> dict:
    return {"answer": answer, "used_value_ids": list(ids)}


async def llm_calls(database: Database) -> list[LLMCall]:
    async with database.session() as session:
        return list((await session.exec(select(LLMCall).order_by(LLMCall.id))).all())


@pytest.fixture
async def llm(fake_openai):
    client = make_llm(fake_openai)
    yield client
    await client.aclose()


async def ask(database, llm, built: Built, clock, question: str = QUESTION):
    return await ask_graph(
        database, llm=llm, model=MODEL, community_id=built.community_id, question=question, now=clock()
    )


# --- answering ---------------------------------------------------------------------------------------


async def test_the_answer_cites_the_winning_value_of_the_chosen_context_and_how_it_won(
    database, fake_openai, llm, clock
):
    built = await build_graph(database, HERE, now=clock())
    fake_openai.script(choose(built.context_id), answered(ANSWER, built.winner_id))

    result = await ask(database, llm, built, clock)

    assert result.outcome is AskOutcome.ANSWERED and result.text == ANSWER
    assert result.contexts == (CONTEXT,)
    [value] = result.values
    assert (value.value_id, value.title, value.context) == (built.winner_id, TO_VALUE["title"], CONTEXT)
    assert value.score > 0 and value.policies == tuple(TO_VALUE["policies"])
    assert value.beaten == (Beaten(FROM_VALUE["title"], 3, 4),)
    assert value.how_it_won() == "voted wiser than Fixing The Problem (3 of 4 voters)"
    shown = result.formatted()
    assert shown.startswith(ANSWER) and "Guided by the community's moral graph:" in shown
    assert (
        f"Being With The Person (wisest in “{CONTEXT}”, score {value.score:.3f}): voted wiser than "
        "Fixing The Problem (3 of 4 voters)" in shown
    )

    # What the LLM saw: every context of the community by id, then the winner's card and the question.
    contexts_request, answer_request = fake_openai.chat_requests
    system = contexts_request["messages"][0]["content"]
    assert f"{built.context_id}. {CONTEXT}" in system and f"{built.unranked_context_id}. {UNRANKED_CONTEXT}" in system
    assert contexts_request["messages"][-1] == {"role": "user", "content": QUESTION}
    system = answer_request["messages"][0]["content"]
    assert TO_VALUE["title"] in system and all(policy in system for policy in TO_VALUE["policies"])
    assert FROM_VALUE["title"] not in system  # only winners guide the answer
    assert answer_request["messages"][-1]["content"] == QUESTION
    assert {r["model"] for r in fake_openai.chat_requests} == {MODEL}

    # Recorded: one llm_call per request, with the prompt's hash, the model and the tokens.
    shas = (load_prompt("ask_contexts").sha, load_prompt("ask_answer").sha)
    assert result.prompt_shas == shas and result.model == MODEL
    calls = await llm_calls(database)
    assert [(c.purpose, c.prompt_sha, c.model, c.ok, c.community_id) for c in calls] == [
        ("ask_contexts", shas[0], MODEL, True, built.community_id),
        ("ask_answer", shas[1], MODEL, True, built.community_id),
    ]
    assert all(c.input_tokens > 0 and c.output_tokens > 0 for c in calls)
    assert result.as_json()["values"][0]["howItWon"] == value.how_it_won()


async def test_only_the_values_the_answer_used_are_cited_and_unranked_contexts_are_mentioned(
    database, fake_openai, llm, clock
):
    built = await build_graph(database, HERE, now=clock())
    fake_openai.script(choose(built.context_id, built.unranked_context_id), answered(ANSWER, int(built.winner_id)))
    result = await ask(database, llm, built, clock)
    assert result.answered and [v.value_id for v in result.values] == [built.winner_id]
    assert result.unranked_contexts == (UNRANKED_CONTEXT,)
    assert f"also touches “{UNRANKED_CONTEXT}”, where no value has been ranked yet" in result.formatted()


# --- clear outcomes without an answer -------------------------------------------------------------------


async def test_no_graph_yet_says_so_without_calling_the_llm(database, fake_openai, llm, clock):
    built = await build_graph(database, HERE, now=clock(), votes=False)
    result = await ask(database, llm, built, clock)
    assert result.outcome is AskOutcome.NO_GRAPH and result.text == NO_GRAPH_TEXT
    # A community the bot has never seen (asking creates nothing) and one without contexts: the same.
    unknown = await ask_community(database, llm=llm, model=MODEL, community=ELSEWHERE, question=QUESTION, now=clock())
    assert unknown.outcome is AskOutcome.NO_GRAPH
    async with database.session() as session:
        assert not (await session.exec(select(Community).where(Community.external_id == ELSEWHERE.external_id))).all()
    assert fake_openai.chat_requests == [] and await llm_calls(database) == []


async def test_a_question_touching_no_context_lists_the_ranked_contexts(database, fake_openai, llm, clock):
    built = await build_graph(database, HERE, now=clock())
    fake_openai.script(choose(reason="This is a question of arithmetic."))
    result = await ask(database, llm, built, clock, question="What is 17 times 23?")
    assert result.outcome is AskOutcome.NO_MATCH and result.reason == "This is a question of arithmetic."
    assert f"The contexts with a ranking are: “{CONTEXT}”." in result.text
    assert UNRANKED_CONTEXT not in result.text
    assert len(fake_openai.chat_requests) == 1 and len(await llm_calls(database)) == 1


async def test_a_question_touching_only_an_unranked_context_says_so(database, fake_openai, llm, clock):
    built = await build_graph(database, HERE, now=clock())
    fake_openai.script(choose(built.unranked_context_id))
    result = await ask(database, llm, built, clock)
    assert result.outcome is AskOutcome.NOT_RANKED and result.unranked_contexts == (UNRANKED_CONTEXT,)
    assert f"touches “{UNRANKED_CONTEXT}”, but the community hasn't ranked any values there yet" in result.text
    assert f"“{CONTEXT}”" in result.text and len(fake_openai.chat_requests) == 1


@pytest.mark.parametrize("question", ["", "   \n\u200b ", "x" * (MAX_QUESTION_CHARS + 1), "y" * 10_000])
async def test_empty_or_oversized_questions_are_refused_before_anything_else(
    database, fake_openai, llm, clock, question
):
    built = await build_graph(database, HERE, now=clock())
    result = await ask(database, llm, built, clock, question=question)
    assert result.outcome is AskOutcome.INVALID_QUESTION
    assert ("characters long" in result.text) == bool(question.strip("\u200b \n"))
    assert fake_openai.chat_requests == []


# --- invalid LLM output and failures ------------------------------------------------------------------


async def test_an_unknown_context_id_is_rejected_after_one_repair(database, fake_openai, llm, clock):
    built = await build_graph(database, HERE, now=clock())
    fake_openai.script(choose(99_999), choose(99_999))
    result = await ask(database, llm, built, clock)
    assert result.outcome is AskOutcome.LLM_FAILED and result.error_kind == "invalid_output"
    assert "couldn't use" in result.text and "worded differently" in result.text
    assert "not in the list" in fake_openai.chat_requests[1]["messages"][-1]["content"]  # the repair request
    [call] = await llm_calls(database)
    assert call.purpose == "ask_contexts" and not call.ok and "invalid_output" in call.error
    assert call.prompt_sha == load_prompt("ask_contexts").sha and call.input_tokens > 0


@pytest.mark.parametrize(
    "bad",
    [
        {"answer": ANSWER},  # used_value_ids missing
        {"used_value_ids": ["1"]},  # answer missing
        "unknown value",  # a value that was not offered
        {"answer": "x" * 1300, "used_value_ids": None},  # too long (ids filled in below)
        Raw("Sure! Here is my answer: {not json"),
    ],
    ids=["no-ids", "no-answer", "unknown-value", "too-long", "not-json"],
)
async def test_an_invalid_answer_is_rejected_with_a_clear_message(database, fake_openai, llm, clock, bad):
    built = await build_graph(database, HERE, now=clock())
    if bad == "unknown value":
        bad = answered(ANSWER, built.loser_id)  # a value of the graph, but not a winner that was offered
    elif isinstance(bad, dict) and bad.get("used_value_ids", []) is None:
        bad = {**bad, "used_value_ids": [built.winner_id]}
    fake_openai.script(choose(built.context_id), bad, bad)
    result = await ask(database, llm, built, clock)
    assert result.outcome is AskOutcome.LLM_FAILED and result.text.startswith(
        "The language model gave me an answer I couldn't use."
    )
    assert result.values == () and ANSWER not in result.formatted()
    assert [(c.purpose, c.ok) for c in await llm_calls(database)] == [("ask_contexts", True), ("ask_answer", False)]


async def test_an_unreachable_llm_is_a_clear_message(database, fake_openai, llm, clock):
    built = await build_graph(database, HERE, now=clock())
    fake_openai.script(Error(503))
    result = await ask(database, llm, built, clock)
    assert result.outcome is AskOutcome.LLM_FAILED and result.error_kind == "unavailable"
    assert result.text == "I couldn't reach the language model. Please try again in a moment."


# --- each community's graph stays its own ---------------------------------------------------------------


async def test_a_question_is_answered_from_its_own_communitys_graph_only(database, fake_openai, llm, clock):
    here = await build_graph(database, HERE, now=clock())
    elsewhere = await build_graph(
        database,
        ELSEWHERE,
        now=clock(),
        from_value=SECRET_LOSER,
        to_value=SECRET,
        context=ELSEWHERE_CONTEXT,
        unranked=None,
    )

    # The other community's context is not offered, and naming it is rejected like any unknown id.
    fake_openai.script(choose(elsewhere.context_id), choose(elsewhere.context_id))
    refused = await ask(database, llm, here, clock)
    assert refused.outcome is AskOutcome.LLM_FAILED
    # So is the other community's winning value in the answer.
    fake_openai.script(
        choose(here.context_id), answered(ANSWER, elsewhere.winner_id), answered(ANSWER, elsewhere.winner_id)
    )
    refused = await ask(database, llm, here, clock)
    assert refused.outcome is AskOutcome.LLM_FAILED

    fake_openai.script(choose(here.context_id), answered(ANSWER, here.winner_id))
    result = await ask(database, llm, here, clock)
    assert result.answered and [v.title for v in result.values] == [TO_VALUE["title"]]
    seen = json.dumps([r.body for r in fake_openai.chat_requests])
    for text in (SECRET["title"], SECRET_LOSER["title"], ELSEWHERE_CONTEXT, *SECRET["policies"]):
        assert text not in seen and text not in result.formatted()
    assert {c.community_id for c in await llm_calls(database)} == {here.community_id}

    # And the other community's question gets the other graph.
    fake_openai.script(choose(elsewhere.context_id), answered(ANSWER, elsewhere.winner_id))
    other = await ask_community(database, llm=llm, model=MODEL, community=ELSEWHERE, question=QUESTION, now=clock())
    assert [v.title for v in other.values] == [SECRET["title"]] and other.contexts == (ELSEWHERE_CONTEXT,)


# --- pure parts -----------------------------------------------------------------------------------------


def test_citations_escape_every_text_and_show_how_each_value_won():
    guide = Guide(
        context_id=1,
        context="When *anyone* <asks>",
        value_id="7",
        title="Care **First**",
        description="",
        policies=(),
        score=0.25,
        beaten=(Beaten("A", 3, 4), Beaten("B", 2, 2), Beaten("C", 2, 3), Beaten("D", 2, 5)),
    )
    assert guide.how_it_won() == (
        "voted wiser than A (3 of 4 voters); wiser than B (2 of 2 voters); wiser than C (2 of 3 voters); and 1 more"
    )
    esc = lambda text: text.replace("*", "\\*").replace("<", "&lt;")  # noqa: E731
    line = citation_line(guide, esc=esc, strong=lambda t: f"**{t}**")
    assert line.startswith("**Care \\*\\*First\\*\\***") and "“When \\*anyone\\* &lt;asks>”" in line
    text = format_answer("Hi <there>", [guide], esc=esc)
    assert text.startswith("Hi &lt;there>\n\n")
    lonely = Guide(1, "When alone", "8", "Solitude", "", (), 1.0)
    assert citation_line(lonely).endswith(": ranked first")
    assert (
        quoted_list(["A", "B", "C"]) == "“A”, “B” and “C”"
        and quoted_list(list("ABC"), limit=2) == "“A”, “B” and 1 more"
    )


def test_question_cleaning_and_context_choice_schema():
    assert clean_question("  How\u200b do I  help?\x07 ") == ("How do I help?", None)
    schema = context_choice_schema([3, 5])
    assert schema.model_validate({"contexts": [5, 5, 3], "reason": " two \n fit "}).contexts == [5, 3]
    with pytest.raises(ValueError, match="at most 3"):
        context_choice_schema([1, 2, 3, 4]).model_validate({"contexts": [1, 2, 3, 4], "reason": "all"})
    with pytest.raises(ValueError, match="not in the list"):
        schema.model_validate({"contexts": [4], "reason": "no"})
    assert schema.__name__ == "ContextChoice"


# --- mge ask ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, sqlite_url: str):
    with FakeOpenAI.in_thread() as fake:
        url = sqlite_url
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MGE_", "OPENAI_", "DATABASE_URL"))}
        env.update(
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="test",
            DATABASE_URL=url,
            MGE_LLM_MAX_RETRIES="0",
            MGE_LLM_TIMEOUT_SECONDS="5",
            MGE_ARTICULATION_MODEL=MODEL,
            HOME=str(tmp_path),
        )
        yield fake, url, env


def mge(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )


@pytest.mark.slow  # an `mge ask` process; the other commands run in this one (tests/cli_support.py)
def test_mge_ask_in_the_terminal(cli_env, tmp_path, clock):
    fake, url, env = cli_env

    async def prepare() -> tuple[Built, Built]:
        database = Database(url)
        try:
            here = await build_graph(database, CommunityRef("console", "local", "local"), now=clock())
            other = await build_graph(
                database,
                ELSEWHERE,
                now=clock(),
                from_value=SECRET_LOSER,
                to_value=SECRET,
                context=ELSEWHERE_CONTEXT,
                unranked=None,
            )
            return here, other
        finally:
            await database.dispose()

    here, _ = asyncio.run(prepare())
    fake.script(choose(here.context_id), answered(ANSWER, here.winner_id))
    result = mge("ask", QUESTION, "--community", "local", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(ANSWER)
    assert f"- Being With The Person (wisest in “{CONTEXT}”" in result.stdout
    assert "voted wiser than Fixing The Problem (3 of 4 voters)" in result.stdout

    fake.script(choose(here.context_id), answered(ANSWER, here.winner_id))
    as_json = mge_in_process("ask", QUESTION, "--community", "local", "--json", env=env, cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["outcome"] == "answered" and doc["model"] == MODEL and doc["contexts"] == [CONTEXT]
    assert doc["values"][0]["beaten"] == [{"title": "Fixing The Problem", "wiserVotes": 3, "voters": 4}]
    assert doc["promptShas"] == [load_prompt("ask_contexts").sha, load_prompt("ask_answer").sha]

    fake.script(choose())
    nothing = mge_in_process("ask", "What is 17 times 23?", "--community", "local", env=env, cwd=tmp_path)
    assert nothing.returncode == 1 and "doesn't seem to touch" in nothing.stdout

    ambiguous = mge_in_process("ask", QUESTION, env=env, cwd=tmp_path)  # two communities: which one?
    assert ambiguous.returncode == 2 and "choose one with --community" in ambiguous.stderr
    empty = mge_in_process("ask", "  ", "--community", "local", env=env, cwd=tmp_path)
    assert empty.returncode == 2 and "Please ask a question" in empty.stderr
    assert fake.pending == 0 and len(fake.chat_requests) == 5
