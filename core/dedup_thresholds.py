"""Cosine-distance thresholds for dedup, per embedding model (docs/method.md §4).

Distances mean different things in different vector spaces: two wordings of one value sit at 0.05 for one
model and at 0.7 for another. So the radius within which a value is a candidate for a card, and the DBSCAN
radius of clusters, are chosen per embedding model; ``MGE_DEDUP_MATCH_DISTANCE`` and
``MGE_DEDUP_CLUSTER_EPS`` override them. Embeddings only propose: the judge decides every merge, so a
radius too wide costs judge calls, one too narrow costs missed merges.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Thresholds:
    #: A value this close to a card is a direct candidate for it (the judge is asked).
    match_distance: float
    #: The DBSCAN radius: of the batch job's clusters and of the convergence pass's.
    cluster_eps: float
    #: Where the figures come from.
    source: str


#: The paper's working values (tuned on an earlier embedding model): for a model not listed below.
PAPER = Thresholds(0.10, 0.11, "the paper's working values, for an embedding model not listed")

_OPENAI = (
    "not measured here (no network to run the model): the paper's 0.10 for a direct match at confirmation, and "
    "a wider 0.20 for the clusters of the maintenance passes, whose every merge the judge checks"
)

#: Measured with ``benchmarks/dedup_bench.py`` on hand-written paraphrases and look-alikes: the widest radius
#: at which the set's cards propose at most one pair per two cards (README, "Dedup thresholds").
DEFAULTS: dict[str, Thresholds] = {
    "text-embedding-3-small": Thresholds(0.10, 0.20, _OPENAI),
    "text-embedding-3-large": Thresholds(0.10, 0.20, _OPENAI),
    "wordllama-l2-supercat-256": Thresholds(0.60, 0.60, "benchmarks/dedup_bench.py"),
    "lexical-hash-v1": Thresholds(0.85, 0.85, "benchmarks/dedup_bench.py"),
}


def thresholds_for(model: str) -> Thresholds:
    """The defaults for the embedding model named ``model`` (the paper's values for one not listed)."""
    return DEFAULTS.get(model, PAPER)
