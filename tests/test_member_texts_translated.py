"""The interviewer's fixed texts in a language without a hand-written file (docs/method.md §10): translated
once by the configured model, checked, stored with the prompt's hash and model, reused by every process,
and English when the translation fails. End to end: the interview service with the real OpenAI client
against the fake server, real databases."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from adapters.openai_schema import strict_json_schema
from bot.interview.member_texts import stored_or_written
from bot.interview.service import InterviewService
from core.member_texts import english, texts_for
from core.member_texts.translation import TranslatedTexts, stored_texts
from core.messages import CardProposal, ChoicePrompt, Person
from core.prompts import load_prompt
from storage import member_texts_repo
from storage.models import InterviewTurn, LLMCall, MemberTextTranslation
from tests.conftest import make_llm
from tests.fakes.openai_server import Delay, Response
from tests.test_interview_service import (  # noqa: F401 (scenario_id is a fixture)
    ALICE,
    CARD,
    COMMUNITY,
    HEARD,
    press,
    rows,
    say,
    scenario_id,
    start_conversation,
    texts,
    turn,
)

#: The English texts in Italian, as a model would translate them (core/prompts/member_texts_translation.md).
ITALIAN = {
    "language": "it",
    "consent_notice": (
        "Ciao! Sono il Moral Graph Bot. Vorrei intervistarti su ciò a cui tieni davanti a una domanda difficile, "
        "così la tua comunità può scoprire quali valori considera più saggi.\n\n"
        "Cosa viene salvato: questa conversazione parola per parola, la scheda dei valori che confermi e i tuoi "
        "voti, collegati al tuo account solo in questa comunità.\n\n"
        "I tuoi dati restano tuoi: `/mge mydata` ti invia un file con tutti i dati, e `/mge forget` li cancella. "
        "Scrivi 'annulla' in qualsiasi momento per fermarti.\n\nAccetti di partecipare?"
    ),
    "no_consent": "Nessun problema, non ti chiederò altro. Scrivimi se cambi idea.",
    "pick_an_option": "Scegli una delle opzioni, per numero o per nome.",
    "choose_scenario": "Su quale domanda vorresti riflettere?",
    "no_scenario": "Al momento non c'è nessuna domanda aperta. Un moderatore può aprirne una; riprova più tardi.",
    "situation": "Ecco la situazione su cui rifletteremo insieme:",
    "opening_assistant": (
        "Immagina che qualcuno porti questa domanda a un assistente. Cosa dovrebbe considerare una buona risposta?"
    ),
    "opening_community": "Immagina che la nostra comunità debba decidere insieme. A cosa dovremmo fare attenzione?",
    "opening_personal": "Immagina di dover fare tu questa scelta. A cosa faresti attenzione?",
    "thousands_separator": ".",
    "empty_message": "Non ho ricevuto nessun testo in quel messaggio. Rispondi con parole, per favore.",
    "message_too_long": "Quel messaggio è lungo {length} caratteri; tieni le risposte sotto i {limit} caratteri "
    "(circa una pagina). Non ne ho salvato nulla: manda una versione più breve con parole tue.",
    "go_on": "Continua pure.",
    "say_back_opening": "Prima di scrivere la tua scheda, ecco a cosa ho sentito che fai attenzione:",
    "say_back_question": "Cosa manca o non va? Dimmelo con parole tue, oppure rispondi «È così» se è giusto.",
    "card_heading": "Grazie. Ecco la tua scheda, scritta dall'elenco che hai controllato. Coglie ciò a cui tieni?",
    "revised_card_heading": "Ecco la scheda rivista. Adesso coglie ciò a cui tieni?",
    "card_again": "Questa scheda coglie ciò a cui tieni?",
    "attention_heading": "Dove questo valore dirige l'attenzione:",
    "revision_question": (
        "Cosa vorresti cambiare nella scheda? Dimmelo con parole tue, oppure scrivi 'conferma' per tenerla così."
    ),
    "saved": "La tua scheda dei valori «{title}» è salvata.",
    "closing_note": "Un'ultima riflessione: ciò a cui fai attenzione qui, come «{first}», conta per te.",
    "value_check_question": (
        "Un altro membro ha descritto quello che sembra lo stesso valore. Questa scheda coglie anche ciò a cui tieni?"
    ),
    "agreed_value": "Grazie. La tua scheda ora conta per quel valore condiviso.",
    "kept_separate": "Capito: la tua scheda resta un valore a sé.",
    "thanks": "Grazie per aver partecipato! Scrivimi quando vuoi per iniziare un'altra intervista.",
    "cancelled": "Intervista annullata. Scrivimi un messaggio qualsiasi per iniziarne una nuova.",
    "starting_over": "Ricominciamo.",
    "welcome_back": "Bentornato! È passato un po' di tempo dall'ultima volta.",
    "continue_or_start_over": "Continuiamo da dove eravamo rimasti, o ricominciamo?",
    "stale_button": "Quel pulsante appartiene a un messaggio precedente, quindi non l'ho usato.",
    "stale_no_interview": "Scrivimi un messaggio per iniziare una nuova intervista.",
    "stale_here": "Ecco dove siamo:",
    "invalid_card": "Questa volta non sono riuscito a trasformare la conversazione in una scheda valida.",
    "tell_operator": "{problem} Avvisa chi gestisce il bot. Il tuo messaggio è salvato.",
    "nothing_lost": "{problem} Il tuo messaggio è salvato, non si perde nulla. Scrivi 'riprova' per riprovare.",
    "choices": {
        "accept": "Accetto",
        "decline": "No, grazie",
        "agree": "È così",
        "confirm": "Conferma",
        "revise": "Rivedi",
        "restart": "Ricomincia",
        "continue": "Continua",
        "same": "Sì, è il mio valore",
        "mine": "No, tieni separato il mio",
        "none": "Nessuno di questi",
        "done": "Fatto",
        "yes": "Sì",
        "skip": "Salta",
        "stop_asking": "Non chiedermelo più",
    },
    "offer_question": "Un'ultima, facoltativa: ecco valori descritti da altri membri, per questa domanda e per altre. "
    "Quali sarebbe saggio considerare per {about}? Scegli quelli adatti, poi premi «{done}» (o «{none}»).",
    "offer_this_question": "la domanda a cui hai appena risposto",
    "offer_picked": "Annotato: «{title}». Scegline altri adatti, poi «{done}».",
    "offer_already_picked": "Hai già scelto «{title}».",
    "offer_finished_one": "Grazie! Ho annotato il valore che hai scelto.",
    "offer_finished": "Grazie! Ho annotato i {count} valori che hai scelto.",
    "offer_none_fit": "Grazie! Ho annotato che nessuno di questi va bene.",
    "offer_closed": "Hai già finito quella domanda, quindi non ho registrato questo clic. Grazie!",
    "offer_invalid": "Non posso usare quel pulsante, quindi non ho registrato nulla.",
    "offer_not_yours": "Quella domanda era per un altro membro, quindi non ho registrato il tuo clic.",
    "offer_other_community": "Quella domanda appartiene a un'altra comunità, quindi non ho registrato il tuo clic.",
    "later_check_merged": "La tua scheda è stata unita a schede di altri membri che esprimono lo stesso valore.",
    "later_check_restated": "La scheda di un altro membro ora esprime il valore di cui fa parte la tua scheda.",
    "later_check_reads_now": "Ecco come si legge ora il valore:",
    "later_check_question": "È ancora ciò che ti sta a cuore?",
    "later_check_thanks_same": "Grazie: ho annotato che questo valore rappresenta ancora ciò che ti sta a cuore.",
    "later_check_thanks_separate": "Fatto: la tua scheda è di nuovo un valore a sé, con le tue parole.",
    "later_check_already_answered": "Hai già risposto a questa. Grazie!",
    "later_check_moved_since": "Grazie, annotato. La tua scheda è stata spostata da allora: nulla è cambiato.",
    "reason_question": "Cosa ti ha fatto scegliere «{choice}» in questa storia? «{story}»\nRispondi qui con una frase "
    "con parole tue (resta con il tuo voto, senza il tuo nome), oppure premi {skip}.",
    "reason_saved": "Grazie: l'ho salvato come motivo del tuo voto.",
    "reason_skipped": "Saltato. Non chiederò più di questo voto.",
    "reason_opted_out": "Capito: non ti chiederò più perché hai votato.",
    "reason_closed": "Questa domanda è già chiusa.",
    "reason_vote_changed": "Hai cambiato quel voto dopo la mia domanda, quindi non l'ho tenuto come suo motivo.",
    "commands": {"cancel": ["annulla", "basta"], "restart": ["ricomincia"], "retry": ["riprova"]},
    "llm_errors": {
        "rate_limited": "Il modello linguistico è occupato in questo momento.",
        "unavailable": "Non sono riuscito a raggiungere il modello linguistico.",
        "timeout": "Il modello linguistico ci ha messo troppo a rispondere.",
        "invalid_output": "Il modello linguistico mi ha dato una risposta che non potevo usare.",
        "rejected": "Il modello linguistico ha rifiutato la richiesta.",
        "configuration": "Il modello linguistico del bot non è configurato correttamente.",
    },
}
HEARD_IN_ITALIAN = {
    "items": [
        "il momento in cui qualcuno esita prima di parlare",
        "chi soffre se nessuno dice niente",
        "un modo di parlare che protegge l'amicizia",
    ]
}
ITALIAN_CARD = {
    "title": "Coraggio con cura",
    "description": "L'assistente aiuta la persona ad agire su ciò che vede, avendo cura di tutti.",
    "policies": [
        "MOMENTI in cui la persona sente che qualcosa non va ma esita",
        "SEGNALI di chi soffrirebbe per il silenzio",
        "MODI di parlare che proteggono il rapporto",
    ],
}
#: Italian words that none of the hand-written languages' guesses claim, so the interviewer's report decides.
ITALIAN_ANSWERS = ("Guardo chi soffre quando nessuno parla.", "Noto quando qualcuno esita.", "Una volta ho parlato io.")
BOB = Person("bob", "Bob")
PROMPT = "member_texts_translation"


def italian_turn(message: str, ready: bool = False) -> dict:
    return {**turn(message, ready), "language": "it"}


def is_translation(request) -> bool:
    return "fixed texts of a chat interviewer" in request["messages"][0]["content"]


def translations(fake) -> list:
    return [r for r in fake.requests if r.path.endswith("/chat/completions") and is_translation(r)]


async def italian_check(service: InterviewService, fake, scenario_id: int, *, person=ALICE, translation=(ITALIAN,)):
    """Consent (in English: nothing tells Italian yet), then three answers in Italian; the interviewer
    reports "it" with its first question, and the ``translation`` answers follow it."""
    await start_conversation(service, scenario_id) if person is ALICE else await consent(service, scenario_id, person)
    fake.script(
        italian_turn("Cosa noti quando decidi?"),
        *translation,
        italian_turn("Raccontami una volta."),
        italian_turn("Grazie.", ready=True),
        HEARD_IN_ITALIAN,
    )
    first = await service.handle(say(ITALIAN_ANSWERS[0], person=person))
    assert texts(first) == "Cosa noti quando decidi?"
    await service.handle(say(ITALIAN_ANSWERS[1], person=person))
    return await service.handle(say(ITALIAN_ANSWERS[2], person=person))


async def consent(service: InterviewService, scenario_id: int, person) -> None:
    await service.resume(COMMUNITY, person, scenario_id=scenario_id)
    await service.handle(say("I agree", person=person))


@pytest.fixture
async def other_process(database, fake_openai, interview_config, clock):
    """A second bot process on the same database: nothing of the first one's memory."""
    llm = make_llm(fake_openai)
    yield InterviewService(database=database, llm=llm, config=interview_config, clock=clock)
    await llm.aclose()


