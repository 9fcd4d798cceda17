"""A seeded community-sized moral graph for the digest's picture: values with titles of real lengths
(two words to a long sentence), spread over a few contexts, voted on mostly along a hidden order of
wisdom per context, with a few planted cycles through the top values.

``benchmarks/digest_example.py`` draws the picture in docs/ from it.
"""

from __future__ import annotations

import random

from core.graph import GraphParams, MoralGraph, Value, Vote, build_moral_graph

CONTEXTS = (
    "When a friend is grieving",
    "When a child asks a hard question about death, illness or why people are unkind",
    "When a colleague is struggling",
    "When deciding for someone who cannot decide",
    "When the community disagrees about a rule",
    "When someone asks for advice they may not like",
    "When a stranger needs help late at night",
    "When money is tight at home",
)
_WORDS = [
    "honest",
    "care",
    "attention",
    "patience",
    "curiosity",
    "courage",
    "humility",
    "presence",
    "trust",
    "respect",
    "gentleness",
    "candour",
    "steadiness",
    "warmth",
    "fairness",
    "dignity",
    "listening",
    "clarity",
    "restraint",
    "generosity",
    "autonomy",
    "belonging",
    "playfulness",
    "responsibility",
    "forgiveness",
    "wonder",
    "loyalty",
    "openness",
    "discretion",
]
_PHRASES = (
    "for what they actually ask",
    "without rushing to fix things",
    "that leaves room for their own pace",
    "in the small daily moments",
    "even when it costs me something",
    "toward people I do not yet understand",
    "so that they can choose for themselves",
)


def _title(rng: random.Random) -> str:
    words = [w.capitalize() for w in rng.sample(_WORDS, rng.choice((1, 2, 2, 3)))]
    title = " and ".join(words) if len(words) == 2 and rng.random() < 0.5 else " ".join(words)
    if rng.random() < 0.45:
        title += " " + rng.choice(_PHRASES)
    if rng.random() < 0.12:
        title += ", " + rng.choice(_PHRASES) + " " + rng.choice(_PHRASES)
    return title


def community_graph(n_values: int = 100, n_contexts: int = 6, *, seed: int = 14, cycles: bool = True) -> MoralGraph:
    """``n_values`` values over ``n_contexts`` contexts (at most ``len(CONTEXTS)``), every value in
    at least one context; with ``cycles``, a 3-cycle planted through the best value of every other context."""
    rng = random.Random(seed)
    values = [Value(str(i), _title(rng)) for i in range(1, n_values + 1)]
    ids = [v.id for v in values]
    contexts = CONTEXTS[:n_contexts]
    members: dict[str, list[str]] = {c: [] for c in contexts}
    for i, value_id in enumerate(rng.sample(ids, len(ids))):
        members[contexts[i % len(contexts)]].append(value_id)
    for context in contexts:  # values are shared between contexts too
        extra = [v for v in ids if v not in members[context]]
        members[context] += rng.sample(extra, min(len(extra), max(2, n_values // (2 * n_contexts))))
    votes: list[Vote] = []
    voter = 0

    def story(a: str, b: str, context: str, upgrades: int, others: int) -> None:
        nonlocal voter
        for n in range(upgrades + others):
            voter += 1
            choice = "upgrade" if n < upgrades else rng.choice(("no_upgrade", "not_sure"))
            votes.append(Vote(f"voter{voter % 40}", a, b, context, choice))  # type: ignore[arg-type]

    for c, context in enumerate(contexts):
        # The hidden order: a context's members from least to most wise.
        order = members[context]
        rng.shuffle(order)
        # Two values kept out of the hidden order, for the cycle: no other story between them and the best.
        spare = [order.pop(0), order.pop(0)] if cycles and c % 2 == 0 and len(order) >= 5 else []
        for i, lower in enumerate(order):
            for higher in rng.sample(order[i + 1 : i + 6], min(len(order) - i - 1, rng.choice((1, 2, 2, 3)))):
                story(lower, higher, context, rng.randint(3, 8), rng.randint(0, 2))
        if spare:
            # The best was voted wiser than the first spare, the second spare wiser than the best, and
            # the first spare wiser than the second: a cycle.
            first, second, best = *spare, order[-1]
            story(first, best, context, 6, 0)
            story(best, second, context, 5, 1)
            story(second, first, context, 6, 0)
    return build_moral_graph(values, votes, GraphParams())
