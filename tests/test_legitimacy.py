"""Legitimacy checks (docs/method.md §8): the fair-position question after each digest, and the follow-up survey."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.legitimacy.checks import ask_fair_position, offer_surveys, record_answer, stats_lines
from core.graph import GraphParams, Value, Vote, build_moral_graph
from core.legitimacy import (
    ALREADY_ANSWERED_TEXT,
    FAIR_QUESTION,
    OPTED_OUT_TEXT,
    SURVEY_DONE_TEXT,
    SURVEY_QUESTIONS,
    SURVEY_STOPPED_TEXT,
    FairKey,
    SurveyKey,
    fair_position_text,
    fair_position_view,
    parse_key,
)
from core.messages import CommunityRef
from storage import communities_repo
from storage.database import Database
from storage.models import (
    CanonicalValue,
    FairPositionAsk,
    MoralContext,
    SurveyAnswer,
    SurveyOffer,
    TransitionStory,
    ValueAssignment,
)
from storage.models import Vote as VoteRow
from tests.dedup_support import add_card
from tests.test_poll_selection import add_votes, open_poll

HERE = CommunityRef("slack", "T0HERE", "Here")
NOW = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
CONTEXT = "When someone is in distress"
OTHER = "When someone asks for advice"
CARD = {"title": "t", "description": "d", "policies": ["P"]}


# --- pure: which neighbours ------------------------------------------------------------------------


def graph_of(edges: list[tuple[str, str, str]], extra: tuple[str, ...] = ()):
    ids = sorted({x for a, b, _ in edges for x in (a, b)} | set(extra))
    values = [Value(i, f"Title {i}") for i in ids]
    votes = [Vote(f"v{n}", a, b, ctx, "upgrade") for a, b, ctx in edges for n in range(3)]
    return build_moral_graph(values, votes, GraphParams())


def test_a_value_in_the_middle_is_shown_between_a_less_wise_and_a_wiser_neighbour():
    graph = graph_of([("a", "b", CONTEXT), ("b", "c", CONTEXT), ("b", "d", OTHER)], extra=("z",))
    view = fair_position_view(graph, "b")
    assert view is not None
    assert view.context == CONTEXT  # two edges touch b there, one in OTHER
    assert (view.less_wise.value_id, view.less_wise.title) == ("a", "Title a")
    assert (view.wiser.value_id, view.wiser.title) == ("c", "Title c")
    text = fair_position_text(view)
    assert "“Title a”" in text and "“Title b”" in text and "“Title c”" in text and CONTEXT in text
    assert text.endswith(FAIR_QUESTION)
    assert text.index("Title c") < text.index("Title b") < text.index("Title a")  # wiser above, less wise below


def test_only_one_side_is_shown_when_only_one_exists_and_no_edge_means_no_question():
    graph = graph_of([("a", "b", CONTEXT)], extra=("z",))
    top = fair_position_view(graph, "b")
    assert top is not None and top.wiser is None and top.less_wise.value_id == "a"
    assert "wiser than yours" not in fair_position_text(top) and "less wise" in fair_position_text(top)
    bottom = fair_position_view(graph, "a")
    assert bottom is not None and bottom.less_wise is None and bottom.wiser.value_id == "b"
    assert "less wise" not in fair_position_text(bottom)
    assert fair_position_view(graph, "z") is None
    assert fair_position_view(graph, "unknown") is None


def test_button_keys_parse_and_malformed_ones_do_not():
    assert parse_key("fair:12:yes") == FairKey(12, "yes")
    assert parse_key("fair:12:stop") == FairKey(12, "stop")
    assert parse_key("survey:3:6:5") == SurveyKey(3, 6, "5")
    assert parse_key("survey:3:1:skip") == SurveyKey(3, 1, "skip")
    for bad in ("fair:x:yes", "fair:1:maybe", "survey:3:7:5", "survey:3:1:6", "survey:3:1", "accept", "forget:1"):
        assert parse_key(bad) is None
    assert len(SURVEY_QUESTIONS) == 6


# --- stored: asking after a digest -------------------------------------------------------------------


class FakeMessenger:
    def __init__(self, fail_for: set[str] = frozenset()) -> None:
        self.sent: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.fail_for = set(fail_for)

    async def send(self, *, platform_user_id: str, text: str, buttons: list[tuple[str, str]]) -> None:
        if platform_user_id in self.fail_for:
            raise ConnectionError("cannot send messages to this user")
        self.sent.append((platform_user_id, text, buttons))

    def to(self, user: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
        return [s for s in self.sent if s[0] == user]


async def community(database: Database, ref: CommunityRef = HERE) -> int:
    async with database.session() as session:
        row = await communities_repo.get_or_create_community(
            session, platform=ref.platform, external_id=ref.external_id, name=ref.name, now=NOW
        )
        await session.commit()
        return row.id


async def add_graph(
    database: Database,
    cid: int,
    titles: list[str],
    edges: list[tuple[str, str]],
    *,
    context: str = CONTEXT,
    votes: int = 3,
) -> tuple[dict[str, int], list[int]]:
    """Values (by title), stories for ``edges`` and enough votes on each for a kept edge."""
    async with database.session() as session:
        ctx = (
            await session.exec(
                select(MoralContext).where(MoralContext.community_id == cid, MoralContext.text == context)
            )
        ).first()
        if ctx is None:
            ctx = MoralContext(community_id=cid, text=context, created_at=NOW)
            session.add(ctx)
        existing = {
            v.title: v
            for v in (await session.exec(select(CanonicalValue).where(CanonicalValue.community_id == cid))).all()
        }
        for title in titles:
            if title not in existing:
                existing[title] = CanonicalValue(
                    community_id=cid, title=title, description="d", policies=["P"], created_at=NOW, updated_at=NOW
                )
                session.add(existing[title])
        await session.flush()
        stories = []
        for a, b in edges:
            story = TransitionStory(
                community_id=cid,
                context_id=ctx.id,
                from_value_id=existing[a].id,
                to_value_id=existing[b].id,
                story="s",
                steps={},
                prompt_sha="0" * 64,
                model="m",
                created_at=NOW,
            )
            session.add(story)
            stories.append(story)
        await session.commit()
        ids = {t: v.id for t, v in existing.items()}
        story_ids = [s.id for s in stories]
    polls = []
    for story_id in story_ids:
        poll = await open_poll(database, story_id, now=NOW - timedelta(days=1), closes_at=None)
        await add_votes(database, poll, votes, now=NOW - timedelta(days=1))
        polls.append(poll.id)
    return ids, polls


async def member_with_value(
    database: Database, cid: int, user: str, value_id: int, *, at: datetime = NOW - timedelta(days=2)
) -> int:
    card_id = await add_card(database, cid, {**CARD, "title": f"card of {user}"}, at, member=user)
    async with database.session() as session:
        session.add(
            ValueAssignment(
                community_id=cid, card_id=card_id, canonical_value_id=value_id, decision="new_value", created_at=at
            )
        )
        await session.commit()
        member = await communities_repo.get_or_create_member(
            session, community_id=cid, platform_user_id=user, display_name=user, now=at
        )
        return member.id


async def asks(database: Database) -> list[FairPositionAsk]:
    async with database.session() as session:
        return list((await session.exec(select(FairPositionAsk).order_by(FairPositionAsk.id))).all())


async def setting(database: Database):
    """Values a → b → c in CONTEXT; ana holds b, bea holds c, cy holds z (no edge)."""
    cid = await community(database)
    ids, polls = await add_graph(database, cid, ["a", "b", "c", "z"], [("a", "b"), ("b", "c")])
    await member_with_value(database, cid, "ana", ids["b"])
    await member_with_value(database, cid, "bea", ids["c"])
    await member_with_value(database, cid, "cy", ids["z"])
    return cid, ids, polls


async def test_members_with_a_value_in_the_graph_are_asked_once_per_period_with_its_neighbours(database):
    cid, ids, _ = await setting(database)
    messenger = FakeMessenger()
    assert await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47") == 2
    [(_, text, buttons)] = messenger.to("ana")
    assert "“a”" in text and "“b”" in text and "“c”" in text and FAIR_QUESTION in text
    rows = {a.member_id: a for a in await asks(database)}
    ana_ask = next(a for a in rows.values() if a.value_id == ids["b"])
    assert (ana_ask.less_wise_value_id, ana_ask.wiser_value_id, ana_ask.context) == (ids["a"], ids["c"], CONTEXT)
    assert [label for _, label in buttons] == ["Yes", "No", "Don't ask me again"]
    assert [key for key, _ in buttons] == [f"fair:{ana_ask.id}:{action}" for action in ("yes", "no", "stop")]
    [(_, bea_text, _)] = messenger.to("bea")  # top of the graph: only a less wise neighbour
    assert "“b”" in bea_text and "Voted wiser" not in bea_text
    assert messenger.to("cy") == []  # value with no edge: not asked

    # Again in the same period (a second run, a restart): nobody is asked twice.
    assert await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47") == 0
    assert len(messenger.sent) == 2
    # The next digest asks again.
    assert (
        await ask_fair_position(database, messenger, community_id=cid, now=NOW + timedelta(days=7), period="2026-W48")
        == 2
    )
    assert len(await asks(database)) == 4


async def test_a_member_whose_dms_are_closed_does_not_stop_the_others_and_is_not_counted(database):
    cid, _, _ = await setting(database)
    messenger = FakeMessenger(fail_for={"ana"})
    assert await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47") == 1
    assert [s[0] for s in messenger.sent] == ["bea"]
    assert len(await asks(database)) == 1  # ana's claim was given back


async def test_answers_are_recorded_once_and_only_from_the_member_asked(database):
    cid, _, _ = await setting(database)
    messenger = FakeMessenger()
    await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47")
    [(_, _, buttons)] = messenger.to("ana")
    yes, no, _ = (key for key, _ in buttons)

    assert await record_answer(database, key=yes, platform="slack", platform_user_id="bea", now=NOW) == []
    assert await record_answer(database, key=yes, platform="discord", platform_user_id="ana", now=NOW) == []
    [reply] = await record_answer(database, key=yes, platform="slack", platform_user_id="ana", now=NOW)
    assert "Thank you" in reply.text
    # A repeated press, or the other button afterwards, changes nothing.
    [again] = await record_answer(database, key=no, platform="slack", platform_user_id="ana", now=NOW + timedelta(1))
    assert again.text == ALREADY_ANSWERED_TEXT
    ana = next(a for a in await asks(database) if a.answer is not None)
    assert (ana.answer, ana.answered_at) == ("yes", NOW)


async def test_a_late_answer_counts_for_its_own_period_and_opting_out_stops_the_questions(database):
    cid, _, _ = await setting(database)
    messenger = FakeMessenger()
    await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47")
    await ask_fair_position(database, messenger, community_id=cid, now=NOW + timedelta(days=7), period="2026-W48")
    first, second = messenger.to("ana")
    old_no = first[2][1][0]
    await record_answer(database, key=old_no, platform="slack", platform_user_id="ana", now=NOW + timedelta(days=8))
    ana_asks = {int(first[2][0][0].split(":")[1]), int(second[2][0][0].split(":")[1])}
    by_period = {a.period: a.answer for a in await asks(database) if a.id in ana_asks}
    assert by_period == {"2026-W47": "no", "2026-W48": None}

    stop = second[2][2][0]
    [reply] = await record_answer(database, key=stop, platform="slack", platform_user_id="ana", now=NOW + timedelta(8))
    assert reply.text == OPTED_OUT_TEXT
    assert await record_answer(database, key=stop, platform="slack", platform_user_id="ana", now=NOW + timedelta(9))
    assert (
        await ask_fair_position(database, messenger, community_id=cid, now=NOW + timedelta(days=14), period="2026-W49")
        == 1
    )  # bea only
    assert len(messenger.to("ana")) == 2


async def test_stats_report_the_fair_position_answers_and_survey_means(database):
    cid, _, _ = await setting(database)
    messenger = FakeMessenger()
    assert (await stats_lines(database, community_id=cid))[0] == (
        "Fair position: 0 of 0 asked said yes (—), 0 no, 0 not answered."
    )
    await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47")
    [(_, _, buttons)] = messenger.to("ana")
    await record_answer(database, key=buttons[0][0], platform="slack", platform_user_id="ana", now=NOW)
    lines = await stats_lines(database, community_id=cid)
    assert lines[0] == "Fair position: 1 of 2 asked said yes (50%), 0 no, 1 not answered."
    assert lines[1].startswith("Survey (1–5; offered to 0): Q1 clarified: 0 answered, mean —;")

    from bot.commands.base import ModeratorCall
    from bot.commands.reports import stats

    reply = await stats(
        ModeratorCall(
            database=database, community_id=cid, community=HERE, actor="slack:UMOD", channel_id=None, args={}, now=NOW
        )
    )
    assert "Fair position: 1 of 2 asked said yes (50%), 0 no, 1 not answered." in reply.text


# --- the survey ----------------------------------------------------------------------------------------


async def vote_as(database: Database, cid: int, poll_id: int, member_id: int) -> None:
    async with database.session() as session:
        session.add(
            VoteRow(
                community_id=cid,
                poll_id=poll_id,
                member_id=member_id,
                voter_key=f"member:{member_id}",
                choice="upgrade",
                cast_at=NOW,
                updated_at=NOW,
            )
        )
        await session.commit()


async def test_the_survey_is_offered_once_after_a_confirmed_card_and_a_vote_and_goes_question_by_question(database):
    cid, ids, polls = await setting(database)
    ana = await member_with_value(database, cid, "ana", ids["b"])
    messenger = FakeMessenger()
    assert await offer_surveys(database, messenger, community_id=cid, now=NOW) == 0  # nobody voted yet
    await vote_as(database, cid, polls[0], ana)
    assert await offer_surveys(database, messenger, community_id=cid, now=NOW) == 1
    assert await offer_surveys(database, messenger, community_id=cid, now=NOW + timedelta(days=7)) == 0
    [(user, text, buttons)] = messenger.sent
    assert user == "ana" and SURVEY_QUESTIONS[0] in text
    assert [label for _, label in buttons] == ["1", "2", "3", "4", "5", "Skip", "Stop the survey"]

    async def press(question: int, action: str):
        return await record_answer(
            database, key=f"survey:{ana}:{question}:{action}", platform="slack", platform_user_id="ana", now=NOW
        )

    [second] = await press(1, "4")
    assert SURVEY_QUESTIONS[1] in second.text and second.buttons[0][0] == f"survey:{ana}:2:1"
    assert await press(1, "2") == []  # a repeated press on question 1 changes nothing
    [third] = await press(2, "skip")
    assert SURVEY_QUESTIONS[2] in third.text
    for question in (3, 4, 5):
        await press(question, "5")
    [done] = await press(6, "3")
    assert done.text == SURVEY_DONE_TEXT
    assert await press(6, "1") == []
    async with database.session() as session:
        answers = {a.question: a.score for a in (await session.exec(select(SurveyAnswer))).all()}
    assert answers == {1: 4, 2: None, 3: 5, 4: 5, 5: 5, 6: 3}
    lines = await stats_lines(database, community_id=cid)
    assert "Q1 clarified: 1 answered, mean 4.0" in lines[1]
    assert "Q2 expressed: 0 answered, mean —" in lines[1]
    assert "offered to 1" in lines[1]


async def test_the_survey_can_be_stopped_and_opted_out_members_are_not_offered_it(database):
    cid, ids, polls = await setting(database)
    ana = await member_with_value(database, cid, "ana", ids["b"])
    bea = await member_with_value(database, cid, "bea", ids["c"])
    await vote_as(database, cid, polls[0], ana)
    await vote_as(database, cid, polls[1], bea)
    messenger = FakeMessenger()
    await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47")
    bea_stop = next(b for b in messenger.to("bea")[0][2] if b[0].endswith(":stop"))[0]
    await record_answer(database, key=bea_stop, platform="slack", platform_user_id="bea", now=NOW)
    assert await offer_surveys(database, messenger, community_id=cid, now=NOW) == 1  # ana only

    [stopped] = await record_answer(
        database, key=f"survey:{ana}:1:stop", platform="slack", platform_user_id="ana", now=NOW
    )
    assert stopped.text == SURVEY_STOPPED_TEXT
    assert (
        await record_answer(database, key=f"survey:{ana}:1:5", platform="slack", platform_user_id="ana", now=NOW) == []
    )
    async with database.session() as session:
        offer = await session.get(SurveyOffer, ana)
        assert offer.ended_at == NOW
        assert (await session.exec(select(SurveyAnswer))).all() == []


# --- wired into the digest -------------------------------------------------------------------------------


async def test_a_posted_scheduled_digest_is_followed_by_the_questions_and_a_failed_one_is_not(database):
    from bot.digest.posting import run_due_digests
    from bot.runtime.schedules import update_schedule
    from tests.test_digest_posting import SLOT, FakeDigestPublisher

    cid, _, _ = await setting(database)
    await update_schedule(
        database,
        community_id=cid,
        actor="slack:UMOD",
        now=SLOT - timedelta(days=2),
        changes={
            "digest_channel_id": "CDIGEST",
            "digest_day": "mon",
            "digest_hour": 9,
            "digest_timezone": "Europe/Berlin",
        },
    )
    messenger = FakeMessenger()
    failing = FakeDigestPublisher(fail=True)
    assert await run_due_digests(database, {"slack": failing}, now=SLOT, messengers={"slack": messenger}) == {}
    assert messenger.sent == []
    publisher = FakeDigestPublisher()
    later = SLOT + timedelta(hours=1)
    assert await run_due_digests(database, {"slack": publisher}, now=later, messengers={"slack": messenger}) == {
        cid: "msg-1"
    }
    assert sorted(s[0] for s in messenger.sent) == ["ana", "bea"]
    assert {a.period for a in await asks(database)} == {"2026-W47"}
    # The next tick of the same week posts nothing and asks nobody again.
    assert (
        await run_due_digests(
            database, {"slack": publisher}, now=later + timedelta(minutes=1), messengers={"slack": messenger}
        )
        == {}
    )
    assert len(messenger.sent) == 2


# --- who is never asked: blocked members (ineligible ones are) -------------------------------------------


async def block(database: Database, member_id: int) -> None:
    from storage import eligibility_repo

    async with database.session() as session:
        assert await eligibility_repo.set_blocked(session, member_id=member_id, blocked=True, now=NOW)
        await session.commit()


async def make_ineligible(database: Database, cid: int, member_id: int) -> None:
    """An account-age rule of 30 days and an account made yesterday: the member's votes are left out."""
    from storage import eligibility_repo

    async with database.session() as session:
        rules = await eligibility_repo.rules_for_update(session, community_id=cid, now=NOW)
        rules.min_account_age_days = 30
        session.add(rules)
        await eligibility_repo.record_facts(
            session, member_id=member_id, now=NOW, account_created_at=NOW - timedelta(days=1)
        )
        await session.commit()


