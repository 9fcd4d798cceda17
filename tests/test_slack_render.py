"""Block Kit rendering: limits, escaping, buttons."""

from __future__ import annotations

import json

from adapters.slack.render import SECTION_LIMIT, escape, render, split_text, without_buttons
from core.cards import ValuesCard
from core.interview import CARD_CHOICES, Choice
from core.messages import CardProposal, ChoicePrompt, Reply


def test_escape_neutralises_mentions_and_links():
    assert escape("<!channel> & <@U1> <https://x|y>") == "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;https://x|y&gt;"


def test_long_text_is_split_into_sections_within_the_limit_and_nothing_is_lost():
    text = ("word " * 700 + "\n\n") * 3 + "<" * 5000
    message = render(Reply(text))
    sections = [b["text"]["text"] for b in message["blocks"]]
    assert all(0 < len(s) <= SECTION_LIMIT for s in sections) and len(sections) > 3
    joined = "".join(sections)
    assert joined.count("&lt;") == 5000 and "&l&" not in joined and len(message["text"]) <= 3000


def test_split_never_cuts_an_entity():
    for offset in range(8):
        pieces = split_text("a" * offset + "&amp;" * 2000, limit=SECTION_LIMIT)
        assert all(p.count("&") == p.count(";") for p in pieces)


def test_choice_prompt_buttons_respect_slack_limits_and_show_full_details():
    long = "A scenario " * 30
    choices = tuple(Choice(str(n), f"Scenario {n}: " + long[:60] + "…", detail=f"{n}: {long}") for n in range(30))
    message = render(ChoicePrompt("Which <question>?", choices))
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    buttons = [e for a in actions for e in a["elements"]]
    assert len({b["action_id"] for b in buttons}) == 30 and buttons[-1]["action_id"] == "mge_choice_30"
    assert all(len(b["text"]["text"]) <= 75 for b in buttons) and buttons[3]["value"] == "3"
    text = json.dumps(message["blocks"])
    assert "*4.* 3: A scenario" in text and "&lt;question&gt;" in text


def test_card_proposal_has_header_description_policies_and_buttons():
    card = ValuesCard.model_construct(
        title="Care <!here>", description="Helps & listens.", policies=["MOMENTS when <@U1> pings", "WAYS to help"]
    )
    message = render(CardProposal(card, "Does this fit?", CARD_CHOICES))
    types = [b["type"] for b in message["blocks"]]
    assert types == ["section", "header", "section", "section", "actions"]
    assert message["blocks"][1]["text"]["type"] == "plain_text"  # Slack never parses plain_text for mentions
    mrkdwn = json.dumps([b for b in message["blocks"] if b["type"] == "section"])
    assert "&lt;@U1&gt;" in mrkdwn and "Helps &amp; listens." in mrkdwn and "<" not in message["text"]
    assert without_buttons(message["blocks"])[-1]["type"] == "section"
