"""The interview as data: one :class:`StateSpec` per state says what the member sees there, which choices
are offered, how a message is read into a :class:`Trigger`, and where each trigger leads (new state and
:class:`Effect`).

The machine is pure. ``interpret`` reads what a member typed into a trigger for the current state;
``transition`` looks the pair up in ``TRANSITIONS`` (built from the specs, plus the rows every active
state shares: cancel, restart, timeout, an unclear answer). The use case (``bot.interview.service``)
performs the effect (which may call the LLM); an effect returns what to send and, optionally, the next
trigger, and only the service's loop writes the new state, so a failed effect leaves the interview where
it was. docs/interview.md is generated from the specs (``python -m core.interview_doc``) and a test keeps
the two equal.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.answers import fold_label, is_affirmative, is_negative, is_question, normalise_answer
from core.member_texts import InterviewTexts, english
from core.text import matches_word


class InterviewState(enum.StrEnum):
    AWAITING_CONSENT = "awaiting_consent"
    CHOOSING_SCENARIO = "choosing_scenario"
    CONVERSING = "conversing"
    #: The interviewer says back what it heard the member attend to; the member corrects or agrees.
    CHECKING = "checking"
    CARD_PROPOSED = "card_proposed"
    REVISING = "revising"
    #: The card is confirmed and matched another member's value: does that value represent the member?
    VALUE_CHECK = "value_check"
    TIMED_OUT = "timed_out"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        return self not in {InterviewState.CONFIRMED, InterviewState.CANCELLED}


class Trigger(enum.StrEnum):
    CONSENT_GIVEN = "consent_given"
    CONSENT_DECLINED = "consent_declined"
    SCENARIO_CHOSEN = "scenario_chosen"
    ANSWERED = "answered"  # free text in the conversation
    READY = "ready"  # the interviewer has enough, or the turn cap is reached
    CORRECTED = "corrected"  # what is missing or wrong in the said-back list
    AGREED = "agreed"  # the said-back list is right
    CONFIRM = "confirm"
    ASK_REVISION = "ask_revision"  # "revise" without saying what to change
    REVISION_TEXT = "revision_text"  # what to change about the proposed card
    QUESTION = "question"  # a question about the proposed card
    RETRY = "retry"  # read the member's unanswered words again (the LLM step failed last time)
    CARD_SAVED = "card_saved"  # the confirmed card is committed: find its value
    NOTHING_TO_CHECK = "nothing_to_check"  # the confirmed card is its own value (or placing it waits)
    VALUE_AGREED = "value_agreed"
    VALUE_DECLINED = "value_declined"
    TIMEOUT = "timeout"
    RESUME = "resume"
    CANCEL = "cancel"
    RESTART = "restart"
    UNCLEAR = "unclear"  # not one of the offered choices


class Effect(enum.StrEnum):
    OFFER_SCENARIOS = "offer_scenarios"
    OPEN_CONVERSATION = "open_conversation"
    CONTINUE_CONVERSATION = "continue_conversation"
    SAY_BACK = "say_back"
    PROPOSE_CARD = "propose_card"
    ASK_WHAT_TO_CHANGE = "ask_what_to_change"
    REVISE_CARD = "revise_card"
    ANSWER_QUESTION = "answer_question"
    REPLAY_PENDING = "replay_pending"
    CONFIRM_CARD = "confirm_card"
    PLACE_CARD = "place_card"
    THANK = "thank"
    RECORD_VERDICT = "record_verdict"
    NOTE_TIMEOUT = "note_timeout"
    RESUME = "resume"
    SAY_CANCELLED = "say_cancelled"
    SAY_NO_CONSENT = "say_no_consent"
    START_OVER = "start_over"
    REPEAT_PROMPT = "repeat_prompt"


S, T, E = InterviewState, Trigger, Effect

#: Marks a transition back to the state the interview was in before it timed out.
PREVIOUS = "previous"


# --- choices offered to the member -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    #: Short enough for a button (Discord allows 80 characters).
    label: str
    #: The full text behind a shortened label (e.g. a scenario), shown where there is room.
    detail: str = ""


def _english(*keys: str) -> tuple[Choice, ...]:
    labels = english().choices.by_key()
    return tuple(Choice(key, labels[key]) for key in keys)


CONSENT_CHOICES = _english("accept", "decline")
CHECK_CHOICES = _english("agree")
CARD_CHOICES = _english("confirm", "revise", "restart")
TIMED_OUT_CHOICES = _english("continue", "restart")
VALUE_CHECK_CHOICES = _english("same", "mine")


def localized(choices: tuple[Choice, ...], texts: InterviewTexts) -> tuple[Choice, ...]:
    """``choices`` with the labels of ``texts``' language (the keys stay: they are what the machine reads)."""
    labels = texts.choices.by_key()
    return tuple(Choice(c.key, labels.get(c.key, c.label), c.detail) for c in choices)


