"""``mge export --format html``: one self-contained page to explore the moral graph.

Three levels: the renderer on a graph built in memory (escaping of hostile member text, no network
reference, same bytes every time, the JSON export's hash); the command on a database built through
the poll use cases (SQLite and PostgreSQL); and the page itself in a real headless Chromium, driven
over the DevTools protocol (``tests/browser.py``): no console error, and clicking through it shows
the right cards, edges and stories.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from typer.testing import CliRunner

from bot.cli.app import app
from bot.graph import export as exporting
from bot.graph.build import CommunityGraphInput, CommunityInfo, StoryRecord
from bot.graph.explorer import explorer_data, global_ranking, render_explorer, script_json
from bot.voting.polls import apply_reaction, record_poll
from core.graph import GraphParams, Value, Vote, build_moral_graph, content_hash
from core.graph.export import edges_json
from core.messages import CommunityRef, Person
from core.polls import VoteOutcome
from storage import communities_repo
from storage.database import Database
from storage.models import CanonicalValue, MoralContext, TransitionStory
from tests import browser

# --- hostile text ------------------------------------------------------------------------------------

SCRIPT_TITLE = "</script><script>alert(1)</script>"
COMMENT_TITLE = "<!-- Quiet <b>Patience</b> & \"care\" 'always'"
HOSTILE_CONTEXT = 'When <img src=x onerror=alert(2)> & "friends" </SCRIPT>'
HOSTILE_STORY = "</script><!-- <script>alert(3)</script> --> I learnt to wait. \u2028 <style>body{display:none}</style>"
HOSTILE_POLICY = "<a href=\"https://evil.example/\">CHOICES</a> that {{EXPORT_JSON}} 'quoted'"
HOSTILE_COMMUNITY = 'Guild </title><script>alert(4)</script> {{HASH}} & "friends"'
DISTRESS = "When someone is in distress"


def hostile_input() -> CommunityGraphInput:
    """A graph in memory whose every text field tries to break out of the page."""
    values = [
        Value("1", "Fixing The Problem", "Solve it fast.", ("SOLUTIONS that remove the cause",)),
        Value("2", "Being With The Person", "Understand first.", ("FEELINGS not yet named", HOSTILE_POLICY)),
        Value("3", SCRIPT_TITLE, "<script>alert(5)</script>", ("MOMENTS of <!--",)),
        Value("4", COMMENT_TITLE, "--> ]]> <![CDATA[", ()),
    ]
    plan = [  # (story id, from, to, context, choices)
        (11, "1", "2", DISTRESS, ["upgrade", "upgrade", "upgrade", "no_upgrade"]),
        (12, "1", "3", DISTRESS, ["upgrade", "upgrade", "not_sure"]),
        (13, "3", "2", DISTRESS, ["upgrade", "upgrade", "upgrade"]),
        (14, "1", "4", HOSTILE_CONTEXT, ["upgrade", "upgrade", "upgrade"]),
        (15, "4", "2", HOSTILE_CONTEXT, ["upgrade", "upgrade", "no_upgrade"]),
    ]
    votes, story_ids, stories = [], [], []
    for story_id, a, b, context, choices in plan:
        for n, choice in enumerate(choices):
            votes.append(Vote(f"member:{n}", a, b, context, choice))
            story_ids.append(story_id)
        text = HOSTILE_STORY if story_id == 15 else f"Story {story_id}."
        stories.append(StoryRecord(story_id, context, a, b, text, len(choices)))
    return CommunityGraphInput(
        community=CommunityInfo(1, HOSTILE_COMMUNITY, "discord"),
        values=values,
        votes=votes,
        vote_story_ids=story_ids,
        stories=stories,
        dropped_votes=0,
    )


def render(data: CommunityGraphInput, algorithm: str = "default") -> tuple[bytes, object]:
    graph = build_moral_graph(data.values, data.votes, GraphParams(algorithm=algorithm))
    return render_explorer(graph, data), graph


class PageParts(HTMLParser):
    """What a browser's parser sees: elements, attributes, script contents by id, the title text."""

    def __init__(self, page: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.title = ""
        self.text: dict[str, str] = {}  # id → text of elements with an id (their direct text)
        self._open: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]
        if tag not in ("meta", "br", "link", "img", "input"):
            self._open.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if not self._open:
            return
        tag, attrs = self._open[-1]
        if tag == "script":
            self.scripts.append((attrs, data))
        elif tag == "title":
            self.title += data
        if attrs.get("id"):
            self.text[attrs["id"]] = self.text.get(attrs["id"], "") + data

    def script(self, script_id: str) -> str:
        found = [text for attrs, text in self.scripts if attrs.get("id") == script_id]
        assert len(found) == 1, f"{len(found)} scripts with id {script_id}"
        return found[0]


