"""Draw docs/digest-example.png: the digest's picture of a generated 100-value, 6-context graph
(tests/digest_graphs.py, seeded, so the same picture every time).

    python benchmarks/digest_example.py [--values 100] [--contexts 6] [--out docs/digest-example.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=100)
    parser.add_argument("--contexts", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "digest-example.png")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bot.digest.picture import graph_png
    from tests.digest_graphs import community_graph

    graph = community_graph(args.values, args.contexts)
    args.out.write_bytes(graph_png(graph, title=f"An example community — {args.values} values, 2026-W47"))
    print(f"{args.out}: {len(graph.values)} values, {len(graph.edges)} edges, {graph.votes_counted} votes")


if __name__ == "__main__":
    main()
