"""From pair counts to edges: wiserLikelihood, entropy, the thresholds, disagreeing 2-cycles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.graph.codes import pack
from core.graph.counts import PairRows
from core.graph.model import IMPRESSIONS, LESS_WISE, NOT_WISER, UNSURE, WISER
from core.graph.params import GraphParams

# The reference code takes entropy over its counts object in insertion order; summing the terms in
# the same order keeps our floats identical to its floats, not merely close.
_VOTE_FIELDS = (WISER, NOT_WISER, LESS_WISE, UNSURE)
_VOTE_AND_IMPRESSION_FIELDS = (WISER, NOT_WISER, LESS_WISE, UNSURE, IMPRESSIONS)


@dataclass(frozen=True, eq=False)
class EdgeSelection:
    rows: PairRows
    wiser_likelihood: np.ndarray
    entropy: np.ndarray
    #: Rows that are edges of their graph.
    kept: np.ndarray
    #: Rows that passed the thresholds but were dropped as half of a disagreeing 2-cycle.
    dropped: np.ndarray


def wiser_likelihood(counts: np.ndarray) -> np.ndarray:
    """(wiser − lessWise) / (wiser + notWiser + unsure + lessWise); 0 for a pair with impressions only."""
    total = counts[:, list(_VOTE_FIELDS)].sum(axis=1)
    net = (counts[:, WISER] - counts[:, LESS_WISE]).astype(np.float64)
    return np.divide(net, total, out=np.zeros(len(counts)), where=total > 0)


def entropy_bits(counts: np.ndarray, fields: tuple[int, ...]) -> np.ndarray:
    """Shannon entropy (bits) of the distribution given by the chosen count columns; zeros skipped."""
    columns = counts[:, list(fields)].astype(np.float64)
    total = columns.sum(axis=1)
    entropy = np.zeros(len(counts))
    for j in range(len(fields)):
        p = np.divide(columns[:, j], total, out=np.zeros(len(counts)), where=total > 0)
        safe = np.where(p > 0, p, 1.0)
        entropy -= np.where(p > 0, p * np.log2(safe), 0.0)
    return entropy


def select_edges(rows: PairRows, params: GraphParams) -> EdgeSelection:
    likelihood = wiser_likelihood(rows.counts)
    # mge-2023 keeps the reference code's quirk: impressions count as if they were a fifth answer.
    fields = _VOTE_AND_IMPRESSION_FIELDS if params.paper_compatible else _VOTE_FIELDS
    entropy = entropy_bits(rows.counts, fields)
    passed = (
        (rows.counts[:, WISER] >= params.min_wiser)
        & (likelihood >= params.min_likelihood)
        & (entropy <= params.max_entropy)
    )
    dropped = np.zeros(len(rows), dtype=bool)
    if not params.paper_compatible:
        dropped = passed & _reverse_also(rows, passed)
    return EdgeSelection(rows, likelihood, entropy, kept=passed & ~dropped, dropped=dropped)


def _reverse_also(rows: PairRows, passed: np.ndarray) -> np.ndarray:
    """Rows whose reverse pair (same graph) also passed.

    With min_likelihood > 0 this never happens — A→B and B→A have opposite likelihoods — so the
    check only matters when the threshold is set to 0.
    """
    n = len(rows)
    both = pack(
        np.concatenate([rows.graph, rows.graph]),
        np.concatenate([rows.source, rows.wiser]),
        np.concatenate([rows.wiser, rows.source]),
    )
    forward, reverse = both[:n], both[n:]
    return np.isin(reverse, forward[passed])
