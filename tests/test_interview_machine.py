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
    transition,
)
from core.interview import (
    InterviewState as S,
)
from core.interview import (
    Trigger as T,
)
from core.interview_doc import DOC_PATH, document, main

ACTIVE = [s for s in S if s.is_active]

EXPECTED = [
    (S.AWAITING_CONSENT, T.CONSENT_GIVEN, S.CHOOSING_SCENARIO, Effect.OFFER_SCENARIOS),
    (S.AWAITING_CONSENT, T.CONSENT_DECLINED, S.CANCELLED, Effect.SAY_NO_CONSENT),
    (S.CHOOSING_SCENARIO, T.SCENARIO_CHOSEN, S.CONVERSING, Effect.OPEN_CONVERSATION),
    (S.CONVERSING, T.ANSWERED, S.CONVERSING, Effect.CONTINUE_CONVERSATION),
    (S.CONVERSING, T.RETRY, S.CONVERSING, Effect.REPLAY_PENDING),
    (S.CONVERSING, T.READY, S.CHECKING, Effect.SAY_BACK),
    (S.CHECKING, T.CORRECTED, S.CHECKING, Effect.SAY_BACK),
    (S.CHECKING, T.RETRY, S.CHECKING, Effect.REPLAY_PENDING),
    (S.CHECKING, T.AGREED, S.CARD_PROPOSED, Effect.PROPOSE_CARD),
    (S.CHECKING, T.READY, S.CARD_PROPOSED, Effect.PROPOSE_CARD),
    (S.CARD_PROPOSED, T.CONFIRM, S.VALUE_CHECK, Effect.CONFIRM_CARD),
    (S.CARD_PROPOSED, T.ASK_REVISION, S.REVISING, Effect.ASK_WHAT_TO_CHANGE),
    (S.CARD_PROPOSED, T.REVISION_TEXT, S.CARD_PROPOSED, Effect.REVISE_CARD),
    (S.CARD_PROPOSED, T.QUESTION, S.CARD_PROPOSED, Effect.ANSWER_QUESTION),
    (S.CARD_PROPOSED, T.RETRY, S.CARD_PROPOSED, Effect.REPLAY_PENDING),
    (S.REVISING, T.REVISION_TEXT, S.CARD_PROPOSED, Effect.REVISE_CARD),
    (S.REVISING, T.RETRY, S.REVISING, Effect.REPLAY_PENDING),
    (S.REVISING, T.CONFIRM, S.VALUE_CHECK, Effect.CONFIRM_CARD),
    (S.VALUE_CHECK, T.CARD_SAVED, S.VALUE_CHECK, Effect.PLACE_CARD),
    (S.VALUE_CHECK, T.NOTHING_TO_CHECK, S.CONFIRMED, Effect.THANK),
    (S.VALUE_CHECK, T.VALUE_AGREED, S.CONFIRMED, Effect.RECORD_VERDICT),
    (S.VALUE_CHECK, T.VALUE_DECLINED, S.CONFIRMED, Effect.RECORD_VERDICT),
]
VALUE_CHECK = S.VALUE_CHECK


@pytest.mark.parametrize(("state", "trigger", "target", "effect"), EXPECTED)
def test_main_path_transitions(state, trigger, target, effect):
    assert transition(state, trigger) == type(transition(state, trigger))(target, effect)


@pytest.mark.parametrize("state", [s for s in ACTIVE if s is not VALUE_CHECK])
def test_cancel_and_restart_from_every_active_state(state):
    assert transition(state, T.CANCEL).new_state is S.CANCELLED
    assert transition(state, T.CANCEL).effect is Effect.SAY_CANCELLED
    assert transition(state, T.RESTART).new_state is S.CANCELLED
    assert transition(state, T.RESTART).effect is Effect.START_OVER


def test_leaving_the_value_check_keeps_the_confirmed_card():
    assert transition(VALUE_CHECK, T.CANCEL) == transition(VALUE_CHECK, T.NOTHING_TO_CHECK)
    assert transition(VALUE_CHECK, T.RESTART).new_state is S.CONFIRMED
    assert transition(VALUE_CHECK, T.RESTART).effect is Effect.START_OVER


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
    assert interpret(S.CARD_PROPOSED, "Looks good!")[0] is T.CONFIRM
    assert interpret(S.CARD_PROPOSED, "why is honesty in it?")[0] is T.QUESTION
    assert interpret(S.REVISING, "ok")[0] is T.CONFIRM
    assert interpret(S.REVISING, "confirm")[0] is T.CONFIRM
    assert interpret(S.REVISING, "revise")[0] is T.UNCLEAR
    assert interpret(S.REVISING, "the second point is wrong")[0] is T.REVISION_TEXT
    # "yes, but …" changes the card; "ok?" asks; a bare no asks what to change instead of revising by "no".
    assert interpret(S.CARD_PROPOSED, "yes, but change the title")[0] is T.REVISION_TEXT
    assert interpret(S.CARD_PROPOSED, "ok?")[0] is T.QUESTION
    assert interpret(S.CARD_PROPOSED, "no") == (T.ASK_REVISION, CARD_CHOICES[1])
    assert interpret(S.REVISING, "no")[0] is T.UNCLEAR
    assert interpret(S.CARD_PROPOSED, "When I said family I meant my chosen family")[0] is T.REVISION_TEXT
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


def test_the_say_back_is_agreed_by_button_or_yes_and_corrected_by_anything_else():
    assert interpret(S.CHECKING, "agree") == (T.AGREED, Choice("agree", "That's it"))
    assert interpret(S.CHECKING, "1")[0] is T.AGREED
    assert interpret(S.CHECKING, "That’s it.")[0] is T.AGREED
    assert interpret(S.CHECKING, "yes")[0] is T.AGREED
    assert interpret(S.CHECKING, "genau")[0] is T.AGREED
    assert interpret(S.CHECKING, "yes, but you missed how tired she was")[0] is T.CORRECTED
    assert interpret(S.CHECKING, "cancel")[0] is T.CANCEL


def test_adding_a_state_is_one_spec_entry():
    # Every active state has a spec, its shared rows, and a reader; the table is built from the specs only.
    from core.interview import SPEC, SPECS

    assert {spec.state for spec in SPECS} == set(S) and len(SPECS) == len(S)
    for state in ACTIVE:
        assert (state, T.UNCLEAR) in TRANSITIONS and (state, T.CANCEL) in TRANSITIONS
        assert SPEC[state].sees and SPEC[state].answers


def test_value_check_answers():
    assert interpret(VALUE_CHECK, "1")[0] is T.VALUE_AGREED
    assert interpret(VALUE_CHECK, "yes")[0] is T.VALUE_AGREED
    assert interpret(VALUE_CHECK, "No, keep mine separate")[0] is T.VALUE_DECLINED
    assert interpret(VALUE_CHECK, "2")[0] is T.VALUE_DECLINED
    assert interpret(VALUE_CHECK, "hmm, partly")[0] is T.UNCLEAR


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


def test_the_committed_docs_are_the_ones_generated_from_the_specs():
    assert Path(__file__).parents[1] / "docs" / "interview.md" == DOC_PATH
    assert DOC_PATH.read_text(encoding="utf-8") == document(), "regenerate it: python -m core.interview_doc"
    assert main(["--check"]) == 0
    for state in S:
        assert f"| {state.value} |" in document()
