"""Integer codes for byte strings without a Python loop: how ``mge graph build`` turns a million CSV fields
into categorical columns (see :mod:`bot.graph.files`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

_WORD = 8
# Low-byte masks: _KEEP_BYTES[k] keeps the first k bytes of a little-endian word.
_KEEP_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_ROW_BITS = 24
_MAX_CACHED_BYTES = 256 * 2**20


def factorize_fields(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for byte strings ``data[start:start+length]``: equal strings get equal codes,
    numbered in order of first appearance; also the index of each code's first row.

    Strings are read as 8-byte words and hashed to one uint64; one sort groups equal hashes. Groups
    are then checked word for word, and on a hash collision (never seen, but possible) an exact
    multi-word sort is used instead. ``data`` must extend at least ``max(lengths) + 8`` bytes past
    every start.
    """
    n = len(starts)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_words = max(1, -(-int(lengths.max()) // _WORD))
    # Every byte offset as the start of a little-endian 8-byte word (overlapping, no copy).
    word_at = np.ndarray(shape=(len(data) - _WORD + 1,), dtype="<u8", buffer=data, strides=(1,))

    def word(w: int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Word ``w`` of the given rows, bytes past the end of each string zeroed."""
        return word_at[starts[rows] + _WORD * w] & _KEEP_BYTES[np.clip(lengths[rows] - _WORD * w, 0, _WORD)]

    key = lengths.astype(np.uint64)
    if n_words == 1 and int(lengths.max()) < _WORD:
        # Up to 7 bytes and the length fit in one word exactly: no hashing, no collisions.
        return _group(word(0) | (key << np.uint64(56)))
    # Keep the words for the check below unless that would take a lot of memory (very long fields).
    keep_words = n * n_words * _WORD <= _MAX_CACHED_BYTES
    cached = []
    for w in range(n_words):
        words = word(w)
        key = key * _MULTIPLIER + words
        if keep_words:
            cached.append(words)
    codes, first = _group(key)
    representative = first[codes]
    if np.array_equal(lengths, lengths[representative]) and all(
        np.array_equal(words, words[representative]) if keep_words else np.array_equal(word(w), word(w, representative))
        for w, words in itertools.zip_longest(range(n_words), cached)
    ):
        return codes, first
    exact = np.lexsort([lengths] + [word(w) for w in reversed(range(n_words))])

    def differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (lengths[a] != lengths[b]) | np.any([word(w, a) != word(w, b) for w in range(n_words)], axis=0)

    return _group_sorted(exact, n, differs)


def _group(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes from a per-row key: rows with equal keys share a code."""
    n = len(key)
    if n < 2**_ROW_BITS:
        # Sorting (hash, row) packed in one uint64 is several times faster than argsort and is
        # stable. 40 bits of hash can collide, which only costs the exact path in the caller.
        packed = ((key * _MULTIPLIER) >> np.uint64(_ROW_BITS)) << np.uint64(_ROW_BITS)
        packed |= np.arange(n, dtype=np.uint64)
        packed.sort()
        order = (packed & np.uint64(2**_ROW_BITS - 1)).astype(np.int64)
        sorted_key = packed >> np.uint64(_ROW_BITS)
    else:
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
    return _group_sorted(order, n, lambda a, b: sorted_key[1:] != sorted_key[:-1])


def _group_sorted(
    order: np.ndarray, n: int, differs: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Codes in first-seen order from rows sorted so that equal strings are adjacent."""
    is_new = np.ones(n, dtype=bool)
    is_new[1:] = differs(order[1:], order[:-1])
    # Sorts are stable, so a group's first row in sorted order is its first row in the file.
    first = order[is_new]
    group = np.cumsum(is_new) - 1
    # Renumber groups by first appearance so codes (and so context order) follow the file.
    by_appearance = np.argsort(first)
    renumber = np.empty(len(first), dtype=np.int64)
    renumber[by_appearance] = np.arange(len(first))
    codes = np.empty(n, dtype=np.int64)
    codes[order] = renumber[group]
    return codes, first[by_appearance]
