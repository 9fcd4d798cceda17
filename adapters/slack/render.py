"""Outbound messages → ``chat.postMessage`` arguments (Block Kit).

Everything the bot echoes (member words, LLM output, scenario texts) goes through ``escape`` before it
lands in a ``mrkdwn`` field or the ``text`` fallback: Slack reads ``<!channel>``, ``<@U…>``,
``<!subteam^…>`` and ``<url|label>`` only when ``<`` and ``>`` are literal, so escaping ``&``, ``<``
and ``>`` makes them inert. ``verbatim: true`` stops Slack from auto-linking bare URLs and channel
names in our text, and ``parse: "none"`` / ``link_names: false`` keep the fallback text from being
re-parsed for names. ``plain_text`` fields (button labels, the card header) are never parsed for
mentions or links by Slack, so they carry the text as it is.

Mrkdwn emphasis (``*bold*``) in echoed text still renders as emphasis: Slack has no escape for it,
and it cannot ping anyone or hide a link.
"""

from __future__ import annotations

from typing import Any

from core.cards import ValuesCard
from core.interview import Choice
from core.member_texts import english
from core.messages import CardProposal, ChoicePrompt, Outbound, Reply

#: Slack's limit for a section block's text.
SECTION_LIMIT = 3000
#: Slack's limit for a header block's plain text.
HEADER_LIMIT = 150
#: Slack's limits for buttons: label length, elements per actions block, value length.
BUTTON_LABEL_LIMIT = 75
ACTIONS_LIMIT = 25
BUTTON_VALUE_LIMIT = 2000
#: A message carries at most 50 blocks; keep room for the buttons.
MAX_TEXT_BLOCKS = 40
#: The notification fallback text need not carry the whole message.
FALLBACK_LIMIT = 3000

#: Buttons are recognised by these ids (see buttons.py).
CHOICE_ACTION_PREFIX = "mge_choice_"
CHOICES_BLOCK_PREFIX = "mge_choices"

Blocks = list[dict[str, Any]]


def escape(text: str) -> str:
    """Make text inert for Slack's mrkdwn and message text: no mentions, no links, no channel refs."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split already-escaped text into pieces of at most ``limit`` characters, preferring paragraph,
    then line, then word boundaries, and never cutting an ``&amp;``-style entity in half."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
            amp = window.rfind("&", limit - 6)  # the longest entity we emit, "&amp;", is 5 characters
            if amp != -1 and ";" not in window[amp:]:
                cut = amp
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return [piece for piece in pieces if piece] or [" "]


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain(text: str, limit: int) -> dict[str, Any]:
    text = " ".join(text.split()) or " "
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return {"type": "plain_text", "text": text, "emoji": True}


def text_sections(escaped: str) -> Blocks:
    pieces = split_text(escaped)[:MAX_TEXT_BLOCKS]
    return [{"type": "section", "text": mrkdwn(piece)} for piece in pieces]


def choice_blocks(choices: tuple[Choice, ...]) -> Blocks:
    """Buttons, 25 per actions block; ``action_id`` numbers are unique across the message."""
    blocks: Blocks = []
    for start in range(0, len(choices), ACTIONS_LIMIT):
        elements = [
            {
                "type": "button",
                "action_id": f"{CHOICE_ACTION_PREFIX}{n}",
                "text": plain(choice.label or choice.key, BUTTON_LABEL_LIMIT),
                "value": choice.key[:BUTTON_VALUE_LIMIT],
            }
            for n, choice in enumerate(choices[start : start + ACTIONS_LIMIT], start=start + 1)
        ]
        blocks.append(
            {"type": "actions", "block_id": f"{CHOICES_BLOCK_PREFIX}_{start // ACTIONS_LIMIT}", "elements": elements}
        )
    return blocks


def _details(choices: tuple[Choice, ...]) -> str:
    """The full texts behind shortened button labels, numbered like the buttons ('' when none is needed)."""
    if not any(c.detail and c.detail != c.label for c in choices) and all(
        len(c.label) <= BUTTON_LABEL_LIMIT for c in choices
    ):
        return ""
    return "\n".join(f"*{n}.* {escape(c.detail or c.label)}" for n, c in enumerate(choices, start=1))


def _fallback(text: str) -> str:
    return text if len(text) <= FALLBACK_LIMIT else text[: FALLBACK_LIMIT - 1] + "…"


def _message(fallback: str, blocks: Blocks) -> dict[str, Any]:
    return {
        "text": _fallback(fallback),
        "blocks": blocks,
        # Echoed text must never turn into a mention, a rich link preview or a parsed @name.
        "unfurl_links": False,
        "unfurl_media": False,
        "parse": "none",
        "link_names": False,
    }


def render_reply(reply: Reply) -> dict[str, Any]:
    escaped = escape(reply.text)
    return _message(escaped, text_sections(escaped))


def render_choices(prompt: ChoicePrompt) -> dict[str, Any]:
    escaped = escape(prompt.text)
    details = _details(prompt.choices)
    body = f"{escaped}\n\n{details}" if details else escaped
    return _message(escaped, text_sections(body) + choice_blocks(prompt.choices))


def card_blocks(card: ValuesCard, *, attention_heading: str | None = None) -> Blocks:
    """A values card: header (title), section (description), section (policies as bullets under
    ``attention_heading``, in the card's language)."""
    policies = "\n".join(f"• {escape(policy)}" for policy in card.policies)
    return [
        {"type": "header", "text": plain(card.title, HEADER_LIMIT)},
        *text_sections(escape(card.description)),
        *text_sections(f"*{escape(attention_heading or english().attention_heading)}*\n{policies}"),
    ]


def render_card(proposal: CardProposal) -> dict[str, Any]:
    heading = escape(proposal.heading)
    card = card_blocks(proposal.card, attention_heading=proposal.attention_heading)
    blocks = text_sections(heading) + card + choice_blocks(proposal.choices)
    return _message(f"{heading}\n{escape(proposal.card.title)}", blocks)


def render(item: Outbound) -> dict[str, Any]:
    """``chat.postMessage`` keyword arguments (without ``channel``) for one outbound item."""
    match item:
        case Reply():
            return render_reply(item)
        case ChoicePrompt():
            return render_choices(item)
        case CardProposal():
            return render_card(item)
    raise TypeError(f"cannot render {type(item).__name__}")


def without_buttons(blocks: Blocks, note: str | None = None) -> Blocks:
    """The same message with our buttons removed and, optionally, a small note (already escaped) instead."""
    kept = [b for b in blocks if not str(b.get("block_id", "")).startswith(CHOICES_BLOCK_PREFIX)]
    if note:
        kept.append({"type": "context", "elements": [mrkdwn(note)]})
    return kept
