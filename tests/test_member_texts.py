"""The interviewer's fixed texts in the member's language: the language files (complete, consistent,
unambiguous when typed), the guess from a member's first words, and a Spanish-speaking member's interview
through the service (real SQLite, the real OpenAI client, the fake server on loopback)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.voting.reasons import answer_reason_button, send_reason_questions, take_reason
from core.answers import fold_label
from core.interview import CARD_CHOICES, CONSENT_CHOICES, SPEC, InterviewState, Trigger, interpret, localized
from core.languages import guess_language
from core.member_texts import (
    CatalogueError,
    built_in,
    built_in_languages,
    check_against_english,
    english,
    parse_catalogue,
    placeholders,
    texts_for,
)
from core.messages import CardProposal, ChoicePrompt, Reply
from storage.models import Interview, Member, ValuesCardRecord, VoteReasonAsk
from tests.fakes.openai_server import Error
from tests.test_framing_language import ENGLISH_OF_SPANISH, HEARD_IN_SPANISH, SPANISH_CARD
from tests.test_interview_service import (  # noqa: F401
    SCENARIO,
    press,
    rows,
    say,
    scenario_id,  # noqa: F401 (a fixture)
    texts,
    the_interview,
)
from tests.test_polls import YES, poll  # noqa: F401 (poll: a fixture)
from tests.test_vote_inbox import react
from tests.test_vote_reasons_db import Messenger

S, T = InterviewState, Trigger
ES = texts_for("es")
LANGUAGES = built_in_languages()

# The service's queries are the interview's own (test_interview_service runs them on both databases).
pytestmark = pytest.mark.sqlite_only


# --- the language files ------------------------------------------------------------------------------


def test_the_written_languages_are_english_spanish_french_german_and_portuguese():
    assert LANGUAGES == ("de", "en", "es", "fr", "pt")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_file_has_every_text_with_the_english_placeholders(language):
    texts = texts_for(language)
    assert texts.language == language
    assert placeholders(texts) == placeholders(english())
    assert texts.saved.format(title="T") and texts.closing_note.format(first="F")
    assert texts.nothing_lost.format(problem="P").startswith("P ")


@pytest.mark.parametrize("language", LANGUAGES)
def test_typed_labels_and_commands_are_unambiguous_in_every_language(language):
    """A member may type a button's label; it must mean one thing in every state that offers it, and never
    be another state's command word."""
    texts = texts_for(language)
    for spec in SPEC.values():
        labels = [fold_label(c.label) for c in localized(spec.choices, texts)]
        assert len(labels) == len(set(labels)), spec.state
    commands = texts.commands
    assert not set(commands.cancel) & (set(commands.restart) | set(commands.retry))
    non_restart = {k: fold_label(v) for k, v in texts.choices.by_key().items() if k != "restart"}
    assert not set(non_restart.values()) & {fold_label(w) for w in commands.cancel + commands.restart + commands.retry}


@pytest.mark.parametrize("language", [tag for tag in LANGUAGES if tag != "en"])
def test_the_texts_that_name_a_word_to_type_name_one_that_works(language):
    """The notices say "type 'cancel'", "type 'confirm'", "send 'retry'": in another language those words
    are that language's, and typing them does what the notice says."""
    texts = texts_for(language)
    cancel = next(word for word in texts.commands.cancel if word in texts.consent_notice.casefold())
    assert interpret(S.CONVERSING, cancel, texts=texts)[0] is T.CANCEL
    retry = next(word for word in texts.commands.retry if word in texts.nothing_lost.casefold())
    assert interpret(S.CONVERSING, retry, pending=True, texts=texts)[0] is T.RETRY
    confirm = texts.choices.confirm.casefold()
    assert confirm in texts.revision_question.casefold()
    assert interpret(S.REVISING, confirm, texts=texts)[0] is T.CONFIRM
    agree = texts.choices.agree.casefold()
    assert agree in texts.say_back_question.casefold()
    assert interpret(S.CHECKING, agree, texts=texts)[0] is T.AGREED