# --- the rules -------------------------------------------------------------------------------------------


def test_a_translation_keeps_the_placeholders_and_the_data_commands():
    assert TranslatedTexts.model_validate(ITALIAN).choices.continue_ == "Continua"
    broken = {
        "a placeholder dropped": {**ITALIAN, "saved": "La tua scheda è salvata."},
        "a placeholder translated": {**ITALIAN, "saved": "La tua scheda «{titolo}» è salvata."},
        "/mge forget dropped": {
            **ITALIAN,
            "consent_notice": ITALIAN["consent_notice"].replace("/mge forget", "/mge dimentica"),
        },
        "a command word empty": {**ITALIAN, "commands": {**ITALIAN["commands"], "cancel": [" "]}},
        "no command word": {**ITALIAN, "commands": {**ITALIAN["commands"], "retry": []}},
        "a label too long": {**ITALIAN, "choices": {**ITALIAN["choices"], "agree": "È così " * 20}},
        # Slack shows 75 characters of a button, Discord 80: a longer label would be cut on Slack.
        "a label Slack would cut": {**ITALIAN, "choices": {**ITALIAN["choices"], "mine": "N" * 76}},
    }
    for case, data in broken.items():
        with pytest.raises(ValidationError):
            TranslatedTexts.model_validate(data)
            pytest.fail(case)
    # What the model is asked to fill: every key, "continue" under its own name, strict.
    schema = strict_json_schema(TranslatedTexts)
    assert set(schema["required"]) == set(ITALIAN)
    assert "continue" in schema["$defs"]["ChoiceLabels"]["required"]