async def verified_votes(database: Database, cid: int, poll_id: int, count: int) -> None:
    """``count`` "wiser" votes by members whose accounts are a year old (they pass an account-age rule)."""
    from storage import eligibility_repo

    for n in range(count):
        member = await repo_member(database, cid, f"voter-{poll_id}-{n}")
        async with database.session() as session:
            await eligibility_repo.record_facts(
                session, member_id=member, now=NOW, account_created_at=NOW - timedelta(days=365)
            )
            await session.commit()
        await vote_as(database, cid, poll_id, member)


async def test_blocked_members_are_never_asked_and_ineligible_ones_are(database):
    from bot.graph.build import load_community_graph_input

    cid = await community(database)
    ids, polls = await add_graph(database, cid, ["a", "b", "c"], [("a", "b"), ("b", "c")], votes=0)
    for poll_id in polls:
        await verified_votes(database, cid, poll_id, 3)
    ana = await member_with_value(database, cid, "ana", ids["b"])
    bea = await member_with_value(database, cid, "bea", ids["c"])
    await vote_as(database, cid, polls[0], ana)
    await vote_as(database, cid, polls[1], bea)
    await block(database, ana)
    await make_ineligible(database, cid, bea)
    data = await load_community_graph_input(database, community_id=cid)
    assert data.excluded_votes == {"blocked": 1, "account too new": 1} and len(data.votes) == 6

    messenger = FakeMessenger()
    assert await ask_fair_position(database, messenger, community_id=cid, now=NOW, period="2026-W47") == 1
    assert messenger.to("ana") == [] and len(messenger.to("bea")) == 1  # bea's value is still in the graph
    assert await offer_surveys(database, messenger, community_id=cid, now=NOW) == 1
    assert messenger.to("ana") == [] and len(messenger.to("bea")) == 2
    async with database.session() as session:
        assert await session.get(SurveyOffer, ana) is None


