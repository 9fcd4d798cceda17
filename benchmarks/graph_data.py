"""Synthetic, seeded VOTES.csv / VALUES.json for the graph benchmarks.

The distribution is meant to look like a real deployment, so that a good share of stories pass the
edge thresholds and the graph has real structure:

* every value has a hidden "wisdom" score; each context shifts it a little (what is wise when grieving is
  not quite what is wise when deciding), so different contexts rank values differently and the merged
  graph can contain cycles;
* each context has its own candidate values and a set of candidate pairs (its transition stories), and
  each pair is shown in both directions (docs/method.md §6);
* voters mostly agree with the hidden direction, some say "not sure", a few disagree;
* about 1% of votes are re-votes on a story the voter already voted on.

Files are cached under ``benchmarks/.data/`` and regenerated only when missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / ".data"
#: Part of the cached file names: bump it when the generator changes, so stale files are not reused.
DATA_VERSION = 1
N_VALUES = 10_000
N_CONTEXTS = 100
VALUES_PER_CONTEXT = 400
PAIRS_PER_CONTEXT = 600
# Probabilities of (upgrade, no_upgrade, not_sure) for a story shown in its hidden "wiser" direction,
# and for the reverse story.
AGREE = (0.70, 0.18, 0.12)
DISAGREE = (0.12, 0.70, 0.18)
REVOTE_SHARE = 0.01
CHOICES = np.array(["upgrade", "no_upgrade", "not_sure"])


def context_names(n_contexts: int = N_CONTEXTS) -> list[str]:
    # A few contexts contain a comma, as real ones sometimes do, so the CSV has quoted fields.
    names = [f"When facing situation {i:03d}" for i in range(n_contexts)]
    for i in range(0, n_contexts, 25):
        names[i] = f"When grieving, or facing loss {i:03d}"
    return names


def values_document(n_values: int = N_VALUES) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "title": f"Value {i}",
            "description": f"Acting on value {i}.",
            "policies": [f"MOMENTS when value {i} matters", f"CHANGES that value {i} brings"],
        }
        for i in range(1, n_values + 1)
    ]


def generate_votes(n_votes: int, seed: int = 2023) -> dict[str, np.ndarray]:
    """Vote columns as numpy arrays: voter (int), from/to value ids (int), context index, choice str."""
    rng = np.random.default_rng(seed)
    wisdom = rng.normal(size=N_VALUES)
    n_voters = max(50, n_votes // 20)

    # Candidate pairs per context, oriented so that "to" is wiser in that context.
    pair_from, pair_to, pair_ctx = [], [], []
    for ctx in range(N_CONTEXTS):
        members = rng.choice(N_VALUES, size=VALUES_PER_CONTEXT, replace=False)
        local = wisdom[members] + rng.normal(scale=0.6, size=members.size)
        a = rng.integers(0, members.size, size=PAIRS_PER_CONTEXT)
        b = rng.integers(0, members.size, size=PAIRS_PER_CONTEXT)
        keep = a != b
        a, b = a[keep], b[keep]
        wiser_is_b = local[b] > local[a]
        pair_from.append(np.where(wiser_is_b, members[a], members[b]))
        pair_to.append(np.where(wiser_is_b, members[b], members[a]))
        pair_ctx.append(np.full(a.size, ctx))
    p_from = np.concatenate(pair_from)
    p_to = np.concatenate(pair_to)
    p_ctx = np.concatenate(pair_ctx)

    # Popular stories get more votes (a long tail, like real participation).
    popularity = rng.pareto(1.5, size=p_from.size) + 1.0
    n_fresh = n_votes - int(n_votes * REVOTE_SHARE)
    story = rng.choice(p_from.size, size=n_fresh, p=popularity / popularity.sum())
    shown_forward = rng.random(n_fresh) < 0.5
    from_ids = np.where(shown_forward, p_from[story], p_to[story])
    to_ids = np.where(shown_forward, p_to[story], p_from[story])
    ctx = p_ctx[story]
    voter = rng.integers(0, n_voters, size=n_fresh)
    u = rng.random(n_fresh)
    agree_choice = np.searchsorted(np.cumsum(AGREE), u, side="right").clip(0, 2)
    disagree_choice = np.searchsorted(np.cumsum(DISAGREE), u, side="right").clip(0, 2)
    choice = np.where(shown_forward, agree_choice, disagree_choice)

    # Re-votes: the same voter on the same story, with a fresh (possibly different) choice.
    n_re = n_votes - n_fresh
    again = rng.integers(0, n_fresh, size=n_re)
    columns = {
        "voter": np.concatenate([voter, voter[again]]),
        "from": np.concatenate([from_ids, from_ids[again]]) + 1,
        "to": np.concatenate([to_ids, to_ids[again]]) + 1,
        "context": np.concatenate([ctx, ctx[again]]),
        "choice": np.concatenate([choice, rng.integers(0, 3, size=n_re)]),
    }
    # Re-votes arrive later than the vote they replace; spread them over the second half of the file.
    order = np.argsort(np.concatenate([np.arange(n_fresh), again + rng.integers(1, n_fresh, size=n_re)]), kind="stable")
    return {name: column[order] for name, column in columns.items()}


def _csv_field(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_votes_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    contexts = [_csv_field(name) for name in context_names()]
    lines = ["voter_id,from_value_id,to_value_id,context,choice"]
    voters = [f"member-{v}" for v in columns["voter"].tolist()]
    lines.extend(
        f"{voter},{a},{b},{contexts[c]},{CHOICES[k]}"
        for voter, a, b, c, k in zip(
            voters,
            columns["from"].tolist(),
            columns["to"].tolist(),
            columns["context"].tolist(),
            columns["choice"].tolist(),
        )
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def ensure_dataset(n_votes: int, data_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    """Return (votes_csv, values_json) for ``n_votes`` votes, generating them on first use."""
    data_dir.mkdir(parents=True, exist_ok=True)
    values_path = data_dir / f"values_{N_VALUES}_v{DATA_VERSION}.json"
    votes_path = data_dir / f"votes_{n_votes}_v{DATA_VERSION}.csv"
    if not values_path.exists():
        values_path.write_text(json.dumps({"values": values_document()}), encoding="utf-8")
    if not votes_path.exists():
        tmp = votes_path.with_suffix(".tmp")
        write_votes_csv(tmp, generate_votes(n_votes))
        tmp.replace(votes_path)
    return votes_path, values_path