def test_a_broken_language_file_is_refused_with_the_file_and_the_problem():
    with pytest.raises(CatalogueError, match=r"^core/member_texts/xx\.toml: "):
        parse_catalogue("language = 'es'\nconsent_notice = ", source="core/member_texts/xx.toml")
    with pytest.raises(CatalogueError, match=r"^es\.toml: .*consent_notice"):
        parse_catalogue('language = "es"\nthanks = "Gracias"\n', source="es.toml")
    changed = english().model_copy(update={"saved": "Tu tarjeta {titulo} está guardada.", "language": "es"})
    with pytest.raises(CatalogueError, match=r"saved needs \['title'\], has \['titulo'\]"):
        check_against_english(changed)


def test_a_language_without_a_file_falls_back_to_english_and_regions_share_their_language():
    assert built_in("ja") is None and texts_for("ja") == english()
    assert texts_for("es-MX") == texts_for("es-419") == ES
    assert texts_for(None) == english()


def test_the_english_labels_are_the_machines_choices():
    assert [c.label for c in CONSENT_CHOICES] == ["I agree", "No thanks"]
    assert [c.label for c in localized(CARD_CHOICES, ES)] == ["Confirmar", "Revisar", "Empezar de nuevo"]
    assert [c.key for c in localized(CARD_CHOICES, ES)] == [c.key for c in CARD_CHOICES]


# --- reading what a member types ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "typed", "trigger"),
    [
        (S.AWAITING_CONSENT, "Acepto", T.CONSENT_GIVEN),
        (S.AWAITING_CONSENT, "no, gracias", T.CONSENT_DECLINED),
        (S.CHECKING, "Eso es", T.AGREED),
        (S.CARD_PROPOSED, "Confirmar", T.CONFIRM),
        (S.CARD_PROPOSED, "revisar", T.ASK_REVISION),
        (S.CARD_PROPOSED, "Empezar de nuevo", T.RESTART),
        (S.VALUE_CHECK, "Sí, es mi valor", T.VALUE_AGREED),
        (S.VALUE_CHECK, "No, mantener el mío aparte", T.VALUE_DECLINED),
        (S.TIMED_OUT, "seguir", T.RESUME),
        (S.CONVERSING, "cancelar", T.CANCEL),
        (S.CONVERSING, "¡cancelar!", T.CANCEL),
        # English commands and labels always work, whatever the interview's language.
        (S.CONVERSING, "cancel", T.CANCEL),
        (S.CARD_PROPOSED, "Confirm", T.CONFIRM),
        # Another language's command word is an answer, not a command.
        (S.CONVERSING, "annuler", T.ANSWERED),
    ],
)
def test_labels_and_commands_typed_in_the_interviews_language(state, typed, trigger):
    assert interpret(state, typed, texts=ES)[0] is trigger


@pytest.mark.parametrize(
    ("language", "state", "typed", "trigger"),
    [
        # Typed as people type: without the label's comma, accents or capitals.
        ("es", S.AWAITING_CONSENT, "no gracias", T.CONSENT_DECLINED),
        ("es", S.VALUE_CHECK, "si es mi valor", T.VALUE_AGREED),
        ("es", S.VALUE_CHECK, "no mantener el mio aparte", T.VALUE_DECLINED),
        ("de", S.AWAITING_CONSENT, "nein danke", T.CONSENT_DECLINED),
        ("de", S.CARD_PROPOSED, "bestatigen", T.CONFIRM),
        ("de", S.CARD_PROPOSED, "uberarbeiten", T.ASK_REVISION),
        ("pt", S.AWAITING_CONSENT, "nao obrigado", T.CONSENT_DECLINED),
        ("pt", S.CARD_PROPOSED, "recomecar", T.RESTART),
        ("fr", S.CARD_PROPOSED, "reviser", T.ASK_REVISION),
        ("fr", S.VALUE_CHECK, "oui c'est ma valeur", T.VALUE_AGREED),
        ("en", S.CHECKING, "thats it", T.AGREED),
    ],
)
def test_a_label_typed_without_its_punctuation_or_accents_counts(language, state, typed, trigger):
    assert interpret(state, typed, texts=texts_for(language))[0] is trigger


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hola, quiero participar", "es"),
        ("sí", "es"),
        ("Bonjour !", "fr"),
        ("Hallo, ich möchte mitmachen", "de"),
        ("Olá, tudo bem?", "pt"),
        ("Hi, I'd like to take part", "en"),
        ("Creo que la familia es lo más importante", "es"),
        ("Eu acho que a família vem primeiro", "pt"),
        # Too little to tell: the interview keeps the community's language (or the member's last one).
        ("ok", None),
        ("42", None),
        ("a1", None),  # one-letter words are in too many languages
        ("Müller", None),  # letters alone, without a word, say nothing
        ("Maria", None),
        ("no", None),
    ],
)
def test_the_language_of_a_first_message_is_guessed_only_when_the_words_tell(text, language):
    assert guess_language(text, among=LANGUAGES) == language


