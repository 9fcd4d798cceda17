"""Rendering neutral outbound messages for Discord: limits, buttons, mention safety (no network)."""

from __future__ import annotations

import discord

from adapters.discord.render import MAX_CONTENT, ZWSP, neutralise, render, split_content
from core.cards import ValuesCard
from core.interview import Choice
from core.messages import CardProposal, ChoicePrompt, Reply


def custom_ids(view: discord.ui.View) -> list[str]:
    return [c["custom_id"] for row in view.to_components() for c in row["components"]]


def test_every_message_disables_mentions():
    card = ValuesCard.model_construct(title="A Fine Title Here", description="d.", policies=["MOMENTS when x"])
    items = [
        Reply("hi"),
        ChoicePrompt("pick", (Choice("a", "A"),)),
        CardProposal(card, "heading", (Choice("confirm", "Confirm"),)),
    ]
    for item in items:
        for message in render(item):
            assert message.kwargs()["allowed_mentions"].to_dict() == {"parse": []}


def test_neutralise_defuses_mass_user_role_and_channel_mentions_only():
    text = "@everyone @HERE <@1> <@!2> <@&3> <#4> mail@example.org <t:1700000000:R>"
    assert neutralise(text) == (
        f"@{ZWSP}everyone @{ZWSP}HERE <@{ZWSP}1> <@!{ZWSP}2> <@&{ZWSP}3> <#{ZWSP}4> mail@example.org <t:1700000000:R>"
    )


def test_long_text_is_split_at_paragraphs_under_the_limit():
    paragraphs = ["word " * 300 for _ in range(5)]  # ~1500 characters each
    pieces = split_content("\n\n".join(p.strip() for p in paragraphs))
    assert len(pieces) == 5 and all(len(p) <= MAX_CONTENT for p in pieces)
    assert split_content("x" * 4500) == ["x" * 2000, "x" * 2000, "x" * 500]


def test_buttons_go_under_the_last_piece_of_a_long_prompt():
    messages = render(ChoicePrompt("y " * 1500, (Choice("accept", "I agree"), Choice("decline", "No thanks"))))
    assert len(messages) == 2 and messages[0].view is None
    assert custom_ids(messages[1].view) == ["mge:choice:accept", "mge:choice:decline"]


def test_shortened_labels_are_written_out_in_full_and_numbered():
    long = ("A question that goes on and on " * 5).strip()
    choices = tuple(Choice(str(i), long[:79] + "…", detail=f"{long} #{i}") for i in range(1, 4))
    [message] = render(ChoicePrompt("Which question?", choices))
    for i in range(1, 4):
        assert f"**{i}.** {long} #{i}" in message.content
    labels = [c["label"] for row in message.view.to_components() for c in row["components"]]
    assert labels[0].startswith("1. ") and all(len(label) <= 80 for label in labels)


def test_at_most_25_buttons_5_per_row_and_the_rest_listed():
    choices = tuple(Choice(str(i), f"Option {i}") for i in range(1, 31))
    [message] = render(ChoicePrompt("Pick one", choices))
    rows = message.view.to_components()
    assert len(rows) == 5 and all(len(row["components"]) == 5 for row in rows)
    assert "**30.** Option 30" in message.content  # typing "30" still works


def test_card_embed_escapes_markdown_and_lists_policies():
    card = ValuesCard.model_construct(
        title="Care *Above* All", description="Helps @everyone.", policies=["MOMENTS when x", "WAYS to y"]
    )
    [message] = render(CardProposal(card, "Does this fit?", (Choice("confirm", "Confirm"),)))
    assert message.content == "Does this fit?"
    assert message.embed.title == r"Care \*Above\* All"
    assert f"@{ZWSP}everyone" in message.embed.description and "• WAYS to y" in message.embed.description
    assert custom_ids(message.view) == ["mge:choice:confirm"]
