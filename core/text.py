"""Cleaning what members type before anything else sees it.

Platform events carry arbitrary text: control characters, zero-width characters, binary garbage,
whole pasted documents. ``clean_member_text`` turns it into text fit for a transcript, or says why not.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

#: A long DM answer is a few paragraphs; a pasted document is not an interview answer.
MAX_MESSAGE_CHARS = 4000

# Zero-width and bidirectional-control characters hide text from the reader but not from the model.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
# Terminal control sequences (ECMA-48) as whole units, so pasted colour codes leave no "[31m" behind:
# strings (OSC, DCS, SOS, PM, APC) up to their BEL or ST terminator, CSI with its parameters, and the
# other escapes (ESC, optional intermediates, one final byte); each introducer in its 7-bit or C1 form.
# An unterminated string loses only its introducer: the rest is the member's text.
_TERMINAL_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -/]*[0-~]"
)
_BLANK_LINES = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True, slots=True)
class CleanText:
    text: str
    #: Why the text can't be used; None when usable. The member is told in their language
    #: (``bot.interview.texts.unreadable_text``).
    problem: Literal["empty", "too_long"] | None = None
    #: The message's length when it was too long.
    too_long: int = 0


def clean_member_text(raw: str | None) -> CleanText:
    if raw is None:
        raw = ""
    text = unicodedata.normalize("NFC", raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TERMINAL_SEQUENCE.sub("", text)
    # Drop control characters (Cc), unassigned/private/surrogate code points, keep newlines and tabs.
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cs", "Co", "Cn"})
    text = _INVISIBLE.sub("", text).replace("\ufffd", "")
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    if not text:
        return CleanText("", "empty")
    if len(text) > MAX_MESSAGE_CHARS:
        return CleanText("", "too_long", too_long=len(text))
    return CleanText(text)


def matches_word(text: str, *words: str) -> bool:
    """True when the whole message is one of ``words`` (case and surrounding punctuation ignored)."""
    normalised = text.strip().strip("!.?/¡¿").casefold()
    return normalised in {w.casefold() for w in words}


def counted(n: int, noun: str) -> str:
    """``counted(1, "card")`` → "1 card", ``counted(3, "card")`` → "3 cards" (nouns with a plain -s plural)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def shorten(text: str, limit: int) -> str:
    """``text`` on one line (runs of whitespace become one space), cut to ``limit`` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