#: What English-speaking members type at consent or as a first answer: English words other languages'
#: lists share ("me", "as", "um", "die", "con"), names and acronyms ("Los Angeles", "EU"), one function
#: word alone. None of them may switch an English member's interview to another language.
ENGLISH_SHORT_ANSWERS = (
    "me too",
    "Count me in",
    "um",
    "um ok",
    "Um, I guess honesty",
    "as well",
    "As a parent",
    "as well as my kids",
    "ok con",
    "pros and con",
    "I'd die for my family",
    "I live in Los Angeles",
    "We moved to El Paso last year",
    "Mi",
    "EU rules matter here",
    "the OS update",
    "Uma Thurman",
    "Die Hard",
    "Des Moines",
    "et al",
    "a bit",
    "no se",
    "la la",
    "de facto",
    "👍",
    "ok",
    "Maria",
)


@pytest.mark.parametrize("text", ENGLISH_SHORT_ANSWERS)
def test_an_english_members_short_answers_never_pass_for_another_language(text):
    assert guess_language(text, among=LANGUAGES) in (None, "en")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hola Ana", "es"),
        ("gracias", "es"),
        ("Me importa la familia", "es"),
        ("oui", "fr"),
        ("Bonjour Marie", "fr"),
        ("ja", "de"),
        ("Die Familie ist mir wichtig", "de"),
        ("Danke", "de"),
        ("sim", "pt"),
        ("Oi, tudo bem?", "pt"),
        ("HOLA QUIERO PARTICIPAR", "es"),
    ],
)
def test_short_greetings_and_answers_in_the_written_languages_still_tell(text, language):
    assert guess_language(text, among=LANGUAGES) == language


async def interviewed_before(database, platform_user_id: str, *, language: str, at) -> Member:
    """The member, with an interview held in ``language`` and ended at ``at`` (what DMs after it read)."""
    async with database.session() as session:
        member = (await session.exec(select(Member).where(Member.platform_user_id == platform_user_id))).one()
        session.add(
            Interview(
                community_id=member.community_id,
                member_id=member.id,
                state="confirmed",
                language=language,
                created_at=at,
                last_activity_at=at,
            )
        )
        await session.commit()
        return member


# --- a Spanish-speaking member through the service ---------------------------------------------------


def turn(message: str, *, ready: bool = False, language: str | None = "es") -> dict:
    return {"message": message, "ready_to_articulate": ready, "language": language}


async def test_a_member_who_writes_spanish_first_is_asked_for_consent_in_spanish(service, database, scenario_id):
    [consent] = await service.handle(say("Hola, quiero participar"))
    assert isinstance(consent, ChoicePrompt) and consent.text == ES.consent_notice
    assert [(c.key, c.label) for c in consent.choices] == [("accept", "Acepto"), ("decline", "No, gracias")]
    assert (await the_interview(database)).language == "es"

    [opening] = await service.handle(say("Acepto"))  # the label, typed
    assert opening.text == f"{ES.situation}\n\n> {SCENARIO}\n\n{ES.opening_assistant}"