# --- the renderer ------------------------------------------------------------------------------------


def test_hostile_member_text_never_breaks_out_of_the_page():
    data = hostile_input()
    page, graph = render(data)
    text = page.decode("utf-8")

    # Exactly the template's three scripts and one style: nothing opened or closed by the data.
    assert len(re.findall(r"<script", text, flags=re.IGNORECASE)) == 3
    assert len(re.findall(r"</script", text, flags=re.IGNORECASE)) == 3
    assert len(re.findall(r"<style", text, flags=re.IGNORECASE)) == 1
    assert "<!--" not in text and "-->" not in text and "\u2028" not in text
    for hostile in (SCRIPT_TITLE, COMMENT_TITLE, HOSTILE_CONTEXT, HOSTILE_STORY, "<img", "<a href", "alert(5)</"):
        assert hostile not in text

    parts = PageParts(page)
    assert parts.tags.count("script") == 3 and "img" not in parts.tags and "a" not in parts.tags
    assert [attrs.get("type") for attrs, _ in parts.scripts] == ["application/json", "application/json", None]
    # The title and header show the community name as text, and a placeholder in it stays text.
    assert parts.title == f"{HOSTILE_COMMUNITY} — moral graph"
    assert parts.text["community"] == HOSTILE_COMMUNITY

    # The embedded JSON gives back every hostile string exactly (what JSON.parse sees).
    document = json.loads(parts.script("mge-export"))
    assert document == json.loads(exporting.export_json(graph, community=data.community, stories=data.stories))
    titles = {v["id"]: v["title"] for v in document["values"]}
    assert titles["3"] == SCRIPT_TITLE and titles["4"] == COMMENT_TITLE
    assert HOSTILE_POLICY in next(v for v in document["values"] if v["id"] == "2")["policies"]
    assert {s["story"] for s in document["stories"]} >= {HOSTILE_STORY}
    assert HOSTILE_CONTEXT in document["rankings"] and document["community"]["name"] == HOSTILE_COMMUNITY
    extra = json.loads(parts.script("mge-explorer"))
    assert [c["name"] for c in extra["contexts"]] == sorted([DISTRESS, HOSTILE_CONTEXT])


def test_script_json_escapes_only_what_html_would_read():
    hostile = {"a": "</script><!--<script>", "b": "&amp; > \u2028\u2029", "c": "plain ☃"}
    safe = script_json(json.dumps(hostile, ensure_ascii=False))
    assert not re.search("[<>&\u2028\u2029]", safe)
    assert json.loads(safe) == hostile and "☃" in safe


