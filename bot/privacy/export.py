"""``/mge mydata``: everything stored about a member in one community, as one JSON document — and
nothing from any other community (the same person elsewhere is another member).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from bot.values.languages import member_card
from core.cards import ValueStatus
from core.clock import utcnow
from core.text import counted
from storage import privacy_links_repo
from storage import privacy_repo as repo
from storage.database import Database
from storage.models import (
    CanonicalValue,
    Community,
    Interview,
    InterviewTurn,
    ValueAssignment,
    ValuesCardRecord,
)

FORMAT = "mge-member-data/1"

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
        tokens, exact = identity_strings(community.platform, platform_user_id)
        data["mentions"] = [
            {"table": table.name, "column": column.name, "record": _jsonable(row)}
            for table, column, _is_json, row in await privacy_links_repo.rows_naming(
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
        data["interviews"] = [_interview_json(interview, turns, calls, scenarios) for interview in interviews]

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
                "story": story.shown_story,  # as the polls show it: a moderator's edit, else the model's
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
            {
                "channel_id": e.channel_id,
                "message_id": e.message_id,
                "choice": e.choice,
                "added": e.added,
                "received_at": _when(e.received_at),
                "outcome": e.outcome,
            }
            for e in await repo.reaction_events_of(
                session,
                platform=community.platform,
                external_id=community.external_id,
                platform_user_id=member.platform_user_id,
            )
        ]

        for table, column in privacy_links_repo.member_reference_columns():
            rows = await privacy_links_repo.rows_referencing(session, table, column, [member.id])
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
        counted(len(interviews), "interview") + f" ({counted(messages, 'message')})",
        counted(len(data["values_cards"]), "values card"),
        counted(len(data["votes"]), "vote"),
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
        **_card_texts(card),
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
    while (
        value is not None
        and value.status == ValueStatus.MERGED
        and value.merged_into_id is not None
        and value.id not in seen
    ):
        seen.add(value.id)
        value = values.get(value.merged_into_id)
    return value


def _card_texts(card: ValuesCardRecord) -> dict:
    """The card as the member wrote it and, when that was in another language, as the community reads it."""
    own = member_card(card)
    texts: dict = {"title": own.title, "description": own.description, "policies": list(own.policies)}
    if card.member_title is not None:
        texts["language"] = card.language
        texts["in_community_language"] = {
            "title": card.title,
            "description": card.description,
            "policies": list(card.policies),
            "translated_by": {"model": card.translation_model, "prompt_sha": card.translation_prompt_sha},
        }
    return texts


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


def identity_strings(platform: str, platform_user_id: str) -> tuple[list[str], list[str]]:
    """What names the member in free text: ``<platform>:<user id>`` anywhere, the bare id as a whole value."""
    return [f"{platform}:{platform_user_id}"], [platform_user_id]