async def test_a_spanish_interview_from_consent_to_thanks(service, fake_openai, database, scenario_id):
    await service.handle(say("Hola"))
    await service.handle(press("accept"))
    fake_openai.script(turn("¿En qué te fijas?"), turn("¿Un ejemplo?"), turn("Gracias.", ready=True), HEARD_IN_SPANISH)
    assert texts(await service.handle(say("Creo que debería pensar en quién sale herido."))) == "¿En qué te fijas?"
    await service.handle(say("Me fijo en cuándo la gente duda."))
    [check] = await service.handle(say("Una vez hablé y sirvió."))
    assert check.text.startswith(ES.say_back_opening) and check.text.endswith(ES.say_back_question)

    fake_openai.script(SPANISH_CARD, ENGLISH_OF_SPANISH)
    [card] = await service.handle(say("Eso es"))
    assert isinstance(card, CardProposal) and card.heading == ES.card_heading
    assert card.attention_heading == ES.attention_heading and card.card.title == SPANISH_CARD["title"]

    [question] = await service.handle(say("revisar"))
    assert isinstance(question, Reply) and question.text == ES.revision_question
    [done] = await service.handle(say("confirmar"))
    assert done.text.startswith("Tu tarjeta de valores «Valentía con cuidado» está guardada.")
    assert done.text.endswith(ES.thanks)
    assert [c.status for c in await rows(database, ValuesCardRecord)] == ["confirmed"]


async def test_a_failed_model_step_is_explained_in_spanish_and_reintentar_retries(
    service, fake_openai, database, scenario_id
):
    await service.handle(say("Hola"))
    await service.handle(press("accept"))
    fake_openai.script(Error(500))
    [failure] = await service.handle(say("Creo que importa la confianza."))
    assert failure.text == ES.nothing_lost.format(problem=ES.llm_errors.unavailable)
    fake_openai.script(turn("¿Qué quieres decir con confianza?"))
    assert texts(await service.handle(say("reintentar"))) == "¿Qué quieres decir con confianza?"


async def test_the_next_interview_starts_in_the_language_of_the_last(service, fake_openai, database, scenario_id):
    await service.handle(say("Hola"))
    await service.handle(press("accept"))
    assert texts(await service.handle(say("cancelar"))) == ES.cancelled
    # "ok" says nothing about a language: the member's last interview does.
    [opening] = await service.handle(say("ok"))
    assert ES.opening_assistant in opening.text
    interviews = await rows(database, Interview)
    assert [i.language for i in interviews] == ["es", "es"]


async def test_a_member_whose_words_tell_nothing_gets_the_community_language(service, database, scenario_id):
    [consent] = await service.handle(say("ok"))
    assert consent.text == english().consent_notice and [c.label for c in consent.choices] == ["I agree", "No thanks"]
    assert (await the_interview(database)).language is None


async def test_the_interviewers_report_decides_over_the_first_guess(service, fake_openai, database, scenario_id):
    """The first words looked English; the member then writes Portuguese, and the interviewer says so."""
    await service.handle(say("hi"))
    await service.handle(press("accept"))
    assert (await the_interview(database)).language == "en"
    fake_openai.script(turn("O que você observa?", language="pt-BR"))
    await service.handle(say("Eu acho que a confiança importa muito."))
    assert (await the_interview(database)).language == "pt-BR"
    stale, *_ = await service.handle(press("accept"))  # an old button: the note is in Portuguese now
    assert stale.text == f"{texts_for('pt').stale_button} {texts_for('pt').stale_here}"


def test_every_kind_of_model_failure_has_a_text():
    from core.llm import LLMError, LLMErrorKind
    from core.member_texts import LLMErrorTexts

    assert set(LLMErrorTexts.model_fields) == {kind.value for kind in LLMErrorKind}
    assert LLMError(LLMErrorKind.TIMEOUT, "slow").member_text == english().llm_errors.timeout


# --- the offer of other values after a Spanish card --------------------------------------------------


