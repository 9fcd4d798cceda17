"""Values-card rules (docs/method.md §2)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.cards import ValuesCard, card_as_text, policy_problem

GOOD = {
    "title": "Informed Autonomy Under Pressure",
    "description": "The assistant helps the person see their options so they can choose for themselves.",
    "policies": [
        "MOMENTS when the person realises they have a real choice",
        "OPPORTUNITIES for the person to decide for themselves",
        "INFORMATION that widens the person's view of their options",
        "FEELINGS of steadiness that let the person think clearly",
    ],
}


def card(**changes) -> ValuesCard:
    return ValuesCard(**{**GOOD, **changes})


def test_a_good_card_passes_and_is_tidied():
    tidy = card(title="  Informed   Autonomy  Under Pressure. ", description="The assistant helps people choose")
    assert tidy.title == "Informed Autonomy Under Pressure"
    assert tidy.description.endswith(".")


@pytest.mark.parametrize("title", ["Autonomy", "Informed Autonomy", "One two three four five six seven"])
def test_title_must_be_3_to_6_words(title):
    with pytest.raises(ValidationError, match="title must be"):
        card(title=title)


def test_title_word_bounds_are_inclusive():
    assert card(title="Care For Growth").title == "Care For Growth"
    assert card(title="One two three four five six").title


def test_description_must_be_one_sentence():
    with pytest.raises(ValidationError, match="single sentence"):
        card(description="The assistant listens. Then it helps.")
    with pytest.raises(ValidationError, match="empty"):
        card(description="   ")


@pytest.mark.parametrize("count", [2, 8])
def test_three_to_seven_policies(count):
    policies = [f"MOMENTS number {i} when the person speaks up" for i in range(count)]
    with pytest.raises(ValidationError, match="3–7 policies"):
        card(policies=policies)


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ("moments when the person is curious", "ALL-CAPS"),
        ("Moments when the person is curious", "ALL-CAPS"),
        ("MOMENTS", "ALL-CAPS"),
        ("MOMENT when the person is curious", "plural"),
        ("SUBTLE SIGN of trouble", "plural"),
        ("MOMENTS when a meaningful connection forms", "filler"),
        ("CONVERSATIONS that go deep", "filler"),
        ("MOMENTS " + "x" * 300, "longer than"),
    ],
)
def test_policy_format_problems(policy, problem):
    assert problem in policy_problem(policy)


@pytest.mark.parametrize(
    "policy",
    [
        "MOMENTS when the person's curiosity lights up",
        "OPPORTUNITIES for the person to decide for themselves",
        "CHANGES IN MOOD that signal the person feels unheard",
        "PEOPLE who could support the person",
        "SIGNS that the person feels pressured",
        "SUBTLE SIGNS that the person feels pressured",
        "INFORMATION that widens the person's view",
    ],
)
def test_policies_in_the_papers_format_pass(policy):
    assert policy_problem(policy) is None


def test_duplicate_policies_are_rejected():
    with pytest.raises(ValidationError, match="repeat"):
        card(policies=[GOOD["policies"][0]] * 3)


def test_card_as_text_lists_every_policy():
    text = card_as_text(card())
    assert text.startswith("Informed Autonomy Under Pressure\n")
    assert all(f"- {p}" in text for p in GOOD["policies"])
