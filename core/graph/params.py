"""Settings of a moral-graph build (docs/method.md §7). Plain data, so the bot's settings can feed them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Algorithm = Literal["mge-2023", "default"]
ALGORITHMS: tuple[Algorithm, ...] = ("default", "mge-2023")
#: Which values PageRank runs over. "all_values": every value given, voted on or not (N = all
#: values). "graph_values": only values touching a kept edge of the graph being ranked, which is
#: what the published reference implementation does; values outside the graph then have no rank.
RankNodes = Literal["all_values", "graph_values"]
RANK_NODES: tuple[RankNodes, ...] = ("all_values", "graph_values")


@dataclass(frozen=True, slots=True)
class GraphParams:
    #: "mge-2023" reproduces the paper's reference code, quirks included; "default" fixes them.
    algorithm: Algorithm = "default"
    #: An edge needs at least this many "wiser" votes...
    min_wiser: int = 2
    #: ...a wiserLikelihood of at least this...
    min_likelihood: float = 0.33
    #: ...and a vote entropy (bits) of at most this.
    max_entropy: float = 1.69
    damping: float = 0.85
    #: mge-2023 only: exactly this many PageRank iterations, as the reference code.
    iterations: int = 100
    #: default only: stop when the L1 change of the ranks is below N × tolerance (networkx's rule)...
    #: networkx's own 1e-6 is far too loose when N counts thousands of values without edges (the
    #: L1 budget N × 1e-6 dwarfs the rank held by a context's few values: 18 of 100 winners changed
    #: on the 1M-vote benchmark). 1e-10 gives winners identical to a fully converged run.
    tolerance: float = 1e-10
    #: ...or after this many iterations (networkx's max_iter; it would raise, we flag it).
    max_iterations: int = 1000
    #: default only: report at most this many cycles per graph (cycles can be exponentially many).
    max_cycles: int = 100
    rank_nodes: RankNodes = "all_values"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}")
        if self.rank_nodes not in RANK_NODES:
            raise ValueError(f"rank_nodes must be one of {', '.join(RANK_NODES)}, not {self.rank_nodes!r}")
        # An edge without a single "wiser" vote is never kept by the reference code either.
        if not (isinstance(self.min_wiser, int) and self.min_wiser >= 1):
            raise ValueError(f"min_wiser must be a whole number ≥ 1, not {self.min_wiser!r}")
        # Negative likelihoods would be negative PageRank weights.
        if not 0.0 <= self.min_likelihood <= 1.0:
            raise ValueError(f"min_likelihood must be between 0 and 1, not {self.min_likelihood!r}")
        if not (math.isfinite(self.max_entropy) and self.max_entropy >= 0.0):
            raise ValueError(f"max_entropy must be ≥ 0, not {self.max_entropy!r}")
        if not 0.0 < self.damping < 1.0:
            raise ValueError(f"damping must be between 0 and 1 (exclusive), not {self.damping!r}")
        if not (isinstance(self.iterations, int) and self.iterations >= 1):
            raise ValueError(f"iterations must be a whole number ≥ 1, not {self.iterations!r}")
        if not (isinstance(self.max_iterations, int) and self.max_iterations >= 1):
            raise ValueError(f"max_iterations must be a whole number ≥ 1, not {self.max_iterations!r}")
        if not self.tolerance > 0.0:
            raise ValueError(f"tolerance must be > 0, not {self.tolerance!r}")
        if not (isinstance(self.max_cycles, int) and self.max_cycles >= 0):
            raise ValueError(f"max_cycles must be a whole number ≥ 0, not {self.max_cycles!r}")

    @property
    def paper_compatible(self) -> bool:
        return self.algorithm == "mge-2023"

    def to_json(self) -> dict[str, object]:
        """The parameters block of the export: only the settings that affected the result."""
        doc: dict[str, object] = {
            "algorithm": self.algorithm,
            "minWiser": self.min_wiser,
            "minLikelihood": self.min_likelihood,
            "maxEntropy": self.max_entropy,
            "damping": self.damping,
            "rankNodes": self.rank_nodes,
        }
        if self.paper_compatible:
            doc["iterations"] = self.iterations
        else:
            doc.update(tolerance=self.tolerance, maxIterations=self.max_iterations, maxCycles=self.max_cycles)
        return doc
