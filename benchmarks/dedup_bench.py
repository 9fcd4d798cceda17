"""The dedup candidate stage per embedder: pairwise precision and recall at several cosine-distance
thresholds, on the hand-written labelled pairs in ``benchmarks/dedup_pairs.json`` (same value reworded,
or a different value that looks alike).

A pair counts as *proposed* when the cosine distance of the two cards' policies (``policies_text``, what
the bot embeds) is at most the threshold. Precision: the share of proposed pairs that are the same value;
recall: the share of same-value pairs proposed. Measured two ways: on the labelled pairs only (every
negative a deliberate look-alike: the hard case), and on every pair of the set's distinct cards (the
labelled same-value pairs against all the others, look-alikes and unrelated: closer to a community).

The judge decides after this stage, so recall matters more (a pair not proposed is never judged) and
precision is the judge's workload. The *suggested* radius per embedder is the widest on the grid at which
the all-pairs set proposes at most one pair per two cards (``LOAD``): as much recall as that judge load
buys. The defaults in ``core.dedup_thresholds`` come from it.

Runs the embedders available offline: the hashed-words ``LexicalEmbedder`` and, when the
``offline-embeddings`` extra is installed, ``WordLlamaEmbedder``. The OpenAI models need the network.

    python benchmarks/dedup_bench.py          # prints the table
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import support  # noqa: E402,F401  (puts the repository root on sys.path)

from core.embeddings import cosine_distances, policies_text  # noqa: E402

PAIRS = HERE / "dedup_pairs.json"
THRESHOLDS = tuple(round(0.05 * n, 2) for n in range(1, 20))
#: Proposed pairs per card the suggested radius may cost at most (all-pairs set).
LOAD = 0.5


class _Card:
    def __init__(self, card: dict) -> None:
        self.policies = card["policies"]


def embedders() -> list[Any]:
    from adapters.embeddings import LexicalEmbedder, WordLlamaEmbedder

    found: list[Any] = [LexicalEmbedder()]
    with contextlib.suppress(RuntimeError):  # the offline-embeddings extra is not installed
        found.append(WordLlamaEmbedder())
    return found


async def distances(embedder: Any, pairs: list[dict]) -> list[float]:
    left = (await embedder.embed([policies_text(_Card(p["a"])) for p in pairs])).vectors
    right = (await embedder.embed([policies_text(_Card(p["b"])) for p in pairs])).vectors
    return [float(cosine_distances(left[i : i + 1], right[i : i + 1])[0, 0]) for i in range(len(pairs))]


def scores(found: list[float], labels: list[bool], threshold: float) -> dict[str, float | None]:
    proposed = [same for distance, same in zip(found, labels) if distance <= threshold]
    hits = sum(proposed)
    return {
        "threshold": threshold,
        "proposed": len(proposed),
        "precision": hits / len(proposed) if proposed else None,
        "recall": hits / sum(labels),
    }


def distinct_cards(pairs: list[dict]) -> tuple[list[str], set[frozenset[int]]]:
    """The set's distinct policy texts, and which pairs of them are labelled one value."""
    texts: list[str] = []
    index: dict[str, int] = {}

    def key(card: dict) -> int:
        text = policies_text(_Card(card))
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    same = {frozenset((key(p["a"]), key(p["b"]))) for p in pairs if p["label"] == "same"}
    for p in pairs:
        key(p["b"])
    return texts, same


async def all_pair_distances(
    embedder: Any, texts: list[str], same: set[frozenset[int]]
) -> tuple[list[float], list[bool]]:
    vectors = (await embedder.embed(texts)).vectors
    matrix = cosine_distances(vectors, vectors)
    found, labels = [], []
    for i, j in itertools.combinations(range(len(texts)), 2):
        found.append(float(matrix[i, j]))
        labels.append(frozenset((i, j)) in same)
    return found, labels


def auc(found: list[float], labels: list[bool]) -> float:
    """The chance that a same-value pair is closer than a different one (0.5: no better than a coin)."""
    same = [d for d, s in zip(found, labels) if s]
    other = [d for d, s in zip(found, labels) if not s]
    return sum((a < b) + 0.5 * (a == b) for a in same for b in other) / (len(same) * len(other))


async def measure() -> dict[str, Any]:
    pairs = json.loads(PAIRS.read_text())["pairs"]
    labels = [p["label"] == "same" for p in pairs]
    texts, same_pairs = distinct_cards(pairs)
    result: dict[str, Any] = {"pairs": len(pairs), "same": sum(labels), "cards": len(texts), "embedders": {}}
    for embedder in embedders():
        found = await distances(embedder, pairs)
        same = sorted(d for d, s in zip(found, labels) if s)
        different = sorted(d for d, s in zip(found, labels) if not s)
        every, every_labels = await all_pair_distances(embedder, texts, same_pairs)
        at_all = [scores(every, every_labels, t) for t in THRESHOLDS]
        affordable = [row["threshold"] for row in at_all if row["proposed"] <= LOAD * len(texts)]
        result["embedders"][embedder.model] = {
            "same_distance": {"min": same[0], "median": same[len(same) // 2], "max": same[-1]},
            "different_distance": {"min": different[0], "median": different[len(different) // 2], "max": different[-1]},
            "auc_labelled": auc(found, labels),
            "auc_all_pairs": auc(every, every_labels),
            "at": [scores(found, labels, t) for t in THRESHOLDS],
            "at_all_pairs": at_all,
            "suggested": max(affordable) if affordable else None,
        }
    return result


def table(result: dict[str, Any]) -> str:
    def cell(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    lines = [
        f"{result['pairs']} labelled pairs ({result['same']} same value, {result['pairs'] - result['same']} "
        f"look-alike); all pairs of their {result['cards']} distinct cards",
        "",
        "| embedder | distance ≤ | labelled: proposed | precision | recall "
        "| all pairs: proposed | precision | recall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, found in result["embedders"].items():
        for row, every in zip(found["at"], found["at_all_pairs"]):
            if every["proposed"] == 0 or row["threshold"] * 100 % 10:
                continue  # every 0.10, from where anything is proposed
            lines.append(
                f"| {model} | {row['threshold']:.2f} | {row['proposed']} | {cell(row['precision'])} | "
                f"{cell(row['recall'])} | {every['proposed']} | {cell(every['precision'])} | {cell(every['recall'])} |"
            )
    for model, found in result["embedders"].items():
        s, d = found["same_distance"], found["different_distance"]
        lines.append(
            f"\n{model}: same-value pairs at {s['min']:.2f}–{s['max']:.2f} (median {s['median']:.2f}), "
            f"look-alikes at {d['min']:.2f}–{d['max']:.2f} (median {d['median']:.2f}); AUC {found['auc_labelled']:.2f} "
            f"on the labelled pairs, {found['auc_all_pairs']:.2f} on all pairs; suggested radius "
            f"{cell(found['suggested'])}"
        )
    return "\n".join(lines)


def main() -> None:
    print(table(asyncio.run(measure())))


if __name__ == "__main__":
    main()
