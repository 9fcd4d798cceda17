"""`mge import` and the paper's formats: a small folder shaped like the MGE reference app's tables (written
for these tests) reproduces its graph, importing twice equals once, our JSON export round-trips, `--as-of`
leaves later votes out, and a bad entry is named with nothing written."""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from bot.graph import export as exporting
from bot.graph.build import load_community_graph_input
from bot.importing.sources import ImportFileError, read_deliberation
from bot.importing.store import import_deliberation
from core.graph import GraphParams, build_moral_graph
from storage.models import CanonicalValue, Community, MoralContext, Poll, Scenario, TransitionStory, Vote
from tests.fakes.story_rows import add_story
from tests.test_poll_selection import HERE

DFT = Path(__file__).parent / "data" / "dft_small"
NOW = datetime(2024, 1, 1, tzinfo=UTC)
TABLES = (Community, Scenario, MoralContext, CanonicalValue, TransitionStory, Poll, Vote)


async def counts(database) -> dict[str, int]:
    async with database.session() as session:
        return {table.__name__: (await session.exec(select(func.count()).select_from(table))).one() for table in TABLES}


async def imported(database, path: Path = DFT, community: str = "paper"):
    return await import_deliberation(database, read_deliberation(path), community=community, source=path.name, now=NOW)


def edges_by_title(graph) -> set[tuple]:
    titles = {v.id: v.title for v in graph.values}
    return {(titles[e.source_id], titles[e.wiser_id], tuple(e.contexts), tuple(e.counts)) for e in graph.edges}


async def test_a_dft_folder_keeps_provenance_anonymous_voters_and_times(database):
    report = await imported(database)
    assert (report.values_added, report.stories_added, report.votes_added, report.contexts) == (3, 3, 8, 2)
    async with database.session() as session:
        values = (await session.exec(select(CanonicalValue).order_by(CanonicalValue.id))).all()
        votes = (await session.exec(select(Vote).order_by(Vote.cast_at))).all()
        [scenario] = (await session.exec(select(Scenario))).all()
        stories = (await session.exec(select(TransitionStory))).all()
    assert [v.imported_from for v in values] == ["dft:dft_small#11", "dft:dft_small#12", "dft:dft_small#13"]
    assert values[2].description == "Helping the person reach a choice that is theirs."  # older column names
    assert values[2].policies[0] == "REASONS the person gives in their own words"
    assert scenario.text.startswith("A neighbour asks") and not scenario.is_open
    assert votes[0].cast_at == datetime(2023, 10, 1, 12, tzinfo=UTC) and votes[0].member_id is None
    # One voter's votes share a key; the key names no id of the source.
    keys = [v.voter_key for v in votes]
    assert keys[0] == keys[5] and len(set(keys)) == 5 and all("501" not in k for k in keys)
    assert {s.model for s in stories} == {"imported from dft_small"}


async def test_importing_twice_changes_nothing(database):
    await imported(database)
    before = await counts(database)
    again = await imported(database)
    assert (again.values_added, again.stories_added, again.votes_added) == (0, 0, 0)
    assert await counts(database) == before


async def test_as_of_leaves_out_later_votes_values_and_stories(database):
    report = await imported(database)
    everything = await load_community_graph_input(database, community_id=report.community_id)
    early = await load_community_graph_input(
        database, community_id=report.community_id, as_of=datetime(2023, 10, 2, 7, tzinfo=UTC)
    )
    assert len(everything.votes) == 8 and len(early.votes) == 2
    assert [v.title for v in early.values] == ["Plain Facts", "Truth At Their Pace"]  # the third came later
    assert {s.context for s in early.stories} == {"When someone is frightened by news about their health"}
    assert max(early.vote_cast_at) <= datetime(2023, 10, 2, 7, tzinfo=UTC)


