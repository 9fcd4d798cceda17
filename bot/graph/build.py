"""The moral graph of one community, built from its stored votes (docs/method.md §7), and the provenance of
any value in it (docs/method.md §8: every winning value can be traced to the members and votes behind it).

What counts, decided here once so the export, the digest and the audit agree:

* every vote on a poll of a transition story of the community, in the order it was first cast (a
  re-vote updates the member's row in place, so it keeps its place; a retracted vote has no row);
* a vote is on the story's values *as they are now*: a merged value's votes count for the value it
  was merged into (following chains of merges);
* a vote is dropped when either end is not an active value (hidden by a moderator, or empty), when
  both ends have become the same value by a merge (a value is never wiser than itself), and when a
  moderator withdrew its story as a bad one (``StoryStatus.RETRACTED``: the vote judged a story the
  moderators disowned); the row is kept;
* a private poll's votes count once it has closed: its tally is hidden until then, and a graph (the
  digest, ``/mge ask``, an export) would tell it;
* a story is shown as voters see it now: a moderator's edit instead of the model's text;
* the voter is the vote's ``voter_key`` (``member:<row id>``), never a platform user id or a name, so
  exports can be published; when a member erases their data it is replaced by one random key for all
  their votes, so totals and voter counts stay the same;
* a vote is left out when its member is blocked, or did not meet the community's eligibility rules
  when they cast it (``core.eligibility``); such votes are kept, and counted by reason;
* the reason a voter gave (``why``, ``bot.voting.reasons``) goes with their counted vote, and with its
  story, never with the voter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.cards import ValueStatus
from core.eligibility import exclusion_reason
from core.graph import GraphParams, MoralGraph, Value, Vote, build_moral_graph
from core.graph.model import COUNT_FIELDS, Edge
from core.stories import StoryStatus
from storage import eligibility_repo, graph_repo, values_repo
from storage.database import Database
from storage.models import CanonicalValue, Community


@dataclass(frozen=True, slots=True)
class CommunityInfo:
    """What an export says about the community: no platform ids of people, only the group's name."""

    id: int
    name: str
    platform: str


