"""Writing an imported deliberation (``bot.importing.sources``) into a community, in one transaction:
everything lands or nothing does. Importing the same source again finds every row it wrote and adds none.

* a case becomes a scenario (closed: nobody is interviewed on an imported case); a context is a context
  of the community, linked to its case's scenario;
* a value becomes a canonical value whose ``imported_from`` says where it came from
  (``dft:<source>#<id>``); it holds no member card;
* the stories voted on become transition stories (the first story text seen for a context and pair;
  prompt hash ``imported``, model ``imported from <source>``), each with one closed poll on the
  ``import`` platform holding its votes;
* a vote keeps its choice and time; its voter becomes an anonymous key, a hash of the source and the
  source's voter id, so one voter's votes stay together and no id of the source is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from bot.importing.sources import Deliberation, ImportedVote, context_order
from storage import communities_repo, imports_repo, polls_repo, stories_repo
from storage.database import Database

#: A story needs text; the published moral graph has none.
NO_STORY_TEXT = "(imported from a moral graph summary, which does not keep the stories voted on)"


@dataclass(frozen=True, slots=True)
class ImportReport:
    community_id: int
    source: str
    kind: str
    values_added: int
    contexts: int
    stories_added: int
    votes_added: int
    votes_in_source: int


async def import_deliberation(
    database: Database, deliberation: Deliberation, *, community: str, source: str, now: datetime
) -> ImportReport:
    """Write ``deliberation`` into the console community named ``community`` (made if new)."""
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform="console", external_id=community, name=community, now=now
        )
        community_id = row.id
        earliest = min((v.cast_at for v in deliberation.votes if v.cast_at is not None), default=now)

        context_ids: dict[str, int] = {}
        for text in context_order(deliberation):
            added = await stories_repo.add_context(
                session, community_id=community_id, text=text, source="import", now=earliest
            )
            context_ids[text] = added.id
        for text, contexts in deliberation.scenarios.items():
            scenario = await imports_repo.find_scenario(session, community_id=community_id, text=text)
            if scenario is None:
                scenario = await imports_repo.add_closed_scenario(
                    session, community_id=community_id, text=text, now=earliest
                )
            for linked in contexts:
                await stories_repo.link_context(session, scenario_id=scenario.id, context_id=context_ids[linked])

        value_ids: dict[str, int] = {}
        values_added = 0
        for value in deliberation.values:
            key = f"{deliberation.kind}:{source}#{value.key}"
            found = await imports_repo.find_imported_value(session, community_id=community_id, imported_from=key)
            if found is None:
                found = await imports_repo.add_imported_value(
                    session,
                    community_id=community_id,
                    title=value.title,
                    description=value.description,
                    policies=list(value.policies),
                    imported_from=key,
                    now=value.created_at or earliest,
                )
                values_added += 1
            value_ids[value.key] = found.id

        stories_added = votes_added = 0
        polls: list[int] = []
        for (context_text, from_key, to_key), votes in _by_story(deliberation.votes).items():
            story = await imports_repo.find_story(
                session,
                context_id=context_ids[context_text],
                from_value_id=value_ids[from_key],
                to_value_id=value_ids[to_key],
            )
            if story is None:
                story = await stories_repo.add_story(
                    session,
                    community_id=community_id,
                    context_id=context_ids[context_text],
                    from_value_id=value_ids[from_key],
                    to_value_id=value_ids[to_key],
                    story=votes[0].story or NO_STORY_TEXT,
                    steps={"imported_from": f"{deliberation.kind}:{source}"},
                    prompt_sha="imported",
                    model=f"imported from {source}"[:200],
                    run_id=None,
                    now=min((v.cast_at for v in votes if v.cast_at is not None), default=earliest),
                )
                await session.flush()
                stories_added += 1
            poll, _ = await imports_repo.import_poll(
                session, community_id=community_id, story_id=story.id, source=source[:64], opened_at=story.created_at
            )
            polls.append(poll.id)
            for vote in votes:
                votes_added += await imports_repo.add_vote(
                    session,
                    community_id=community_id,
                    poll_id=poll.id,
                    voter_key=_voter_key(source, vote.voter),
                    choice=vote.choice,
                    cast_at=vote.cast_at or now,
                )
        for poll_id in polls:
            held = await polls_repo.lock_poll(session, poll_id=poll_id)
            assert held is not None
            held.tallies = await polls_repo.count_votes(session, poll_id=poll_id)
            session.add(held)
        await session.commit()
    return ImportReport(
        community_id,
        source,
        deliberation.kind,
        values_added,
        len(context_ids),
        stories_added,
        votes_added,
        len(deliberation.votes),
    )


def _by_story(votes: list[ImportedVote]) -> dict[tuple[str, str, str], list[ImportedVote]]:
    grouped: dict[tuple[str, str, str], list[ImportedVote]] = {}
    for vote in votes:
        grouped.setdefault((vote.context, vote.from_key, vote.to_key), []).append(vote)
    return grouped


def _voter_key(source: str, voter: str) -> str:
    digest = hashlib.sha256(f"{source}\0{voter}".encode()).hexdigest()
    return f"imported:{digest[:24]}"
