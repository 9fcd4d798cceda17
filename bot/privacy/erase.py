"""``/mge forget``: a member's data in one community erased, in one transaction.

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
  optional explanation (``why``), which is their words, is erased, and the questions asking for it
  (``vote_reason_ask``) and their "Don't ask me again" are deleted. Exception: when a later table keeps
  rows that must point at the member (found by foreign key: the eligibility facts the graph reads for
  each vote — blocked, account age, join date, roles), those rows stay with the tombstone and the votes
  point at the tombstone instead of nothing, so each vote is judged exactly as before and a moderator's
  block still holds (emptying ``member_id`` would make a blocked member's votes count again).
* **Generalization picks** (the values offered after a confirmed card, docs/method.md §2) — kept so the pick
  rates in stats stay true, like votes, but the offer's ``member_id`` is emptied: what was shown and
  picked no longer names the member.
* **Ideology ratings** (the 1–5 rating of an interview's opening answer, docs/method.md §8) — deleted: they
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

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from bot.privacy.export import identity_strings
from bot.voting.inbox import inbox_for
from core.embeddings import policies_text
from core.interview import InterviewState
from core.text import counted
from storage import eligibility_repo, privacy_links_repo, reasons_repo
from storage import privacy_repo as repo
from storage.database import Database
from storage.models import (
    CanonicalValue,
    Community,
    IdeologyRating,
    InterviewTurn,
    ValueAssignment,
    ValuesCardRecord,
)

FORGOTTEN_PREFIX = "forgotten:"
ERASED_ERROR = "(erased with the member's data)"


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
    vote_reason_questions_deleted: int = 0
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
            self.identity_erased
            or self.dm_routes_deleted
            or self.mentions_replaced
            or self.delivery_records_deleted
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
                f"{counted(self.messages_erased, 'interview message')} "
                f"(the transcripts of {counted(self.interviews_emptied, 'interview')})"
            )
        if self.interviews_stopped:
            lines.append(f"{counted(self.interviews_stopped, 'unfinished interview')} stopped")
        if self.cards_deleted:
            with_values = f"; {counted(self.values_deleted, 'value')} with them" if self.values_deleted else ""
            lines.append(
                f"{counted(self.cards_deleted, 'values card')} deleted (drafts, and cards only you held that no "
                f"story or poll uses{with_values})"
            )
        if self.cards_kept_without_author:
            kept = self.cards_kept_without_author
            lines.append(
                f"{counted(kept, 'values card')} kept without your name "
                f"({'its' if kept == 1 else 'their'} text is part of values in the published graph)"
            )
        if self.votes_anonymised:
            reasons = f", {counted(self.vote_reasons_erased, 'explanation')} erased" if self.vote_reasons_erased else ""
            lines.append(
                f"{counted(self.votes_anonymised, 'vote')} anonymised (still counted, so published totals stay "
                f"true, but no longer linked to you{reasons})"
            )
        if self.generalization_offers_anonymised:
            cards = counted(self.generalization_offers_anonymised, "card")
            lines.append(
                f"your picks among other members' values (after {cards}) kept without your name (still counted "
                "in the statistics, no longer linked to you)"
            )
        if self.ideology_ratings_deleted:
            ratings = counted(self.ideology_ratings_deleted, "rating")
            lines.append(f"{ratings} of your first answers (a research measure)")
        if self.dm_routes_deleted:
            lines.append(f"{counted(self.dm_routes_deleted, 'DM route')} to this community")
        if self.delivery_records_deleted:
            lines.append(f"{counted(self.delivery_records_deleted, 'message delivery record')}")
        if self.reaction_events_deleted:
            lines.append(
                f"{counted(self.reaction_events_deleted, 'poll reaction record')} (the reactions your votes came from)"
            )
        if self.llm_error_texts_erased:
            lines.append(f"{counted(self.llm_error_texts_erased, 'language-model error text')}")
        mentions = sum(self.mentions_replaced.values())
        if mentions:
            lines.append(
                f"your account id in {counted(mentions, 'other record')} (e.g. the moderators' audit log), "
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
        return "This erases what is stored about you in this community, and cannot be undone:\n" + "\n".join(
            f"• {line}" for line in lines
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
        tokens, exact = identity_strings(community.platform, platform_user_id)
        report.mentions_replaced = await privacy_links_repo.pseudonymise(
            session,
            community_id=community_id,
            tokens=tokens,
            exact=exact,
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
        report.decisions_deleted = await repo.delete_where_in(
            session, ValueAssignment, ValueAssignment.card_id, card_ids
        )
        report.values_deleted = await repo.delete_where_in(session, CanonicalValue, CanonicalValue.id, value_ids)
        report.cards_deleted = await repo.delete_where_in(session, ValuesCardRecord, ValuesCardRecord.id, card_ids)
        report.embeddings_deleted = await repo.delete_embeddings(session, texts=texts)

    # Votes: still counted, no longer theirs. Where later tables keep facts about the voter that the
    # graph reads per vote (eligibility: blocked, account age, roles), the votes stay with the anonymous
    # tombstone that keeps those facts, so every vote is judged as before and a block still holds.
    community = await session.get(Community, community_id)
    assert community is not None
    report.reaction_events_deleted = await repo.delete_reaction_records(
        session,
        platform=community.platform,
        external_id=community.external_id,
        platform_user_id=member.platform_user_id,
        voter_key=f"member:{member_id}",
    )
    # The questions why they voted go with the reasons (before the tables that must keep the tombstone are counted).
    report.vote_reason_questions_deleted = await reasons_repo.delete_member_rows(session, member_id=member_id)
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

    shared = await privacy_links_repo.other_cards_in_values(session, value_ids=all_values, card_ids=card_ids)
    shared |= await privacy_links_repo.values_in_stories_or_merges(session, value_ids=all_values)
    shared |= await privacy_links_repo.referenced_elsewhere(
        session, table="canonical_value", ids=all_values, known=privacy_links_repo.KNOWN_VALUE_REFERENCES
    )
    kept = await privacy_links_repo.referenced_elsewhere(
        session, table="values_card", ids=card_ids, known=privacy_links_repo.KNOWN_CARD_REFERENCES
    )

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
