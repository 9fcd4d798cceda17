"""Vote counts per ordered value pair — the forward and reverse passes of docs/method.md §7, in numpy.

Every vote on a story A→B (context C) counts twice:

* forward, for the pair (A, B): an impression, plus markedWiser / markedNotWiser / markedUnsure by choice;
* reverse, for the pair (B, A): an impression, plus markedLessWise if the choice was "upgrade".

A pair's contexts are listed in first-seen order, where the reference code pushes every forward
context before any reverse one: so a vote at position i is "seen" at i in the forward pass and at
(number of votes + i) in the reverse pass.

Rather than looping over votes, votes are sorted once by (story, voter): that one sort drops replaced
re-votes and groups the votes of each story, and everything after works on the (much smaller) story
table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.graph.codes import pack, run_starts, stable_order
from core.graph.model import IMPRESSIONS, LESS_WISE, NOT_WISER, UNSURE, WISER
from core.graph.votes import NO_UPGRADE, NOT_SURE, UPGRADE

#: Graph number of the graph over all contexts; context c's graph is number 1 + c.
ALL_CONTEXTS = 0


@dataclass(frozen=True, eq=False)
class PairRows:
    """Counts of ordered value pairs (source, wiser), one row per pair per graph.

    ``graph`` is :data:`ALL_CONTEXTS` or 1 + a context code. ``counts`` columns follow
    ``model.COUNT_FIELDS``. Contexts of row i: ``context_codes[context_offsets[i]:context_offsets[i+1]]``.
    """

    graph: np.ndarray
    source: np.ndarray
    wiser: np.ndarray
    counts: np.ndarray
    context_offsets: np.ndarray
    context_codes: np.ndarray

    def __len__(self) -> int:
        return len(self.graph)

    def take(self, rows: np.ndarray) -> PairRows:
        offsets, codes = _take_ragged(self.context_offsets, self.context_codes, rows)
        return PairRows(self.graph[rows], self.source[rows], self.wiser[rows], self.counts[rows], offsets, codes)


@dataclass(frozen=True, eq=False)
class Stories:
    """Votes grouped by story (from value, to value, context), after re-votes were applied."""

    source: np.ndarray
    target: np.ndarray
    context: np.ndarray
    #: Columns: upgrade, no_upgrade, not_sure votes.
    choices: np.ndarray
    #: Position in the input of the story's earliest counted vote.
    first_seen: np.ndarray
    votes_counted: int
    votes_replaced: int


def group_stories(
    voter: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    context: np.ndarray,
    choice: np.ndarray,
) -> Stories:
    """Apply re-votes (a voter's last vote on a story replaces the earlier ones) and count each story."""
    n = len(voter)
    story = pack(source, target, context)
    order = stable_order(pack(story, voter))
    story_sorted = story[order]
    voter_sorted = voter[order]
    # The stable sort keeps input order among a voter's votes on one story: the last one counts.
    is_last = np.ones(n, dtype=bool)
    if n:
        is_last[:-1] = (story_sorted[1:] != story_sorted[:-1]) | (voter_sorted[1:] != voter_sorted[:-1])
    counted = order[is_last]
    starts = run_starts(story_sorted[is_last])
    is_start = np.zeros(len(counted), dtype=np.int64)
    is_start[starts] = 1
    story_of_vote = np.cumsum(is_start) - 1
    n_stories = len(starts)
    choices = np.bincount(story_of_vote * 3 + choice[counted], minlength=3 * n_stories).reshape(n_stories, 3)
    first_seen = np.minimum.reduceat(counted, starts) if n_stories else np.zeros(0, dtype=np.int64)
    head = counted[starts]
    return Stories(
        source=source[head],
        target=target[head],
        context=context[head],
        choices=choices,
        first_seen=first_seen,
        votes_counted=len(counted),
        votes_replaced=n - len(counted),
    )


def count_pairs(stories: Stories, n_votes: int, *, all_contexts: bool = True) -> PairRows:
    """Pair counts for one graph per context and, if asked, the graph over all contexts."""
    ctx_rows, first_seen = _context_pair_rows(stories, n_votes)
    if not all_contexts:
        return ctx_rows
    return _concat([_merge_contexts(ctx_rows, first_seen), ctx_rows])


def _context_pair_rows(stories: Stories, n_votes: int) -> tuple[PairRows, np.ndarray]:
    """One row per (context, ordered pair): the forward rows of stories plus their reverse rows,
    sorted by (source, wiser, context); and the first sighting of each row."""
    s = stories
    n = len(s.source)
    votes = s.choices.sum(axis=1)
    forward = np.zeros((n, 5), dtype=np.int64)
    forward[:, WISER] = s.choices[:, UPGRADE]
    forward[:, NOT_WISER] = s.choices[:, NO_UPGRADE]
    forward[:, UNSURE] = s.choices[:, NOT_SURE]
    forward[:, IMPRESSIONS] = votes
    reverse = np.zeros((n, 5), dtype=np.int64)
    reverse[:, LESS_WISE] = s.choices[:, UPGRADE]
    reverse[:, IMPRESSIONS] = votes

    a = np.concatenate([s.source, s.target])
    b = np.concatenate([s.target, s.source])
    ctx = np.concatenate([s.context, s.context])
    counts = np.concatenate([forward, reverse])
    first = np.concatenate([s.first_seen, s.first_seen + n_votes])

    # Sorted by (pair, context) and, within one (pair, context), by first sighting.
    key = pack(a, b, ctx)
    order = np.lexsort((first, key))
    starts = run_starts(key[order])
    head = order[starts]
    rows = PairRows(
        graph=1 + ctx[head],
        source=a[head],
        wiser=b[head],
        counts=np.add.reduceat(counts[order], starts, axis=0) if len(starts) else counts[:0],
        context_offsets=np.arange(len(starts) + 1, dtype=np.int64),
        context_codes=ctx[head],
    )
    return rows, first[head]


def _merge_contexts(ctx_rows: PairRows, first_seen: np.ndarray) -> PairRows:
    """Rows of the graph over all contexts: a pair's counts summed over its contexts, contexts
    listed by first sighting. ``ctx_rows`` are sorted by pair, so each pair is one run."""
    pair = pack(ctx_rows.source, ctx_rows.wiser)
    starts = run_starts(pair)
    by_first = np.lexsort((first_seen, pair))
    n = len(starts)
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[:-1] = starts
    offsets[-1] = len(pair)
    return PairRows(
        graph=np.full(n, ALL_CONTEXTS, dtype=np.int64),
        source=ctx_rows.source[starts],
        wiser=ctx_rows.wiser[starts],
        counts=np.add.reduceat(ctx_rows.counts, starts, axis=0) if n else ctx_rows.counts[:0],
        context_offsets=offsets,
        context_codes=ctx_rows.context_codes[by_first],
    )


def _concat(parts: list[PairRows]) -> PairRows:
    if len(parts) == 1:
        return parts[0]
    offsets = [parts[0].context_offsets]
    for part in parts[1:]:
        offsets.append(part.context_offsets[1:] + offsets[-1][-1])
    return PairRows(
        graph=np.concatenate([p.graph for p in parts]),
        source=np.concatenate([p.source for p in parts]),
        wiser=np.concatenate([p.wiser for p in parts]),
        counts=np.concatenate([p.counts for p in parts]),
        context_offsets=np.concatenate(offsets),
        context_codes=np.concatenate([p.context_codes for p in parts]),
    )


def _take_ragged(offsets: np.ndarray, codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Select rows of a ragged (offsets, codes) column."""
    lengths = offsets[1:][rows] - offsets[:-1][rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    # Index of every selected code: each row's start, then consecutive positions within the row.
    starts = np.repeat(offsets[:-1][rows], lengths)
    within = np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1], lengths)
    return new_offsets, codes[starts + within]
