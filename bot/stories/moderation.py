"""A moderator's control over transition stories (docs/method.md §6): the stories of a pair they choose,
withdrawing a bad story, and correcting one's wording. `/mge stories …` on Discord and Slack and
`mge stories …` in the terminal call these.

* **pair** writes the stories of values A and B in one context, both directions, through the same prompt,
  schema and validation as the scheduled generation, stored with the prompt's hash and the answering
  model, and ``steps["chosen_by"]`` naming the moderator. A direction that already has a story is kept.
* **withdraw** retracts a story: it is no longer put to a vote, its open polls are closed (their tallies
  stored), and reactions arriving later change nothing. Its votes are kept in the database but left
  out of the graph: they judged a story the moderators disowned, so they are no evidence about the values.
* **edit** keeps the model's text and stores the moderator's beside it, with who and when; new polls,
  exports and the graph show the edited text. A poll already posted keeps its message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from bot.runtime.jobs import LLMRecorder
from bot.stories.generate import MODERATOR_PAIR, Draft, store_drafts, story_value, write_story
from bot.voting.polls import close_poll
from core.cards import ValueStatus
from core.framing import framing_of
from core.llm import LLM, LLMError
from core.prompts import load_prompt
from core.stories import EditedStory, StoryStatus
from storage import polls_repo, stories_repo, values_repo
from storage.database import Database
from storage.models import CanonicalValue, TransitionStory


class StoryActionError(ValueError):
    """A request a moderator can correct; the message says how."""


@dataclass(frozen=True, slots=True)
class PairStories:
    context_id: int
    context: str
    #: Ids of the stories written now, and of the directions that already had one.
    written: tuple[int, ...]
    existing: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WithdrawnStory:
    story_id: int
    status_before: str
    polls_closed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EditedStoryText:
    story_id: int
    before: str
    after: str


async def write_pair_stories(
    database: Database,
    *,
    llm: LLM,
    model: str,
    community_id: int,
    from_value_id: int,
    to_value_id: int,
    context_id: int | None,
    actor: str,
    now: datetime,
) -> PairStories:
    """Write the stories of the pair in ``context_id`` (or the one live context whose candidates hold
    both values). Raises ``StoryActionError`` for a bad request or an answer the schema refused (nothing
    is stored then), including a failure of the model's service."""
    if from_value_id == to_value_id:
        raise StoryActionError("A pair needs two different values.")
    async with database.session() as session:
        a = await _active_value(session, community_id, from_value_id)
        b = await _active_value(session, community_id, to_value_id)
        context = await _context_for(session, community_id, context_id, {a.id, b.id})
        context_id, context_text = context.id, context.text
        framings = await stories_repo.framings_of_contexts(session, community_id=community_id)
        framing = framing_of(framings.get(context_id, ()))
        stories = await stories_repo.stories_of_context(session, context_id=context_id)
        existing = {(s.from_value_id, s.to_value_id): s.id for s in stories}
        wanted = [(x, y) for x, y in ((a, b), (b, a)) if (x.id, y.id) not in existing]
        drafts: list[Draft] = []
        recorder = LLMRecorder(session, community_id, now)
        for x, y in ((story_value(p), story_value(q)) for p, q in wanted):
            try:
                draft, answered_by = await write_story(
                    recorder, llm=llm, model=model, context=context_text, framing=framing, a=x, b=y
                )
            except LLMError as error:
                await session.commit()  # the calls' records only
                # Neither direction is stored: voters must always be able to see both.
                raise StoryActionError(f"{error.member_text} Nothing was stored. ({error.detail})") from None
            drafts.append((x, y, draft, answered_by))
        await store_drafts(
            session,
            community_id=community_id,
            context_id=context_id,
            forward=(a.id, b.id),
            drafts=drafts,
            pair_steps={MODERATOR_PAIR: actor, "pair_reason": "chosen by a moderator"},
            prompt_sha=load_prompt("transition_story").sha,
            run_id=None,
            now=now,
        )
        await session.commit()
        after = {
            (s.from_value_id, s.to_value_id): s.id
            for s in await stories_repo.stories_of_context(session, context_id=context_id)
        }
    written = tuple(after[(x.id, y.id)] for x, y in wanted)
    kept = tuple(existing[key] for key in ((a.id, b.id), (b.id, a.id)) if key in existing)
    return PairStories(context_id, context_text, written, kept)


async def withdraw_story(database: Database, *, community_id: int, story_id: int, now: datetime) -> WithdrawnStory:
    """Retract the story and close its open polls (see the module docstring for its votes)."""
    async with database.session() as session:
        story = await _story(session, community_id, story_id)
        before = story.status
        if before == StoryStatus.RETRACTED:
            raise StoryActionError(f"Story {story_id} is already withdrawn.")
        story.status = StoryStatus.RETRACTED
        session.add(story)
        open_polls = await polls_repo.open_poll_ids_of_story(session, story_id=story_id)
        await session.commit()
    for poll_id in open_polls:
        await close_poll(database, poll_id=poll_id, now=now)
    return WithdrawnStory(story_id, before, tuple(open_polls))


async def edit_story(
    database: Database, *, community_id: int, story_id: int, text: str, actor: str, now: datetime
) -> EditedStoryText:
    """Show ``text`` instead of the story's current text, keeping the model's."""
    try:
        edited = EditedStory(text=text).text
    except ValidationError as error:
        raise StoryActionError(error.errors()[0]["msg"].removeprefix("Value error, ")) from None
    async with database.session() as session:
        story = await _story(session, community_id, story_id)
        before = story.shown_story
        story.edited_story, story.edited_by, story.edited_at = edited, actor, now
        session.add(story)
        await session.commit()
    return EditedStoryText(story_id, before, edited)


# --- reading -------------------------------------------------------------------------------------------


async def _story(session, community_id: int, story_id: int) -> TransitionStory:
    story = await stories_repo.get_story(session, community_id=community_id, story_id=story_id)
    if story is None:
        raise LookupError(f"No story {story_id} in this community (see the stories list).")
    return story


async def _active_value(session, community_id: int, value_id: int) -> CanonicalValue:
    value = await values_repo.get_value(session, community_id=community_id, value_id=value_id)
    if value is None or value.status != ValueStatus.ACTIVE:
        raise LookupError(f"No active value {value_id} in this community (see the values list).")
    return value


async def _context_for(session, community_id: int, context_id: int | None, value_ids: set[int]):
    if context_id is not None:
        context = await stories_repo.get_context(session, community_id=community_id, context_id=context_id)
        if context is None:
            raise LookupError(f"No context {context_id} in this community (see the contexts list).")
        return context
    shared = []
    for context in await stories_repo.live_contexts(session, community_id=community_id):
        candidates = await stories_repo.values_of_context(session, community_id=community_id, context_id=context.id)
        if value_ids <= {v.id for v in candidates}:
            shared.append(context)
    if len(shared) != 1:
        found = ", ".join(str(c.id) for c in shared) or "none"
        raise StoryActionError(
            f"Name the context: the values share {len(shared)} contexts as candidates ({found}). "
            "Any context of the community may be named."
        )
    return shared[0]
