"""``mge export``: the community's moral graph from the database, as JSON, GraphML, a CSV folder, or
one self-contained HTML page to explore it.

The database, numpy and networkx are imported inside the command so ``mge --help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import typer

from bot.cli.support import AS_OF_HELP, COMMUNITY_HELP, choose_community, fail, parse_moment, run_with_database

#: Exit status for unusable input, the same as for a command-line usage error.
EXIT_BAD_INPUT = 2


class ExportFormat(StrEnum):
    json = "json"
    graphml = "graphml"
    csv = "csv"
    html = "html"
    mge_summary = "mge-summary"


class ExportAlgorithm(StrEnum):
    default = "default"
    mge_2023 = "mge-2023"


def export_command(
    output_format: ExportFormat = typer.Option(
        ...,
        "--format",
        help="json, graphml, csv (a folder of files), html (one page to explore the graph), or mge-summary "
        "(the paper's published moral-graph layout).",
    ),
    out: str = typer.Option(
        ..., "--out", help="Output file (json, graphml, html; - for standard output) or folder (csv)."
    ),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
    algorithm: ExportAlgorithm = typer.Option(
        ExportAlgorithm.default, "--algorithm", help="default, or mge-2023 to reproduce the paper's graphs."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
) -> None:
    """Build the moral graph from the community's votes and export it.

    csv writes OUT/votes.csv and OUT/values.json (the input of `mge graph build`, to rebuild and check
    the graph), OUT/edges.csv and OUT/rankings.csv. html writes one file that opens in any browser
    without a network: pick a context, see its values ranked, click one for its card, edges and
    stories; it carries the same content hash as the json export. mge-summary is the layout the paper
    published its moral graph in. Voters appear only as anonymous keys.
    """
    started = time.perf_counter()
    if output_format is ExportFormat.csv and out == "-":
        _fail("--format csv writes a folder of files; give a folder with --out, not -")
    out_path = None if out == "-" else Path(out)
    if out_path is not None:
        if output_format is ExportFormat.csv and out_path.exists() and not out_path.is_dir():
            _fail(f"{out} is a file; --format csv needs a folder")
        if output_format is not ExportFormat.csv and out_path.is_dir():
            _fail(f"{out} is a folder; --format {output_format.value} writes a file")

    from bot.graph import export as exporting
    from bot.graph.build import load_community_graph_input
    from core.graph import GraphParams, build_moral_graph

    params = GraphParams(algorithm=algorithm.value)
    moment = parse_moment(as_of)

    async def load(database: Any):
        community_id = await choose_community(database, community)
        return await load_community_graph_input(database, community_id=community_id, as_of=moment)

    data = run_with_database(load)
    graph = build_moral_graph(data.values, data.votes, params)

    try:
        if output_format is ExportFormat.csv:
            assert out_path is not None
            exporting.write_csv_folder(
                out_path,
                exporting.export_csv_files(graph, data.votes, cast_at=data.vote_cast_at, reasons=data.vote_reasons),
            )
        else:
            if output_format is ExportFormat.json:
                document = exporting.export_json(
                    graph, community=data.community, stories=data.stories, votes=exporting.vote_records(data)
                )
            elif output_format is ExportFormat.mge_summary:
                document = exporting.export_summary(graph)
            elif output_format is ExportFormat.html:
                from bot.graph.explorer import render_explorer

                document = render_explorer(graph, data)
            else:
                document = exporting.export_graphml(graph, community=data.community)
            if out_path is None:
                sys.stdout.buffer.write(document)
                sys.stdout.buffer.flush()
            else:
                exporting.write_atomically(out_path, document)
    except OSError as error:
        _fail(f"cannot write {out}: {error.strerror or error}")

    seconds = time.perf_counter() - started
    target = "standard output" if out_path is None else str(out_path)
    typer.echo(
        f"{data.community.name or data.community.id} ({algorithm.value}): {len(graph.values)} values, "
        f"{len(graph.edges)} edges, {len(graph.contexts)} contexts, {len(data.votes)} votes "
        f"({data.dropped_votes} left out: hidden values, merged into one, or withdrawn stories) → {target}; "
        f"{seconds:.2f} s",
        err=True,
    )
    if not graph.converged:
        typer.echo(f"warning: PageRank did not converge within {params.max_iterations} iterations", err=True)


def _fail(message: str) -> NoReturn:
    raise fail(message, EXIT_BAD_INPUT)
