"""The digest's picture at community sizes (10 to 150 values): every top value drawn, no two labels
overlapping (read from the drawn artists through matplotlib's renderer), cycles marked, and what is
not drawn counted right; and the cycles beside the top values in the digest's text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import combinations

import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from adapters.discord.digest import digest_message
from adapters.slack.digest import digest_blocks
from bot.digest.picture import draw_graph_picture, graph_png
from bot.digest.picture_content import MAX_CYCLE_LENGTH, MAX_PANELS
from core.digest import TOP_VALUES, build_digest_from_graph, digest_markdown
from core.graph import GraphParams, MoralGraph, Value, Vote, build_moral_graph
from tests.digest_graphs import community_graph

START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def drawn(figure: Figure):
    """The figure drawn once; its texts, its arrows and the renderer that measured them."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    (ax,) = figure.axes
    texts = [t for t in ax.texts if t.get_text()]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    return texts, arrows, renderer


def extent(text: Text, renderer) -> Bbox:
    """What a reader sees of a label: its box when it has one, else the text itself."""
    patch = text.get_bbox_patch()
    return patch.get_window_extent(renderer) if patch is not None else text.get_window_extent(renderer)


def overlapping(boxes: list[tuple[str, Bbox]]) -> list[tuple[str, str]]:
    found = []
    for (a, x), (b, y) in combinations(boxes, 2):
        if min(x.x1, y.x1) - max(x.x0, y.x0) > 0.5 and min(x.y1, y.y1) - max(x.y0, y.y0) > 0.5:
            found.append((a, b))
    return found


def panels_of(texts: list[Text]) -> dict[int, set[str]]:
    """Drawn value ids per panel, from the labels' gids (``value:<panel>:<id>``)."""
    values: dict[int, set[str]] = {}
    for text in texts:
        kind, _, rest = (text.get_gid() or "").partition(":")
        if kind == "value":
            panel, _, value_id = rest.partition(":")
            values.setdefault(int(panel), set()).add(value_id)
    return values


def arrows_of(arrows: list[FancyArrowPatch], kind: str) -> dict[int, set[tuple[str, str]]]:
    found: dict[int, set[tuple[str, str]]] = {}
    for arrow in arrows:
        gid = arrow.get_gid() or ""
        if gid.startswith(kind + ":"):
            _, panel, pair = gid.split(":", 2)
            source, wiser = pair.split(">")
            found.setdefault(int(panel), set()).add((source, wiser))
    return found


def ranked_contexts(graph: MoralGraph):
    return [c for c in graph.contexts.values() if c.ranking]


@pytest.mark.parametrize(("n_values", "n_contexts"), [(10, 2), (50, 4), (100, 6), (150, 8)])
def test_no_two_labels_overlap_and_every_top_value_is_drawn(n_values: int, n_contexts: int):
    graph = community_graph(n_values, n_contexts)
    texts, _, renderer = drawn(draw_graph_picture(graph, title="Riverside — 2026-W47"))
    boxes = [(t.get_gid() or t.get_text(), extent(t, renderer)) for t in texts]
    assert overlapping(boxes) == []
    width, height = renderer.width, renderer.height
    assert all(b.x0 >= 0 and b.y0 >= 0 and b.x1 <= width and b.y1 <= height for _, b in boxes)

    contexts = ranked_contexts(graph)
    drawn_values = panels_of(texts)
    assert len(drawn_values) == min(len(contexts), MAX_PANELS)
    for i, context in enumerate(contexts[:MAX_PANELS]):
        assert {r.id for r in context.ranking[:TOP_VALUES]} <= drawn_values[i], context.context


def test_the_panels_follow_the_given_order_of_contexts():
    graph = community_graph(50, 4)
    order = list(reversed(list(graph.contexts)))
    texts, _, _ = drawn(draw_graph_picture(graph, title="t", contexts=order))
    headings = {t.get_gid(): " ".join(t.get_text().split()) for t in texts}
    # A heading is the context's text, wrapped and perhaps cut with "…".
    assert all(order[i].startswith(headings[f"context:{i}"].rstrip("…")) for i in range(4))
    assert headings["context:0"] != headings["context:1"]


def test_cycles_through_top_values_are_drawn_whole_dashed_and_in_the_key():
    graph = community_graph(100, 6)
    texts, arrows, _ = drawn(draw_graph_picture(graph, title="t"))
    cycle_arrows = arrows_of(arrows, "cycle")
    planted = 0
    for i, context in enumerate(ranked_contexts(graph)[:MAX_PANELS]):
        top = {r.id for r in context.ranking[:TOP_VALUES]}
        through_top = [c for c in context.cycles if top & set(c) and len(c) <= MAX_CYCLE_LENGTH]
        if not through_top:
            assert i not in cycle_arrows
            continue
        planted += 1
        first = through_top[0]
        assert set(zip(first, first[1:] + first[:1])) <= cycle_arrows[i]
    assert planted >= 2  # the generator plants one in every other context
    styles = {(a.get_linestyle(), a.get_edgecolor()) for a in arrows if (a.get_gid() or "").startswith("cycle:")}
    plain = {(a.get_linestyle(), a.get_edgecolor()) for a in arrows if (a.get_gid() or "").startswith("arrow:")}
    assert styles and plain and not styles & plain
    assert any(a.get_gid() == "legend:cycle" for a in arrows)

    quiet = community_graph(100, 6, cycles=False)
    assert not any(c.cycles for c in quiet.contexts.values())
    _, arrows, _ = drawn(draw_graph_picture(quiet, title="t"))
    assert not arrows_of(arrows, "cycle") and not any(a.get_gid() == "legend:cycle" for a in arrows)


