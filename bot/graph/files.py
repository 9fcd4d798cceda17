"""Reading the inputs of ``mge graph build``: VALUES.json and VOTES.csv, with errors a person can act on.

VOTES.csv can hold a million rows, and the csv module alone takes longer than the whole build may.
So the file is split with numpy: quote parity tells which commas and newlines are delimiters, every
row's field count is checked at once, and each column becomes integer codes by hashing its bytes
(:func:`factorize_fields`). Python never loops over rows: decoding and cleaning (surrounding spaces,
quotes) happen on the distinct strings only.

Decisions, so a reader of an error message is never surprised:

* columns are found by header name (case and surrounding spaces ignored); extra columns are ignored;
* fields are stripped of surrounding spaces; ``choice`` is also matched case-insensitively;
* blank lines are skipped; a row with more or fewer fields than the header is an error (an unquoted
  comma in a context is the usual cause);
* every vote must name known value ids, a non-empty voter and context, and two different values;
* voter ids are only compared, never shown, so they are not decoded unless one needs cleaning.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.graph.factorize import factorize_fields
from core.graph.model import Value
from core.graph.votes import CHOICES, VoteTable

VOTE_COLUMNS = ("voter_id", "from_value_id", "to_value_id", "context", "choice")
#: An optional column: when each vote was cast (ISO 8601), needed by ``mge graph build --as-of``.
CAST_AT_COLUMN = "cast_at"
_NEWLINE, _QUOTE, _COMMA = ord("\n"), ord('"'), ord(",")
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


class GraphInputError(Exception):
    """An input file cannot be used; the message says which file, where, and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- VALUES.json ------------------------------------------------------------------------------------


