"""Ordering values by score, with ties broken the same way on every machine.

Scores equal to about 12 significant digits (40 bits of mantissa) count as tied, so that two values
in symmetric positions tie even when float rounding in a sparse product differs in the last bit; tied
values are ordered by id, compared as text ("10" sorts before "9").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_MANTISSA_BITS = 40


def tie_key(scores: np.ndarray | Sequence[float]) -> np.ndarray:
    """``scores`` rounded to 40 bits of mantissa: the number that decides order before ids do."""
    mantissa, exponent = np.frexp(np.asarray(scores, dtype=np.float64))
    return np.ldexp(np.round(mantissa * 2.0**_MANTISSA_BITS), exponent - _MANTISSA_BITS)


def id_ranks(ids: Sequence[str]) -> np.ndarray:
    """Position of each id in text order."""
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
    return ranks


def best_first(group: np.ndarray, scores: np.ndarray, id_rank: np.ndarray) -> np.ndarray:
    """Order of the rows: by group, then score descending, then id (``id_rank`` of each row)."""
    return np.lexsort((id_rank, -tie_key(scores), group))