# --- the survey from the poll-closing tick ----------------------------------------------------------------


async def due_poll(database: Database, poll_id: int, *, closes_at: datetime) -> int:
    """Another poll on the same story as ``poll_id``, closing at ``closes_at``."""
    from storage.models import Poll

    async with database.session() as session:
        story_id = (await session.get(Poll, poll_id)).story_id
    return (await open_poll(database, story_id, now=NOW - timedelta(days=2), closes_at=closes_at)).id


async def test_closing_polls_offers_the_survey_once_even_without_a_digest_and_never_to_the_blocked(database):
    from bot.voting.rounds import close_due_polls

    cid, ids, polls = await setting(database)
    ana = await member_with_value(database, cid, "ana", ids["b"])
    bea = await member_with_value(database, cid, "bea", ids["c"])
    cy = await repo_member(database, cid, "cy")
    due = await due_poll(database, polls[0], closes_at=NOW - timedelta(hours=1))
    later = await due_poll(database, polls[0], closes_at=NOW + timedelta(hours=1))
    for member in (ana, bea, cy):
        await vote_as(database, cid, due, member)
    await block(database, bea)
    messenger = FakeMessenger()

    # No messengers (a process that can't DM): polls close, nobody is offered anything.
    assert await close_due_polls(database, now=NOW) == [due]
    assert messenger.sent == []
    assert await close_due_polls(database, now=NOW + timedelta(hours=1), messengers={"slack": messenger}) == [later]
    # ana and cy have a confirmed card and a vote; bea is blocked. This community has no digest schedule.
    assert sorted(s[0] for s in messenger.sent) == ["ana", "cy"]
    assert all(SURVEY_QUESTIONS[0] in text for _, text, _ in messenger.sent)

    # Later closings, a digest run, or both at once: still once per member.
    import asyncio

    from bot.legitimacy.checks import after_digest, after_polls_closed

    third = await due_poll(database, polls[1], closes_at=NOW + timedelta(hours=2))
    await vote_as(database, cid, third, ana)
    results = await asyncio.gather(
        close_due_polls(database, now=NOW + timedelta(hours=2), messengers={"slack": messenger}),
        after_digest(database, messenger, community_id=cid, period="2026-W47", now=NOW + timedelta(hours=2)),
        after_polls_closed(database, {"slack": messenger}, poll_ids=[due, later, third], now=NOW),
    )
    assert results[0] == [third]
    assert sorted(s[0] for s in messenger.sent if SURVEY_QUESTIONS[0] in s[1]) == ["ana", "cy"]
    async with database.session() as session:
        assert sorted(o.member_id for o in (await session.exec(select(SurveyOffer))).all()) == sorted([ana, cy])


