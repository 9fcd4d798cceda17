"""Cleaning member text: what reaches transcripts and the LLM."""

from __future__ import annotations

from mge.core.text import MAX_MESSAGE_CHARS, clean_member_text, matches_word


def test_plain_text_is_kept():
    assert clean_member_text("  I care about honesty.  ").text == "I care about honesty."


def test_empty_and_whitespace_only_are_refused_with_a_reason():
    for raw in ["", "   ", "\n\n\t", None, "\u200b\u200b", "\x00\x01\x02"]:
        result = clean_member_text(raw)
        assert result.text == "" and "didn't receive any text" in result.problem


def test_control_and_zero_width_characters_are_removed():
    result = clean_member_text("hon\u200best\x07y\u202e matters\ufeff")
    assert result.problem is None
    assert result.text == "honesty matters"


def test_binary_garbage_is_reduced_to_its_text():
    result = clean_member_text("ok\x00\x1b[31m\ufffd\ufffd")
    assert result.text == "ok[31m"


def test_oversized_messages_are_refused_not_truncated():
    result = clean_member_text("a" * 50_000)
    assert result.text == ""
    assert "50,000 characters" in result.problem and f"{MAX_MESSAGE_CHARS:,}" in result.problem
    assert clean_member_text("a" * MAX_MESSAGE_CHARS).problem is None


def test_blank_line_runs_are_collapsed():
    assert clean_member_text("a\r\n\r\n\r\n\r\nb").text == "a\n\nb"


def test_matches_word_is_whole_message_only():
    assert matches_word(" Cancel! ", "cancel")
    assert not matches_word("please cancel my card", "cancel")
