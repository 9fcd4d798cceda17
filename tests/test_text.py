"""Cleaning member text: what reaches transcripts and the LLM."""

from __future__ import annotations

import pytest

from bot.interview.texts import unreadable_text
from core.member_texts import english
from core.text import MAX_MESSAGE_CHARS, clean_member_text, matches_word


def test_plain_text_is_kept():
    assert clean_member_text("  I care about honesty.  ").text == "I care about honesty."


def test_empty_and_whitespace_only_are_refused_with_a_reason():
    for raw in ["", "   ", "\n\n\t", None, "\u200b\u200b", "\x00\x01\x02"]:
        result = clean_member_text(raw)
        assert result.text == "" and "didn't receive any text" in unreadable_text(english(), result)


def test_control_and_zero_width_characters_are_removed():
    result = clean_member_text("hon\u200best\x07y\u202e matters\ufeff")
    assert result.problem is None
    assert result.text == "honesty matters"


def test_binary_garbage_is_reduced_to_its_text():
    result = clean_member_text("ok\x00\x1b[31m\ufffd\ufffd")
    assert result.text == "ok"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\x1b[31mred\x1b[0m and \x1b[1;38;5;208mbold orange\x1b[m", "red and bold orange"),
        ("up\x1b[2Aclear\x1b[2K\x1b[?25l done", "upclear done"),  # cursor, erase, private mode
        ("\x1b]0;window title\x07kept", "kept"),  # OSC ended by BEL
        ("see \x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ here", "see link here"),  # OSC 8, ST
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel) up to ST
        ("x\x1b(By\x1b7z\x1bc", "xyz"),  # charset designation, save cursor, reset: 2–3 byte escapes
        ("c1 \x9b31mcsi\x9d2;t\x9c and \x85nel", "c1 csi and nel"),  # 8-bit C1 forms and a lone C1
        ("half \x1b]0;never ended", "half 0;never ended"),  # unterminated: only the introducer goes
        ("trailing escape\x1b", "trailing escape"),
    ],
)
def test_terminal_control_sequences_are_removed_whole(raw, expected):
    assert clean_member_text(raw).text == expected


def test_text_that_only_looks_like_a_sequence_is_kept():
    assert clean_member_text("[31m is what the log showed; ]0; too").text == "[31m is what the log showed; ]0; too"


def test_oversized_messages_are_refused_not_truncated():
    result = clean_member_text("a" * 50_000)
    assert result.text == ""
    told = unreadable_text(english(), result)
    assert "50,000 characters" in told and f"{MAX_MESSAGE_CHARS:,}" in told
    assert clean_member_text("a" * MAX_MESSAGE_CHARS).problem is None


def test_blank_line_runs_are_collapsed():
    assert clean_member_text("a\r\n\r\n\r\n\r\nb").text == "a\n\nb"


def test_matches_word_is_whole_message_only():
    assert matches_word(" Cancel! ", "cancel")
    assert not matches_word("please cancel my card", "cancel")