async def test_our_json_export_round_trips(database, clock, tmp_path):
    story_id = await add_story(database, HERE, now=clock())
    from tests.test_poll_selection import add_votes, open_poll

    poll = await open_poll(database, story_id, now=clock(), closes_at=None)
    await add_votes(database, poll, 3, now=clock())
    original = await load_community_graph_input(database, community_id=poll.community_id)
    params = GraphParams(min_wiser=1)
    graph = build_moral_graph(original.values, original.votes, params)
    document = exporting.export_json(
        graph, community=original.community, stories=original.stories, votes=exporting.vote_records(original)
    )
    path = tmp_path / "moral-graph.json"
    path.write_bytes(document)

    report = await imported(database, path, community="copy")
    assert (report.kind, report.votes_added) == ("mge", 3)
    copy = await load_community_graph_input(database, community_id=report.community_id)
    assert edges_by_title(build_moral_graph(copy.values, copy.votes, params)) == edges_by_title(graph)
    assert [s.story for s in copy.stories] == [s.story for s in original.stories]
    assert copy.vote_cast_at == original.vote_cast_at
    assert (await imported(database, path, community="copy")).votes_added == 0


async def test_the_published_moral_graph_rebuilds_its_counts(database, tmp_path):
    summary = {
        "values": [
            {"id": 1, "title": "Plain Facts", "description": "d", "policies": ["NUMBERS"]},
            {"id": 2, "title": "Truth At Their Pace", "description": "d", "policies": ["QUESTIONS"]},
        ],
        "edges": [
            {
                "sourceValueId": 1,
                "wiserValueId": 2,
                "contexts": ["When someone is frightened"],
                "counts": {"markedWiser": 3, "markedNotWiser": 1, "markedLessWise": 0, "markedUnsure": 1},
                "summary": {"wiserLikelihood": 0.6, "entropy": 1.37},
            }
        ],
    }
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    report = await imported(database, path)
    data = await load_community_graph_input(database, community_id=report.community_id)
    [edge] = build_moral_graph(data.values, data.votes, GraphParams(algorithm="mge-2023")).edges
    assert tuple(edge.counts)[:3] == (3, 1, 0) and report.kind == "summary"


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        ("edge.json", lambda rows: rows[3].update(relationship="maybe"), "edge.json: entry 3: relationship"),
        ("edge.json", lambda rows: rows[6].update(toId=99), "edge.json: entry 6: no value '99'"),
        ("canonicalValuesCard.json", lambda rows: rows[1].pop("title"), "canonicalValuesCard.json: entry 1 (id 12)"),
        ("context.json", lambda rows: rows[0].update(id="When " + "x" * 130), "context.json: entry 0"),
    ],
)
async def test_a_bad_entry_is_named_and_nothing_is_written(database, tmp_path, table, change, message):
    folder = tmp_path / "dft"
    shutil.copytree(DFT, folder)
    rows = json.loads((folder / table).read_text())
    change(rows)
    (folder / table).write_text(json.dumps(rows))
    before = await counts(database)
    with pytest.raises(ImportFileError, match=re.escape(message)):
        await imported(database, folder)
    assert await counts(database) == before


async def test_a_failure_while_writing_leaves_the_database_unchanged(database, monkeypatch):
    from storage import imports_repo

    async def refuse(*args, **kwargs):
        raise RuntimeError("disk full")

    before = await counts(database)
    monkeypatch.setattr(imports_repo, "add_vote", refuse)
    with pytest.raises(RuntimeError):
        await imported(database)
    assert await counts(database) == before


# --- the terminal ----------------------------------------------------------------------------------------


def votes_csv_of_fixture(folder: Path) -> tuple[Path, Path]:
    """VOTES.csv and VALUES.json written straight from the fixture, without the bot's database."""
    edges = json.loads((DFT / "edge.json").read_text())
    cards = json.loads((DFT / "canonicalValuesCard.json").read_text())
    votes, values = folder / "votes.csv", folder / "values.json"
    with votes.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["voter_id", "from_value_id", "to_value_id", "context", "choice"])
        for edge in sorted(edges, key=lambda e: e["createdAt"]):
            writer.writerow([edge["userId"], edge["fromId"], edge["toId"], edge["contextId"], edge["relationship"]])
    values.write_text(
        json.dumps(
            [
                {
                    "id": c["id"],
                    "title": c["title"],
                    "description": c.get("description", c.get("instructionsShort")),
                    "policies": c.get("policies", c.get("evaluationCriteria")),
                }
                for c in cards
            ]
        )
    )
    return votes, values