def test_a_translation_whose_typed_words_would_misread_a_member_is_refused():
    """A model's command words and the texts that name them: each word the member may type does what the
    texts say, and only that."""
    commands = ITALIAN["commands"]
    broken = {
        # "no" to a proposed card would cancel the interview instead of asking what to change.
        "a command word is a plain no": {**ITALIAN, "commands": {**commands, "cancel": ["annulla", "no"]}},
        # Typing the Revise button's label would start over.
        "a command word is another button's label": {
            **ITALIAN,
            "commands": {**commands, "restart": ["ricomincia", "rivedi"]},
        },
        "one word for two commands": {**ITALIAN, "commands": {**commands, "retry": ["riprova", "basta"]}},
        # The member types what the notice says, and it is read as an answer.
        "the consent notice names no cancel word": {
            **ITALIAN,
            "consent_notice": ITALIAN["consent_notice"].replace("'annulla'", "'esci'"),
        },
        "the failure note names no retry word": {
            **ITALIAN,
            "nothing_lost": ITALIAN["nothing_lost"].replace("'riprova'", "'ritenta'"),
        },
        # Beside the retry word, a restart word: typing it would end the interview.
        "the failure note names a restart word too": {
            **ITALIAN,
            "nothing_lost": ITALIAN["nothing_lost"].replace("per riprovare", "per ricomincia il tentativo"),
        },
        "the revision question names no confirm label": {
            **ITALIAN,
            "revision_question": ITALIAN["revision_question"].replace("'conferma'", "'confermo'"),
        },
        "the said-back question names no agree label": {
            **ITALIAN,
            "say_back_question": ITALIAN["say_back_question"].replace("«È così»", "«Va bene»"),
        },
    }
    for case, data in broken.items():
        with pytest.raises(ValidationError):
            TranslatedTexts.model_validate(data)
            pytest.fail(case)


