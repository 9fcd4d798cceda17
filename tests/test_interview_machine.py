"""The interview state machine, transition by transition (pure: no database, no LLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.interview import (
    CARD_CHOICES,
    PREVIOUS,
    TRANSITIONS,
    Choice,
    Effect,
    InvalidTransition,
    interpret,
    match_choice,
    mermaid_diagram,
    transition,
)
from core.interview import (
    InterviewState as S,
)
from core.interview import (
    Trigger as T,
)

ACTIVE = [s for s in S if s.is_active]

EXPECTED = [
    (S.AWAITING_CONSENT, T.CONSENT_GIVEN, S.CHOOSING_SCENARIO, Effect.OFFER_SCENARIOS),
    (S.AWAITING_CONSENT, T.CONSENT_DECLINED, S.CANCELLED, Effect.SAY_NO_CONSENT),
    (S.CHOOSING_SCENARIO, T.SCENARIO_CHOSEN, S.CONVERSING, Effect.OPEN_CONVERSATION),
    (S.CONVERSING, T.ANSWERED, S.CONVERSING, Effect.CONTINUE_CONVERSATION),
    (S.CONVERSING, T.RETRY, S.CONVERSING, Effect.CONTINUE_CONVERSATION),
    (S.CONVERSING, T.READY, S.CARD_PROPOSED, Effect.PROPOSE_CARD),
    (S.CARD_PROPOSED, T.CONFIRM, S.VALUE_CHECK, Effect.CONFIRM_CARD),
    (S.CARD_PROPOSED, T.ASK_REVISION, S.REVISING, Effect.ASK_WHAT_TO_CHANGE),
    (S.CARD_PROPOSED, T.REVISION_TEXT, S.CARD_PROPOSED, Effect.REVISE_CARD),
    (S.CARD_PROPOSED, T.RETRY, S.CARD_PROPOSED, Effect.REVISE_CARD),
    (S.REVISING, T.REVISION_TEXT, S.CARD_PROPOSED, Effect.REVISE_CARD),
    (S.REVISING, T.RETRY, S.CARD_PROPOSED, Effect.REVISE_CARD),
    (S.REVISING, T.CONFIRM, S.VALUE_CHECK, Effect.CONFIRM_CARD),
    (S.VALUE_CHECK, T.NOTHING_TO_CHECK, S.CONFIRMED, Effect.THANK),
    (S.VALUE_CHECK, T.VALUE_AGREED, S.CONFIRMED, Effect.RECORD_VERDICT),
    (S.VALUE_CHECK, T.VALUE_DECLINED, S.CONFIRMED, Effect.RECORD_VERDICT),
]
CHECKING = S.VALUE_CHECK


@pytest.mark.parametrize(("state", "trigger", "target", "effect"), EXPECTED)
def test_main_path_transitions(state, trigger, target, effect):
    assert transition(state, trigger) == type(transition(state, trigger))(target, effect)


@pytest.mark.parametrize("state", [s for s in ACTIVE if s is not CHECKING])
def test_cancel_and_restart_from_every_active_state(state):
    assert transition(state, T.CANCEL).new_state is S.CANCELLED
    assert transition(state, T.CANCEL).effect is Effect.SAY_CANCELLED
    assert transition(state, T.RESTART).new_state is S.CANCELLED
    assert transition(state, T.RESTART).effect is Effect.START_OVER


def test_leaving_the_value_check_keeps_the_confirmed_card():
    assert transition(CHECKING, T.CANCEL) == transition(CHECKING, T.NOTHING_TO_CHECK)
    assert transition(CHECKING, T.RESTART).new_state is S.CONFIRMED
    assert transition(CHECKING, T.RESTART).effect is Effect.START_OVER


@pytest.mark.parametrize("state", [s for s in ACTIVE if s is not S.TIMED_OUT])
def test_timeout_from_every_active_state_then_resume_returns_there(state):
    assert transition(state, T.TIMEOUT).new_state is S.TIMED_OUT
    step = transition(S.TIMED_OUT, T.RESUME, previous=state)
    assert step.new_state is state
    assert step.effect is Effect.RESUME


def test_resume_needs_an_active_previous_state():
    with pytest.raises(InvalidTransition):
        transition(S.TIMED_OUT, T.RESUME, previous=None)
    with pytest.raises(InvalidTransition):
        transition(S.TIMED_OUT, T.RESUME, previous=S.CONFIRMED)


@pytest.mark.parametrize("state", [S.CONFIRMED, S.CANCELLED])
def test_terminal_states_accept_nothing(state):
    for trigger in T:
        with pytest.raises(InvalidTransition):
            transition(state, trigger)


def test_impossible_pairs_are_rejected():
    with pytest.raises(InvalidTransition):
        transition(S.AWAITING_CONSENT, T.CONFIRM)
    with pytest.raises(InvalidTransition):
        transition(S.CHOOSING_SCENARIO, T.READY)
    with pytest.raises(InvalidTransition):
        transition(S.CONVERSING, T.CONFIRM)  # no card yet: a member cannot confirm their way past the interview


def test_table_covers_exactly_the_expected_pairs():
    expected = {(s, t) for s, t, _, _ in EXPECTED}
    expected |= {(s, T.CANCEL) for s in ACTIVE} | {(s, T.RESTART) for s in ACTIVE}  # VALUE_CHECK's end elsewhere
    expected |= {(s, T.UNCLEAR) for s in ACTIVE}
    expected |= {(s, T.TIMEOUT) for s in ACTIVE if s is not S.TIMED_OUT} | {(S.TIMED_OUT, T.RESUME)}
    assert set(TRANSITIONS) == expected
    assert TRANSITIONS[(S.TIMED_OUT, T.RESUME)][0] == PREVIOUS


# --- interpreting member text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "trigger"),
    [
        ("1", T.CONSENT_GIVEN),
        ("I agree", T.CONSENT_GIVEN),
        ("yes", T.CONSENT_GIVEN),
        ("accept", T.CONSENT_GIVEN),
        ("2", T.CONSENT_DECLINED),
        ("no thanks", T.CONSENT_DECLINED),
        ("no", T.CONSENT_DECLINED),
        ("what is this?", T.UNCLEAR),
        ("3", T.UNCLEAR),
    ],
)
def test_consent_answers(text, trigger):
    assert interpret(S.AWAITING_CONSENT, text)[0] is trigger


def test_scenario_choice_by_number_label_or_full_text():
    choices = [Choice("7", "Homework", detail="My son won't do his homework."), Choice("9", "Bomb")]
    assert interpret(S.CHOOSING_SCENARIO, "2", choices=choices) == (T.SCENARIO_CHOSEN, choices[1])
    assert interpret(S.CHOOSING_SCENARIO, "HOMEWORK", choices=choices) == (T.SCENARIO_CHOSEN, choices[0])
    assert interpret(S.CHOOSING_SCENARIO, "my son won't do his homework.", choices=choices)[1] == choices[0]
    assert interpret(S.CHOOSING_SCENARIO, "0", choices=choices)[0] is T.UNCLEAR
    assert interpret(S.CHOOSING_SCENARIO, "something else", choices=choices)[0] is T.UNCLEAR


def test_card_choices_and_free_text_feedback():
    assert interpret(S.CARD_PROPOSED, "confirm")[0] is T.CONFIRM
    assert interpret(S.CARD_PROPOSED, "Confirm")[0] is T.CONFIRM
    assert interpret(S.CARD_PROPOSED, "1")[0] is T.CONFIRM
    assert interpret(S.CARD_PROPOSED, "2")[0] is T.ASK_REVISION
    assert interpret(S.CARD_PROPOSED, "3")[0] is T.RESTART
    assert interpret(S.CARD_PROPOSED, "make the title shorter")[0] is T.REVISION_TEXT
    assert interpret(S.REVISING, "confirm")[0] is T.CONFIRM
    assert interpret(S.REVISING, "revise")[0] is T.UNCLEAR
    assert interpret(S.REVISING, "the second point is wrong")[0] is T.REVISION_TEXT
    assert [c.key for c in CARD_CHOICES] == ["confirm", "revise", "restart"]


def test_commands_are_whole_messages_only():
    assert interpret(S.CONVERSING, "cancel")[0] is T.CANCEL
    assert interpret(S.CONVERSING, "  Stop! ")[0] is T.CANCEL
    assert interpret(S.CONVERSING, "Restart")[0] is T.RESTART
    assert interpret(S.CONVERSING, "I want to stop people from judging her")[0] is T.ANSWERED
    assert interpret(S.CONVERSING, "confirm")[0] is T.ANSWERED


def test_retry_only_when_something_is_pending():
    assert interpret(S.CONVERSING, "retry", pending=True)[0] is T.RETRY
    assert interpret(S.CONVERSING, "retry", pending=False)[0] is T.ANSWERED
    assert interpret(S.CARD_PROPOSED, "try again", pending=True)[0] is T.RETRY


def test_value_check_answers():
    assert interpret(CHECKING, "1")[0] is T.VALUE_AGREED
    assert interpret(CHECKING, "yes")[0] is T.VALUE_AGREED
    assert interpret(CHECKING, "No, keep mine separate")[0] is T.VALUE_DECLINED
    assert interpret(CHECKING, "2")[0] is T.VALUE_DECLINED
    assert interpret(CHECKING, "hmm, partly")[0] is T.UNCLEAR


def test_timed_out_answers():
    assert interpret(S.TIMED_OUT, "1")[0] is T.RESUME
    assert interpret(S.TIMED_OUT, "continue")[0] is T.RESUME
    assert interpret(S.TIMED_OUT, "2")[0] is T.RESTART
    trigger, choice = interpret(S.TIMED_OUT, "I was thinking about my sister")
    assert trigger is T.RESUME and choice is None


def test_match_choice_ignores_case_and_trailing_punctuation():
    choices = (Choice("a", "Alpha"), Choice("b", "Beta"))
    assert match_choice(" beta. ", choices) == choices[1]
    assert match_choice("B", choices) == choices[1]
    assert match_choice("gamma", choices) is None


def test_docs_diagram_matches_the_table():
    doc = (Path(__file__).parents[1] / "docs" / "interview.md").read_text()
    assert mermaid_diagram() in doc, "regenerate docs/interview.md with core.interview.mermaid_diagram()"
