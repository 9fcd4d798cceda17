"""Packing several integer code columns into one sortable int64 key."""

from __future__ import annotations

import numpy as np

# Keep keys well inside int64 so products and +1s never wrap.
_KEY_LIMIT = 2**62


def pack(*columns: np.ndarray) -> np.ndarray:
    """One int64 per row that sorts like the row tuple (lexicographically, first column major).

    Columns are non-negative codes. When the plain product of their ranges would overflow, codes are
    first replaced by their rank among the distinct codes (which keeps the order), so any number of
    rows below 2**31 packs. Keys from different calls are only comparable if no compaction happened:
    pack related arrays together (concatenate, pack, split).
    """
    key = columns[0].astype(np.int64, copy=False)
    for column in columns[1:]:
        key = _pack_two(key, column.astype(np.int64, copy=False))
    return key


def _pack_two(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    if len(major) == 0:
        return major.copy()
    span = int(minor.max()) + 1
    if (int(major.max()) + 1) * span >= _KEY_LIMIT:
        _, major = np.unique(major, return_inverse=True)
        _, minor = np.unique(minor, return_inverse=True)
        span = int(minor.max()) + 1
    return major * span + minor


def run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    is_start = np.empty(len(sorted_keys), dtype=bool)
    is_start[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_start[1:])
    return np.flatnonzero(is_start)


def stable_order(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` for non-negative int64 keys, faster when they are small.

    Packing (key, row) into one uint64 and sorting values is several times faster than a stable
    argsort; it needs key < 2**(64 - row bits), which holds for the codes we build.
    """
    n = len(key)
    row_bits = max(1, int(n).bit_length())
    if n == 0 or int(key.max()) >= 2 ** (64 - row_bits):
        return np.argsort(key, kind="stable")
    packed = (key.astype(np.uint64) << np.uint64(row_bits)) | np.arange(n, dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64(2**row_bits - 1)).astype(np.int64)
