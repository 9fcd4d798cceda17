"""The interview as an explicit state machine: ``(state, trigger) → (new state, effect)``.

The machine is pure. ``interpret`` turns what a member typed into a ``Trigger`` for the current state;
``transition`` looks the pair up in ``TRANSITIONS``; the use case (``bot.interview.service``) performs the
``Effect`` (which may call the LLM) and only then stores the new state, so a failed effect leaves the
interview where it was. The diagram in docs/interview.md is generated from the table
(``mermaid_diagram``) and a test keeps the two equal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from core.text import matches_word


class InterviewState(enum.StrEnum):
    AWAITING_CONSENT = "awaiting_consent"
    CHOOSING_SCENARIO = "choosing_scenario"
    CONVERSING = "conversing"
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
    CONFIRM = "confirm"
    ASK_REVISION = "ask_revision"  # "revise" without saying what to change
    REVISION_TEXT = "revision_text"  # what to change about the proposed card
    RETRY = "retry"  # repeat the LLM step that failed last time
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
    PROPOSE_CARD = "propose_card"
    ASK_WHAT_TO_CHANGE = "ask_what_to_change"
    REVISE_CARD = "revise_card"
    CONFIRM_CARD = "confirm_card"
    THANK = "thank"
    RECORD_VERDICT = "record_verdict"
    NOTE_TIMEOUT = "note_timeout"
    RESUME = "resume"
    SAY_CANCELLED = "say_cancelled"
    SAY_NO_CONSENT = "say_no_consent"
    START_OVER = "start_over"
    REPEAT_PROMPT = "repeat_prompt"


#: Marks a transition back to the state the interview was in before it timed out.
PREVIOUS = "previous"

S, T, E = InterviewState, Trigger, Effect
_ACTIVE = [s for s in InterviewState if s.is_active]

TRANSITIONS: dict[tuple[InterviewState, Trigger], tuple[InterviewState | str, Effect]] = {
    (S.AWAITING_CONSENT, T.CONSENT_GIVEN): (S.CHOOSING_SCENARIO, E.OFFER_SCENARIOS),
    (S.AWAITING_CONSENT, T.CONSENT_DECLINED): (S.CANCELLED, E.SAY_NO_CONSENT),
    (S.CHOOSING_SCENARIO, T.SCENARIO_CHOSEN): (S.CONVERSING, E.OPEN_CONVERSATION),
    (S.CONVERSING, T.ANSWERED): (S.CONVERSING, E.CONTINUE_CONVERSATION),
    (S.CONVERSING, T.RETRY): (S.CONVERSING, E.CONTINUE_CONVERSATION),
    (S.CONVERSING, T.READY): (S.CARD_PROPOSED, E.PROPOSE_CARD),
    (S.CARD_PROPOSED, T.CONFIRM): (S.VALUE_CHECK, E.CONFIRM_CARD),
    (S.CARD_PROPOSED, T.ASK_REVISION): (S.REVISING, E.ASK_WHAT_TO_CHANGE),
    (S.CARD_PROPOSED, T.REVISION_TEXT): (S.CARD_PROPOSED, E.REVISE_CARD),
    (S.CARD_PROPOSED, T.RETRY): (S.CARD_PROPOSED, E.REVISE_CARD),
    (S.REVISING, T.REVISION_TEXT): (S.CARD_PROPOSED, E.REVISE_CARD),
    (S.REVISING, T.RETRY): (S.CARD_PROPOSED, E.REVISE_CARD),
    (S.REVISING, T.CONFIRM): (S.VALUE_CHECK, E.CONFIRM_CARD),
    (S.VALUE_CHECK, T.NOTHING_TO_CHECK): (S.CONFIRMED, E.THANK),
    (S.VALUE_CHECK, T.VALUE_AGREED): (S.CONFIRMED, E.RECORD_VERDICT),
    (S.VALUE_CHECK, T.VALUE_DECLINED): (S.CONFIRMED, E.RECORD_VERDICT),
    # The card is already confirmed: leaving the check keeps it, with no answer recorded.
    (S.VALUE_CHECK, T.CANCEL): (S.CONFIRMED, E.THANK),
    (S.VALUE_CHECK, T.RESTART): (S.CONFIRMED, E.START_OVER),
    (S.TIMED_OUT, T.RESUME): (PREVIOUS, E.RESUME),
    **{(s, T.TIMEOUT): (S.TIMED_OUT, E.NOTE_TIMEOUT) for s in _ACTIVE if s is not S.TIMED_OUT},
    **{(s, T.CANCEL): (S.CANCELLED, E.SAY_CANCELLED) for s in _ACTIVE if s is not S.VALUE_CHECK},
    **{(s, T.RESTART): (S.CANCELLED, E.START_OVER) for s in _ACTIVE if s is not S.VALUE_CHECK},
    **{(s, T.UNCLEAR): (s, E.REPEAT_PROMPT) for s in _ACTIVE},
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


# --- choices offered to the member -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    #: Short enough for a button (Discord allows 80 characters).
    label: str
    #: The full text behind a shortened label (e.g. a scenario), shown where there is room.
    detail: str = ""


CONSENT_CHOICES = (Choice("accept", "I agree"), Choice("decline", "No thanks"))
CARD_CHOICES = (
    Choice("confirm", "Confirm"),
    Choice("revise", "Revise"),
    Choice("restart", "Start over"),
)
TIMED_OUT_CHOICES = (Choice("continue", "Continue"), Choice("restart", "Start over"))
VALUE_CHECK_CHOICES = (Choice("same", "Yes, that's my value"), Choice("mine", "No, keep mine separate"))

_CANCEL_WORDS = ("cancel", "quit", "stop")
_RESTART_WORDS = ("restart", "start over")
_RETRY_WORDS = ("retry", "try again")


def match_choice(text: str, choices: tuple[Choice, ...] | list[Choice]) -> Choice | None:
    """The choice the member picked by number, key or label (case-insensitive), if any."""
    answer = _normalise(text)
    if answer.isdigit() and 1 <= int(answer) <= len(choices):
        return choices[int(answer) - 1]
    for choice in choices:
        if answer in {_normalise(choice.key), _normalise(choice.label), _normalise(choice.detail)}:
            return choice
    return None


def _normalise(text: str) -> str:
    return " ".join(text.split()).strip(".!?").casefold()


def interpret(
    state: InterviewState, text: str, *, choices: tuple[Choice, ...] | list[Choice] = (), pending: bool = False
) -> tuple[Trigger, Choice | None]:
    """Turn a member's message into a trigger for ``state``.

    ``choices`` are the options currently offered (scenarios, when choosing one); ``pending`` says the
    last LLM step failed and the member's words are still waiting for an answer. Only whole-message
    command words count, so a sentence that merely contains "stop" is an answer, not a command.
    """
    if matches_word(text, *_CANCEL_WORDS):
        return T.CANCEL, None
    if matches_word(text, *_RESTART_WORDS):
        return T.RESTART, None
    if pending and matches_word(text, *_RETRY_WORDS):
        return T.RETRY, None
    match state:
        case S.AWAITING_CONSENT:
            choice = match_choice(text, CONSENT_CHOICES) or _yes_no(text, CONSENT_CHOICES)
            if choice is None:
                return T.UNCLEAR, None
            return (T.CONSENT_GIVEN if choice.key == "accept" else T.CONSENT_DECLINED), choice
        case S.CHOOSING_SCENARIO:
            choice = match_choice(text, choices)
            return (T.SCENARIO_CHOSEN, choice) if choice else (T.UNCLEAR, None)
        case S.CONVERSING:
            return T.ANSWERED, None
        case S.CARD_PROPOSED | S.REVISING:
            choice = match_choice(text, CARD_CHOICES)
            if choice is None:
                return T.REVISION_TEXT, None
            if choice.key == "restart":
                return T.RESTART, choice
            if choice.key == "revise":
                return (T.ASK_REVISION if state is S.CARD_PROPOSED else T.UNCLEAR), choice
            return T.CONFIRM, choice
        case S.VALUE_CHECK:
            choice = match_choice(text, VALUE_CHECK_CHOICES) or _yes_no(text, VALUE_CHECK_CHOICES)
            if choice is None:
                return T.UNCLEAR, None
            return (T.VALUE_AGREED if choice.key == "same" else T.VALUE_DECLINED), choice
        case S.TIMED_OUT:
            choice = match_choice(text, TIMED_OUT_CHOICES)
            if choice and choice.key == "restart":
                return T.RESTART, choice
            # Anything else resumes; the use case then reads free text as the next message.
            return T.RESUME, choice
    return T.UNCLEAR, None


def _yes_no(text: str, choices: tuple[Choice, Choice]) -> Choice | None:
    if matches_word(text, "yes", "y", "ok", "okay", "agree", "i agree", "sure"):
        return choices[0]
    if matches_word(text, "no", "n", "decline", "no thanks"):
        return choices[1]
    return None


def mermaid_diagram() -> str:
    """The transition table as a Mermaid state diagram (kept in docs/interview.md)."""
    lines = ["stateDiagram-v2", "    [*] --> awaiting_consent", "    [*] --> choosing_scenario: consent given before"]
    grouped: dict[tuple[str, str], list[str]] = {}
    for (state, trigger), (target, _effect) in TRANSITIONS.items():
        if trigger in {T.UNCLEAR}:
            continue
        key = (state.value, "previous state" if target == PREVIOUS else str(target))
        grouped.setdefault(key, []).append(trigger.value)
    for (source, target), triggers in grouped.items():
        target_id = "resumed" if target == "previous state" else target
        lines.append(f"    {source} --> {target_id}: {', '.join(triggers)}")
    lines += [
        "    resumed: previous state",
        "    confirmed --> [*]",
        "    cancelled --> [*]",
    ]
    return "\n".join(lines)