def test_the_page_is_self_contained():
    page, _ = render(hostile_input())
    text = page.decode("utf-8")
    parts = PageParts(page)
    # Nothing to load: no src or href anywhere (the hostile policy's link is inside the JSON, escaped),
    # no stylesheet imports or url() references, no external resources of any kind.
    assert not [(tag, name) for tag, name, _ in parts.attributes if name in ("src", "href", "srcset", "action")]
    assert not set(parts.tags) & {"link", "img", "iframe", "object", "embed", "base", "form", "audio", "video"}
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, flags=re.IGNORECASE)
    assert "@import" not in text and not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", text)
    assert not re.search(r"\b(?:fetch|XMLHttpRequest|WebSocket|EventSource|importScripts)\b", text)
    # The only http(s) strings are the SVG namespace name and the hostile policy inside the JSON.
    assert set(re.findall(r"https?://[^\s\"'\\]+", text)) == {"http://www.w3.org/2000/svg", "https://evil.example/"}

    # The Content-Security-Policy forbids every load and allows only the page's own script and style.
    csp = next(value for tag, name, value in parts.attributes if tag == "meta" and value and "default-src" in value)
    inline_script = next(body for attrs, body in parts.scripts if "type" not in attrs)
    style = re.search(r"<style>(.*?)</style>", text, flags=re.DOTALL).group(1)

    def sha(body: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    assert csp == (
        f"default-src 'none'; script-src {sha(inline_script)}; style-src {sha(style)}; "
        "base-uri 'none'; form-action 'none'"
    )


@pytest.mark.parametrize("algorithm", ["default", "mge-2023"])
def test_same_input_same_bytes_and_the_json_exports_hash(algorithm):
    page, graph = render(hostile_input(), algorithm)
    again, _ = render(hostile_input(), algorithm)  # a fresh build of the same votes
    assert page == again

    data = hostile_input()
    raw = exporting.export_json(graph, community=data.community, stories=data.stories)
    expected_hash = json.loads(raw)["hash"]
    assert expected_hash == content_hash(
        exporting.export_document(graph, community=data.community, stories=data.stories)
    )
    parts = PageParts(page)
    assert parts.text["content-hash"] == expected_hash and parts.text["algorithm"] == algorithm
    embedded = parts.script("mge-export")
    # The embedded export is the JSON export's bytes, with only <, >, & escaped for HTML.
    assert embedded == script_json(raw.decode().rstrip("\n"))
    assert content_hash(json.loads(embedded)) == expected_hash == json.loads(embedded)["hash"]


def test_explorer_data_ranks_tallies_and_context_edges():
    data = hostile_input()
    graph = build_moral_graph(data.values, data.votes, GraphParams())
    extra = explorer_data(graph, data)
    ranking = global_ranking(graph)
    assert extra["globalRanking"] == ranking and ranking[0] == "2" and sorted(ranking) == ["1", "2", "3", "4"]
    scores = [graph.page_rank[i] for i in ranking]
    assert scores == sorted(scores, reverse=True)
    assert extra["storyTallies"] == {
        "11": {"upgrade": 3, "no_upgrade": 1, "not_sure": 0},
        "12": {"upgrade": 2, "no_upgrade": 0, "not_sure": 1},
        "13": {"upgrade": 3, "no_upgrade": 0, "not_sure": 0},
        "14": {"upgrade": 3, "no_upgrade": 0, "not_sure": 0},
        "15": {"upgrade": 2, "no_upgrade": 1, "not_sure": 0},
    }
    contexts = {c["name"]: c["edges"] for c in extra["contexts"]}
    assert contexts[DISTRESS] == edges_json(graph.contexts[DISTRESS].edges)
    assert {(e["sourceValueId"], e["wiserValueId"]) for e in contexts[DISTRESS]} == {("1", "2"), ("1", "3"), ("3", "2")}
    assert {(e["sourceValueId"], e["wiserValueId"]) for e in contexts[HOSTILE_CONTEXT]} == {("1", "4"), ("4", "2")}


def test_a_graph_without_votes_renders():
    data = CommunityGraphInput(CommunityInfo(7, "", "console"), [Value("7", "Only Value")], [], [], [], 0)
    page, _ = render(data)
    parts = PageParts(page)
    assert parts.title == "Community 7 — moral graph"
    assert json.loads(parts.script("mge-explorer")) == {"contexts": [], "globalRanking": ["7"], "storyTallies": {}}


# --- a community in the database ---------------------------------------------------------------------

GUILD = CommunityRef("discord", "guild-7070", HOSTILE_COMMUNITY)
PEOPLE = [Person(f"EXPLORER-UID-{n}-9913", f"Explorer Secret {n}") for n in "ABCD"]
YES, NO, UNSURE = "\u2705", "\u274c", "\U0001f914"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
VALUES = {
    "A": ("Fixing The Problem", "Helping means solving what is wrong.", ["SOLUTIONS that remove the cause"]),
    "B": ("Being With The Person", "Understand what they go through.", ["FEELINGS not yet named", HOSTILE_POLICY]),
    "C": (SCRIPT_TITLE, "<script>alert(5)</script>", ["MOMENTS of <!--"]),
    "D": (COMMENT_TITLE, "Waiting <i>with</i> someone.", ["TIME it takes"]),
}
STORIES = {  # name → (from, to, context, votes by person index)
    "s1": ("A", "B", DISTRESS, [YES, YES, YES, NO]),
    "s2": ("A", "C", DISTRESS, [YES, YES, UNSURE]),
    "s3": ("C", "B", DISTRESS, [YES, YES, None, YES]),
    "s4": ("A", "D", HOSTILE_CONTEXT, [YES, YES, YES]),
    "s5": ("D", "B", HOSTILE_CONTEXT, [YES, YES, NO]),
}


@dataclass
class Seeded:
    values: dict[str, str] = field(default_factory=dict)  # letter → value id (text)
    stories: dict[str, int] = field(default_factory=dict)


async def seed(database: Database) -> Seeded:
    """Values, contexts and stories as rows (no LLM), then votes through the poll use cases."""
    seeded = Seeded()
    async with database.session() as session:
        community = await communities_repo.get_or_create_community(
            session, platform=GUILD.platform, external_id=GUILD.external_id, name=GUILD.name, now=START
        )
        rows = {
            letter: CanonicalValue(
                community_id=community.id,
                title=title,
                description=description,
                policies=policies,
                created_at=START,
                updated_at=START,
            )
            for letter, (title, description, policies) in VALUES.items()
        }
        session.add_all(rows.values())
        contexts = {
            text: MoralContext(community_id=community.id, text=text, created_at=START)
            for text in (DISTRESS, HOSTILE_CONTEXT)
        }
        session.add_all(contexts.values())
        await session.flush()
        stories = {
            name: TransitionStory(
                community_id=community.id,
                context_id=contexts[context].id,
                from_value_id=rows[a].id,
                to_value_id=rows[b].id,
                story=HOSTILE_STORY if name == "s5" else f"Story {name}: from {a} to {b}.",
                steps={},
                prompt_sha="0" * 64,
                model="test-model",
                created_at=START,
            )
            for name, (a, b, context, _) in STORIES.items()
        }
        session.add_all(stories.values())
        await session.commit()
        seeded.values = {letter: str(row.id) for letter, row in rows.items()}
        seeded.stories = {name: story.id for name, story in stories.items()}

    now = START
    for name, story_id in seeded.stories.items():
        await record_poll(
            database, story_id=story_id, platform="discord", channel_id="c1", message_id=name, closes_at=None, now=now
        )
    for name, (_, _, _, reactions) in STORIES.items():
        for person, emoji in zip(PEOPLE, reactions):
            if emoji is None:
                continue
            now += timedelta(minutes=1)
            outcome = await apply_reaction(
                database,
                community=GUILD,
                platform="discord",
                channel_id="c1",
                message_id=name,
                person=person,
                emoji=emoji,
                added=True,
                event_id=None,
                now=now,
            )
            assert outcome == VoteOutcome.COUNTED
    return seeded


def seed_sync(url: str) -> Seeded:
    async def main() -> Seeded:
        database = Database(url)
        try:
            return await seed(database)
        finally:
            await database.dispose()

    return asyncio.run(main())


def export(url: str, *args: str):
    return CliRunner().invoke(app, ["export", *args], env={"DATABASE_URL": url})


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(tmp_path)  # no stray .env
    return out


@pytest.mark.sqlite_only  # the page: `mge export` from a PostgreSQL database runs in test_export.py
def test_cli_writes_the_page_with_the_json_exports_hash(database_url, workdir):
    seeded = seed_sync(database_url)
    result = export(database_url, "--format", "html", "--out", str(workdir / "graph.html"))
    assert result.exit_code == 0, result.stderr
    assert "4 values, 5 edges, 2 contexts, 16 votes" in result.stderr and "graph.html" in result.stderr
    as_json = export(database_url, "--format", "json", "--out", str(workdir / "graph.json"))
    assert as_json.exit_code == 0, as_json.stderr

    page = (workdir / "graph.html").read_bytes()
    document = json.loads((workdir / "graph.json").read_bytes())
    parts = PageParts(page)
    assert parts.text["content-hash"] == document["hash"]
    assert json.loads(parts.script("mge-export")) == document
    assert parts.title == f"{HOSTILE_COMMUNITY} — moral graph"
    assert not list(workdir.glob(".*partial"))

    # Same database → same bytes, on standard output too.
    stdout = export(database_url, "--format", "html", "--out", "-", "--community", GUILD.external_id)
    assert stdout.exit_code == 0, stdout.stderr
    assert stdout.stdout_bytes == page

    # Tallies come from the stored votes; voters stay anonymous.
    extra = json.loads(parts.script("mge-explorer"))
    assert extra["storyTallies"][str(seeded.stories["s1"])] == {"upgrade": 3, "no_upgrade": 1, "not_sure": 0}
    text = page.decode("utf-8")
    for person in PEOPLE:
        assert person.platform_user_id not in text and person.display_name not in text
    assert "member:" not in text

    folder = export(database_url, "--format", "html", "--out", str(workdir))
    assert folder.exit_code == 2 and "is a folder; --format html writes a file" in folder.stderr


# --- in a real browser -------------------------------------------------------------------------------


def page_url(path: Path, **selection: str) -> str:
    return path.as_uri() + ("#" + urlencode(selection, quote_via=quote) if selection else "")


READY = "document.documentElement.dataset.ready === 'true'"


async def selection(page: browser.Page) -> dict[str, str]:
    """The context and value the page's URL now names."""
    return json.loads(
        await page.evaluate("JSON.stringify(Object.fromEntries(new URLSearchParams(location.hash.slice(1))))")
    )


async def exported_page(sqlite_url: str, folder: Path) -> tuple[Path, Seeded]:
    seeded = await asyncio.to_thread(seed_sync, sqlite_url)
    result = await asyncio.to_thread(export, sqlite_url, "--format", "html", "--out", str(folder / "graph.html"))
    assert result.exit_code == 0, result.stderr
    return folder / "graph.html", seeded


@pytest.mark.slow  # a Chromium process
async def test_browser_opens_the_page_on_the_value_in_the_url(sqlite_url, workdir):
    chromium = browser.require_chromium()
    path, seeded = await exported_page(sqlite_url, workdir)
    v = seeded.values
    async with browser.launch(chromium) as chrome:
        page = await chrome.new_page()
        await page.goto(page_url(path, context=DISTRESS, value=v["B"]))
        await page.wait_for(READY)

        assert await page.evaluate("document.getElementById('context').value") == DISTRESS
        assert await page.texts("#ranking .title") == ["Being With The Person", SCRIPT_TITLE, "Fixing The Problem"]
        assert await page.text("#card .card-title") == "Being With The Person"
        assert await page.texts("#card ul.policies li") == ["FEELINGS not yet named", HOSTILE_POLICY]
        assert await page.texts("#incoming .edge-line") == [
            "Wiser than Fixing The Problem (3 of 4 votes)",
            f"Wiser than {SCRIPT_TITLE} (3 of 3 votes)",
        ]
        assert await page.text("#card p.none") == "No value was voted wiser than this one here."
        assert await page.texts("#stories .tally") == [
            "3 said the second value is wiser · 1 said it is not · 0 not sure (4 votes)",
            "3 said the second value is wiser · 0 said it is not · 0 not sure (3 votes)",
        ]
        assert await page.evaluate("document.querySelectorAll('#graph svg g.node').length") == 3
        assert await page.text("#content-hash") == await page.evaluate(
            "JSON.parse(document.getElementById('mge-export').textContent).hash"
        )

        # Nothing the members wrote became markup, nothing ran, nothing was fetched.
        assert await page.evaluate("document.scripts.length") == 3
        assert await page.evaluate("document.querySelectorAll('img, a, iframe, link').length") == 0
        assert await page.text("h1") == HOSTILE_COMMUNITY
        assert await page.evaluate("document.title") == f"{HOSTILE_COMMUNITY} — moral graph"
        assert page.problems() == [] and page.dialogs == []
        assert page.requests == [page_url(path, context=DISTRESS, value=v["B"]).split("#")[0]]


@pytest.mark.slow  # a Chromium process
async def test_browser_clicking_through_contexts_values_edges_and_the_drawing(sqlite_url, workdir):
    chromium = browser.require_chromium()
    path, seeded = await exported_page(sqlite_url, workdir)
    v = seeded.values
    async with browser.launch(chromium) as chrome:
        page = await chrome.new_page()
        await page.goto(page_url(path))
        await page.wait_for(READY)
        assert await page.evaluate("document.getElementById('context').value") == ""
        assert await page.text("#card-empty") == "No value selected."
        ranking = await page.texts("#ranking .title")
        assert ranking[0] == "Being With The Person" and sorted(ranking) == sorted(t for t, _, _ in VALUES.values())

        # Choose the hostile context, then click a value in its ranking.
        await page.select_option("#context", HOSTILE_CONTEXT)
        await page.wait_for("document.querySelectorAll('#ranking li').length === 3")
        await page.click(f'#ranking button[data-value-id="{v["D"]}"]')
        await page.wait_for(f"document.getElementById('card').dataset.valueId === {json.dumps(v['D'])}")
        assert await page.text("#card .card-title") == COMMENT_TITLE
        assert await page.texts("#incoming .edge-line") == ["Wiser than Fixing The Problem (3 of 3 votes)"]
        assert await page.texts("#outgoing .edge-line") == [
            "Being With The Person was voted wiser than it (2 of 3 votes)"
        ]
        assert await page.texts("#stories .story-text") == ["Story s4: from A to D.", HOSTILE_STORY]
        assert await selection(page) == {"context": HOSTILE_CONTEXT, "value": v["D"]}  # a link to share

        # Follow an edge from the card to the less wise value.
        await page.click(f'#incoming button[data-value-id="{v["A"]}"]')
        await page.wait_for(f"document.getElementById('card').dataset.valueId === {json.dumps(v['A'])}")
        assert await page.texts("#outgoing .edge-line") == [f"{COMMENT_TITLE} was voted wiser than it (3 of 3 votes)"]

        # All contexts: edges list their contexts; click a circle in the drawing.
        await page.select_option("#context", "")
        await page.click(f'#graph g.node[data-value-id="{v["C"]}"] circle')
        await page.wait_for(f"document.getElementById('card').dataset.valueId === {json.dumps(v['C'])}")
        assert await page.text("#card .card-title") == SCRIPT_TITLE
        assert await page.text("#card .description") == "<script>alert(5)</script>"
        details = await page.texts("#outgoing .detail")
        assert len(details) == 1 and details[0].endswith(f"in: {DISTRESS}")
        assert await page.evaluate("document.querySelector('#graph g.node.selected').dataset.valueId") == v["C"]
        assert await selection(page) == {"value": v["C"]}

        # A hash typed by hand (or a shared link) selects too.
        await page.evaluate(f"location.hash = {json.dumps(urlencode({'context': DISTRESS, 'value': v['A']}))}")
        await page.wait_for(f"document.getElementById('card').dataset.valueId === {json.dumps(v['A'])}")
        assert await page.evaluate("document.getElementById('context').value") == DISTRESS

        assert page.problems() == [] and page.dialogs == []
        assert await page.evaluate("document.scripts.length") == 3


@pytest.mark.slow  # a Chromium process
async def test_the_browser_harness_sees_errors():
    """The "no problems" assertions above mean something only if problems are caught."""
    chromium = browser.require_chromium()
    async with browser.launch(chromium) as chrome:
        page = await chrome.new_page()
        await page.goto("about:blank")
        await page.evaluate("console.error('broken'); setTimeout(() => { throw new Error('boom'); }); alert('hi')")
        await page.wait_for("new Promise((done) => setTimeout(() => done(true), 100))")
        problems = page.problems()
        assert "console.error: broken" in problems and "dialog alert: hi" in problems
        assert any(p.startswith("uncaught: Error: boom") for p in problems)
        with pytest.raises(browser.JavaScriptError, match="nope"):
            await page.evaluate("(() => { throw new Error('nope'); })()")
        with pytest.raises(browser.BrowserError, match="no element"):
            await page.click("#missing")