async def test_the_poll_closing_job_offers_the_survey_with_the_schedulers_messengers(database):
    from bot.runtime import scheduler as sched

    cid, ids, polls = await setting(database)
    ana = await member_with_value(database, cid, "ana", ids["b"])
    due = await due_poll(database, polls[0], closes_at=NOW - timedelta(hours=1))
    await vote_as(database, cid, due, ana)
    slack, discord = FakeMessenger(), FakeMessenger()
    sched.install_context(
        sched.SchedulerContext(database=database, messengers={"slack": slack, "discord": discord}, clock=lambda: NOW)
    )
    try:
        assert await sched.close_polls_job() == [due]
        assert await sched.close_polls_job() == []
    finally:
        sched.install_context(None)
    assert [s[0] for s in slack.sent] == ["ana"] and discord.sent == []  # the community's platform decides


async def test_a_failing_survey_offer_does_not_stop_polls_from_closing(database, monkeypatch):
    from bot.legitimacy import checks as legitimacy
    from bot.voting.rounds import close_due_polls

    cid, ids, polls = await setting(database)
    due = await due_poll(database, polls[0], closes_at=NOW - timedelta(hours=1))

    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(legitimacy, "offer_surveys", broken)
    assert await close_due_polls(database, now=NOW, messengers={"slack": FakeMessenger()}) == [due]


async def repo_member(database: Database, cid: int, user: str) -> int:
    """The id of ``user``'s member row (made by ``setting``)."""
    async with database.session() as session:
        member = await communities_repo.get_or_create_member(
            session, community_id=cid, platform_user_id=user, display_name=user, now=NOW
        )
        await session.commit()
        return member.id