@dataclass(frozen=True, slots=True)
class StoryRecord:
    """A transition story that has counted votes, with its values as they are in the graph."""

    id: int
    context: str
    from_value_id: str
    to_value_id: str
    story: str
    votes: int
    #: (choice, reason) of the counted votes that came with a reason, in cast order; no voter.
    reasons: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "context": self.context,
            "fromValueId": self.from_value_id,
            "toValueId": self.to_value_id,
            "story": self.story,
            "votes": self.votes,
            "reasons": [{"choice": choice, "why": why} for choice, why in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class CommunityGraphInput:
    """Everything the graph and its exports need from the database, read in one session."""

    community: CommunityInfo
    values: list[Value]
    votes: list[Vote]
    #: The story each entry of ``votes`` was cast on (parallel list), for provenance.
    vote_story_ids: list[int]
    stories: list[StoryRecord]
    #: Votes left out: an end hidden or empty, both ends merged into one value, or a retracted story.
    dropped_votes: int
    #: Votes left out because of who cast them: reason (``core.eligibility``) → count.
    excluded_votes: dict[str, int] = field(default_factory=dict)
    #: When each entry of ``votes`` was first cast (parallel list).
    vote_cast_at: list[datetime] = field(default_factory=list)
    #: The reason the voter gave for each entry of ``votes`` (parallel list; None: none given).
    vote_reasons: list[str | None] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------------------


async def load_community_graph_input(
    database: Database, *, community_id: int, as_of: datetime | None = None
) -> CommunityGraphInput:
    """The community's active values and counted votes (rules in the module docstring).

    ``as_of`` rebuilds the graph as it stood then: values, stories and votes created after it are left
    out (a vote changed later counts with its latest choice; merges and hidden values are as they are
    now). Raises ``LookupError`` for an unknown community."""
    async with database.session() as session:
        community = await session.get(Community, community_id)
        if community is None:
            raise LookupError(f"no community {community_id}")
        value_rows = await values_repo.all_values_of(session, community_id=community_id)
        vote_rows = await graph_repo.votes_with_stories(session, community_id=community_id)
        rules = await eligibility_repo.get_rules(session, community_id=community_id)
        facts = await eligibility_repo.facts_by_member(session, community_id=community_id)

    if as_of is not None:
        value_rows = [row for row in value_rows if row.created_at <= as_of]
        # (voter_key, member_id, cast_at, choice, why, story, context): the vote and its story predate as_of.
        vote_rows = [row for row in vote_rows if row[2] <= as_of and row[5].created_at <= as_of]
    resolve = resolve_values(value_rows)
    # Ordered by id: a stable order, so the same database gives the same export bytes.
    values = [_graph_value(row) for row in sorted(value_rows, key=lambda r: r.id) if row.status == ValueStatus.ACTIVE]

    votes: list[Vote] = []
    vote_story_ids: list[int] = []
    vote_cast_at: list[datetime] = []
    story_votes: Counter[int] = Counter()
    stories: dict[int, StoryRecord] = {}
    dropped = 0
    excluded: Counter[str] = Counter()
    vote_reasons: list[str | None] = []
    story_reasons: dict[int, list[tuple[str, str]]] = {}
    for voter_key, member_id, cast_at, choice, why, story, context in vote_rows:
        reason = exclusion_reason(facts.get(member_id) if member_id is not None else None, rules, at=cast_at)
        if reason is not None:
            excluded[reason] += 1
            continue
        source, wiser = resolve.get(story.from_value_id), resolve.get(story.to_value_id)
        if source is None or wiser is None or source == wiser or story.status == StoryStatus.RETRACTED:
            dropped += 1
            continue
        context_text = context.text.strip()  # the CSV reader strips fields; keep the round trip exact
        # The column holds only CHOICES (the vote inbox writes nothing else); its type says str.
        votes.append(Vote(voter_key, str(source), str(wiser), context_text, choice))  # type: ignore[arg-type]
        vote_story_ids.append(story.id)
        vote_cast_at.append(cast_at)
        vote_reasons.append(why)
        if why:
            story_reasons.setdefault(story.id, []).append((choice, why))
        story_votes[story.id] += 1
        stories.setdefault(story.id, StoryRecord(story.id, context_text, str(source), str(wiser), story.shown_story, 0))
    story_list = [
        StoryRecord(
            s.id,
            s.context,
            s.from_value_id,
            s.to_value_id,
            s.story,
            story_votes[s.id],
            tuple(story_reasons.get(s.id, ())),
        )
        for s in sorted(stories.values(), key=lambda s: s.id)
    ]
    return CommunityGraphInput(
        community=CommunityInfo(community.id, community.name, community.platform),
        values=values,
        votes=votes,
        vote_story_ids=vote_story_ids,
        vote_cast_at=vote_cast_at,
        stories=story_list,
        dropped_votes=dropped,
        excluded_votes=dict(excluded),
        vote_reasons=vote_reasons,
    )


def resolve_values(rows: Iterable[CanonicalValue]) -> dict[int, int]:
    """Value id → the active value its votes count for; values whose votes count for none are absent.

    Follows ``merged_into_id`` through chains of merges. A loop in the chain (never written by the
    merge use case, but a hand-edited database could hold one) resolves to nothing rather than hanging."""
    by_id = {row.id: row for row in rows}
    resolved: dict[int, int] = {}
    for start in by_id:
        seen: set[int] = set()
        current = by_id.get(start)
        while (
            current is not None
            and current.status == ValueStatus.MERGED
            and (target := current.merged_into_id) is not None
        ):
            if current.id in seen:
                current = None
                break
            seen.add(current.id)
            current = by_id.get(target)
        if current is not None and current.status == ValueStatus.ACTIVE:
            resolved[start] = current.id
    return resolved


def _graph_value(row: CanonicalValue) -> Value:
    # Titles are stripped as the VALUES.json reader strips them, so an export reads back identically.
    return Value(str(row.id), row.title.strip(), row.description, tuple(row.policies))


async def community_votes(database: Database, *, community_id: int) -> tuple[list[Value], list[Vote]]:
    """The community's active values and the votes that count, in cast order."""
    data = await load_community_graph_input(database, community_id=community_id)
    return data.values, data.votes


async def build_community_graph(database: Database, *, community_id: int, params: GraphParams) -> MoralGraph:
    values, votes = await community_votes(database, community_id=community_id)
    return build_moral_graph(values, votes, params)


# --- provenance (docs/method.md §8) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EdgeProvenance:
    """One kept edge touching the value: who is wiser than whom, how people voted, on which stories."""

    source_id: str
    source_title: str
    wiser_id: str
    wiser_title: str
    contexts: tuple[str, ...]
    counts: Mapping[str, int]
    wiser_likelihood: float
    entropy: float
    #: Stories whose votes were counted on this pair of values (either direction: a vote on B→A
    #: is a "less wise" count of A→B), in the edge's contexts.
    stories: tuple[StoryRecord, ...]


@dataclass(frozen=True, slots=True)
class CardRef:
    """A member card in the value: its id and title only — never its author."""

    card_id: int
    title: str


@dataclass(frozen=True, slots=True)
class GraphValueProvenance:
    value_id: str
    title: str
    page_rank: float | None
    #: Edges into the value: it was voted wiser than their sources.
    incoming: tuple[EdgeProvenance, ...]
    #: Edges out of the value: their targets were voted wiser than it.
    outgoing: tuple[EdgeProvenance, ...]
    #: Values merged into this one (directly or through other merges).
    merged_value_ids: tuple[str, ...]
    #: Member cards currently in the value or in a value merged into it, oldest decision first.
    cards: tuple[CardRef, ...]


async def value_provenance_for_graph(
    database: Database,
    graph: MoralGraph,
    *,
    community_id: int,
    value_id: str,
    data: CommunityGraphInput | None = None,
) -> GraphValueProvenance:
    """How ``value_id`` got its place in ``graph`` (built from this community's votes).

    ``data`` is what the graph was built from; passing it avoids reading the votes again and keeps the
    stories consistent with the graph. Raises ``LookupError`` when the value is not in the graph."""
    value = next((v for v in graph.values if v.id == value_id), None)
    if value is None:
        raise LookupError(f"value {value_id} is not in the graph")
    if data is None:
        data = await load_community_graph_input(database, community_id=community_id)
    titles = {v.id: v.title for v in graph.values}

    def described(edge: Edge) -> EdgeProvenance:
        pair = {edge.source_id, edge.wiser_id}
        stories = tuple(
            s for s in data.stories if {s.from_value_id, s.to_value_id} == pair and s.context in edge.contexts
        )
        return EdgeProvenance(
            source_id=edge.source_id,
            source_title=titles.get(edge.source_id, ""),
            wiser_id=edge.wiser_id,
            wiser_title=titles.get(edge.wiser_id, ""),
            contexts=edge.contexts,
            counts=dict(zip(COUNT_FIELDS, edge.counts)),
            wiser_likelihood=edge.wiser_likelihood,
            entropy=edge.entropy,
            stories=stories,
        )

    edges = list(graph.edges)
    incoming = tuple(described(e) for e in edges if e.wiser_id == value_id)
    outgoing = tuple(described(e) for e in edges if e.source_id == value_id)

    async with database.session() as session:
        rows = await values_repo.all_values_of(session, community_id=community_id)
        merged = sorted(
            other
            for other, target in resolve_values(rows).items()
            if str(target) == value_id and str(other) != value_id
        )
        cards = (
            [
                CardRef(card_id, title)
                for card_id, title in await graph_repo.current_cards_of_values(
                    session, value_ids=[int(value_id), *merged]
                )
            ]
            if value_id.isdigit()
            else []
        )
    return GraphValueProvenance(
        value_id=value_id,
        title=value.title,
        page_rank=graph.page_rank.get(value_id),
        incoming=incoming,
        outgoing=outgoing,
        merged_value_ids=tuple(str(m) for m in merged),
        cards=tuple(cards),
    )