def test_stored_texts_are_labelled_with_the_primary_language():
    assert stored_texts({**ITALIAN, "language": "it-IT"}, "it-CH").language == "it"
    with pytest.raises(ValidationError):  # the English texts gained a key since these were stored
        stored_texts({key: value for key, value in ITALIAN.items() if key != "go_on"}, "it")


# --- translated once, then reused ------------------------------------------------------------------------


async def test_an_italian_speaking_member_reads_the_interviewers_texts_in_italian(
    service, database, fake_openai, clock, scenario_id
):
    said_back = await italian_check(service, fake_openai, scenario_id)
    # The say-back's fixed texts follow the language the interviewer reported.
    assert texts(said_back).startswith(ITALIAN["say_back_opening"]) and HEARD_IN_ITALIAN["items"][0] in texts(said_back)
    assert [c.label for c in said_back[0].choices] == ["È così"]

    (translation,) = translations(fake_openai)
    assert "from English into Italian (it)" in translation["messages"][0]["content"]
    assert json.loads(translation["messages"][1]["content"]) == english().model_dump(by_alias=True, mode="json")
    assert translation["response_format"]["json_schema"]["strict"] is True
    (row,) = await rows(database, MemberTextTranslation)
    assert row.language == "it" and row.texts["card_heading"] == ITALIAN["card_heading"]
    (call,) = await rows(database, LLMCall, LLMCall.purpose == "translate_texts")
    assert call.ok and call.prompt_sha == row.prompt_sha == load_prompt(PROMPT).sha
    assert call.model == row.model == "card-model" and call.interview_id is not None

    fake_openai.script(ITALIAN_CARD, CARD)
    proposed = await service.handle(say("È così"))  # the Italian label is read as agreeing
    assert isinstance(proposed[-1], CardProposal) and proposed[-1].card.title == ITALIAN_CARD["title"]
    assert proposed[-1].heading == ITALIAN["card_heading"]
    assert proposed[-1].attention_heading == ITALIAN["attention_heading"]
    assert [c.label for c in proposed[-1].choices] == ["Conferma", "Rivedi", "Ricomincia"]

    # Typed command words are the translation's too; a stale button and a new interview read Italian.
    assert texts(await service.handle(say("annulla"))) == ITALIAN["cancelled"]
    stale = texts(await service.handle(press("confirm")))
    assert stale == f"{ITALIAN['stale_button']} {ITALIAN['stale_no_interview']}"
    again = texts(await service.handle(say("ciao")))  # consented before: straight to the question
    assert again.startswith(ITALIAN["situation"]) and again.endswith(ITALIAN["opening_assistant"])
    assert len(translations(fake_openai)) == 1