def read_values(path: Path) -> list[Value]:
    """Values from a JSON list of value objects, or an object with a "values" list (such as an export)."""
    name = path.name
    try:
        doc = json.loads(_read_bytes(path))
    except json.JSONDecodeError as error:
        raise GraphInputError(
            f"{name} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except UnicodeDecodeError:
        raise GraphInputError(f"{name} is not UTF-8 text") from None
    if isinstance(doc, dict):
        if "values" not in doc:
            raise GraphInputError(f'{name}: expected a list of values or an object with a "values" list')
        doc = doc["values"]
    if not isinstance(doc, list):
        raise GraphInputError(f'{name}: "values" must be a list of value objects')

    values: list[Value] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(doc):
        where = f"{name}: values[{index}]"
        if not isinstance(item, dict):
            raise GraphInputError(f"{where} is not an object")
        value_id = _value_id(item.get("id"), where)
        if value_id in first_index:
            raise GraphInputError(f"{where} repeats id {value_id!r} (first used by values[{first_index[value_id]}])")
        first_index[value_id] = index
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            raise GraphInputError(f"{where} (id {value_id!r}) has no title")
        description = item.get("description") or ""
        policies = item.get("policies") or []
        if not isinstance(description, str):
            raise GraphInputError(f"{where} (id {value_id!r}): description must be text")
        if not isinstance(policies, list) or not all(isinstance(p, str) for p in policies):
            raise GraphInputError(f"{where} (id {value_id!r}): policies must be a list of text")
        values.append(Value(value_id, title.strip(), description, tuple(policies)))
    return values


def _value_id(raw: Any, where: str) -> str:
    # Ids are matched as text, so 1 and "1" are the same value; 1.0 or true are mistakes, not ids.
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        if raw is None:
            raise GraphInputError(f"{where} has no id")
        raise GraphInputError(f"{where}: id must be text or a whole number, not {json.dumps(raw)}")
    value_id = str(raw).strip()
    if not value_id:
        raise GraphInputError(f"{where} has an empty id")
    return value_id


# -- VOTES.csv --------------------------------------------------------------------------------------


def read_votes(path: Path, values: Sequence[Value], *, as_of: datetime | None = None) -> VoteTable:
    """Votes in file order; ``from``/``to`` codes index ``values``. With ``as_of``, only the votes whose
    ``cast_at`` is not after it (the file must have that column)."""
    raw = _read_bytes(path)
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    if not raw.strip():
        raise GraphInputError(f"{path.name} is empty: expected a header line {','.join(VOTE_COLUMNS)}")
    raw = raw.replace(b"\r\n", b"\n") if b"\r" in raw else raw
    if not raw.endswith(b"\n"):
        raw += b"\n"
    header_end = raw.index(b"\n")
    header_line = _decode(path.name, raw[:header_end], 1)
    positions, n_columns = _locate_columns(path.name, header_line)
    time_position = _time_column(path.name, header_line) if as_of is not None else None
    rows = _Rows(path.name, raw, header_end + 1, n_columns)
    del raw  # _Rows keeps its own padded copy; a million votes are ~60 MB
    columns = [rows.column(position, as_text=label != "voter_id") for label, position in zip(VOTE_COLUMNS, positions)]
    table = _VoteColumns(rows, *columns).to_table(values)
    if as_of is None or time_position is None:
        return table
    return _votes_until(table, rows, rows.column(time_position), as_of)


def _time_column(name: str, header_line: str) -> int:
    header = [field.strip().lower() for field in next(csv.reader([header_line]))]
    if CAST_AT_COLUMN not in header:
        raise GraphInputError(
            f"{name} has no column {CAST_AT_COLUMN!r}: --as-of needs when each vote was cast "
            "(`mge export --format csv` writes it)"
        )
    return header.index(CAST_AT_COLUMN)


def _votes_until(table: VoteTable, rows: _Rows, times: _Column, as_of: datetime) -> VoteTable:
    """The votes cast at or before ``as_of``, contexts renumbered in first-seen order of what is kept."""
    assert times.texts is not None
    kept_codes = np.zeros(len(times.texts), dtype=bool)
    for code, text in enumerate(times.texts):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            line = rows.line_of_record(int(times.first[code]))
            raise GraphInputError(f"{rows.name} line {line}: cast_at {text!r} is not an ISO 8601 time") from None
        kept_codes[code] = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) <= as_of
    keep = kept_codes[times.codes]
    context = table.context[keep]
    used, first_seen = np.unique(context, return_index=True)
    order = used[np.argsort(first_seen)]
    renumber = np.full(len(table.contexts), -1, dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return VoteTable(
        voter=table.voter[keep],
        from_value=table.from_value[keep],
        to_value=table.to_value[keep],
        context=renumber[context],
        choice=table.choice[keep],
        value_ids=table.value_ids,
        contexts=tuple(table.contexts[int(i)] for i in order),
    )


def _locate_columns(name: str, header_line: str) -> tuple[list[int], int]:
    """Position of each of VOTE_COLUMNS in the header, and the number of columns."""
    header = [field.strip().lower() for field in next(csv.reader([header_line]))]
    missing = [column for column in VOTE_COLUMNS if column not in header]
    if missing:
        for delimiter, what in _OTHER_DELIMITERS.items():
            if len(header) == 1 and delimiter in header_line:
                raise GraphInputError(
                    f"{name} seems to separate fields with {what}; it must use commas "
                    f"(header: {','.join(VOTE_COLUMNS)})"
                )
        raise GraphInputError(
            f"{name} has no column {', '.join(repr(m) for m in missing)} in its header line "
            f"(found {', '.join(repr(h) for h in header)}; expected {','.join(VOTE_COLUMNS)})"
        )
    repeated = [column for column in VOTE_COLUMNS if header.count(column) > 1]
    if repeated:
        raise GraphInputError(f"{name} has column {repeated[0]!r} more than once in its header line")
    return [header.index(column) for column in VOTE_COLUMNS], len(header)


class _Rows:
    """The records after the header: where each one and each of its fields starts and ends."""

    def __init__(self, name: str, raw: bytes, body_start: int, n_columns: int) -> None:
        self.name = name
        self.n_columns = n_columns
        # Offsets below are relative to the first byte after the header line.
        array = np.frombuffer(raw, dtype=np.uint8, offset=body_start)
        self._newlines = np.flatnonzero(array == _NEWLINE)
        commas = np.flatnonzero(array == _COMMA)
        quotes = np.flatnonzero(array == _QUOTE)
        record_ends = self._newlines
        if len(quotes):
            if len(quotes) % 2:
                raise GraphInputError(f"{name} line {self.line_of(int(quotes[-1]))}: a quoted field is never closed")
            # A comma or newline is inside quotes when an odd number of quotes comes before it.
            commas = commas[np.searchsorted(quotes, commas) % 2 == 0]
            record_ends = record_ends[np.searchsorted(quotes, record_ends) % 2 == 0]
        record_starts = np.zeros(len(record_ends), dtype=np.int64)
        record_starts[1:] = record_ends[:-1] + 1
        # Commas before each record's end; a record's own commas are the difference to the previous.
        commas_before_end = np.searchsorted(commas, record_ends)
        fields = np.diff(commas_before_end, prepend=0) + 1
        blank = record_starts == record_ends
        wrong = np.flatnonzero(~blank & (fields != n_columns))
        if len(wrong):
            self._wrong_field_count(int(record_starts[wrong[0]]), int(fields[wrong[0]]))
        self.starts, self.ends = record_starts[~blank], record_ends[~blank]
        # Blank lines hold no comma, so the delimiters fall into rows of n_columns - 1.
        self._commas = commas.reshape(len(self.starts), n_columns - 1)
        # Zero padding lets every field be read as whole 8-byte words, even at the end of the data.
        widest = int((self.ends - self.starts).max()) if len(self.starts) else 0
        self._padded = np.zeros(len(array) + widest + 8, dtype=np.uint8)
        self._padded[: len(array)] = array
        self._bytes = self._padded.data

    def __len__(self) -> int:
        return len(self.starts)

    def _wrong_field_count(self, offset: int, found: int) -> None:
        hint = "" if found < self.n_columns else "; put quotes around fields that contain commas"
        raise GraphInputError(
            f"{self.name} line {self.line_of(offset)}: {found} field{'s' * (found != 1)}, "
            f"expected {self.n_columns} as in the header{hint}"
        )

    def line_of(self, offset: int) -> int:
        """Line number in the file of a byte offset after the header (the header is line 1)."""
        return 2 + int(np.searchsorted(self._newlines, offset))

    def line_of_record(self, record: int) -> int:
        return self.line_of(int(self.starts[record]))

    def column(self, position: int, *, as_text: bool = True) -> _Column:
        """The field at ``position`` of every record, as codes. With ``as_text=False`` the distinct
        fields are only decoded if some need cleaning (quotes or spaces around them), which saves
        decoding tens of thousands of voter ids that are only ever compared."""
        starts = self.starts if position == 0 else self._commas[:, position - 1] + 1
        ends = self.ends if position == self.n_columns - 1 else self._commas[:, position]
        codes, first = factorize_fields(self._padded, starts, ends - starts)
        if not as_text and not self._need_cleaning(starts[first], ends[first]):
            return _Column(codes, first, None)
        texts = []
        for start, end in zip(starts[first].tolist(), ends[first].tolist()):
            try:
                texts.append(_clean(str(self._bytes[start:end], "utf-8")))
            except UnicodeDecodeError:
                raise GraphInputError(f"{self.name} line {self.line_of(start)}: not UTF-8 text") from None
        return _Column(codes, first, texts)

    def _need_cleaning(self, starts: np.ndarray, ends: np.ndarray) -> bool:
        """Might _clean change any of these fields? True for an empty one, or one that starts or
        ends with a space or control byte, a quote, or a non-ASCII byte (Unicode spaces)."""
        edges = np.concatenate([self._padded[starts], self._padded[np.maximum(ends - 1, 0)]])
        return bool((ends == starts).any() or ((edges <= ord(" ")) | (edges == _QUOTE) | (edges >= 0x80)).any())


class _Column:
    """A column as codes (first-seen order) into its distinct texts; ``first[c]`` is the first record
    holding text ``c``. ``texts`` is None when the raw fields needed no cleaning and were not decoded."""

    def __init__(self, codes: np.ndarray, first: np.ndarray, texts: list[str] | None) -> None:
        self.codes, self.first, self.texts = codes, first, texts


def _clean(field: str) -> str:
    text = field.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].replace('""', '"')
    return text