def match_choice(
    text: str, choices: tuple[Choice, ...] | list[Choice], *, texts: InterviewTexts | None = None
) -> Choice | None:
    """The choice the member picked by number, key or label (case, accents and punctuation aside), if
    any; with ``texts``, the label in the interview's language counts too."""
    answer = normalise_answer(text)
    if answer.isdigit() and 1 <= int(answer) <= len(choices):
        return choices[int(answer) - 1]
    local = texts.choices.by_key() if texts is not None else {}
    typed = fold_label(answer)  # as people type a label: without its commas or accents
    if not typed:  # only emoji or punctuation: no label is that
        return None
    for choice in choices:
        names = {choice.key, choice.label, choice.detail, local.get(choice.key, "")}
        if typed in {fold_label(name) for name in names if name}:
            return choice
    return None


def _yes_no(text: str, choices: tuple[Choice, ...]) -> Choice | None:
    """The first choice for a yes, the second for a no."""
    if matches_word(text, "agree", "i agree") or is_affirmative(text):
        return choices[0]
    if matches_word(text, "decline", "no thanks") or is_negative(text):
        return choices[1]
    return None


# --- how each state reads a message --------------------------------------------------------------

Reading = tuple[Trigger, Choice | None]
#: A state's reader: the member's text, the choices on offer and the interview's texts (labels typed in
#: its language count) → the trigger (and the choice picked).
Reader = Callable[[str, tuple[Choice, ...], InterviewTexts], Reading]


