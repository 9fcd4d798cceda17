"""Votes with reasons and the per-voter draw on both databases: the queue, the sending rules, the answer
taken only outside an interview, and the open polls left for a member. The platforms are in
test_vote_reasons.py."""

from __future__ import annotations

from sqlmodel import select

from bot.voting.dm_vote import next_story
from bot.voting.reasons import send_reason_questions, take_reason
from core.interview import InterviewState
from core.member_texts import english
from core.vote_reasons import NOTHING_TO_VOTE_TEXT
from storage.models import Interview, Member, Vote, VoteReasonAsk
from tests.test_polls import YES, poll  # noqa: F401 (poll: the fixture)
from tests.test_vote_inbox import react


class Messenger:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, *, platform_user_id: str, text: str, buttons) -> None:
        self.sent.append((platform_user_id, text))


async def test_one_question_per_vote_sent_outside_interviews_and_answered_once(database, clock, poll):
    vote = react(database, clock)
    for user in ("1001", "1002"):
        await vote(YES, user=user)
    await vote(YES, user="1001", added=False)
    await vote(YES, user="1001")  # retracted and cast again: still one question
    async with database.session() as session:
        assert len((await session.exec(select(VoteReasonAsk))).all()) == 2
        members = {m.platform_user_id: m for m in (await session.exec(select(Member))).all()}
        busy = members["1002"]
        session.add(
            Interview(
                community_id=busy.community_id,
                member_id=busy.id,
                state=InterviewState.CONVERSING,
                created_at=clock(),
                last_activity_at=clock(),
            )
        )
        await session.commit()

    messenger = Messenger()
    assert await send_reason_questions(database, {"discord": messenger}, now=clock()) == 1
    assert [user for user, _ in messenger.sent] == ["1001"]  # 1002 is in an interview: later
    assert await send_reason_questions(database, {"discord": messenger}, now=clock()) == 0

    async with database.session() as session:
        saved = await take_reason(session, member_id=members["1001"].id, text="It  was kind.", now=clock())
        await session.commit()
        assert saved == english().reason_saved
        assert await take_reason(session, member_id=members["1001"].id, text="more", now=clock()) is None
        whys = sorted((v.why or "") for v in (await session.exec(select(Vote))).all())
    assert whys == ["", "It was kind."]


async def test_the_draw_leaves_out_polls_the_member_voted_on(database, clock, poll):
    await react(database, clock)(YES, user="1001")
    async with database.session() as session:
        member = (await session.exec(select(Member).where(Member.platform_user_id == "1001"))).one()
    offer = await next_story(database, community_id=member.community_id, member_id=member.id, now=clock())
    assert offer.text == NOTHING_TO_VOTE_TEXT
    await react(database, clock)(YES, user="1001", added=False)  # retracted: offered again
    offer = await next_story(database, community_id=member.community_id, member_id=member.id, now=clock())
    assert offer.buttons and offer.buttons[0][0] == f"dmvote:{poll.id}:upgrade"


async def test_a_reply_after_the_vote_changed_is_not_kept_as_the_new_choices_reason(database, clock, poll):
    from tests.test_polls import NO

    vote = react(database, clock)
    await vote(YES, user="1001")
    messenger = Messenger()
    clock.advance(minutes=1)
    assert await send_reason_questions(database, {"discord": messenger}, now=clock()) == 1
    assert "Wiser" in messenger.sent[0][1]  # the question quotes the choice then
    clock.advance(minutes=1)
    await vote(NO, user="1001")  # changed to "Not wiser" before answering
    clock.advance(minutes=1)
    async with database.session() as session:
        member = (await session.exec(select(Member).where(Member.platform_user_id == "1001"))).one()
        reply = await take_reason(session, member_id=member.id, text="It was kind.", now=clock())
        await session.commit()
        assert reply == english().reason_vote_changed
        stored = (await session.exec(select(Vote))).one()
    assert (stored.choice, stored.why) == ("no_upgrade", None)


async def test_the_question_and_the_draw_quote_a_moderators_edit(database, clock, poll):
    from bot.stories.moderation import edit_story

    await edit_story(
        database,
        community_id=poll.community_id,
        story_id=poll.story_id,
        text="The edited story, as shown.",
        actor="mod",
        now=clock(),
    )
    async with database.session() as session:
        member = Member(community_id=poll.community_id, platform_user_id="1001", display_name="", created_at=clock())
        session.add(member)
        await session.commit()
        await session.refresh(member)
    offer = await next_story(database, community_id=member.community_id, member_id=member.id, now=clock())
    assert "The edited story, as shown." in offer.text
    await react(database, clock)(YES, user="1001")
    messenger = Messenger()
    clock.advance(minutes=1)
    assert await send_reason_questions(database, {"discord": messenger}, now=clock()) == 1
    assert "The edited story, as shown." in messenger.sent[0][1]
