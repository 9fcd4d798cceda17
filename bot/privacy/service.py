"""Members control their own data: ``/mge mydata`` (everything stored about them in one community, as
JSON) and ``/mge forget`` (erase it, after a confirmation). Both are scoped to one community: the same
person in another guild or workspace is another member, and their data there is untouched.

What ``forget`` does, and why (storage/privacy_repo.py lists where each kind of data lives):

* **Transcripts** — every turn of every interview is deleted. The interview rows stay, emptied (state,
  timestamps, token counts), so published participation counts and token accounting stay true; they
  point at the member's row, which is itself erased to an anonymous tombstone (below).
* **Values cards** — a card that is (or was) part of a value shared with another member's card, or
  whose value is named by a transition story (and so by polls and the published graph), or that takes
  part in a merge, is **kept without its author** (``author_member_id`` emptied): its words are the text
  of a value others voted on, and removing them would change what was published. Every other card —
  drafts, and confirmed cards whose value is the member's alone and never reached a story — is
  **deleted**, with its value, the decisions about it and its cached embedding.
* **Votes** — kept so published totals stay true, but ``member_id`` is emptied and ``voter_key`` becomes
  one new random key (the same for all of the member's votes, so a former member still counts as one
  voter and their votes stay distinct from everyone else's; it can't be linked back to them). The
  optional explanation (``why``), which is their words, is erased. Exception: when a later table keeps
  rows that must point at the member (found by foreign key: the eligibility facts the graph reads for
  each vote — blocked, account age, join date, roles), those rows stay with the tombstone and the votes
  point at the tombstone instead of nothing, so each vote is judged exactly as before and a moderator's
  block still holds (emptying ``member_id`` would make a blocked member's votes count again).
* **Generalization picks** (the values offered after a confirmed card, MGE.md §2) — kept so the pick
  rates in stats stay true, like votes, but the offer's ``member_id`` is emptied: what was shown and
  picked no longer names the member.
* **Ideology ratings** (the 1–5 rating of an interview's opening answer, MGE.md §8) — deleted: they
  describe the member's own words, which are erased with the transcript.
* **Identity** — the member row keeps its id (so SQLite never hands the id to someone else, and rows
  that must point somewhere can) but loses everything about the person: the platform user id becomes a
  random ``forgotten:…`` key, the display name and consent time are emptied, ``forgotten_at`` is set.
  Their DM route to this community is deleted, the delivery records of their messages and votes are
  deleted, LLM error texts on their interviews are erased, and ``<platform>:<user id>`` in any text
  column of the community (the audit log's actor, a moderator decision) becomes a random pseudonym.

The erasure is one transaction; running it again finds no member and changes nothing. Afterwards the
person can ``/mge join`` again and is a new member.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.voting.inbox import inbox_for
from core.cards import ValueStatus
from core.embeddings import policies_text
from core.interview import InterviewState
from core.messages import CommunityRef
from storage import eligibility_repo
from storage import privacy_repo as repo
from storage.database import Database
from storage.models import (
    CanonicalValue,
    Community,
    IdeologyRating,
    Interview,
    InterviewTurn,
    ValueAssignment,
    ValuesCardRecord,
)

FORMAT = "mge-member-data/1"
#: How long a member has to confirm `/mge forget`.
FORGET_CONFIRM_WINDOW = timedelta(minutes=5)
FORGOTTEN_PREFIX = "forgotten:"
ERASED_ERROR = "(erased with the member's data)"

EXPLANATION = (
    "Everything the Moral Graph Bot stores about you in this community, and nothing from any other "
    "community. 'interviews' holds your conversations with the bot word for word (your messages and the "
    "bot's); 'values_cards' the cards written from them, with the shared value each one is part of now; "
    "'dedup_verdicts' your answers when asked whether a shared value represents you; 'votes' your answers "
    "on story polls; 'generalization_picks' the other members' values you were shown after confirming a "
    "card, and which you picked as wise to consider for your question; 'ideology_ratings' how a language "
    "model rated your first answer in an interview (1 = not ideological, 5 = slogans only; a research "
    "measure, never used to decide anything about you); 'llm_calls' which model was asked on your behalf "
    "and how many tokens it used (the prompts themselves are not stored); 'dm_routes' and "
    "'delivery_records' what the bot keeps to route and de-duplicate your messages; 'poll_reactions' the "
    "reactions you added or removed under story polls, as the platform reported them; 'mentions' other "
    "records that name your account (e.g. the moderators' audit log). Moderators can read cards and "
    "statistics; other members see values and stories without your name. Run `/mge forget` to erase all "
    "of this."
)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- /mge mydata -----------------------------------------------------------------------------------------


async def export_member_data(database: Database, *, community_id: int, platform_user_id: str) -> dict:
    """Everything stored about ``platform_user_id`` in the community, as a JSON-ready dict.

    ``has_member_data(result)`` says whether anything was found. Raises ``LookupError`` for an unknown
    community id."""
    async with database.session() as session:
        community = await session.get(Community, community_id)
        if community is None:
            raise LookupError(f"no community {community_id}")
        data: dict[str, Any] = {
            "format": FORMAT,
            "exported_at": _when(utcnow()),
            "explanation": EXPLANATION,
            "community": {"platform": community.platform, "id": community.external_id, "name": community.name},
            "member": None,
            "interviews": [],
            "values_cards": [],
            "dedup_verdicts": [],
            "votes": [],
            "generalization_picks": [],
            "ideology_ratings": [],
            "dm_routes": [],
            "delivery_records": [],
            "mentions": [],
            "other_records": {},
        }
        routes = await repo.dm_routes_to(
            session, community_id=community_id, platform=community.platform, platform_user_id=platform_user_id
        )
        data["dm_routes"] = [
            {"platform": r.platform, "platform_user_id": r.platform_user_id, "updated_at": _when(r.updated_at)}
            for r in routes
        ]
        tokens, exact = _identity_strings(community.platform, platform_user_id)
        data["mentions"] = [
            {"table": table.name, "column": column.name, "record": _jsonable(row)}
            for table, column, _is_json, row in await repo.rows_naming(
                session, community_id=community_id, tokens=tokens, exact=exact
            )
        ]
        member = await repo.find_member(session, community_id=community_id, platform_user_id=platform_user_id)
        if member is None:
            return data
        data["member"] = {
            "platform_user_id": member.platform_user_id,
            "display_name": member.display_name,
            "consented_at": _when(member.consented_at),
            "joined_at": _when(member.created_at),
        }

        interviews = await repo.interviews_of(session, community_id=community_id, member_id=member.id)
        interview_ids = [i.id for i in interviews]
        turns = await repo.turns_of(session, interview_ids=interview_ids)
        calls = await repo.llm_calls_of(session, interview_ids=interview_ids)
        cards = await repo.cards_of(session, community_id=community_id, member_id=member.id)
        scenarios = await repo.scenarios_by_id(
            session, ids=[i.scenario_id for i in interviews] + [c.scenario_id for c in cards]
        )
        data["interviews"] = [
            _interview_json(interview, turns, calls, scenarios) for interview in interviews
        ]

        assignments = await repo.assignments_of_cards(session, card_ids=[c.id for c in cards])
        values = await repo.values_of_community(session, community_id=community_id)
        data["values_cards"] = [_card_json(card, assignments, values, scenarios) for card in cards]
        data["dedup_verdicts"] = [
            {
                "card_id": a.card_id,
                "value_id": a.canonical_value_id,
                "value_title": values[a.canonical_value_id].title if a.canonical_value_id in values else None,
                "agrees": a.member_agrees,
                "decided_at": _when(a.created_at),
                "current": a.superseded_at is None,
            }
            for a in assignments
            if a.member_agrees is not None
        ]

        votes = await repo.votes_of(session, community_id=community_id, member_id=member.id)
        data["votes"] = [
            {
                "poll_id": poll.id,
                "poll_state": poll.state,
                "story_id": story.id,
                "context": context.text,
                "from_value": _value_title(values, story.from_value_id),
                "to_value": _value_title(values, story.to_value_id),
                "story": story.story,
                "choice": vote.choice,
                "why": vote.why,
                "cast_at": _when(vote.cast_at),
                "updated_at": _when(vote.updated_at),
            }
            for vote, poll, story, context in votes
        ]
        offers = await repo.generalization_offers_of(session, community_id=community_id, member_id=member.id)
        offer_scenarios = await repo.scenarios_by_id(session, ids=[offer.scenario_id for offer, _ in offers])
        data["generalization_picks"] = [
            {
                "interview_id": offer.interview_id,
                "question": offer_scenarios[offer.scenario_id].text if offer.scenario_id in offer_scenarios else None,
                "offered_at": _when(offer.offered_at),
                "finished_at": _when(offer.closed_at),
                "values_shown": [
                    {
                        "position": shown.position,
                        "value": _value_title(values, shown.value_id),
                        "from_your_question": shown.own_scenario,
                        "picked": shown.picked_at is not None,
                        "picked_at": _when(shown.picked_at),
                    }
                    for shown in impressions
                ],
            }
            for offer, impressions in offers
        ]
        data["ideology_ratings"] = [
            {
                "interview_id": rating.interview_id,
                "score": rating.score,
                "reason": rating.reason,
                "model": rating.model,
                "prompt_sha": rating.prompt_sha,
                "rated_at": _when(rating.rated_at),
            }
            for rating in await repo.ideology_ratings_of(
                session, community_id=community_id, interview_ids=interview_ids
            )
        ]
        events = await repo.inbound_events_at(
            session,
            community_id=community_id,
            message_times=[t.created_at for t in turns if t.role == "member"],
            vote_times=[when for vote, *_ in votes for when in (vote.cast_at, vote.updated_at)],
        )
        data["delivery_records"] = [{"event_id": e.event_id, "received_at": _when(e.received_at)} for e in events]
        data["poll_reactions"] = [
            {"channel_id": e.channel_id, "message_id": e.message_id, "choice": e.choice, "added": e.added,
             "received_at": _when(e.received_at), "outcome": e.outcome}
            for e in await repo.reaction_events_of(
                session, platform=community.platform, external_id=community.external_id,
                platform_user_id=member.platform_user_id,
            )
        ]

        for table, column in repo.member_reference_columns():
            rows = await repo.rows_referencing(session, table, column, [member.id])
            if rows:
                data["other_records"].setdefault(table.name, []).extend(_jsonable(row) for row in rows)
        return data


def has_member_data(data: dict) -> bool:
    return bool(data.get("member") or data.get("dm_routes") or data.get("mentions"))


def export_filename(data: dict, *, today: date | None = None) -> str:
    day = (today or utcnow().date()).isoformat()
    return f"mge-my-data-{data['community']['platform']}-{day}.json"


def export_bytes(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def export_summary(data: dict) -> str:
    """One line on what the file holds, for the message it comes with."""
    interviews = data["interviews"]
    messages = sum(len(i["transcript"]) for i in interviews)
    parts = [
        _count(len(interviews), "interview") + f" ({_count(messages, 'message')})",
        _count(len(data["values_cards"]), "values card"),
        _count(len(data["votes"]), "vote"),
    ]
    return "It holds " + ", ".join(parts) + "."


def _interview_json(interview: Interview, turns: list[InterviewTurn], calls, scenarios) -> dict:
    scenario = scenarios.get(interview.scenario_id) if interview.scenario_id is not None else None
    return {
        "id": interview.id,
        "question": scenario.text if scenario else None,
        "state": interview.state,
        "started_at": _when(interview.created_at),
        "last_activity_at": _when(interview.last_activity_at),
        "ended_at": _when(interview.ended_at),
        "input_tokens": interview.input_tokens,
        "output_tokens": interview.output_tokens,
        "transcript": [
            {
                "seq": t.seq,
                "from": "you" if t.role == "member" else "bot",
                "kind": t.kind,
                "text": t.content,
                "at": _when(t.created_at),
                **({"model": t.model, "prompt_sha": t.prompt_sha} if t.model else {}),
            }
            for t in turns
            if t.interview_id == interview.id
        ],
        "llm_calls": [
            {
                "purpose": c.purpose,
                "model": c.model,
                "prompt_sha": c.prompt_sha,
                "input_tokens": c.input_tokens,
                "output_tokens": c.output_tokens,
                "ok": c.ok,
                "error": c.error,
                "at": _when(c.created_at),
            }
            for c in calls
            if c.interview_id == interview.id
        ],
    }


def _card_json(
    card: ValuesCardRecord, assignments: list[ValueAssignment], values: dict[int, CanonicalValue], scenarios
) -> dict:
    history = [a for a in assignments if a.card_id == card.id]
    current = next((a for a in reversed(history) if a.superseded_at is None), None)
    scenario = scenarios.get(card.scenario_id) if card.scenario_id is not None else None
    value = None
    if current is not None:
        placed = _follow_merges(values, current.canonical_value_id)
        if placed is not None:
            value = {
                "id": placed.id,
                "title": placed.title,
                "status": placed.status,
                "shows_your_card": placed.source_card_id == card.id,
            }
    return {
        "id": card.id,
        "interview_id": card.interview_id,
        "question": scenario.text if scenario else None,
        "title": card.title,
        "description": card.description,
        "policies": list(card.policies),
        "status": card.status,
        "written_by": {"model": card.model, "prompt_sha": card.prompt_sha},
        "created_at": _when(card.created_at),
        "confirmed_at": _when(card.confirmed_at),
        "value": value,
        "decisions": [
            {
                "decision": a.decision,
                "value_id": a.canonical_value_id,
                "reason": a.reason,
                "by": a.actor,
                "you_agreed": a.member_agrees,
                "at": _when(a.created_at),
                "superseded_at": _when(a.superseded_at),
            }
            for a in history
        ],
    }


def _follow_merges(values: dict[int, CanonicalValue], value_id: int) -> CanonicalValue | None:
    seen: set[int] = set()
    value = values.get(value_id)
    while value is not None and value.status == ValueStatus.MERGED and value.merged_into_id is not None and value.id not in seen:
        seen.add(value.id)
        value = values.get(value.merged_into_id)
    return value


def _value_title(values: dict[int, CanonicalValue], value_id: int) -> dict:
    value = values.get(value_id)
    return {"id": value_id, "title": value.title if value else None}


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _identity_strings(platform: str, platform_user_id: str) -> tuple[list[str], list[str]]:
    """What names the member in free text: ``<platform>:<user id>`` anywhere, the bare id as a whole value."""
    return [f"{platform}:{platform_user_id}"], [platform_user_id]


# --- /mge forget -------------------------------------------------------------------------------------------


@dataclass
class ForgetReport:
    """What an erasure did, in counts (all zero when there was nothing to erase)."""

    #: The member row was found and erased to an anonymous tombstone.
    identity_erased: bool = False
    messages_erased: int = 0
    interviews_emptied: int = 0
    interviews_stopped: int = 0
    cards_deleted: int = 0
    cards_kept_without_author: int = 0
    values_deleted: int = 0
    decisions_deleted: int = 0
    votes_anonymised: int = 0
    vote_reasons_erased: int = 0
    generalization_offers_anonymised: int = 0
    ideology_ratings_deleted: int = 0
    llm_error_texts_erased: int = 0
    delivery_records_deleted: int = 0
    reaction_events_deleted: int = 0
    dm_routes_deleted: int = 0
    embeddings_deleted: int = 0
    #: ``table.column`` → rows where the member's account id was replaced by a pseudonym.
    mentions_replaced: dict[str, int] = field(default_factory=dict)
    #: ``table.column`` → rows of other tables unlinked from the member.
    other_links_removed: dict[str, int] = field(default_factory=dict)

    @property
    def erased_anything(self) -> bool:
        return bool(
            self.identity_erased or self.dm_routes_deleted or self.mentions_replaced or self.delivery_records_deleted
            or self.reaction_events_deleted
        )

    def lines(self) -> list[str]:
        """What was (or would be) erased, one item a line, for the member."""
        if not self.erased_anything:
            return []
        lines = []
        if self.identity_erased:
            lines.append("your account id, name and consent record")
        if self.messages_erased or self.interviews_emptied:
            lines.append(
                f"{_count(self.messages_erased, 'interview message')} "
                f"(the transcripts of {_count(self.interviews_emptied, 'interview')})"
            )
        if self.interviews_stopped:
            lines.append(f"{_count(self.interviews_stopped, 'unfinished interview')} stopped")
        if self.cards_deleted:
            with_values = f"; {_count(self.values_deleted, 'value')} with them" if self.values_deleted else ""
            lines.append(
                f"{_count(self.cards_deleted, 'values card')} deleted (drafts, and cards only you held that no "
                f"story or poll uses{with_values})"
            )
        if self.cards_kept_without_author:
            kept = self.cards_kept_without_author
            lines.append(
                f"{_count(kept, 'values card')} kept without your name "
                f"({'its' if kept == 1 else 'their'} text is part of values in the published graph)"
            )
        if self.votes_anonymised:
            reasons = f", {_count(self.vote_reasons_erased, 'explanation')} erased" if self.vote_reasons_erased else ""
            lines.append(
                f"{_count(self.votes_anonymised, 'vote')} anonymised (still counted, so published totals stay "
                f"true, but no longer linked to you{reasons})"
            )
        if self.generalization_offers_anonymised:
            cards = _count(self.generalization_offers_anonymised, "card")
            lines.append(
                f"your picks among other members' values (after {cards}) kept without your name (still counted "
                "in the statistics, no longer linked to you)"
            )
        if self.ideology_ratings_deleted:
            ratings = _count(self.ideology_ratings_deleted, "rating")
            lines.append(f"{ratings} of your first answers (a research measure)")
        if self.dm_routes_deleted:
            lines.append(f"{_count(self.dm_routes_deleted, 'DM route')} to this community")
        if self.delivery_records_deleted:
            lines.append(f"{_count(self.delivery_records_deleted, 'message delivery record')}")
        if self.reaction_events_deleted:
            lines.append(f"{_count(self.reaction_events_deleted, 'poll reaction record')} (the reactions your votes came from)")
        if self.llm_error_texts_erased:
            lines.append(f"{_count(self.llm_error_texts_erased, 'language-model error text')}")
        mentions = sum(self.mentions_replaced.values())
        if mentions:
            lines.append(
                f"your account id in {_count(mentions, 'other record')} (e.g. the moderators' audit log), "
                "replaced by a pseudonym"
            )
        return lines

    def text(self) -> str:
        lines = self.lines()
        if not lines:
            return NOTHING_STORED_TEXT
        return (
            "Done: your data in this community is erased. This cannot be undone.\n"
            + "\n".join(f"• {line}" for line in lines)
            + "\nYou can start afresh any time with `/mge join`."
        )

    def preview_text(self) -> str:
        """The warning shown before the member confirms."""
        lines = self.lines()
        if not lines:
            return NOTHING_STORED_TEXT
        return (
            "This erases what is stored about you in this community, and cannot be undone:\n"
            + "\n".join(f"• {line}" for line in lines)
        )

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


NOTHING_STORED_TEXT = "There is nothing stored about you in this community, so there is nothing to erase."


async def forget_member(
    database: Database, *, community_id: int, platform_user_id: str, now: datetime, dry_run: bool = False
) -> ForgetReport:
    """Erase the member's data in the community (see the module docstring), in one transaction.

    ``dry_run`` does everything and rolls it back: the report says what confirming would erase.
    Idempotent: when the member was already forgotten (or never stored), nothing changes."""
    # Reactions recorded but not yet applied become votes first, so they are anonymised with the rest
    # (a preview need not wait for them).
    if not dry_run:
        await inbox_for(database).drain()
    async with database.session() as session:
        await repo.lock_for_erasure(session, community_id=community_id)
        community = await session.get(Community, community_id)
        if community is None:
            raise LookupError(f"no community {community_id}")
        report = ForgetReport()
        member = await repo.find_member(
            session, community_id=community_id, platform_user_id=platform_user_id, for_update=True
        )
        if member is not None:
            await _erase_member(session, member, report, now=now)
        routes = await repo.dm_routes_to(
            session, community_id=community_id, platform=community.platform, platform_user_id=platform_user_id
        )
        for route in routes:
            await session.delete(route)
        report.dm_routes_deleted = len(routes)
        tokens, exact = _identity_strings(community.platform, platform_user_id)
        report.mentions_replaced = await repo.pseudonymise(
            session, community_id=community_id, tokens=tokens, exact=exact,
            pseudonym=FORGOTTEN_PREFIX + secrets.token_hex(6),
        )
        if dry_run:
            await session.rollback()
        else:
            await session.commit()
        return report


async def _erase_member(session, member, report: ForgetReport, *, now: datetime) -> None:
    community_id, member_id = member.community_id, member.id

    # Collected before anything is deleted: the instants the member's messages and votes were written.
    interviews = await repo.interviews_of(session, community_id=community_id, member_id=member_id)
    interview_ids = [i.id for i in interviews]
    turns = await repo.turns_of(session, interview_ids=interview_ids)
    votes = await repo.vote_rows_of(session, community_id=community_id, member_id=member_id)
    events = await repo.inbound_events_at(
        session,
        community_id=community_id,
        message_times=[t.created_at for t in turns if t.role == "member"],
        vote_times=[when for vote in votes for when in (vote.cast_at, vote.updated_at)],
    )
    for event in events:
        await session.delete(event)
    report.delivery_records_deleted = len(events)

    # The ideology screen's ratings describe the member's words: they go with the transcript.
    report.ideology_ratings_deleted = await repo.delete_where_in(
        session, IdeologyRating, IdeologyRating.interview_id, interview_ids
    )
    # Generalization picks stay counted, like votes, but no longer name the member.
    report.generalization_offers_anonymised = await repo.unlink_generalization_offers(
        session, community_id=community_id, member_id=member_id
    )

    # Transcripts.
    report.messages_erased = await repo.delete_where_in(
        session, InterviewTurn, InterviewTurn.interview_id, interview_ids
    )
    for interview in interviews:
        if InterviewState(interview.state).is_active:
            interview.state = InterviewState.CANCELLED
            interview.ended_at = interview.ended_at or now
            report.interviews_stopped += 1
        interview.previous_state = None
        session.add(interview)
    report.interviews_emptied = len(interviews)
    for call in await repo.llm_calls_of(session, interview_ids=interview_ids):
        if call.error is not None:
            call.error = ERASED_ERROR
            session.add(call)
            report.llm_error_texts_erased += 1

    # Cards: delete what is the member's alone, keep the rest without an author.
    cards = await repo.cards_of(session, community_id=community_id, member_id=member_id)
    deletable, doomed_values = await _deletable_cards(session, cards)
    for card in cards:
        if card.id not in deletable:
            card.author_member_id = None
            session.add(card)
    report.cards_kept_without_author = len(cards) - len(deletable)
    if deletable:
        doomed_cards = [c for c in cards if c.id in deletable]
        values = await repo.values_of_community(session, community_id=community_id)
        texts = {policies_text(c) for c in doomed_cards}
        texts |= {policies_text(values[v]) for v in doomed_values if v in values}
        await session.flush()
        card_ids, value_ids = list(deletable), list(doomed_values)
        report.decisions_deleted = await repo.delete_where_in(session, ValueAssignment, ValueAssignment.card_id, card_ids)
        report.values_deleted = await repo.delete_where_in(session, CanonicalValue, CanonicalValue.id, value_ids)
        report.cards_deleted = await repo.delete_where_in(session, ValuesCardRecord, ValuesCardRecord.id, card_ids)
        report.embeddings_deleted = await repo.delete_embeddings(session, texts=texts)

    # Votes: still counted, no longer theirs. Where later tables keep facts about the voter that the
    # graph reads per vote (eligibility: blocked, account age, roles), the votes stay with the anonymous
    # tombstone that keeps those facts, so every vote is judged as before and a block still holds.
    community = await session.get(Community, community_id)
    assert community is not None
    report.reaction_events_deleted = await repo.delete_reaction_records(
        session, platform=community.platform, external_id=community.external_id,
        platform_user_id=member.platform_user_id, voter_key=f"member:{member_id}",
    )
    bound = await repo.rows_bound_to_member(session, member_id=member_id)
    voter_key = FORGOTTEN_PREFIX + secrets.token_hex(16)
    for vote in votes:
        vote.member_id = member_id if bound else None
        vote.voter_key = voter_key
        if vote.why is not None:
            vote.why = None
            report.vote_reasons_erased += 1
        session.add(vote)
    report.votes_anonymised = len(votes)

    await session.flush()
    report.other_links_removed = await repo.null_member_references(session, member_id=member_id)
    # The eligibility facts the tombstone keeps are cut to the day: a Discord account's creation time is
    # exact to the millisecond and would point back at the account; rules count whole days anyway.
    await eligibility_repo.coarsen_facts(session, member_id=member_id, now=now)

    # Identity: the row stays (interviews point at it; SQLite never reuses its id) but names no one.
    member.platform_user_id = FORGOTTEN_PREFIX + secrets.token_hex(16)
    member.display_name = ""
    member.consented_at = None
    member.forgotten_at = now
    session.add(member)
    await session.flush()
    report.identity_erased = True


async def _deletable_cards(session, cards: list[ValuesCardRecord]) -> tuple[set[int], set[int]]:
    """The member's cards that can be deleted, and the values that go with them.

    A card can go when every value it was ever assigned to, or that shows its text, is the member's
    alone (no other member's card ever in it), is named by no transition story, takes part in no merge,
    and nothing else in the schema points at it; the same holds for the card itself. A card that must
    stay keeps its values, so the other cards of those values must stay too (repeated until stable)."""
    card_ids = [c.id for c in cards]
    if not card_ids:
        return set(), set()
    assignments = await repo.assignments_of_cards(session, card_ids=card_ids)
    values = await repo.values_of_community(session, community_id=cards[0].community_id)
    values_of: dict[int, set[int]] = {card_id: set() for card_id in card_ids}
    for a in assignments:
        values_of[a.card_id].add(a.canonical_value_id)
    for value in values.values():
        if value.source_card_id in values_of:
            values_of[value.source_card_id].add(value.id)
    all_values = sorted({v for vs in values_of.values() for v in vs})

    shared = await repo.other_cards_in_values(session, value_ids=all_values, card_ids=card_ids)
    shared |= await repo.values_in_stories_or_merges(session, value_ids=all_values)
    shared |= await repo.referenced_elsewhere(
        session, table="canonical_value", ids=all_values, known=repo.KNOWN_VALUE_REFERENCES
    )
    kept = await repo.referenced_elsewhere(session, table="values_card", ids=card_ids, known=repo.KNOWN_CARD_REFERENCES)

    changed = True
    while changed:
        changed = False
        for card_id, card_values in values_of.items():
            if card_id not in kept and card_values & shared:
                kept.add(card_id)
                changed = True
            if card_id in kept and not card_values <= shared:
                shared |= card_values
                changed = True
    deletable = set(card_ids) - kept
    doomed_values = {v for card_id in deletable for v in values_of[card_id]}
    return deletable, doomed_values


# --- confirming ----------------------------------------------------------------------------------------------


def confirmation_is_fresh(asked_at: datetime, now: datetime, window: timedelta = FORGET_CONFIRM_WINDOW) -> bool:
    """True when a confirmation given at ``now`` answers a request made at ``asked_at``."""
    return timedelta(0) <= now - asked_at <= window


class ForgetConfirmations:
    """Who asked to be forgotten, and when, for platforms that confirm by a second command
    (`/mge forget confirm`). In memory: after a restart the member simply asks again."""

    def __init__(self, window: timedelta = FORGET_CONFIRM_WINDOW) -> None:
        self.window = window
        self._asked: dict[tuple[str, str, str], datetime] = {}

    def ask(self, community: CommunityRef, platform_user_id: str, now: datetime) -> None:
        self._forget_stale(now)
        self._asked[(community.platform, community.external_id, platform_user_id)] = now

    def confirm(self, community: CommunityRef, platform_user_id: str, now: datetime) -> bool:
        """True (once) when the member asked within the window."""
        asked = self._asked.pop((community.platform, community.external_id, platform_user_id), None)
        return asked is not None and confirmation_is_fresh(asked, now, self.window)

    def _forget_stale(self, now: datetime) -> None:
        for key, asked in list(self._asked.items()):
            if now - asked > self.window:
                del self._asked[key]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
