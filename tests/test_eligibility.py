"""Who may vote: the rules judged at the time of each vote, blocked members, and the graph leaving such
votes out (kept, counted by reason) — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.graph.build import load_community_graph_input
from bot.voting.polls import apply_reaction
from core.eligibility import (
    ACCOUNT_TOO_NEW,
    BLOCKED,
    JOINED_TOO_RECENTLY,
    MISSING_ROLE,
    UNVERIFIED,
    Facts,
    Rules,
    exclusion_reason,
)
from core.messages import CommunityRef, Person
from storage import eligibility_repo
from storage.models import Member, Vote
from tests.fakes.story_rows import add_story
from tests.test_poll_selection import open_poll
from tests.test_scheduler import community_id

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HERE = CommunityRef("discord", "1001", "Here")


def test_a_vote_counts_unless_a_rule_or_a_block_says_otherwise():
    old = Facts(account_created_at=NOW - 400 * DAY, joined_at=NOW - 40 * DAY, role_ids=["7"])
    assert exclusion_reason(old, Rules(), at=NOW) is None
    assert exclusion_reason(None, Rules(), at=NOW) is None
    strict = Rules(min_account_age=30 * DAY, min_membership=30 * DAY, required_role_id="7")
    assert exclusion_reason(old, strict, at=NOW) is None
    assert exclusion_reason(Facts(NOW - 400 * DAY, NOW - 40 * DAY, ["7"], blocked=True), Rules(), at=NOW) == BLOCKED
    assert exclusion_reason(Facts(NOW - 3 * DAY, NOW - 40 * DAY, ["7"]), strict, at=NOW) == ACCOUNT_TOO_NEW
    assert exclusion_reason(Facts(NOW - 400 * DAY, NOW - 3 * DAY, ["7"]), strict, at=NOW) == JOINED_TOO_RECENTLY
    assert exclusion_reason(Facts(NOW - 400 * DAY, NOW - 40 * DAY, ["8"]), strict, at=NOW) == MISSING_ROLE
    assert exclusion_reason(Facts(), strict, at=NOW) == UNVERIFIED
    # Judged at the vote: the same member's vote from before they qualified stays out.
    young = Facts(account_created_at=NOW - 10 * DAY)
    assert exclusion_reason(young, Rules(min_account_age=30 * DAY), at=NOW) == ACCOUNT_TOO_NEW
    assert exclusion_reason(young, Rules(min_account_age=30 * DAY), at=NOW + 25 * DAY) is None
    assert "at least 30 day(s) old" in strict.describe() and Rules().describe() == "Every member's vote counts."


async def vote(database, poll, user: str, *, at: datetime, facts: Facts | None = None) -> None:
    await apply_reaction(
        database,
        community=HERE,
        platform="discord",
        channel_id=poll.channel_id,
        message_id=poll.message_id,
        person=Person(user, user),
        emoji="\u2705",
        added=True,
        event_id=None,
        now=at,
        facts=facts,
    )


async def member_id(database, user: str) -> int:
    async with database.session() as session:
        return (await session.exec(select(Member.id).where(Member.platform_user_id == user))).one()


async def test_the_graph_leaves_out_blocked_and_ineligible_votes_but_keeps_them(database):
    cid = await community_id(database, HERE)
    story = await add_story(database, HERE, now=NOW)
    poll = await open_poll(database, story, now=NOW, closes_at=None)
    await vote(database, poll, "old", at=NOW, facts=Facts(NOW - 400 * DAY, NOW - 100 * DAY, []))
    await vote(database, poll, "fresh", at=NOW, facts=Facts(NOW - 2 * DAY, NOW - 1 * DAY, []))
    await vote(database, poll, "troll", at=NOW, facts=Facts(NOW - 400 * DAY, NOW - 100 * DAY, []))
    await vote(database, poll, "slacker", at=NOW)  # no facts known

    data = await load_community_graph_input(database, community_id=cid)
    assert len(data.votes) == 4 and data.excluded_votes == {}

    async with database.session() as session:
        await eligibility_repo.set_blocked(session, member_id=await member_id(database, "troll"), blocked=True, now=NOW)
        rule = await eligibility_repo.rules_for_update(session, community_id=cid, now=NOW)
        rule.min_account_age_days = 30
        session.add(rule)
        await session.commit()
    data = await load_community_graph_input(database, community_id=cid)
    assert [v.voter_id for v in data.votes] == [f"member:{await member_id(database, 'old')}"]
    assert data.excluded_votes == {BLOCKED: 1, ACCOUNT_TOO_NEW: 1, UNVERIFIED: 1}
    async with database.session() as session:
        assert len((await session.exec(select(Vote))).all()) == 4  # kept

    # Facts arrive with later events and are kept when an event says nothing.
    await vote(database, poll, "slacker", at=NOW, facts=Facts(account_created_at=NOW - 90 * DAY))
    await vote(database, poll, "slacker", at=NOW, facts=Facts())
    data = await load_community_graph_input(database, community_id=cid)
    assert data.excluded_votes == {BLOCKED: 1, ACCOUNT_TOO_NEW: 1}

    # Another community's rules and blocks don't reach this one's votes, and the other way round.
    other = await community_id(database, CommunityRef("discord", "2002", "There"))
    async with database.session() as session:
        rule = await eligibility_repo.rules_for_update(session, community_id=other, now=NOW)
        rule.min_membership_days = 1000
        session.add(rule)
        await session.commit()
    assert (await load_community_graph_input(database, community_id=cid)).excluded_votes == {
        BLOCKED: 1,
        ACCOUNT_TOO_NEW: 1,
    }


async def test_forgetting_keeps_a_block_and_cuts_the_facts_to_the_day(database):
    from bot.privacy.erase import forget_member
    from storage.models import MemberFacts

    cid = await community_id(database, HERE)
    story = await add_story(database, HERE, now=NOW)
    poll = await open_poll(database, story, now=NOW, closes_at=None)
    created = datetime(2024, 10, 3, 14, 22, 11, 123000, tzinfo=UTC)
    await vote(database, poll, "troll", at=NOW, facts=Facts(created, NOW - 100 * DAY, ["7"]))
    troll = await member_id(database, "troll")
    async with database.session() as session:
        await eligibility_repo.set_blocked(session, member_id=troll, blocked=True, now=NOW)
        await session.commit()
    await forget_member(database, community_id=cid, platform_user_id="troll", now=NOW)
    async with database.session() as session:
        facts = await session.get(MemberFacts, troll)
    assert facts.account_created_at == datetime(2024, 10, 3, tzinfo=UTC)
    assert facts.blocked_at is not None
    assert (await load_community_graph_input(database, community_id=cid)).excluded_votes == {BLOCKED: 1}