HIDDEN = re.compile(r"and (\d+) more values?, (\d+) edges? \((\d+) votes?\) not drawn")
ALL = re.compile(r"all (\d+) values? drawn(?:; not drawn: (\d+) edges? \((\d+) votes?\))?")


@pytest.mark.parametrize(("n_values", "n_contexts"), [(10, 2), (100, 6), (150, 8)])
def test_what_is_not_drawn_is_counted_right(n_values: int, n_contexts: int):
    graph = community_graph(n_values, n_contexts)
    texts, arrows, _ = drawn(draw_graph_picture(graph, title="t"))
    notes = {t.get_gid(): " ".join(t.get_text().split()) for t in texts}
    values, drawn_arrows = panels_of(texts), {}
    for kind in ("arrow", "cycle"):
        for panel, pairs in arrows_of(arrows, kind).items():
            drawn_arrows.setdefault(panel, set()).update(pairs)
    contexts = ranked_contexts(graph)
    votes_drawn = 0
    for i, context in enumerate(contexts[:MAX_PANELS]):
        edges = list(context.edges)
        shown = drawn_arrows.get(i, set())
        votes_drawn += sum(e.counts.impressions for e in edges if (e.source_id, e.wiser_id) in shown)
        hidden_votes = sum(e.counts.impressions for e in edges if (e.source_id, e.wiser_id) not in shown)
        expected = (len(context.ranking) - len(values[i]), len(edges) - len(shown), hidden_votes)
        note = notes[f"hidden:{i}"]
        if match := HIDDEN.fullmatch(note):
            assert tuple(map(int, match.groups())) == expected, note
        else:
            match = ALL.fullmatch(note)
            assert match is not None and expected[0] == 0, note
            assert int(match[1]) == len(context.ranking)
            assert (int(match[2] or 0), int(match[3] or 0)) == expected[1:], note

    summary = notes["not-drawn"]
    distinct = set().union(*values.values())
    assert summary.startswith(
        f"Drawn: {len(distinct)} of {n_values} values and the {votes_drawn} votes behind the arrows"
    )
    if len(distinct) < n_values:
        assert f"{n_values - len(distinct)} more value" in summary
    assert f"{graph.votes_counted - votes_drawn} vote" in summary
    left_out = [c.context for c in contexts[MAX_PANELS:]]
    if left_out:
        assert f"{len(left_out)} more context" in summary and all(name in summary for name in left_out)
    else:
        assert "more context" not in summary


def test_the_picture_is_the_same_bytes_for_the_same_graph():
    graph = community_graph(100, 6)
    assert graph_png(graph, title="t") == graph_png(community_graph(100, 6), title="t")


# --- cycles in the digest's text ------------------------------------------------------------------------

TRICKY = "@everyone *Care*"


def cycle_graph() -> MoralGraph:
    """A, B and C in a cycle in one context (B wiser than A, C than B, A than C), D below A."""
    values = [Value("A", TRICKY), Value("B", "Patience"), Value("C", "Candour"), Value("D", "Obedience")]
    votes = [
        Vote(f"u{n}", source, wiser, "When a friend is grieving", "upgrade")
        for source, wiser in (("A", "B"), ("B", "C"), ("C", "A"), ("D", "A"))
        for n in range(4)
    ]
    return build_moral_graph(values, votes, GraphParams())


def test_the_digest_text_lists_the_cycles_beside_the_top_values_they_touch():
    graph = cycle_graph()
    (context,) = graph.contexts.values()
    assert context.cycles == (("A", "B", "C"),)
    digest, _ = build_digest_from_graph(
        graph, community="Riverside", period="2026-W47", since=START, until=START + timedelta(days=7)
    )
    ((_, ctx),) = digest.contexts()
    by_title = {top.title: top for top in ctx.top}
    assert by_title[TRICKY].cycles == ((TRICKY, "Patience", "Candour"),)
    # Written out once, under the best value it touches; the others point to it.
    assert by_title["Patience"].cycles == () and by_title["Patience"].in_cycles_of == (by_title[TRICKY].rank,)
    assert by_title["Candour"].cycle_lines() == [f"in the cycle shown under #{by_title[TRICKY].rank}"]
    assert by_title[TRICKY].cycle_lines() == [
        f"in a cycle: {TRICKY} → Patience → Candour → {TRICKY}, each voted wiser than the one before"
    ]

    markdown = digest_markdown(digest)
    escaped = "@\u200beveryone \\*Care\\*"
    line = f"    - in a cycle: {escaped} → Patience → Candour → {escaped}, each voted wiser than the one before"
    lines = markdown.splitlines()
    winner = next(i for i, text in enumerate(lines) if re.match(rf"\d\. \*\*{re.escape(escaped)}\*\*", text))
    following = next(i for i in range(winner + 1, len(lines)) if not lines[i].startswith("    - "))
    assert line in lines[winner + 1 : following]  # under the value it touches, before the next one
    assert "@everyone" not in markdown and "*Care*" not in markdown

    field = digest_message(digest)["embeds"][0].fields[0].value
    assert "↻ in a cycle:" in field and "@everyone" not in field
    slack = next(b["text"]["text"] for b in digest_blocks(digest)["blocks"] if "↻" in b.get("text", {}).get("text", ""))
    assert "in a cycle:" in slack and "Patience → Candour" in slack


def test_more_cycles_than_shown_are_counted():
    from core.digest import CYCLES_PER_VALUE, TopValue

    top = TopValue("A", "A", (), 0.5, 1, cycles=(("A", "B", "C"), ("A", "D", "E")), more_cycles=3)
    assert len(top.cycles) == CYCLES_PER_VALUE
    assert top.cycle_lines()[-1] == "and in 3 more cycles"
