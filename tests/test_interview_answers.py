"""What counts as a yes and what as a question, where the interview offers something to accept (pure)."""

from __future__ import annotations

import pytest

from core.answers import is_affirmative, is_negative, is_question

YES = [
    "yes",
    "Yes!",
    "  YES.  ",
    "ok",
    "OK",
    "okay",
    "looks good",
    "Looks  good!",
    "perfect",
    "Perfect.",
    "that's it",
    "That\u2019s it!",
    "sounds right",
    "👍",
    "👍🏽",
    "sí",
    "Vale",
    "perfecto",
    "oui",
    "d'accord",
    "D\u2019accord !",
    "ja",
    "Genau!",
]
NOT_YES = [
    "yes, but the second point is wrong",
    "ok so change the title",
    "not quite",
    "no",
    "looks good except the title",
    "",
    "perfect apart from point 3",
    "ok?",
    "Right?",
    "yes?",
]
QUESTIONS = [
    "why is courage on it?",
    "Why is courage on it",
    "what does the third point mean",
    "How did you get that title?",
    "is this about my sister?",
    "pourquoi ce titre",
    "Warum steht das da",
    "¿por qué dice eso?",
    "ok?",
    "what is the third point about",
]
NOT_QUESTIONS = [
    "make the title shorter",
    "could you make the title shorter?",
    "Can you add something about patience?",
    "please drop the last point",
    "yes",
    "the second point is wrong",
    "When I said family, I meant my chosen family",
    "what I meant is that honesty comes first",
    "How about a shorter title",
    "was thinking the title could be warmer",
    "Comment: the last point is too long",
]


@pytest.mark.parametrize("text", YES)
def test_a_whole_message_yes_is_affirmative(text):
    assert is_affirmative(text)


@pytest.mark.parametrize("text", NOT_YES)
def test_a_yes_with_more_to_say_is_not(text):
    assert not is_affirmative(text)


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_end_with_a_question_mark_or_start_with_a_question_word(text):
    assert is_question(text)


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_requests_and_statements_are_not_questions(text):
    assert not is_question(text)


@pytest.mark.parametrize("text", ["no", "No.", "nope", "not really", "Nein"])
def test_a_bare_no_is_negative(text):
    assert is_negative(text)


@pytest.mark.parametrize("text", ["no?", "no, the title is wrong", "not really about honesty", "yes"])
def test_a_no_with_more_to_say_is_not_a_bare_no(text):
    assert not is_negative(text)