def _read_consent(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    choice = match_choice(text, CONSENT_CHOICES, texts=texts) or _yes_no(text, CONSENT_CHOICES)
    if choice is None:
        return T.UNCLEAR, None
    return (T.CONSENT_GIVEN if choice.key == "accept" else T.CONSENT_DECLINED), choice


def _read_scenario(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    choice = match_choice(text, choices, texts=texts)
    return (T.SCENARIO_CHOSEN, choice) if choice else (T.UNCLEAR, None)


def _read_answer(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    return T.ANSWERED, None


def _read_check(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    choice = match_choice(text, CHECK_CHOICES, texts=texts)
    if choice is not None or is_affirmative(text):
        return T.AGREED, choice or CHECK_CHOICES[0]
    return T.CORRECTED, None


def _read_card(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    choice = match_choice(text, CARD_CHOICES, texts=texts)
    if choice is None:
        if is_affirmative(text):
            return T.CONFIRM, CARD_CHOICES[0]
        if is_negative(text):  # a bare "no" says nothing to revise with: ask what to change
            return T.ASK_REVISION, CARD_CHOICES[1]
        return (T.QUESTION if is_question(text) else T.REVISION_TEXT), None
    if choice.key == "restart":
        return T.RESTART, choice
    return (T.ASK_REVISION if choice.key == "revise" else T.CONFIRM), choice


def _read_revision(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    choice = match_choice(text, CARD_CHOICES, texts=texts)
    if choice is None:
        if is_negative(text):  # nothing to change by, nor a confirmation: ask again
            return T.UNCLEAR, None
        return (T.CONFIRM, CARD_CHOICES[0]) if is_affirmative(text) else (T.REVISION_TEXT, None)
    if choice.key == "restart":
        return T.RESTART, choice
    return (T.UNCLEAR, None) if choice.key == "revise" else (T.CONFIRM, choice)


def _read_value_check(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    choice = match_choice(text, VALUE_CHECK_CHOICES, texts=texts) or _yes_no(text, VALUE_CHECK_CHOICES)
    if choice is None:
        return T.UNCLEAR, None
    return (T.VALUE_AGREED if choice.key == "same" else T.VALUE_DECLINED), choice


def _read_timed_out(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    choice = match_choice(text, TIMED_OUT_CHOICES, texts=texts)
    if choice and choice.key == "restart":
        return T.RESTART, choice
    # Anything else resumes; the use case then reads free text as the next message.
    return T.RESUME, choice


def _read_nothing(text: str, choices: tuple[Choice, ...], texts: InterviewTexts) -> Reading:
    return T.UNCLEAR, None


# --- the specs -----------------------------------------------------------------------------------

Target = InterviewState | str


@dataclass(frozen=True, slots=True)
class StateSpec:
    state: InterviewState
    #: What the member sees in this state (docs/interview.md's table).
    sees: str
    #: What they can answer (docs/interview.md's table).
    answers: str
    #: How a message is read into a trigger.
    read: Reader
    #: Where each trigger leads: (new state, effect). Cancel, restart, timeout and an unclear answer are
    #: added for every active state unless listed here.
    on: Mapping[Trigger, tuple[Target, Effect]] = field(default_factory=dict)
    #: The buttons offered (the console numbers them). The scenarios are read at run time instead.
    choices: tuple[Choice, ...] = ()


SPECS: tuple[StateSpec, ...] = (
    StateSpec(
        S.AWAITING_CONSENT,
        sees="the consent notice: what is stored, who sees it, how to stop",
        answers="I agree / No thanks (or yes / no)",
        read=_read_consent,
        choices=CONSENT_CHOICES,
        on={
            T.CONSENT_GIVEN: (S.CHOOSING_SCENARIO, E.OFFER_SCENARIOS),
            T.CONSENT_DECLINED: (S.CANCELLED, E.SAY_NO_CONSENT),
        },
    ),
    StateSpec(
        S.CHOOSING_SCENARIO,
        sees="the open scenarios (skipped when only one is open or one was preselected)",
        answers="a number or the scenario's text",
        read=_read_scenario,
        on={T.SCENARIO_CHOSEN: (S.CONVERSING, E.OPEN_CONVERSATION)},
    ),
    StateSpec(
        S.CONVERSING,
        sees="one question at a time from the interviewer ([method.md §3](method.md#3-the-interview))",
        answers="free text; when the interviewer has enough (never before 3 answers) or after about 12 answers, "
        "it says back what it heard",
        read=_read_answer,
        on={
            T.ANSWERED: (S.CONVERSING, E.CONTINUE_CONVERSATION),
            T.RETRY: (S.CONVERSING, E.REPLAY_PENDING),
            T.READY: (S.CHECKING, E.SAY_BACK),
        },
    ),
    StateSpec(
        S.CHECKING,
        sees="what the interviewer heard them attend to, 3–7 short items in their own words, and "
        "\u201cwhat is missing or wrong?\u201d",
        answers="That's it (or yes, looks good, …) writes the card from the list; free text corrects it and the "
        "list is said back again (corrections count toward the turn cap; at the cap the card is written from "
        "the last list and the correction)",
        read=_read_check,
        choices=CHECK_CHOICES,
        on={
            T.CORRECTED: (S.CHECKING, E.SAY_BACK),
            T.RETRY: (S.CHECKING, E.REPLAY_PENDING),
            T.READY: (S.CARD_PROPOSED, E.PROPOSE_CARD),
            T.AGREED: (S.CARD_PROPOSED, E.PROPOSE_CARD),
        },
    ),
    StateSpec(
        S.CARD_PROPOSED,
        sees="the values card, written from the checked list",
        answers="Confirm / Revise / Start over; a whole-message yes (ok, looks good, perfect, 👍, sí, oui, ja, …) "
        "confirms; a bare no (no, nope, not really, …) asks what to change; a question (ends with ?, starts "
        "with why, or with what, how, … before is, does, …) is answered and the card stays; other free text "
        "says what to change",
        read=_read_card,
        choices=CARD_CHOICES,
        on={
            T.CONFIRM: (S.VALUE_CHECK, E.CONFIRM_CARD),
            T.ASK_REVISION: (S.REVISING, E.ASK_WHAT_TO_CHANGE),
            T.REVISION_TEXT: (S.CARD_PROPOSED, E.REVISE_CARD),
            T.QUESTION: (S.CARD_PROPOSED, E.ANSWER_QUESTION),
            T.RETRY: (S.CARD_PROPOSED, E.REPLAY_PENDING),
        },
    ),
    StateSpec(
        S.REVISING,
        sees="\u201cwhat would you like to change?\u201d",
        answers="free text, or confirm (or yes); a bare no asks again",
        read=_read_revision,
        choices=CARD_CHOICES[:1],  # confirming the card as it is stays possible
        on={
            T.REVISION_TEXT: (S.CARD_PROPOSED, E.REVISE_CARD),
            T.RETRY: (S.REVISING, E.REPLAY_PENDING),
            T.CONFIRM: (S.VALUE_CHECK, E.CONFIRM_CARD),
        },
    ),
    StateSpec(
        S.VALUE_CHECK,
        sees="after confirming: the card is saved, with a short note on how what they find meaningful points to "
        "where they are wise; when the card was judged the same value as another member's, that value's card "
        "and \u201cdoes it also capture what you care about?\u201d (skipped when the card is a value of its own, "
        "or when placing it fails and is left to `mge dedup`)",
        answers="Yes, that's my value / No, keep mine separate; `cancel` keeps the card without an answer",
        read=_read_value_check,
        choices=VALUE_CHECK_CHOICES,
        on={
            T.CARD_SAVED: (S.VALUE_CHECK, E.PLACE_CARD),
            T.NOTHING_TO_CHECK: (S.CONFIRMED, E.THANK),
            T.VALUE_AGREED: (S.CONFIRMED, E.RECORD_VERDICT),
            T.VALUE_DECLINED: (S.CONFIRMED, E.RECORD_VERDICT),
            # The card is already confirmed: leaving the check keeps it, with no answer recorded.
            T.CANCEL: (S.CONFIRMED, E.THANK),
            T.RESTART: (S.CONFIRMED, E.START_OVER),
        },
    ),
    StateSpec(
        S.TIMED_OUT,
        sees="after `MGE_INTERVIEW_IDLE_TIMEOUT_HOURS` without a message, the next message (or the next "
        "`mge chat`) times the interview out through the table: \u201cWelcome back! It has been a while\u201d",
        answers="Continue / Start over; Continue shows again what was last asked (the card, the said-back "
        "list, the last question) and answers a message left pending; any other text resumes and is read as a "
        "normal answer in the state before",
        read=_read_timed_out,
        choices=TIMED_OUT_CHOICES,
        on={T.RESUME: (PREVIOUS, E.RESUME)},
    ),
    StateSpec(
        S.CONFIRMED,
        sees="the end; the next message starts a new interview",
        answers="",
        read=_read_nothing,
    ),
    StateSpec(
        S.CANCELLED,
        sees="the end; the next message starts a new interview",
        answers="",
        read=_read_nothing,
    ),
)
SPEC: dict[InterviewState, StateSpec] = {spec.state: spec for spec in SPECS}


def _shared_rows(state: InterviewState) -> dict[Trigger, tuple[Target, Effect]]:
    """The rows every active state has unless its spec says otherwise."""
    if not state.is_active:
        return {}
    rows: dict[Trigger, tuple[Target, Effect]] = {
        T.CANCEL: (S.CANCELLED, E.SAY_CANCELLED),
        T.RESTART: (S.CANCELLED, E.START_OVER),
        T.UNCLEAR: (state, E.REPEAT_PROMPT),
    }
    if state is not S.TIMED_OUT:
        rows[T.TIMEOUT] = (S.TIMED_OUT, E.NOTE_TIMEOUT)
    return rows


TRANSITIONS: dict[tuple[InterviewState, Trigger], tuple[Target, Effect]] = {
    (spec.state, trigger): row for spec in SPECS for trigger, row in {**_shared_rows(spec.state), **spec.on}.items()
}
#: The kind each member turn is stored as, by trigger: what the LLM steps read back.
TURN_KINDS: dict[Trigger, str] = {
    T.ANSWERED: "conversation",
    T.CORRECTED: "check",
    T.AGREED: "check",
    T.REVISION_TEXT: "revision",
    T.QUESTION: "question",
}


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Step:
    new_state: InterviewState
    effect: Effect


def transition(state: InterviewState, trigger: Trigger, *, previous: InterviewState | None = None) -> Step:
    """Look up what ``trigger`` does in ``state``. ``previous`` is the state before a timeout."""
    try:
        target, effect = TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InvalidTransition(f"{trigger.value!r} is not possible in state {state.value!r}") from None
    if target == PREVIOUS:
        if previous is None or not previous.is_active or previous is S.TIMED_OUT:
            raise InvalidTransition(f"cannot resume to {previous!r}")
        target = previous
    return Step(InterviewState(target), effect)


def interpret(
    state: InterviewState,
    text: str,
    *,
    choices: tuple[Choice, ...] | list[Choice] = (),
    pending: bool = False,
    texts: InterviewTexts | None = None,
) -> Reading:
    """Turn a member's message into a trigger for ``state``.

    ``choices`` are the options currently offered (scenarios, when choosing one); ``pending`` says the
    last LLM step failed and the member's words are still waiting for an answer; ``texts`` are the
    interview's (its language's labels and command words count, as the English ones always do). Only
    whole-message command words count, so a sentence that merely contains "stop" is an answer, not a
    command.
    """
    texts = texts or english()
    commands = (english().commands, texts.commands)
    if matches_word(text, *(word for words in commands for word in words.cancel)):
        return T.CANCEL, None
    if matches_word(text, *(word for words in commands for word in words.restart)):
        return T.RESTART, None
    if pending and matches_word(text, *(word for words in commands for word in words.retry)):
        return T.RETRY, None
    return SPEC[state].read(text, tuple(choices), texts)
