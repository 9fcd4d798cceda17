"""The check before the card, yes at a proposed card, questions about it, and coming back after the
idle timeout: the interview service end to end (real SQLite/PostgreSQL, the real OpenAI client, the fake
server on loopback)."""

from __future__ import annotations

import pytest

from core.interview import InterviewState
from core.messages import CardProposal, ChoicePrompt
from core.prompts import load_prompt
from storage.models import InterviewTurn, LLMCall, ValuesCardRecord
from tests.fakes.openai_server import Error
from tests.test_interview_service import (  # noqa: F401  (scenario_id: a fixture)
    ALICE,
    CARD,
    COMMUNITY,
    CORRECTED,
    HEARD,
    REVISED,
    press,
    reach_card,
    reach_check,
    rows,
    say,
    scenario_id,
    texts,
    the_interview,
)

# The check runs the same service, queries and commits as the rest of the interview, which
# test_interview_service runs on both backends; here the database is incidental.
pytestmark = pytest.mark.sqlite_only


async def test_the_interviewer_says_back_what_it_heard_before_any_card(service, fake_openai, database, scenario_id):
    check = await reach_check(service, fake_openai, scenario_id)
    [prompt] = check
    assert isinstance(prompt, ChoicePrompt) and [c.label for c in prompt.choices] == ["That's it"]
    assert all(f"\u2022 {item}" in prompt.text for item in HEARD["items"]) and "missing or wrong" in prompt.text
    assert (await the_interview(database)).state == InterviewState.CHECKING
    assert await rows(database, ValuesCardRecord) == []
    request = fake_openai.chat_requests[-1]
    assert request["messages"][0]["content"].startswith(load_prompt("say_back").template[:60])
    assert "Once I spoke up about a safety issue" in request["messages"][-1]["content"]
    [said] = await rows(database, InterviewTurn, InterviewTurn.kind == "check")
    assert said.role == "bot" and said.prompt_sha == load_prompt("say_back").sha and said.model == "card-model"


async def test_corrections_are_said_back_again_and_the_card_is_written_from_the_agreed_list(
    service, fake_openai, database, scenario_id
):
    await reach_check(service, fake_openai, scenario_id)
    fake_openai.script(CORRECTED)
    again = await service.handle(say("You missed how tired she already is."))
    assert isinstance(again[0], ChoicePrompt) and "how tired she already is" in again[0].text
    assert "You missed how tired" in fake_openai.chat_requests[-1]["messages"][-1]["content"]
    assert (await the_interview(database)).state == InterviewState.CHECKING

    fake_openai.script(CARD)
    proposal = await service.handle(press("agree"))  # the "That's it" button
    assert isinstance(proposal[0], CardProposal) and "list you checked" in proposal[0].heading
    system = fake_openai.chat_requests[-1]["messages"][0]["content"]
    checked = system.split("<checked_attention>")[1].split("</checked_attention>")[0]
    assert [line.removeprefix("- ") for line in checked.strip().splitlines()] == CORRECTED["items"]
    calls = [c.purpose for c in await rows(database, LLMCall)]
    assert calls[-3:] == ["say_back", "say_back", "articulate"]


@pytest.mark.parametrize("agreement", ["That's it", "yes", "Looks good!", "👍", "vale", "1"])
async def test_typed_agreement_with_the_list(service, fake_openai, database, scenario_id, agreement):
    await reach_check(service, fake_openai, scenario_id)
    fake_openai.script(CARD)
    assert isinstance((await service.handle(say(agreement)))[0], CardProposal)


async def test_a_failed_say_back_is_retried(service, fake_openai, database, scenario_id):
    await reach_check(service, fake_openai, scenario_id)
    fake_openai.script(Error(500))
    failed = await service.handle(say("Add that she is tired."))
    assert "retry" in texts(failed)
    fake_openai.script(CORRECTED)
    again = await service.handle(say("retry"))
    assert isinstance(again[0], ChoicePrompt) and "how tired she already is" in again[0].text


@pytest.mark.parametrize("yes", ["yes", "Looks good", "ok!", "perfect", "That's it", "sounds right", "👍", "oui", "ja"])
async def test_a_whole_message_yes_confirms_the_card(service, fake_openai, database, scenario_id, yes):
    await reach_card(service, fake_openai, scenario_id)
    done = await service.handle(say(yes))
    assert "is saved" in texts(done) and "where you are likely to be wise" in texts(done)
    assert [c.status for c in await rows(database, ValuesCardRecord)] == ["confirmed"]
    assert (await the_interview(database)).state == InterviewState.CONFIRMED


async def test_free_text_still_revises(service, fake_openai, database, scenario_id):
    await reach_card(service, fake_openai, scenario_id)
    fake_openai.script(REVISED)
    revised = await service.handle(say("yes, but the title should mention compassion"))
    assert isinstance(revised[0], CardProposal) and revised[0].card.title == REVISED["title"]


@pytest.mark.parametrize("question", ["Why is the second point there?", "what does the third point mean"])
async def test_a_question_about_the_card_is_answered_and_the_card_stays(
    service, fake_openai, database, scenario_id, question
):
    await reach_card(service, fake_openai, scenario_id)
    fake_openai.script({"answer": "It comes from what you said about silence. Confirm it or say what to change."})
    answer = await service.handle(say(question))
    assert isinstance(answer[0], ChoicePrompt) and answer[0].text.startswith("It comes from what you said")
    assert [c.key for c in answer[0].choices] == ["confirm", "revise", "restart"]
    request = fake_openai.chat_requests[-1]
    assert CARD["title"] in request["messages"][0]["content"] and request["messages"][-1]["content"] == question
    assert (await the_interview(database)).state == InterviewState.CARD_PROPOSED
    assert [c.status for c in await rows(database, ValuesCardRecord)] == ["proposed"]
    assert [c.purpose for c in await rows(database, LLMCall)][-1] == "card_question"
    # Still the same card to confirm.
    await service.handle(say("confirm"))
    assert [c.status for c in await rows(database, ValuesCardRecord)] == ["confirmed"]


async def test_a_failed_answer_is_retried_as_an_answer_not_a_revision(service, fake_openai, database, scenario_id):
    await reach_card(service, fake_openai, scenario_id)
    fake_openai.script(Error(500))
    assert "retry" in texts(await service.handle(say("why that title?")))
    fake_openai.script({"answer": "Because you spoke of courage."})
    assert texts(await service.handle(say("retry"))) == "Because you spoke of courage."
    assert len(await rows(database, ValuesCardRecord)) == 1


async def test_an_idle_check_times_out_through_the_table_and_resumes_where_it_was(
    service, fake_openai, database, clock, scenario_id
):
    await reach_check(service, fake_openai, scenario_id)
    clock.advance(hours=73)
    back = await service.resume(COMMUNITY, ALICE)
    assert isinstance(back[0], ChoicePrompt) and [c.key for c in back[0].choices] == ["continue", "restart"]
    interview = await the_interview(database)
    assert interview.state == InterviewState.TIMED_OUT and interview.previous_state == InterviewState.CHECKING
    # Continue shows the list again, with its button.
    shown = await service.handle(say("continue"))
    assert isinstance(shown[0], ChoicePrompt) and HEARD["items"][0] in shown[0].text
    assert [c.key for c in shown[0].choices] == ["agree"]
    interview = await the_interview(database)
    assert interview.state == InterviewState.CHECKING and interview.previous_state is None

    clock.advance(hours=73)
    fake_openai.script(CARD)
    card = await service.handle(say("yes"))  # a message after the timeout is read in the state before
    assert "Welcome back" in texts(card) and isinstance(card[-1], CardProposal)
