"""Scenario framing and the member's language (docs/method.md §10), end to end: the interview service with
the real OpenAI client against the fake server, real databases; the pure rules directly."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from adapters.embeddings import LLMEmbedder
from bot.commands.base import split_words
from bot.interview.service import InterviewService
from bot.values.batch import run_dedup
from bot.values.my_card import member_cards
from core.framing import Framing, card_schema, framing_of, parse_framing
from core.interviewer import InterviewerTurn
from core.languages import language_tag
from core.member_texts import texts_for
from core.messages import CardProposal
from core.prompts import load_prompt
from storage import repositories as repo
from storage.models import CanonicalValue, Interview, LLMCall, Scenario, ValuesCardRecord
from tests.conftest import make_llm
from tests.test_cli_communities import env, fake, mge  # noqa: F401 (env and fake are fixtures)
from tests.test_contexts import SIX
from tests.test_interview_service import ALICE, CARD, COMMUNITY, HEARD, rows, say, start_conversation, texts, turn

COMMUNITY_QUESTION = "Our garden club must decide whether to let a member who missed every work day keep a plot."
COMMUNITY_CARD = {
    "title": "Fairness With Room For Life",
    "description": "We weigh what each member gave against what their life allowed them to give.",
    "policies": [
        "CIRCUMSTANCES that kept a member from the work days",
        "CONTRIBUTIONS a member made in other ways",
        "PROMISES the club made to every member",
    ],
}
#: What the interviewer says back to a Spanish-speaking member before the card.
HEARD_IN_SPANISH = {
    "items": [
        "el momento en que la gente duda antes de hablar",
        "quién sale herido si nadie dice nada",
        "una manera de hablar que cuida la amistad",
    ]
}
SPANISH_CARD = {
    "title": "Valentía con cuidado",
    "description": "El asistente ayuda a la persona a actuar según lo que ve, cuidando a todos.",
    "policies": [
        "MOMENTOS en que la persona siente que algo está mal pero duda",
        "SEÑALES de quién saldría herido por el silencio",
        "MANERAS de hablar que mantienen la relación",
    ],
}
ENGLISH_OF_SPANISH = {
    "title": "Courage With Care",
    "description": "The assistant helps the person act on what they see while caring for everyone.",
    "policies": [
        "MOMENTS when the person feels something is wrong but hesitates",
        "SIGNS of who would be hurt by silence",
        "WAYS of speaking up that keep the relationship",
    ],
}


async def framed_scenario(database, clock, text: str, framing: Framing) -> int:
    from storage import communities_repo

    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=COMMUNITY.platform, external_id=COMMUNITY.external_id, name=COMMUNITY.name, now=clock()
        )
        scenario = await repo.find_or_add_scenario(
            session, community_id=row.id, text=text, now=clock(), framing=framing.value
        )
        await session.commit()
        return scenario.id


def chats(fake) -> list:
    return [request for request in fake.requests if request.path.endswith("/chat/completions")]


def sent_text(requests) -> str:
    """What the bot wrote to the model: message contents and the response schemas (roles left out)."""
    parts = []
    for request in requests:
        parts += [message["content"] for message in request["messages"]]
        parts.append(json.dumps(request.get("response_format") or {}))
    return "\n".join(parts)


# --- the rules -------------------------------------------------------------------------------------------


def test_framings_parse_and_combine():
    assert parse_framing(None) is Framing.ASSISTANT and parse_framing(" Community ") is Framing.COMMUNITY
    with pytest.raises(ValueError, match="assistant, community, personal"):
        parse_framing("collective")
    assert framing_of([]) is Framing.ASSISTANT
    assert framing_of(["community", "community", "personal"]) is Framing.COMMUNITY
    assert framing_of(["community", "assistant"]) is Framing.ASSISTANT  # a tie keeps the paper's


def test_a_community_or_personal_card_may_not_speak_of_an_assistant():
    for framing in (Framing.COMMUNITY, Framing.PERSONAL):
        with pytest.raises(ValidationError, match="not about an assistant"):
            card_schema(framing).model_validate(CARD)
        card_schema(framing).model_validate(COMMUNITY_CARD)
    assert card_schema(Framing.ASSISTANT).model_validate(CARD).description.startswith("The assistant")


def test_a_card_in_another_language_keeps_its_shape_without_english_plurals():
    card = card_schema(Framing.ASSISTANT, english=False).model_validate(SPANISH_CARD)
    assert card.policies[1].startswith("SEÑALES")
    with pytest.raises(ValidationError):
        card_schema(Framing.ASSISTANT).model_validate(SPANISH_CARD)  # "SEÑALES" is no English head
    with pytest.raises(ValidationError, match="upper-case noun phrase"):
        card_schema(Framing.ASSISTANT, english=False).model_validate(
            {**SPANISH_CARD, "policies": ["momentos en que", *SPANISH_CARD["policies"][1:]]}
        )


def test_language_tags_are_checked_and_normalised():
    assert (
        language_tag("es") == "es" and language_tag("PT_br") == "pt-BR" and language_tag("zh-hant-tw") == "zh-Hant-TW"
    )
    for bad in ("spanish", "e", "es-", "12"):
        with pytest.raises(ValueError, match="BCP-47"):
            language_tag(bad)
    assert (
        InterviewerTurn.model_validate({"message": "¿Qué?", "ready_to_articulate": False, "language": "ES"}).language
        == "es"
    )
    assert InterviewerTurn.model_validate({"message": "What?", "ready_to_articulate": False}).language is None
    with pytest.raises(ValidationError):
        InterviewerTurn.model_validate({"message": "?", "ready_to_articulate": False, "language": "Spanish"})


# --- the community framing -------------------------------------------------------------------------------


async def test_a_community_framed_interview_never_mentions_an_assistant(service, database, fake_openai, clock):
    scenario_id = await framed_scenario(database, clock, COMMUNITY_QUESTION, Framing.COMMUNITY)
    opening = texts(await start_conversation(service, scenario_id))
    assert "What should we attend to when we decide it?" in opening and "assistant" not in opening
    # The first card speaks of "the assistant": the validator rejects it and the repair request fixes it.
    fake_openai.script(
        turn("What did you see?"), turn("And then?"), turn("ok", ready=True), HEARD, CARD, COMMUNITY_CARD
    )
    await service.handle(say("I'd ask why she missed the work days."))
    await service.handle(say("Her mother was ill all spring."))
    said_back = await service.handle(say("Last year we forgave someone and it held the club together."))
    assert HEARD["items"][0] in texts(said_back)
    proposed = await service.handle(say("That's it"))

    assert isinstance(proposed[-1], CardProposal) and proposed[-1].card.title == COMMUNITY_CARD["title"]
    *prompts, repair = chats(fake_openai)
    assert "assistant" not in sent_text(prompts).lower()
    assert "what the community should attend to" in sent_text(prompts)
    # The repair request quotes the rejected answer and says why it was rejected.
    assert "not about an assistant" in repair["messages"][-1]["content"]
    (record,) = await rows(database, ValuesCardRecord)
    assert record.description == COMMUNITY_CARD["description"] and record.member_title is None


async def test_the_paper_framing_reads_as_before(service, database, fake_openai, clock):
    scenario_id = await framed_scenario(database, clock, "Should I tell my friend?", Framing.ASSISTANT)
    opening = texts(await start_conversation(service, scenario_id))
    assert "Imagine someone brings this to an assistant. What do you think a good response should consider?" in opening
    fake_openai.script(turn("What did you notice?"), turn("More?"), turn("ok", ready=True), HEARD, CARD)
    await service.handle(say("Who gets hurt."))
    await service.handle(say("People hesitate."))
    await service.handle(say("I once spoke up."))
    await service.handle(say("That's it"))
    interviewer, say_back, articulation = fake_openai.requests[0], fake_openai.requests[-2], fake_openai.requests[-1]
    assert "about how a good assistant should respond in this situation" in say_back["messages"][0]["content"]
    assert "how a good assistant should respond in this situation" in interviewer["messages"][0]["content"]
    assert (
        "Keep it relevant to how an assistant should respond to the scenario." in interviewer["messages"][0]["content"]
    )
    assert 'Write about "the assistant"' in articulation["messages"][0]["content"]
    assert "Write the card in English (en)" in articulation["messages"][0]["content"]
    # An English member in an English community: no translation, nothing in the member's columns.
    assert not await rows(database, LLMCall, LLMCall.purpose == "translate_card")
    (record,) = await rows(database, ValuesCardRecord)
    assert record.title == CARD["title"] and record.language is None and record.member_title is None


# --- the member's language -------------------------------------------------------------------------------


async def spanish_card(
    service: InterviewService, fake, scenario_id: int, *, tag: str = "es", cards=(SPANISH_CARD, ENGLISH_OF_SPANISH)
) -> list:
    """Three answers in Spanish (the interviewer hears ``tag``), the list said back in Spanish and agreed to
    with a Spanish yes, then the scripted ``cards`` calls."""
    await start_conversation(service, scenario_id)
    fake.script(
        {"message": "¿En qué te fijas cuando decides algo así?", "ready_to_articulate": False, "language": tag},
        {"message": "¿Me cuentas una vez que lo hiciste?", "ready_to_articulate": False, "language": tag},
        {"message": "Gracias.", "ready_to_articulate": True, "language": tag},
        HEARD_IN_SPANISH,
        *cards,
    )
    first = await service.handle(say("Creo que debería pensar en quién sale herido."))
    assert texts(first) == "¿En qué te fijas cuando decides algo así?"
    await service.handle(say("Me fijo en cuándo la gente duda."))
    said_back = await service.handle(say("Una vez hablé sobre un problema de seguridad y sirvió."))
    assert HEARD_IN_SPANISH["items"][0] in texts(said_back)
    assert texts(said_back).startswith(texts_for("es").say_back_opening)
    assert [c.label for c in said_back[0].choices] == ["Eso es"]
    return await service.handle(say("Sí"))


async def test_a_spanish_speaking_member_gets_a_spanish_card_and_the_community_an_english_one(
    service, database, fake_openai, clock
):
    scenario_id = await framed_scenario(
        database, clock, "My friend asks whether to report a colleague.", Framing.ASSISTANT
    )
    proposed = await spanish_card(service, fake_openai, scenario_id)

    assert isinstance(proposed[-1], CardProposal) and proposed[-1].card.title == SPANISH_CARD["title"]
    # Once the member writes Spanish, the interviewer's own texts are Spanish too.
    assert proposed[-1].heading == texts_for("es").card_heading
    assert proposed[-1].attention_heading == "A qué dirige la atención este valor:"
    assert [c.label for c in proposed[-1].choices] == ["Confirmar", "Revisar", "Empezar de nuevo"]
    assert (await rows(database, Interview))[-1].language == "es"
    *_, say_back, articulation, translation = chats(fake_openai)
    assert "In Spanish (es), the language of the member's messages." in say_back["messages"][0]["content"]
    assert "Write the card in Spanish (es)" in articulation["messages"][0]["content"]
    assert "from Spanish (es) into English (en)" in translation["messages"][0]["content"]
    assert json.loads(translation["messages"][1]["content"])["title"] == SPANISH_CARD["title"]

    (record,) = await rows(database, ValuesCardRecord)
    assert (record.title, record.policies) == (ENGLISH_OF_SPANISH["title"], ENGLISH_OF_SPANISH["policies"])
    assert (record.member_title, record.member_policies) == (SPANISH_CARD["title"], SPANISH_CARD["policies"])
    assert record.language == "es" and record.translation_model and record.model
    assert record.translation_prompt_sha == load_prompt("card_translation").sha
    (call,) = await rows(database, LLMCall, LLMCall.purpose == "translate_card")
    assert call.ok and call.prompt_sha == record.translation_prompt_sha

    # The member confirms, and sees their card in Spanish: the saved notice and /mge mycard.
    saved = texts(await service.handle(say("Confirmar")))
    assert "Tu tarjeta de valores «Valentía con cuidado» está guardada." in saved
    # The closing note quotes the card as the member wrote it, not the community's translation.
    assert f"como «{SPANISH_CARD['policies'][0]}»" in saved and "¡Gracias por participar!" in saved
    (mine,) = await member_cards(database, COMMUNITY, ALICE)
    assert mine.card.title == SPANISH_CARD["title"] and mine.card.policies == SPANISH_CARD["policies"]

    # Dedup (and so the values stories and polls are written from) reads the English text.
    llm = make_llm(fake_openai)
    try:
        report = await run_dedup(
            database,
            llm=llm,
            embedder=LLMEmbedder(llm, "embed-model"),
            judge_model="judge-model",
            community_id=record.community_id,
            now=clock(),
        )
    finally:
        await llm.aclose()
    assert report.cards == 1
    (value,) = await rows(database, CanonicalValue)
    assert value.title == ENGLISH_OF_SPANISH["title"] and value.policies == ENGLISH_OF_SPANISH["policies"]
    embedded = [r for r in fake_openai.requests if r.path.endswith("/embeddings")]
    assert embedded and all("Valentía" not in json.dumps(r["input"]) for r in embedded)


async def test_a_spanish_card_in_a_community_framed_scenario_is_translated_without_an_assistant(
    service, database, fake_openai, clock
):
    scenario_id = await framed_scenario(database, clock, COMMUNITY_QUESTION, Framing.COMMUNITY)
    community_spanish = {**SPANISH_CARD, "description": "Sopesamos lo que cada persona pudo dar."}
    # The translation says "The assistant …": rejected, then repaired.
    proposed = await spanish_card(
        service, fake_openai, scenario_id, tag="es-MX", cards=(community_spanish, ENGLISH_OF_SPANISH, COMMUNITY_CARD)
    )
    assert proposed[-1].card.description == community_spanish["description"]
    (record,) = await rows(database, ValuesCardRecord)
    assert record.language == "es-MX" and record.description == COMMUNITY_CARD["description"]
    *prompts, translation, repair = chats(fake_openai)
    assert "assistant" not in sent_text([*prompts, translation]).lower()
    assert "not about an assistant" in repair["messages"][-1]["content"]


async def test_a_question_about_a_spanish_card_is_answered_in_spanish(service, database, fake_openai, clock):
    scenario_id = await framed_scenario(
        database, clock, "My friend asks whether to report a colleague.", Framing.ASSISTANT
    )
    await spanish_card(service, fake_openai, scenario_id)
    fake_openai.script({"answer": "Viene de lo que contaste sobre la seguridad."})
    answer = await service.handle(say("¿Por qué está el segundo punto?"))
    assert texts(answer) == "Viene de lo que contaste sobre la seguridad."
    request = chats(fake_openai)[-1]
    assert "Answer their question in Spanish (es)" in request["messages"][0]["content"]
    assert SPANISH_CARD["title"] in request["messages"][0]["content"]


async def test_mydata_export_carries_both_texts(service, database, fake_openai, clock):
    from bot.privacy.export import export_member_data

    scenario_id = await framed_scenario(
        database, clock, "My friend asks whether to report a colleague.", Framing.ASSISTANT
    )
    await spanish_card(service, fake_openai, scenario_id)
    await service.handle(say("confirm"))
    (record,) = await rows(database, ValuesCardRecord)
    exported = await export_member_data(
        database, community_id=record.community_id, platform_user_id=ALICE.platform_user_id
    )
    (card,) = exported["values_cards"]
    assert card["title"] == SPANISH_CARD["title"] and card["language"] == "es"
    assert card["in_community_language"]["title"] == ENGLISH_OF_SPANISH["title"]


async def test_a_scenario_keeps_the_framing_it_was_created_with(database, clock):
    first = await framed_scenario(database, clock, COMMUNITY_QUESTION, Framing.COMMUNITY)
    again = await framed_scenario(database, clock, COMMUNITY_QUESTION, Framing.PERSONAL)
    assert first == again
    (scenario,) = await rows(database, Scenario)
    assert scenario.framing == "community"


# --- moderators choose the framing -------------------------------------------------------------------------


def test_a_first_word_is_the_framing_only_when_it_names_one():
    from bot.commands.deliberation import ACTIONS

    add = next(a for a in ACTIONS if a.path == "scenario add")
    assert split_words("community Should we ban phones?", add.params) == {
        "framing": "community",
        "text": "Should we ban phones?",
    }
    assert split_words("Should we ban phones?", add.params) == {"text": "Should we ban phones?"}


@pytest.mark.sqlite_only
async def test_a_moderator_adds_a_community_framed_scenario_on_slack(service, database, fake_openai, clock):
    from tests.slack_support import serving_slack
    from tests.test_slack_moderation import ask

    fake_openai.script({"contexts": SIX}, {"groups": []}, {"contexts": SIX}, {"groups": []})
    async with serving_slack(service, database, clock=clock, moderator_ids=("UMOD",)) as slack:
        added = await ask(slack, "scenario add community Should our club keep a plot for absent members?", user="UMOD")
        assert "is open for interviews: Should our club keep a plot for absent members?" in added["text"]
        assert "Framing: community (what should we attend to when we decide this together?)" in added["text"]
        plain = await ask(slack, "scenario add Should I tell my friend?", user="UMOD")
        assert "Framing: assistant" in plain["text"]
        wrong = await ask(slack, "scenario list", user="UMOD")
        assert "Should our club keep a plot for absent members? — open, community framing" in wrong["text"]
    framings = {s.text: s.framing for s in await rows(database, Scenario)}
    assert framings == {
        "Should our club keep a plot for absent members?": "community",
        "Should I tell my friend?": "assistant",
    }


@pytest.mark.slow
def test_mge_scenario_add_takes_a_framing(env, fake):
    fake.script({"contexts": SIX}, {"groups": []})
    added = mge("scenario", "add", "What would you do?", "--community", "acme", "--framing", "personal", env=env)
    assert added.returncode == 0, added.stderr
    assert "framing: personal (what would you attend to facing this choice?)" in added.stdout
    listed = mge("scenario", "list", "--community", "acme", env=env)
    assert "What would you do? [personal framing]" in listed.stdout
    refused = mge("scenario", "add", "Another?", "--community", "acme", "--framing", "collective", env=env)
    assert refused.returncode == 2 and "unknown framing 'collective'" in refused.stderr