async def test_the_offer_of_other_values_follows_the_interviews_language(
    database, fake_openai, interview_config, clock
):
    from core.generalization import done_label
    from tests.test_generalization import ALICE, COMMUNITY, build_world, generalizing, offer_of
    from tests.test_generalization import say as say_to_gen

    service, llm = generalizing(database, fake_openai, interview_config, clock)
    try:
        world = await build_world(database, clock)
        await service.resume(COMMUNITY, ALICE, scenario_id=world.scenario)
        await service.handle(say_to_gen("Sí, acepto"))  # read as Spanish; asked again in Spanish
        await service.handle(say_to_gen("Acepto"))
        fake_openai.script(turn("¿En qué te fijas?"), turn("¿Un ejemplo?"), turn("Gracias.", ready=True))
        fake_openai.script(HEARD_IN_SPANISH, SPANISH_CARD, ENGLISH_OF_SPANISH)
        for answer in ("Creo que importa quién sale herido.", "Me fijo en la duda.", "Una vez hablé y sirvió."):
            await service.handle(say_to_gen(answer))
        await service.handle(say_to_gen("Eso es"))
        thanks, offer = await service.handle(say_to_gen("Confirmar"))
        assert thanks.text.endswith(ES.thanks)
        assert isinstance(offer, ChoicePrompt) and "¿Cuáles sería sabio tener en cuenta para" in offer.text
        assert offer.text.endswith("luego pulsa «Listo» (o «Ninguno de estos»).")
        assert offer.choices[-1].label == "Ninguno de estos" and done_label("Ninguno de estos") == "Listo"

        assert texts(await service.handle(say_to_gen("1"))).startswith("Anotado: «")
        assert texts(await service.handle(say_to_gen("listo"))) == ES.offer_finished_one  # the Spanish word, typed
        stored, shown = await offer_of(database)
        assert stored.closed_at is not None and sum(1 for i in shown if i.picked_at) == 1
    finally:
        await llm.aclose()


async def test_a_reason_question_after_a_vote_is_asked_and_answered_in_the_members_language(database, clock, poll):
    await react(database, clock)(YES, user="1001")
    member = await interviewed_before(database, "1001", language="es", at=clock())
    clock.advance(minutes=1)  # the interview was before the vote's question
    messenger = Messenger()
    assert await send_reason_questions(database, {"discord": messenger}, now=clock()) == 1
    [(_, question)] = messenger.sent
    assert question.startswith("¿Qué te hizo elegir «") and question.endswith("o pulsa Omitir.")
    async with database.session() as session:
        saved = await take_reason(session, member_id=member.id, text="Porque cuida a todos.", now=clock())
        await session.commit()
        [ask] = (await session.exec(select(VoteReasonAsk))).all()
    assert saved == ES.reason_saved
    [closed] = await answer_reason_button(
        database, key=f"why:{ask.id}:skip", platform="discord", platform_user_id="1001", now=clock()
    )
    assert closed.text == ES.reason_closed


async def test_the_offers_done_typed_without_its_accent_finishes_it(database, clock):
    """A French-speaking member reads « Terminé » and types "termine": the offer is finished, not a message
    that starts a new interview."""
    from bot.generalization.picks import GeneralizationOffers, PressStatus
    from tests.test_generalization import ALICE, COMMUNITY, build_world, offered

    world = await build_world(database, clock)
    offer, _ = await offered(database, clock, world)
    async with database.session() as session:
        interview = await session.get(Interview, offer.interview_id)
        interview.language = "fr"
        await session.commit()
    typed = await GeneralizationOffers(database).typed(
        community=COMMUNITY,
        community_id=world.community_id,
        member_id=offer.member_id,
        platform_user_id=ALICE.platform_user_id,
        text="termine",
        now=clock(),
    )
    assert typed is not None and typed.status is PressStatus.DONE
    assert typed.text == texts_for("fr").offer_none_fit


async def test_a_message_the_interview_cannot_read_is_explained_in_the_interviews_language(
    service, database, scenario_id
):
    await service.handle(say("Hola"))
    [empty] = await service.handle(say("   \u200b "))
    assert empty.text == ES.empty_message
    [too_long] = await service.handle(say("palabra " * 700))
    assert too_long.text.startswith("Ese mensaje tiene 5.599 caracteres; las respuestas deben tener menos de 4.000")
    assert (await the_interview(database)).state == InterviewState.AWAITING_CONSENT  # nothing was read as an answer


def test_numbers_are_grouped_as_each_language_writes_them():
    assert [texts_for(tag).number(50000) for tag in ("en", "es", "fr", "de", "pt")] == [
        "50,000",
        "50.000",
        "50\u202f000",
        "50.000",
        "50.000",
    ]