async def test_a_community_that_speaks_italian_greets_in_italian(database, fake_openai, interview_config, clock):
    llm = make_llm(fake_openai)
    service = InterviewService(
        database=database, llm=llm, config=replace(interview_config, community_language="it"), clock=clock
    )
    fake_openai.script(ITALIAN)
    try:
        first = await service.handle(say("ciao"))
    finally:
        await llm.aclose()
    assert isinstance(first[0], ChoicePrompt) and first[0].text == ITALIAN["consent_notice"]
    assert [c.label for c in first[0].choices] == ["Accetto", "No, grazie"]
    assert len(translations(fake_openai)) == 1


async def test_a_second_member_in_italian_costs_no_translation(
    service, other_process, database, fake_openai, clock, scenario_id
):
    await italian_check(service, fake_openai, scenario_id)
    # Bob talks to another process: it reads the stored texts, and asks the model nothing more.
    said_back = await italian_check(other_process, fake_openai, scenario_id, person=BOB, translation=())
    assert texts(said_back).startswith(ITALIAN["say_back_opening"])
    assert len(translations(fake_openai)) == 1
    assert len(await rows(database, LLMCall, LLMCall.purpose == "translate_texts")) == 1


async def test_what_follows_an_interview_reads_the_stored_translation_without_asking_the_model(
    service, database, fake_openai, scenario_id
):
    """The offer of other values and the notes after a press are said after the interview, outside its
    turn: they read the stored texts (or English), never translate."""
    await italian_check(service, fake_openai, scenario_id)
    calls = len(fake_openai.chat_requests)
    async with database.session() as session:
        assert (await stored_or_written(session, "it-CH")).offer_not_yours == ITALIAN["offer_not_yours"]
        assert await stored_or_written(session, "ja") == english()
        assert await stored_or_written(session, None) == english()
    assert len(fake_openai.chat_requests) == calls


async def test_two_processes_translating_at_once_both_succeed(
    service, other_process, database, fake_openai, clock, scenario_id
):
    await start_conversation(service, scenario_id)
    await consent(other_process, scenario_id, BOB)

    def answer(body: dict) -> Response:
        if "fixed texts of a chat interviewer" in body["messages"][0]["content"]:
            return Delay(0.3, then=ITALIAN)  # neither has stored its translation when the other looks
        return italian_turn("E poi?")

    fake_openai.script(*[answer] * 4)
    replies = await asyncio.gather(
        service.handle(say(ITALIAN_ANSWERS[0])), other_process.handle(say(ITALIAN_ANSWERS[0], person=BOB))
    )
    assert [texts(reply) for reply in replies] == ["E poi?", "E poi?"]
    assert len(translations(fake_openai)) == 2  # each process asked; the first to store it wins
    (row,) = await rows(database, MemberTextTranslation)
    assert row.language == "it"


async def test_storing_a_language_twice_keeps_the_first(database, clock):
    async with database.session() as session:
        for model in ("first-model", "second-model"):
            await member_texts_repo.add_translation(
                session, language="it", texts=ITALIAN, prompt_sha="abc", model=model, now=clock()
            )
        await session.commit()
    (row,) = await rows(database, MemberTextTranslation)
    assert row.model == "first-model"


# --- when it fails, or no longer fits ---------------------------------------------------------------------


