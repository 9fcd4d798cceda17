"""Reading VOTES.csv and VALUES.json: what is accepted, and errors that say where and why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bot.graph.factorize as graph_factorize
from bot.graph.factorize import factorize_fields
from bot.graph.files import GraphInputError, read_values, read_votes
from core.graph import Value

VALUES = [Value("1", "One"), Value("2", "Two"), Value("3", "Three")]
HEADER = "voter_id,from_value_id,to_value_id,context,choice\n"


def write(tmp_path: Path, text: str | bytes, name: str = "VOTES.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def votes_of(tmp_path: Path, text: str | bytes) -> list[tuple[str, str, str, str, str]]:
    table = read_votes(write(tmp_path, text), VALUES)
    return [(v.voter_id, v.from_value_id, v.to_value_id, v.context, v.choice) for v in table.to_votes()]


def error_of(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(GraphInputError) as caught:
        read_votes(write(tmp_path, text), VALUES)
    return caught.value.message


# -- VOTES.csv: accepted ----------------------------------------------------------------------------


def test_plain_file(tmp_path):
    votes = votes_of(tmp_path, HEADER + "m1,1,2,When in distress,upgrade\nm2,2,3,When in distress,not_sure\n")
    assert [v[1:] for v in votes] == [
        ("1", "2", "When in distress", "upgrade"),
        ("2", "3", "When in distress", "not_sure"),
    ]
    assert votes[0][0] != votes[1][0]  # voters are distinct codes


def test_columns_in_any_order_extra_columns_ignored(tmp_path):
    text = "choice,why,context,to_value_id,voter_id,from_value_id\nno_upgrade,because,C,2,m1,1\n"
    assert [v[1:] for v in votes_of(tmp_path, text)] == [("1", "2", "C", "no_upgrade")]


def test_quoted_fields_commas_quotes_and_newlines(tmp_path):
    text = HEADER + 'm1,1,2,"When grieving, or afraid",upgrade\nm1,1,3,"Say ""no""\nkindly",upgrade\n'
    assert [v[3] for v in votes_of(tmp_path, text)] == ["When grieving, or afraid", 'Say "no"\nkindly']


def test_quoted_and_bare_spellings_are_the_same_text(tmp_path):
    text = HEADER + 'm1,1,2,ctx,upgrade\n"m1","1","2","ctx","upgrade"\n'
    table = read_votes(write(tmp_path, text), VALUES)
    assert table.contexts == ("ctx",)
    assert table.voter.tolist() == [0, 0]


def test_voter_ids_are_cleaned_like_other_fields(tmp_path):
    text = HEADER + 'm1,1,2,c,upgrade\n"m1",1,3,c,upgrade\n m1\u00a0,2,3,c,upgrade\nm2,2,3,c,upgrade\n'
    table = read_votes(write(tmp_path, text), VALUES)
    assert table.voter.tolist() == [0, 0, 0, 1]


def test_bom_crlf_blank_lines_spaces_and_case(tmp_path):
    text = "\ufeff" + HEADER.replace("\n", "\r\n") + "\r\n m1 , 1 ,2, C ,Upgrade\r\n\r\nm2,2,3,C,NOT_SURE"
    assert [v[1:] for v in votes_of(tmp_path, text)] == [("1", "2", "C", "upgrade"), ("2", "3", "C", "not_sure")]


def test_header_only_is_no_votes(tmp_path):
    assert votes_of(tmp_path, HEADER) == []


def test_ids_are_text_and_match_json_numbers(tmp_path):
    values = read_values(
        write(tmp_path, json.dumps([{"id": 1, "title": "One"}, {"id": "2", "title": "Two"}]), "v.json")
    )
    table = read_votes(write(tmp_path, HEADER + "m,1,2,c,upgrade\n"), values)
    assert [(v.from_value_id, v.to_value_id) for v in table.to_votes()] == [("1", "2")]


def test_contexts_are_numbered_in_first_seen_order(tmp_path):
    text = HEADER + "m,1,2,b,upgrade\nm,1,2,a,upgrade\nm,2,3,b,upgrade\n"
    assert read_votes(write(tmp_path, text), VALUES).contexts == ("b", "a")


def test_long_and_unicode_fields(tmp_path):
    long_context = "When " + "very " * 40 + "long"
    text = HEADER + f"ç-1,1,2,{long_context},upgrade\nç-1,2,3,Quand ça va,upgrade\nç-2,2,3,{long_context},upgrade\n"
    votes = votes_of(tmp_path, text)
    assert [v[3] for v in votes] == [long_context, "Quand ça va", long_context]
    assert votes[0][0] == votes[1][0] != votes[2][0]


# -- VOTES.csv: errors ------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    assert "is empty" in error_of(tmp_path, "")
    assert "is empty" in error_of(tmp_path, "\n  \n")


def test_missing_column_is_named(tmp_path):
    message = error_of(tmp_path, "voter_id,from_value_id,to_value_id,context\nm,1,2,c\n")
    assert "no column 'choice'" in message


def test_wrong_delimiter(tmp_path):
    message = error_of(tmp_path, HEADER.replace(",", ";") + "m;1;2;c;upgrade\n")
    assert "semicolons" in message and "commas" in message


def test_bad_choice_names_line_and_value(tmp_path):
    message = error_of(tmp_path, HEADER + "m,1,2,c,upgrade\nm,2,3,c,maybe\n")
    assert message == "VOTES.csv line 3: choice 'maybe' is not one of upgrade, no_upgrade, not_sure (column choice)"


def test_too_few_fields_names_the_line(tmp_path):
    message = error_of(tmp_path, HEADER + "m,1,2,c,upgrade\n\nm,2,3,upgrade\n")
    assert message == "VOTES.csv line 4: 4 fields, expected 5 as in the header"


def test_unquoted_comma_gives_a_hint(tmp_path):
    message = error_of(tmp_path, HEADER + "m,1,2,When sad, alone,upgrade\n")
    assert "line 2: 6 fields, expected 5" in message and "quotes" in message


def test_unknown_value_id_names_line_and_id(tmp_path):
    message = error_of(tmp_path, HEADER + "m,1,2,c,upgrade\nm,1,2,c,upgrade\nm,1,99,c,upgrade\n")
    assert message == "VOTES.csv line 4: no value has id '99' (column to_value_id)"


def test_first_bad_line_is_reported(tmp_path):
    # Two different unknown ids: the earlier line wins, whatever order the ids were indexed in.
    message = error_of(tmp_path, HEADER + "m,1,2,c,upgrade\nm,77,2,c,upgrade\nm,55,2,c,upgrade\n")
    assert "line 3" in message and "'77'" in message


def test_line_numbers_count_newlines_inside_quotes(tmp_path):
    message = error_of(tmp_path, HEADER + 'm,1,2,"two\nlines",upgrade\nm,1,2,c,nope\n')
    assert message.startswith("VOTES.csv line 4:")


def test_empty_fields_and_self_votes(tmp_path):
    assert "line 2: voter_id is empty" in error_of(tmp_path, HEADER + ",1,2,c,upgrade\n")
    assert "line 2: context is empty" in error_of(tmp_path, HEADER + 'm,1,2,"",upgrade\n')
    assert "line 2: from_value_id and to_value_id are both '2'" in error_of(tmp_path, HEADER + "m,2,2,c,upgrade\n")


def test_unclosed_quote(tmp_path):
    assert "never closed" in error_of(tmp_path, HEADER + 'm,1,2,"oops,upgrade\n')


def test_not_utf8(tmp_path):
    assert "line 2: not UTF-8" in error_of(tmp_path, HEADER.encode() + b"m,1,2,caf\xe9,upgrade\n")


def test_missing_file(tmp_path):
    with pytest.raises(GraphInputError, match="does not exist"):
        read_votes(tmp_path / "nope.csv", VALUES)


# -- VALUES.json ------------------------------------------------------------------------------------


def values_error(tmp_path: Path, doc: object | str) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(GraphInputError) as caught:
        read_values(write(tmp_path, text, "VALUES.json"))
    return caught.value.message


def test_values_as_list_or_object(tmp_path):
    items = [{"id": 7, "title": " Seven ", "description": "d", "policies": ["p"], "pageRank": 0.1}]
    for doc in (items, {"values": items}):
        assert read_values(write(tmp_path, json.dumps(doc), "VALUES.json")) == [Value("7", "Seven", "d", ("p",))]


def test_values_errors(tmp_path):
    assert "values[1] repeats id '1' (first used by values[0])" in values_error(
        tmp_path, [{"id": 1, "title": "a"}, {"id": "1", "title": "b"}]
    )
    assert "values[1] (id '2') has no title" in values_error(tmp_path, [{"id": 1, "title": "a"}, {"id": 2}])
    assert "values[0] has no id" in values_error(tmp_path, [{"title": "a"}])
    assert "id must be text or a whole number, not 1.5" in values_error(tmp_path, [{"id": 1.5, "title": "a"}])
    assert "not valid JSON" in values_error(tmp_path, "[{")
    assert '"values"' in values_error(tmp_path, {"items": []})
    assert "values[0] is not an object" in values_error(tmp_path, ["x"])
    assert "policies must be a list of text" in values_error(tmp_path, [{"id": 1, "title": "a", "policies": "p"}])


# -- the byte-field factoriser ----------------------------------------------------------------------


def factorize(strings: list[bytes]) -> list[int]:
    data = b"".join(strings)
    starts = np.cumsum([0] + [len(s) for s in strings[:-1]]).astype(np.int64)
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    padded = np.frombuffer(data + bytes(int(lengths.max()) + 8), dtype=np.uint8)
    codes, first = factorize_fields(padded, starts, lengths)
    assert [strings[i] for i in first.tolist()] == list(dict.fromkeys(strings))
    return codes.tolist()


def test_factorize_short_long_and_boundary_lengths():
    strings = [b"a" * 7, b"a" * 8, b"a" * 7, b"", b"a" * 9, b"a" * 8, b"b" * 30, b"b" * 29 + b"c", b"b" * 30, b""]
    assert factorize(strings) == [0, 1, 0, 2, 3, 1, 4, 5, 4, 2]
    assert factorize([b"x", b"y", b"x"]) == [0, 1, 0]


def test_factorize_survives_hash_collisions(monkeypatch):
    # A zero multiplier makes every hash collide; the exact path must still tell strings apart.
    monkeypatch.setattr(graph_factorize, "_MULTIPLIER", np.uint64(0))
    strings = [b"member-%d" % (i % 13) for i in range(200)] + [b"member-1\x00"]
    assert factorize(strings) == [i % 13 for i in range(200)] + [13]