class _VoteColumns:
    """The five columns of VOTES.csv checked and turned into a VoteTable."""

    def __init__(
        self, rows: _Rows, voter: _Column, source: _Column, target: _Column, context: _Column, choice: _Column
    ) -> None:
        self.rows = rows
        self.voter, self.source, self.target, self.context, self.choice = voter, source, target, context, choice

    def to_table(self, values: Sequence[Value]) -> VoteTable:
        value_index = {value.id: i for i, value in enumerate(values)}
        choice_index: dict[str, int] = {choice: i for i, choice in enumerate(CHOICES)}

        def unknown_value(text: str) -> str:
            return f"no value has id {text!r}"

        def unknown_choice(text: str) -> str:
            return f"choice {text!r} is not one of {', '.join(CHOICES)}"

        voter = self.voter.codes if self.voter.texts is None else self._recode(self.voter, "voter_id", str)[0]
        source, _ = self._recode(self.source, "from_value_id", value_index.get, unknown_value)
        target, _ = self._recode(self.target, "to_value_id", value_index.get, unknown_value)
        choice, _ = self._recode(self.choice, "choice", lambda text: choice_index.get(text.lower()), unknown_choice)
        context, context_names = self._recode(self.context, "context", str)
        same = np.flatnonzero(source == target)
        if len(same):
            record = int(same[0])
            raise GraphInputError(
                f"{self.rows.name} line {self.rows.line_of_record(record)}: from_value_id and to_value_id are "
                f"both {values[int(source[record])].id!r}; a vote compares two different values"
            )
        return VoteTable(
            voter=voter,
            from_value=source,
            to_value=target,
            context=context,
            choice=choice,
            value_ids=tuple(value.id for value in values),
            contexts=tuple(context_names),
        )

    def _recode(
        self,
        column: _Column,
        label: str,
        lookup: Callable[[str], Any],
        unknown: Callable[[str], str] = str,
    ) -> tuple[np.ndarray, list[str]]:
        """Map the column's distinct texts through ``lookup`` to final codes.

        ``lookup`` returning text means "a name to number in first-seen order" (voters, contexts: two
        raw spellings such as ``x`` and ``"x"`` become one); an int is the code itself; None means the
        text is not allowed.
        """
        texts = column.texts
        assert texts is not None, "a column read with as_text=False is recoded only once decoded"
        names: dict[str, int] = {}
        table = np.empty(len(texts), dtype=np.int64)
        for code, text in enumerate(texts):
            found = lookup(text) if text else None
            if isinstance(found, str):
                found = names.setdefault(found, len(names))
            table[code] = -1 if found is None else found
        bad = np.flatnonzero(table < 0)
        if len(bad):
            # The earliest record holding any bad text.
            code = int(bad[np.argmin(column.first[bad])])
            text = texts[code]
            where = f"{self.rows.name} line {self.rows.line_of_record(int(column.first[code]))}"
            if not text:
                raise GraphInputError(f"{where}: {label} is empty")
            raise GraphInputError(f"{where}: {unknown(text)} (column {label})")
        return table[column.codes], list(names)


def _decode(name: str, data: bytes, first_line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + data.count(b"\n", 0, error.start)
        raise GraphInputError(f"{name} line {line}: not UTF-8 text (byte {data[error.start]:#04x})") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise GraphInputError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise GraphInputError(f"{path} is a directory, not a file") from None
    except OSError as error:
        raise GraphInputError(f"cannot read {path}: {error.strerror}") from None
