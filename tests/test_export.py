"""The moral graph from the database and ``mge export`` (docs/method.md §7, §8).

A community is built through the poll use cases (reactions become votes, a re-vote replaces, a removed
reaction retracts), then values are merged and hidden as a moderator would. The graph built from the
database must equal the one ``mge graph build`` builds from the exported files.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import networkx as nx
import pytest
import typer
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli.export import export_command
from bot.cli.graph import graph_app
from bot.graph import export as exporting
from bot.graph.build import (
    build_community_graph,
    community_votes,
    load_community_graph_input,
    value_provenance_for_graph,
)
from bot.values.corrections import merge_values
from bot.voting.polls import apply_reaction, record_poll
from core.graph import GraphParams, build_moral_graph, content_hash, to_interchange
from core.messages import CommunityRef, Person
from core.polls import VoteOutcome
from storage import communities_repo, values_repo
from storage.database import Database
from storage.models import CanonicalValue, Member, MoralContext, TransitionStory, ValuesCardRecord
from tests.dedup_support import add_card

GUILD = CommunityRef("discord", "guild-4242", "Riverside Guild")
OTHER = CommunityRef("slack", "T0OTHER99", "Other Workspace")
# Distinctive ids and names, so a leak is found by a plain text search of the exports.
PEOPLE = [Person(f"PLATFORM-UID-{n}-7731", f"Secret Name {n}") for n in "ABCDEF"]
OUTSIDER = Person("OTHER-PLATFORM-UID-5519", "Outsider Secretname")
YES, NO, UNSURE = "\u2705", "\u274c", "\U0001f914"
DISTRESS = "When someone is in distress"
# A comma and quotes: the CSV must quote it, and the reader must read it back the same.
MONEY = 'When a friend asks, "what should I do?", about money'
OTHER_CONTEXT = "When the other workspace decides"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def value_spec(title: str) -> dict:
    return {
        "title": title,
        "description": f"{title}, described.",
        "policies": [f"MOMENTS of {title.lower()}", f"CHOICES, that show {title.lower()}"],
    }


@dataclass
class Seeded:
    community_id: int
    other_community_id: int
    values: dict[str, int] = field(default_factory=dict)  # letter → canonical value id
    stories: dict[str, int] = field(default_factory=dict)  # name → story id
    card_titles: list[str] = field(default_factory=list)

    def vid(self, letter: str) -> str:
        return str(self.values[letter])


async def _values_and_stories(
    database: Database, community: CommunityRef, values: dict[str, dict], stories: dict[str, tuple[str, str, str]]
) -> tuple[int, dict[str, int], dict[str, int]]:
    """Rows no use case writes without an LLM: canonical values, contexts and stories."""
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=community.platform, external_id=community.external_id, name=community.name, now=START
        )
        value_rows = {
            k: CanonicalValue(community_id=row.id, created_at=START, updated_at=START, **v) for k, v in values.items()
        }
        session.add_all(value_rows.values())
        contexts: dict[str, MoralContext] = {}
        for _, _, text in stories.values():
            if text not in contexts:
                contexts[text] = MoralContext(community_id=row.id, text=text, created_at=START)
                session.add(contexts[text])
        await session.flush()
        story_rows = {
            name: TransitionStory(
                community_id=row.id,
                context_id=contexts[context].id,
                from_value_id=value_rows[a].id,
                to_value_id=value_rows[b].id,
                story=f"Story {name}: I moved from {a} to {b}.",
                steps={},
                prompt_sha="0" * 64,
                model="test-model",
                created_at=START,
            )
            for name, (a, b, context) in stories.items()
        }
        session.add_all(story_rows.values())
        await session.commit()
        return row.id, {k: v.id for k, v in value_rows.items()}, {k: s.id for k, s in story_rows.items()}


async def seed(database: Database) -> Seeded:
    """The guild: values A, B, C, Z (never voted on), D (merged into B), H (hidden); two contexts;
    seven stories voted on through reactions; and another community whose votes must stay out."""
    community_id, values, stories = await _values_and_stories(
        database,
        GUILD,
        {
            k: value_spec(t)
            for k, t in {
                "A": "Fixing The Problem",
                "B": "Being With The Person",
                "C": "Trusting Their Strength",
                "D": "Staying Beside Them",
                "H": "A Hidden Value",
                "Z": "Quiet Patience",
            }.items()
        },
        {
            "s1": ("A", "B", DISTRESS),
            "s2": ("A", "C", DISTRESS),
            "s3": ("D", "C", DISTRESS),
            "s4": ("A", "D", MONEY),
            "s5": ("A", "H", DISTRESS),
            "s6": ("D", "B", MONEY),
            "s7": ("C", "B", MONEY),
        },
    )
    other_id, _, other_stories = await _values_and_stories(
        database,
        OTHER,
        {"X": value_spec("Outside Value X"), "Y": value_spec("Outside Value Y")},
        {"o1": ("X", "Y", OTHER_CONTEXT)},
    )
    seeded = Seeded(community_id, other_id, values, stories)

    now = START
    for name, story_id in [*stories.items(), *other_stories.items()]:
        platform = "slack" if name.startswith("o") else "discord"
        await record_poll(
            database, story_id=story_id, platform=platform, channel_id="c1", message_id=name, closes_at=None, now=now
        )

    async def react(
        story: str, person: Person, emoji: str, *, added: bool = True, community: CommunityRef = GUILD
    ) -> VoteOutcome:
        nonlocal now
        now += timedelta(minutes=1)  # cast order is time order
        return await apply_reaction(
            database,
            community=community,
            platform=community.platform,
            channel_id="c1",
            message_id=story,
            person=person,
            emoji=emoji,
            added=added,
            event_id=None,
            now=now,
        )

    p = PEOPLE
    for person, emoji in [(p[0], YES), (p[1], YES), (p[2], YES), (p[3], NO), (p[4], NO), (p[5], YES)]:
        await react("s1", person, emoji)
    assert await react("s1", p[4], YES) == VoteOutcome.REPLACED  # a re-vote: one row, now "upgrade"
    assert await react("s1", p[5], YES, added=False) == VoteOutcome.RETRACTED
    for story, votes in {
        "s2": [(p[0], YES), (p[1], NO), (p[2], UNSURE)],
        "s3": [(p[0], YES), (p[1], YES), (p[2], YES)],
        "s4": [(p[0], YES), (p[1], YES), (p[2], UNSURE)],
        "s5": [(p[0], YES), (p[1], YES), (p[2], YES)],
        "s6": [(p[0], YES), (p[1], YES)],
        "s7": [(p[3], YES), (p[4], YES), (p[5], NO)],
    }.items():
        for person, emoji in votes:
            assert await react(story, person, emoji) == VoteOutcome.COUNTED
    for person in (OUTSIDER, Person("OTHER-PLATFORM-UID-2", "Other Secret Two")):
        assert await react("o1", person, "white_check_mark", community=OTHER) == VoteOutcome.COUNTED

    # Member cards: one in B, one in D; merging D into B brings D's card (and D's votes) to B.
    seeded.card_titles = ["My Being-With Card", "My Staying-Beside Card"]
    for title, letter, author in zip(seeded.card_titles, "BD", ("CARD-AUTHOR-UID-1", "CARD-AUTHOR-UID-2")):
        card_id = await add_card(database, community_id, {**value_spec(title), "title": title}, now, member=author)
        async with database.session() as session:
            card = await session.get(ValuesCardRecord, card_id)
            await values_repo.add_assignment(session, card=card, value_id=values[letter], decision="new_value", now=now)
            await session.commit()
    await merge_values(database, keep_id=values["B"], merge_id=values["D"], actor="test", now=now)
    async with database.session() as session:  # a moderator hid H (no use case for hiding yet)
        hidden = await session.get(CanonicalValue, values["H"])
        hidden.status = "hidden"
        session.add(hidden)
        await session.commit()
    return seeded


def seed_sync(url: str) -> Seeded:
    async def main() -> Seeded:
        database = Database(url)
        try:
            return await seed(database)
        finally:
            await database.dispose()

    return asyncio.run(main())


def comparable(doc: dict) -> dict:
    """The graph part of an export: what `mge graph build` also writes, without the hash (nor the stories and
    votes it was built from)."""
    return {k: v for k, v in doc.items() if k not in ("hash", "stories", "community", "votes")}


# --- reading votes from the database -----------------------------------------------------------------


async def test_community_votes_follow_merges_and_drop_hidden_and_self_votes(database):
    s = await seed(database)
    values, votes = await community_votes(database, community_id=s.community_id)
    assert [v.id for v in values] == [s.vid(k) for k in "ABCZ"]  # D merged, H hidden
    assert values[1].title == "Being With The Person" and values[1].policies[1].startswith("CHOICES, that")
    a, b, c = s.vid("A"), s.vid("B"), s.vid("C")
    assert [(v.from_value_id, v.to_value_id, v.context, v.choice) for v in votes] == [
        # s1: five votes in cast order; the re-vote kept its place, the retracted vote is gone
        (a, b, DISTRESS, "upgrade"),
        (a, b, DISTRESS, "upgrade"),
        (a, b, DISTRESS, "upgrade"),
        (a, b, DISTRESS, "no_upgrade"),
        (a, b, DISTRESS, "upgrade"),
        (a, c, DISTRESS, "upgrade"),
        (a, c, DISTRESS, "no_upgrade"),
        (a, c, DISTRESS, "not_sure"),
        (b, c, DISTRESS, "upgrade"),
        (b, c, DISTRESS, "upgrade"),
        (b, c, DISTRESS, "upgrade"),  # s3: D→C is B→C
        (a, b, MONEY, "upgrade"),
        (a, b, MONEY, "upgrade"),
        (a, b, MONEY, "not_sure"),  # s4: A→D is A→B
        # s5 (to the hidden H) and s6 (D→B, now B→B) are left out
        (c, b, MONEY, "upgrade"),
        (c, b, MONEY, "upgrade"),
        (c, b, MONEY, "no_upgrade"),
    ]
    assert len({v.voter_id for v in votes}) == 6 and all(v.voter_id.startswith("member:") for v in votes)
    data = await load_community_graph_input(database, community_id=s.community_id)
    assert data.dropped_votes == 5 and data.community.name == GUILD.name
    assert [(st.id, st.votes) for st in data.stories] == [
        (s.stories[k], n) for k, n in [("s1", 5), ("s2", 3), ("s3", 3), ("s4", 3), ("s7", 3)]
    ]
    story3 = data.stories[2]
    assert (story3.from_value_id, story3.to_value_id, story3.context) == (b, c, DISTRESS)

    other_values, other_votes = await community_votes(database, community_id=s.other_community_id)
    assert [v.title for v in other_values] == ["Outside Value X", "Outside Value Y"] and len(other_votes) == 2
    with pytest.raises(LookupError):
        await community_votes(database, community_id=s.other_community_id + 100)


async def test_graph_from_the_database_and_provenance_of_the_winner(database):
    s = await seed(database)
    graph = await build_community_graph(database, community_id=s.community_id, params=GraphParams())
    a, b = s.vid("A"), s.vid("B")
    edges = {(e.source_id, e.wiser_id): e for e in graph.edges}
    assert (a, b) in edges
    assert edges[(a, b)].counts.marked_wiser == 6 and edges[(a, b)].contexts == (DISTRESS, MONEY)
    assert graph.winner(DISTRESS) is not None and graph.votes_counted == 17
    assert OTHER_CONTEXT not in graph.contexts

    provenance = await value_provenance_for_graph(database, graph, community_id=s.community_id, value_id=b)
    assert provenance.title == "Being With The Person" and provenance.page_rank == graph.page_rank[b]
    into_b = {(e.source_id, e.wiser_id): e for e in provenance.incoming}
    assert (a, b) in into_b and into_b[(a, b)].counts["markedWiser"] == 6
    assert [st.id for st in into_b[(a, b)].stories] == [s.stories["s1"], s.stories["s4"]]
    assert provenance.merged_value_ids == (s.vid("D"),)
    assert [card.title for card in provenance.cards] == s.card_titles
    assert all(e.source_id == b for e in provenance.outgoing)
    text = repr(provenance)
    assert "CARD-AUTHOR" not in text and "PLATFORM-UID" not in text and "Secret" not in text
    with pytest.raises(LookupError):
        await value_provenance_for_graph(database, graph, community_id=s.community_id, value_id=s.vid("H"))


# --- exports -------------------------------------------------------------------------------------------


def build_from_files(folder: Path, values: Path | None = None, algorithm: str = "default") -> dict:
    out = folder / f"rebuilt-{algorithm}.json"
    result = CliRunner().invoke(
        graph_app,
        [
            "build",
            "--votes",
            str(folder / "votes.csv"),
            "--values",
            str(values or folder / "values.json"),
            "--out",
            str(out),
            "--algorithm",
            algorithm,
        ],
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_bytes())


@pytest.mark.parametrize("algorithm", ["default", "mge-2023"])
async def test_csv_export_rebuilds_the_same_graph(database, tmp_path, algorithm):
    s = await seed(database)
    data = await load_community_graph_input(database, community_id=s.community_id)
    graph = build_moral_graph(data.values, data.votes, GraphParams(algorithm=algorithm))
    folder = tmp_path / "export"
    written = exporting.write_csv_folder(folder, exporting.export_csv_files(graph, data.votes))
    assert sorted(p.name for p in written) == sorted(exporting.CSV_FILES)

    rebuilt = build_from_files(folder, algorithm=algorithm)
    expected = to_interchange(graph)
    assert rebuilt["edges"] == expected["edges"] and rebuilt["rankings"] == expected["rankings"]
    assert comparable(rebuilt) == expected  # values and ranks too, bit for bit
    # The JSON export is a VALUES.json as well, and gives the same graph.
    json_export = tmp_path / "graph.json"
    json_export.write_bytes(exporting.export_json(graph, community=data.community, stories=data.stories))
    assert comparable(build_from_files(folder, json_export, algorithm)) == expected
    assert comparable(json.loads(json_export.read_bytes())) == expected

    edges_rows = (folder / "edges.csv").read_text().count("\n")
    assert (folder / "edges.csv").read_text().startswith("source_value_id,source_title,wiser_value_id")
    assert edges_rows >= len(graph.edges) + 1  # contexts are joined by newlines inside quoted cells
    rankings = (folder / "rankings.csv").read_text().splitlines()
    assert rankings[0] == "context,rank,value_id,title,score"
    assert len(rankings) == 1 + sum(len(r) for r in graph.rankings.values())


async def test_json_export_has_community_stories_and_a_valid_hash(database):
    s = await seed(database)
    data = await load_community_graph_input(database, community_id=s.community_id)
    graph = build_moral_graph(data.values, data.votes, GraphParams())
    raw = exporting.export_json(graph, community=data.community, stories=data.stories)
    assert raw == exporting.export_json(graph, community=data.community, stories=data.stories)  # deterministic
    doc = json.loads(raw)
    assert list(doc)[-1] == "hash" and doc["hash"] == content_hash(doc)
    assert doc["community"] == {"name": GUILD.name, "platform": "discord"}
    assert [st["id"] for st in doc["stories"]] == [s.stories[k] for k in ("s1", "s2", "s3", "s4", "s7")]
    s3 = doc["stories"][2]
    assert (s3["fromValueId"], s3["toValueId"], s3["context"], s3["votes"]) == (s.vid("B"), s.vid("C"), DISTRESS, 3)
    assert s3["story"].startswith("Story s3")
    assert OTHER_CONTEXT not in raw.decode() and "Outside Value" not in raw.decode()


async def test_graphml_reads_back_with_the_same_nodes_and_edges(database):
    s = await seed(database)
    data = await load_community_graph_input(database, community_id=s.community_id)
    graph = build_moral_graph(data.values, data.votes, GraphParams())
    raw = exporting.export_graphml(graph, community=data.community)
    assert raw == exporting.export_graphml(graph, community=data.community)
    read = nx.read_graphml(io.BytesIO(raw))
    assert read.is_directed()
    assert list(read.nodes) == [v.id for v in graph.values]
    assert list(read.edges) == graph.edges.pairs()
    b = s.vid("B")
    assert read.nodes[b]["title"] == "Being With The Person"
    assert read.nodes[b]["policies"].split("\n") == list(graph.values[1].policies)
    assert read.nodes[b]["pageRank"] == pytest.approx(graph.page_rank[b], abs=0)
    edge = next(iter(graph.edges))
    attributes = read.edges[edge.source_id, edge.wiser_id]
    assert (
        attributes["markedWiser"] == edge.counts.marked_wiser and attributes["impressions"] == edge.counts.impressions
    )
    assert attributes["wiserLikelihood"] == edge.wiser_likelihood and attributes["entropy"] == edge.entropy
    assert attributes["contexts"].split("\n") == list(edge.contexts)
    assert read.graph["interchangeHash"] == content_hash(to_interchange(graph))


# --- the command -------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """mge"""

    app.command("export")(export_command)
    return app


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {"DATABASE_URL": database_url}


def export(cli: typer.Typer, env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, ["export", *args], env=env)


def private_strings(url: str) -> list[str]:
    """Every platform user id and display name in the database."""

    async def main() -> list[str]:
        database = Database(url)
        try:
            async with database.session() as session:
                members = (await session.exec(select(Member))).all()
            return [text for m in members for text in (m.platform_user_id, m.display_name) if text]
        finally:
            await database.dispose()

    return asyncio.run(main())


def test_cli_exports_every_format_and_names_no_one(cli, env, tmp_path):
    out = tmp_path / "out"  # apart from the SQLite file
    out.mkdir()
    s = seed_sync(env["DATABASE_URL"])
    secrets = private_strings(env["DATABASE_URL"])
    assert len(secrets) >= 2 * (len(PEOPLE) + 2)  # voters and card authors, in both communities
    community = ["--community", GUILD.name]

    result = export(cli, env, "--format", "csv", "--out", str(out / "csv"), *community)
    assert result.exit_code == 0, result.stderr
    voters = {line.split(",")[0] for line in (out / "csv" / "votes.csv").read_text().splitlines()[1:]}
    assert voters == {f"voter-{n}" for n in range(1, len(voters) + 1)}  # numbered afresh, not member ids

    result = export(cli, env, "--format", "json", "--out", str(out / "graph.json"), *community)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"{GUILD.name} (default): 4 values, ") and "17 votes (5 left out" in result.stderr
    stdout = export(cli, env, "--format", "json", "--out", "-", "--community", GUILD.external_id)
    assert stdout.exit_code == 0, stdout.stderr
    assert stdout.stdout.encode() == (out / "graph.json").read_bytes()
    paper = export(
        cli, env, "--format", "json", "--out", str(out / "paper.json"), "--algorithm", "mge-2023", *community
    )
    assert (
        paper.exit_code == 0 and json.loads((out / "paper.json").read_bytes())["parameters"]["algorithm"] == "mge-2023"
    )
    assert export(cli, env, "--format", "graphml", "--out", str(out / "graph.graphml"), *community).exit_code == 0
    assert export(cli, env, "--format", "csv", "--out", str(out / "csv"), *community).exit_code == 0
    assert not list(out.rglob(".*partial"))

    rebuilt = build_from_files(out / "csv")
    assert comparable(rebuilt) == comparable(json.loads((out / "graph.json").read_bytes()))
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith("rebuilt")]
    assert len(files) == 3 + len(exporting.CSV_FILES)
    for path in files:
        text = path.read_text("utf-8")
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, f"{path.name} names {leaked}"
        assert OTHER_CONTEXT not in text and "Outside Value" not in text
    assert s.vid("A") in (out / "csv" / "values.json").read_text()


@pytest.mark.sqlite_only  # the CLI's errors: the queries behind them run on both databases in the tests above
def test_cli_errors_exit_2_with_a_message(cli, env, tmp_path):
    empty = export(cli, env, "--format", "json", "--out", "-")
    assert empty.exit_code == 2 and "error: there are no communities yet" in empty.stderr
    seed_sync(env["DATABASE_URL"])

    unknown = export(cli, env, "--format", "json", "--out", "-", "--community", "Nowhere")
    assert unknown.exit_code == 2 and "error: no community named 'Nowhere'" in unknown.stderr
    assert GUILD.name in unknown.stderr and OTHER.name in unknown.stderr and unknown.stdout == ""

    ambiguous = export(cli, env, "--format", "json", "--out", "-")
    assert ambiguous.exit_code == 2 and "there are 2 communities; choose one with --community" in ambiguous.stderr

    bad_format = export(cli, env, "--format", "xlsx", "--out", str(tmp_path / "x"))
    assert bad_format.exit_code == 2 and "--format" in bad_format.stderr and "xlsx" in bad_format.stderr
    bad_algorithm = export(cli, env, "--format", "json", "--out", "-", "--algorithm", "magic")
    assert bad_algorithm.exit_code == 2 and "--algorithm" in bad_algorithm.stderr

    csv_to_stdout = export(cli, env, "--format", "csv", "--out", "-", "--community", GUILD.name)
    assert csv_to_stdout.exit_code == 2 and "folder" in csv_to_stdout.stderr
    (tmp_path / "a-file").write_text("x")
    csv_to_file = export(cli, env, "--format", "csv", "--out", str(tmp_path / "a-file"), "--community", GUILD.name)
    assert csv_to_file.exit_code == 2 and "needs a folder" in csv_to_file.stderr
    json_to_folder = export(cli, env, "--format", "json", "--out", str(tmp_path), "--community", GUILD.name)
    assert json_to_folder.exit_code == 2 and "is a folder" in json_to_folder.stderr


def test_a_graph_without_votes_exports_and_rebuilds(tmp_path):
    from bot.graph.build import CommunityInfo
    from core.graph import Value

    graph = build_moral_graph([Value("7", "Only Value", "", ("MOMENTS alone",))], [], GraphParams())
    exporting.write_csv_folder(tmp_path, exporting.export_csv_files(graph, []))
    assert (tmp_path / "votes.csv").read_text() == "voter_id,from_value_id,to_value_id,context,choice\n"
    assert comparable(build_from_files(tmp_path)) == to_interchange(graph)
    read = nx.read_graphml(io.BytesIO(exporting.export_graphml(graph, community=CommunityInfo(1, "c", "console"))))
    assert list(read.nodes) == ["7"] and not read.edges