async def test_an_invalid_translation_leaves_english_and_is_not_retried_within_the_hour(
    service, database, fake_openai, clock, scenario_id, caplog
):
    dropped = {**ITALIAN, "saved": "La tua scheda è salvata."}  # "{title}" is gone
    with caplog.at_level(logging.WARNING, logger="mge.interviews"):
        said_back = await italian_check(service, fake_openai, scenario_id, translation=(dropped, dropped))
    assert texts(said_back).startswith(english().say_back_opening)
    assert [c.label for c in said_back[0].choices] == ["That's it"]
    first, repair = translations(fake_openai)  # the adapter asked once for a repair, then gave up
    assert "saved needs ['title']" in repair["messages"][-1]["content"]
    assert "translating the interviewer's texts into 'it' failed" in caplog.text
    (call,) = await rows(database, LLMCall, LLMCall.purpose == "translate_texts")
    assert not call.ok and not await rows(database, MemberTextTranslation)

    # Two more messages within the hour: no new attempt. After it, the next one translates.
    clock.advance(minutes=59)
    await service.resume(COMMUNITY, ALICE)
    assert len(translations(fake_openai)) == 2
    clock.advance(minutes=2)
    fake_openai.script(ITALIAN)
    shown = await service.resume(COMMUNITY, ALICE)
    assert len(translations(fake_openai)) == 3
    # The list said back is repeated as it was sent; its button reads Italian now.
    assert [c.label for c in shown[0].choices] == ["È così"]
    (row,) = await rows(database, MemberTextTranslation)
    assert row.texts["saved"] == ITALIAN["saved"]


async def test_a_stored_translation_that_no_longer_fits_is_translated_again(
    service, database, fake_openai, clock, scenario_id
):
    older = {key: value for key, value in ITALIAN.items() if key != "go_on"}  # before the English gained go_on
    async with database.session() as session:
        await member_texts_repo.add_translation(
            session, language="it", texts=older, prompt_sha="0ld", model="old-model", now=clock()
        )
        await session.commit()
    said_back = await italian_check(service, fake_openai, scenario_id)
    assert texts(said_back).startswith(ITALIAN["say_back_opening"])
    assert len(translations(fake_openai)) == 1
    (row,) = await rows(database, MemberTextTranslation)
    assert row.texts["go_on"] == ITALIAN["go_on"] and row.prompt_sha == load_prompt(PROMPT).sha


async def test_built_in_languages_cost_no_translation_and_no_query(service, database, fake_openai, scenario_id):
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        await start_conversation(service, scenario_id)
        fake_openai.script(
            {**turn("¿En qué te fijas?"), "language": "es"}, turn("More?"), turn("ok", ready=True), HEARD
        )
        for answer in ("Guardo chi soffre.", "Who gets hurt.", "People hesitate."):
            said_back = await service.handle(say(answer))
    finally:
        sa.event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    assert texts(said_back).startswith(texts_for("es").say_back_opening)
    assert not translations(fake_openai)
    assert statements and not [s for s in statements if "member_text_translations" in s]


async def test_a_translation_is_never_asked_for_before_the_members_words_are_saved(
    service, database, fake_openai, clock, scenario_id
):
    """Coming back after the idle timeout in a language whose texts failed to translate: the interview is
    timed out and resumed before the message is read. Were the texts translated in between, a process
    stopped during that call (a deploy, a crash) would leave the event claimed and the words unsaved:
    redelivered, it is ignored, and the message is lost."""
    dropped = {**ITALIAN, "saved": "La tua scheda è salvata."}
    await italian_check(service, fake_openai, scenario_id, translation=(dropped, dropped))
    clock.advance(hours=73)  # past the idle timeout, and the hour before translating again

    def answer(body: dict) -> Response:
        return Delay(30, then=ITALIAN) if is_translation(body) else HEARD_IN_ITALIAN

    fake_openai.script(answer, answer)
    message = say("Manca il coraggio di parlare per primi.")
    handling = asyncio.create_task(service.handle(message))
    for _ in range(200):  # until the translation is asked for
        if len(translations(fake_openai)) == 3:
            break
        await asyncio.sleep(0.02)
    assert len(translations(fake_openai)) == 3
    handling.cancel()  # the process stops during the call
    with pytest.raises(asyncio.CancelledError):
        await handling
    words = [turn.content for turn in await rows(database, InterviewTurn, InterviewTurn.role == "member")]
    assert message.text in words