def graph_by_title(document: dict) -> tuple[set, dict]:
    titles = {v["id"]: v["title"] for v in document["values"]}
    edges = {
        (titles[e["sourceValueId"]], titles[e["wiserValueId"]], tuple(e["contexts"]), json.dumps(e["counts"]))
        for e in document["edges"]
    }
    rankings = {context: [r["title"] for r in ranking] for context, ranking in document["rankings"].items()}
    return edges, rankings


def test_cli_import_reproduces_the_fixtures_graph_and_as_of(tmp_path, monkeypatch):
    from bot.cli.app import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("MGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(DFT), "--community", "paper"])
    assert result.exit_code == 0, result.output
    assert "3 values, 3 stories and 8 of 8 votes added" in result.output
    again = runner.invoke(app, ["import", str(DFT), "--community", "paper"])
    assert "0 values, 0 stories and 0 of 8 votes added" in again.output

    exported = runner.invoke(app, ["export", "--format", "csv", "--out", "out", "--community", "paper"])
    assert exported.exit_code == 0, exported.output
    build = ["graph", "build", "--algorithm", "mge-2023"]
    ours = runner.invoke(app, [*build, "--votes", "out/votes.csv", "--values", "out/values.json", "--out", "a.json"])
    votes, values = votes_csv_of_fixture(tmp_path)
    theirs = runner.invoke(app, [*build, "--votes", str(votes), "--values", str(values), "--out", "b.json"])
    assert ours.exit_code == 0 and theirs.exit_code == 0, ours.output + theirs.output
    a, b = (json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json"))
    assert graph_by_title(a) == graph_by_title(b) and a["edges"]

    # --as-of on the files and on the database agree: the votes of 3 and 4 October are left out.
    moment = "2023-10-02T23:59:59Z"
    early = runner.invoke(app, [*build, "--votes", "out/votes.csv", "--values", "out/values.json", "--as-of", moment])
    assert early.exit_code == 0, early.output
    from_db = runner.invoke(
        app, ["export", "--format", "json", "--out", "c.json", "--community", "paper", "--as-of", moment]
    )
    assert from_db.exit_code == 0 and "5 votes" in from_db.output
    c = json.loads((tmp_path / "c.json").read_text())
    assert len(c["votes"]) == 5 and all(v["castAt"] < "2023-10-03" for v in c["votes"])
    assert "5 votes" in early.output
    no_times = runner.invoke(app, [*build, "--votes", str(votes), "--values", str(values), "--as-of", moment])
    assert no_times.exit_code == 2 and "no column 'cast_at'" in no_times.output
    bad = runner.invoke(app, ["export", "--format", "json", "--out", "d.json", "--as-of", "yesterday"])
    assert bad.exit_code == 2 and "not an ISO 8601" in bad.output

    summary = runner.invoke(app, ["export", "--format", "mge-summary", "--out", "s.json", "--community", "paper"])
    assert summary.exit_code == 0, summary.output
    published = json.loads((tmp_path / "s.json").read_text())
    assert set(published) == {"values", "edges"} and isinstance(published["values"][0]["id"], int)
    assert set(published["edges"][0]) == {"sourceValueId", "wiserValueId", "contexts", "counts", "summary"}

    broken = tmp_path / "broken"
    shutil.copytree(DFT, broken)
    (broken / "edge.json").write_text("[{}]")
    refused = runner.invoke(app, ["import", str(broken), "--community", "other"])
    assert refused.exit_code == 2 and "edge.json: entry 0" in refused.output
