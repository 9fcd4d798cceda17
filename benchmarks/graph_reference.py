"""A straightforward pure-Python moral-graph build (dicts, loops, the csv module; no numpy).

Two jobs: the baseline the benchmark compares ``mge graph build`` against, and an independent second
implementation the tests check the fast one against (ranks equal to 1e-9). It follows docs/method.md §7 and
the decisions of ``core.graph`` (see its docstrings) without sharing any of its code:

* re-votes: a voter's last vote on a story (from, to, context) replaces the earlier ones;
* forward pass then reverse pass; contexts in first-seen order (all forward sightings first);
* wiserLikelihood, entropy (five fields with impressions for mge-2023, four votes for default),
  thresholds; default drops both edges of a disagreeing 2-cycle;
* PageRank with N = every value (``rank_nodes="all_values"``) or only values on an edge
  ("graph_values"); values without an edge in a graph all have the same rank, so one number stands
  for them (otherwise a per-context PageRank would loop over 10,000 idle values 100 times per context);
* rankings per context: scores equal to 40 mantissa bits tie, ties ordered by id as text;
* default: short cycles (the shortest cycle through each not yet covered edge inside a strongly
  connected component, in (source, wiser) value order, at most max_cycles per graph).

Usage: python benchmarks/graph_reference.py --votes V.csv --values V.json [--algorithm A] [--out F]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
from collections import deque
from dataclasses import dataclass

COUNT_FIELDS = ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions")
VOTE_FIELDS = ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure")
CHOICE_FIELD = {"upgrade": "markedWiser", "no_upgrade": "markedNotWiser", "not_sure": "markedUnsure"}


@dataclass(frozen=True)
class Params:
    algorithm: str = "default"
    min_wiser: int = 2
    min_likelihood: float = 0.33
    max_entropy: float = 1.69
    damping: float = 0.85
    iterations: int = 100
    tolerance: float = 1e-10
    max_iterations: int = 1000
    max_cycles: int = 100
    rank_nodes: str = "all_values"


# -- inputs -------------------------------------------------------------------------------------------


def read_values(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as file:
        doc = json.load(file)
    items = doc["values"] if isinstance(doc, dict) else doc
    return [
        {
            "id": str(item["id"]).strip(),
            "title": item["title"].strip(),
            "description": item.get("description") or "",
            "policies": list(item.get("policies") or []),
        }
        for item in items
    ]


def read_votes(path: str) -> list[tuple[str, str, str, str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as file:
        return [
            (
                row["voter_id"].strip(),
                row["from_value_id"].strip(),
                row["to_value_id"].strip(),
                row["context"].strip(),
                row["choice"].strip().lower(),
            )
            for row in csv.DictReader(file)
        ]


# -- counting -----------------------------------------------------------------------------------------


def latest_votes(votes: list[tuple[str, str, str, str, str]]) -> list[tuple[str, str, str, str, str]]:
    last: dict[tuple[str, str, str, str], int] = {}
    for index, (voter, a, b, context, _) in enumerate(votes):
        last[(voter, a, b, context)] = index
    return [votes[index] for index in sorted(last.values())]


def count_pairs(votes: list[tuple[str, str, str, str, str]]) -> dict[tuple[str, str], dict]:
    pairs: dict[tuple[str, str], dict] = {}

    def pair(a: str, b: str) -> dict:
        if (a, b) not in pairs:
            pairs[(a, b)] = {"counts": dict.fromkeys(COUNT_FIELDS, 0), "contexts": []}
        return pairs[(a, b)]

    for _, a, b, context, choice in votes:
        entry = pair(a, b)
        entry["contexts"].append(context)
        entry["counts"]["impressions"] += 1
        entry["counts"][CHOICE_FIELD[choice]] += 1
    for _, a, b, context, choice in votes:
        entry = pair(b, a)
        entry["contexts"].append(context)
        entry["counts"]["impressions"] += 1
        if choice == "upgrade":
            entry["counts"]["markedLessWise"] += 1
    for entry in pairs.values():
        entry["contexts"] = list(dict.fromkeys(entry["contexts"]))
    return pairs


def entropy(counts: dict[str, int], fields: tuple[str, ...]) -> float:
    total = sum(counts[field] for field in fields)
    result = 0.0
    for field in fields:
        p = counts[field] / total if total else 0.0
        if p > 0:
            result -= p * math.log2(p)
    return result


def select_edges(pairs: dict[tuple[str, str], dict], params: Params) -> tuple[list[dict], list[dict]]:
    """(kept edges, dropped 2-cycle edges), each sorted by value position."""
    fields = COUNT_FIELDS if params.algorithm == "mge-2023" else VOTE_FIELDS
    passed = {}
    for (a, b), entry in pairs.items():
        counts = entry["counts"]
        total = sum(counts[field] for field in VOTE_FIELDS)
        likelihood = (counts["markedWiser"] - counts["markedLessWise"]) / total if total else 0.0
        edge_entropy = entropy(counts, fields)
        if (
            counts["markedWiser"] >= params.min_wiser
            and likelihood >= params.min_likelihood
            and edge_entropy <= params.max_entropy
        ):
            passed[(a, b)] = {
                "sourceValueId": a,
                "wiserValueId": b,
                "contexts": entry["contexts"],
                "counts": dict(counts),
                "summary": {"wiserLikelihood": likelihood, "entropy": edge_entropy},
            }
    kept, dropped = [], []
    for (a, b), edge in passed.items():
        if params.algorithm != "mge-2023" and (b, a) in passed:
            dropped.append(edge)
        else:
            kept.append(edge)
    return kept, dropped


# -- PageRank -----------------------------------------------------------------------------------------


def pagerank(edges: list[dict], n_values: int, params: Params) -> tuple[dict[str, float], float | None]:
    """Ranks of the values on an edge, and the rank every other value has (None if unranked)."""
    nodes = list(dict.fromkeys(v for e in edges for v in (e["sourceValueId"], e["wiserValueId"])))
    idle = n_values - len(nodes) if params.rank_nodes == "all_values" else 0
    n = len(nodes) + idle
    if n == 0:
        return {}, None
    out_weight = dict.fromkeys(nodes, 0.0)
    for e in edges:
        out_weight[e["sourceValueId"]] += e["summary"]["wiserLikelihood"]
    d = params.damping
    rank = dict.fromkeys(nodes, 1.0 / n)
    idle_rank = 1.0 / n
    if params.algorithm == "mge-2023":
        for _ in range(params.iterations):
            new = dict.fromkeys(nodes, (1 - d) / n)
            for e in edges:
                s = e["sourceValueId"]
                if out_weight[s] > 0:
                    new[e["wiserValueId"]] += d * rank[s] * e["summary"]["wiserLikelihood"] / out_weight[s]
            rank, idle_rank = new, (1 - d) / n
    else:
        for _ in range(params.max_iterations):
            dangling = sum(rank[v] for v in nodes if out_weight[v] == 0) + idle * idle_rank
            base = d * dangling / n + (1 - d) / n
            new = dict.fromkeys(nodes, base)
            for e in edges:
                s = e["sourceValueId"]
                new[e["wiserValueId"]] += d * rank[s] * e["summary"]["wiserLikelihood"] / out_weight[s]
            change = sum(abs(new[v] - rank[v]) for v in nodes) + idle * abs(base - idle_rank)
            rank, idle_rank = new, base
            if change < n * params.tolerance:
                break
    return rank, (idle_rank if params.rank_nodes == "all_values" else None)


def tie_key(score: float) -> float:
    mantissa, exponent = math.frexp(score)
    return math.ldexp(round(mantissa * 2.0**40), exponent - 40)


# -- cycles -------------------------------------------------------------------------------------------


def strongly_connected(nodes: list[int], successors: dict[int, list[int]]) -> dict[int, int]:
    """Component number of each node (iterative Tarjan)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    component: dict[int, int] = {}
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = successors.get(node, [])
            if child < len(children):
                work.append((node, child + 1))
                nxt = children[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = node
                    if member == node:
                        break
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return component


def short_cycles(edges: list[dict], position: dict[str, int], max_cycles: int) -> list[list[str]]:
    pairs = sorted((position[e["sourceValueId"]], position[e["wiserValueId"]]) for e in edges)
    successors: dict[int, list[int]] = {}
    for a, b in pairs:
        successors.setdefault(a, []).append(b)
    nodes = sorted({v for pair in pairs for v in pair})
    component = strongly_connected(nodes, successors)
    size: dict[int, int] = {}
    for c in component.values():
        size[c] = size.get(c, 0) + 1
    inner = [(a, b) for a, b in pairs if component[a] == component[b] and size[component[a]] > 1]
    inner_successors: dict[int, list[int]] = {}
    for a, b in inner:
        inner_successors.setdefault(a, []).append(b)
    cycles: list[tuple[int, ...]] = []
    covered: set[tuple[int, int]] = set()
    for u, v in inner:
        if len(cycles) >= max_cycles or max_cycles == 0:
            break
        if (u, v) in covered:
            continue
        predecessor = {v: v}
        queue = deque([v])
        while queue:
            node = queue.popleft()
            for nxt in inner_successors.get(node, []):
                if nxt not in predecessor:
                    predecessor[nxt] = node
                    queue.append(nxt)
        path = [u]
        while path[-1] != v:
            path.append(predecessor[path[-1]])
        path.reverse()
        covered.update(zip(path, path[1:] + path[:1]))
        start = path.index(min(path))
        cycles.append(tuple(path[start:] + path[:start]))
    ids = {i: value_id for value_id, i in position.items()}
    return [[ids[v] for v in cycle] for cycle in sorted(cycles, key=lambda c: (len(c), c))]


# -- the build ----------------------------------------------------------------------------------------


def build(values: list[dict], votes: list[tuple[str, str, str, str, str]], params: Params) -> dict:
    """The export document (as ``core.graph.to_interchange`` makes it), without hash."""
    position = {value["id"]: i for i, value in enumerate(values)}
    titles = {value["id"]: value["title"] for value in values}
    counted = latest_votes(votes)

    def by_position(edges: list[dict]) -> list[dict]:
        return sorted(edges, key=lambda e: (position[e["sourceValueId"]], position[e["wiserValueId"]]))

    edges, dropped = select_edges(count_pairs(counted), params)
    edges, dropped = by_position(edges), by_position(dropped)
    ranks, idle_rank = pagerank(edges, len(values), params)

    rankings: dict[str, list[dict]] = {}
    context_cycles: dict[str, list[list[str]]] = {}
    context_dropped: dict[str, list[dict]] = {}
    by_context: dict[str, list] = {}
    for vote in counted:
        by_context.setdefault(vote[3], []).append(vote)
    for context, context_votes in by_context.items():
        context_edges, context_drop = select_edges(count_pairs(context_votes), params)
        context_edges = by_position(context_edges)
        context_ranks, _ = pagerank(context_edges, len(values), params)
        ordered = sorted(context_ranks.items(), key=lambda item: (-tie_key(item[1]), item[0]))
        rankings[context] = [{"id": v, "title": titles[v], "score": score} for v, score in ordered]
        if params.algorithm != "mge-2023":
            if cycles := short_cycles(context_edges, position, params.max_cycles):
                context_cycles[context] = cycles
            if context_drop:
                context_dropped[context] = by_position(context_drop)

    doc = {
        "values": [
            {
                "id": value["id"],
                "title": value["title"],
                "description": value["description"],
                "policies": value["policies"],
                **(
                    {} if ranks.get(value["id"], idle_rank) is None else {"pageRank": ranks.get(value["id"], idle_rank)}
                ),
            }
            for value in values
        ],
        "edges": edges,
        "rankings": rankings,
        "parameters": {
            "algorithm": params.algorithm,
            "minWiser": params.min_wiser,
            "minLikelihood": params.min_likelihood,
            "maxEntropy": params.max_entropy,
            "damping": params.damping,
            "rankNodes": params.rank_nodes,
        },
    }
    if params.algorithm == "mge-2023":
        doc["parameters"]["iterations"] = params.iterations
    else:
        doc["parameters"].update(
            tolerance=params.tolerance, maxIterations=params.max_iterations, maxCycles=params.max_cycles
        )
        doc["cycles"] = short_cycles(edges, position, params.max_cycles)
        doc["droppedEdges"] = dropped
        doc["contextCycles"] = context_cycles
        doc["contextDroppedEdges"] = context_dropped
    return doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", required=True)
    parser.add_argument("--values", required=True)
    parser.add_argument("--algorithm", default="default", choices=["default", "mge-2023"])
    parser.add_argument("--out", default="-")
    args = parser.parse_args(argv)
    doc = build(read_values(args.values), read_votes(args.votes), Params(algorithm=args.algorithm))
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    doc["hash"] = hashlib.sha256(body.encode("utf-8")).hexdigest()
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(text)
    print(f"reference {args.algorithm}: {len(doc['values'])} values, {len(doc['edges'])} edges", file=sys.stderr)


if __name__ == "__main__":
    main()
