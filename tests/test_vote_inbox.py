"""The vote inbox: reactions recorded before they are acknowledged, applied in the platform's order,
never lost to a crash between the two; the Slack HTTP gate in front of it. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import timedelta

from sqlmodel import select

from bot.voting.apply import apply_pending
from bot.voting.inbox import inbox_for, slack_event_order
from bot.voting.polls import apply_reaction, close_poll, record_poll
from core.messages import CommunityRef, Person
from core.polls import VoteOutcome, choice_for_reaction
from storage import reactions_repo
from storage.models import Poll, PollReaction, ReactionEvent, Vote
from tests.fakes.slack_api import reaction_event, signed_request
from tests.fakes.story_rows import add_story
from tests.slack_support import serving_slack
from tests.test_polls import GUILD, NO, UNSURE, YES, poll, votes  # noqa: F401 (poll: the fixture)


def react(database, clock):
    async def react(
        emoji: str, *, user: str = "1001", added: bool = True, order: int | None = None, event_id: str | None = None
    ) -> VoteOutcome:
        return await apply_reaction(
            database,
            community=GUILD,
            platform="discord",
            channel_id="c1",
            message_id="m1",
            person=Person(user, f"user {user}"),
            emoji=emoji,
            added=added,
            event_id=event_id,
            now=clock(),
            event_order=order,
        )

    return react


def pending_row(clock, *, user: str, emoji: str, added: bool = True, key: str, order: int, when=None) -> dict:
    """A recorded reaction as a process leaves it when it dies before applying it."""
    return {
        "platform": "discord",
        "community_external_id": GUILD.external_id,
        "channel_id": "c1",
        "message_id": "m1",
        "user_id": user,
        "display_name": "",
        "choice": choice_for_reaction("discord", emoji),
        "added": added,
        "event_key": key,
        "event_order": order,
        "received_at": when or clock(),
        "facts": None,
    }


async def record_only(database, rows: list[dict]) -> None:
    async with database.engine.begin() as conn:
        await reactions_repo.record_events(conn, rows)


# --- order and what remains visible ----------------------------------------------------------------


async def test_removing_one_of_two_visible_reactions_leaves_the_vote_on_the_other(database, clock, poll):
    r = react(database, clock)
    assert await r(YES) == VoteOutcome.COUNTED
    assert await r(NO) == VoteOutcome.REPLACED
    assert await r(NO, added=False) == VoteOutcome.REPLACED  # ✅ is still on the message
    assert await votes(database, poll.id) == {"member:1": "upgrade"}
    assert await r(YES, added=False) == VoteOutcome.RETRACTED
    assert await votes(database, poll.id) == {}


async def test_an_older_event_arriving_late_never_overrides_a_newer_one(database, clock, poll):
    r = react(database, clock)
    assert await r(NO, order=2_000) == VoteOutcome.COUNTED
    # ✅ happened before ❌ on the platform but arrives after: ❌ stays the latest reaction.
    assert await r(YES, order=1_000) == VoteOutcome.UNCHANGED
    assert await votes(database, poll.id) == {"member:1": "no_upgrade"}
    # A removal of ❌ older than its add (arriving late) is stale.
    assert await r(NO, added=False, order=1_500) == VoteOutcome.IGNORED_OUT_OF_ORDER
    assert await votes(database, poll.id) == {"member:1": "no_upgrade"}
    assert await r(NO, added=False, order=3_000) == VoteOutcome.REPLACED
    assert await votes(database, poll.id) == {"member:1": "upgrade"}


def expected_vote(events: list[tuple[int, str, bool]]) -> str | None:
    """What a member's reactions amount to, given (order, choice, added) in any arrival order."""
    state: dict[str, tuple[bool, int]] = {}
    for order, choice, added in sorted(events):
        state[choice] = (added, order)
    present = [(order, choice) for choice, (on, order) in state.items() if on]
    return max(present)[1] if present else None


async def test_bursts_of_conflicting_reactions_end_as_the_platform_ordered_them(database, clock, poll):
    rng = random.Random(11)
    members = [str(2000 + i) for i in range(40)]
    sent: list[tuple[str, int, str, bool]] = []
    for member in members:
        for step in range(rng.randrange(2, 8)):
            emoji = rng.choice((YES, NO, UNSURE))
            sent.append((member, step * 1_000 + rng.randrange(900), emoji, rng.random() < 0.65))
    arrival = list(sent)
    rng.shuffle(arrival)  # concurrent deliveries arrive in any order
    r = react(database, clock)
    await asyncio.gather(*(r(emoji, user=member, added=added, order=order) for member, order, emoji, added in arrival))

    stored = await votes(database, poll.id)
    async with database.session() as session:
        ids = {
            m.platform_user_id: m.id
            for m in (await session.exec(select(__import__("storage.models", fromlist=["Member"]).Member))).all()
        }
    for member in members:
        mine = [
            (order, choice_for_reaction("discord", emoji), added) for who, order, emoji, added in sent if who == member
        ]
        assert stored.get(f"member:{ids[member]}") == expected_vote(mine), member


# --- nothing acknowledged is lost ------------------------------------------------------------------


async def test_events_recorded_by_a_process_that_died_are_applied_by_the_next(database, clock, poll):
    await record_only(
        database,
        [
            pending_row(clock, user="1001", emoji=YES, key="r:dead:1", order=10),
            pending_row(clock, user="1002", emoji=NO, key="r:dead:2", order=11),
            pending_row(clock, user="1001", emoji=YES, added=False, key="r:dead:3", order=12),
        ],
    )
    assert await votes(database, poll.id) == {}
    await inbox_for(database).drain()
    assert sorted((await votes(database, poll.id)).values()) == ["no_upgrade"]
    async with database.session() as session:
        events = (await session.exec(select(ReactionEvent).order_by(ReactionEvent.id))).all()
    assert [e.outcome for e in events] == ["counted", "counted", "retracted"]
    assert all(e.applied_at is not None for e in events)
    assert await apply_pending(database) == {}  # applied once


async def test_a_vote_received_before_the_close_counts_even_when_applied_after(database, clock, poll):
    received = clock()
    clock.advance(hours=1)
    await close_poll(database, poll_id=poll.id, now=clock())  # nothing pending yet: closed with no votes
    # A process recorded this reaction before the close, and died before applying it.
    await record_only(database, [pending_row(clock, user="1001", emoji=YES, key="r:late:1", order=5, when=received)])
    await inbox_for(database).drain()
    async with database.session() as session:
        stored = await session.get(Poll, poll.id, populate_existing=True)
    assert stored.tallies == {"upgrade": 1, "no_upgrade": 0, "not_sure": 0}
    assert await react(database, clock)(NO, user="1002") == VoteOutcome.IGNORED_CLOSED


async def test_close_poll_applies_what_is_pending_first(database, clock, poll):
    await record_only(database, [pending_row(clock, user="1001", emoji=UNSURE, key="r:p:1", order=5)])
    assert await close_poll(database, poll_id=poll.id, now=clock()) == {"upgrade": 0, "no_upgrade": 0, "not_sure": 1}


async def test_forget_erases_the_members_reaction_records(database, clock, poll):
    from bot.privacy.erase import forget_member

    await react(database, clock)(YES, user="1001")
    from storage.communities_repo import community_id_of

    community_id = await community_id_of(database, GUILD)
    report = await forget_member(database, community_id=community_id, platform_user_id="1001", now=clock())
    assert report.reaction_events_deleted == 1
    async with database.session() as session:
        assert (await session.exec(select(ReactionEvent))).all() == []
        assert (await session.exec(select(PollReaction))).all() == []
    assert list((await votes(database, poll.id)).values()) == ["upgrade"]  # still counted, anonymously


def test_slack_event_ts_orders_by_microseconds():
    assert slack_event_order("1700000000.000200") == 1_700_000_000_000_200
    assert slack_event_order("1700000000.5") == 1_700_000_000_500_000
    assert slack_event_order("1700000001") == 1_700_000_001_000_000
    assert slack_event_order(None) is None and slack_event_order("soon") is None


# --- the Slack HTTP gate ---------------------------------------------------------------------------


async def test_slack_requests_are_checked_before_they_are_parsed(database, service, clock, caplog):
    async with serving_slack(service, database, clock=clock) as slack:
        for body in ("{not json", "[1, 2]", json.dumps({"type": "event_callback"})):
            unsigned = await slack.post(body, headers={"Content-Type": "application/json"})
            assert unsigned.status == 401, body
            bad = await slack.post(body, headers=signed_request(body, secret="wrong"))
            assert bad.status == 401
        for body in ("{not json", "[1, 2]", "null", '"text"'):
            signed = await slack.post(body, headers=signed_request(body, content_type="application/json"))
            assert signed.status == 400, body
        for form in ("[1, 2]", "", "payload=%7Bnot"):
            signed = await slack.post(
                form, headers=signed_request(form, content_type="application/x-www-form-urlencoded")
            )
            assert signed.status == 400, form
        form = "payload=%5B1%2C2%5D"  # an interactivity payload that is a JSON list
        response = await slack.post(
            form, headers=signed_request(form, content_type="application/x-www-form-urlencoded")
        )
        assert response.status == 400
        stale = await slack.post("{}", headers=signed_request("{}", timestamp=int(time.time()) - 3600))
        assert stale.status == 401
    assert "Traceback" not in caplog.text


async def test_slack_reactions_are_recorded_before_the_200_and_redeliveries_once(database, service, clock):
    team = "T0TEST"
    story_id = await add_story(database, CommunityRef("slack", team, "t"), now=clock())
    await record_poll(
        database,
        story_id=story_id,
        platform="slack",
        channel_id="C1",
        message_id="1700000000.000100",
        closes_at=clock() + timedelta(days=1),
        now=clock(),
    )
    async with serving_slack(service, database, clock=clock) as slack:
        body = reaction_event("x", added=True, user="U7", channel="C1", ts="1700000000.000100", team=team)
        for retry in (None, 1, 2):
            await slack.event(body, retry=retry)
        async with database.session() as session:  # recorded once by the time the 200 came back
            assert len((await session.exec(select(ReactionEvent))).all()) == 1
        await slack.settle()
        async with database.session() as session:
            assert [v.choice for v in (await session.exec(select(Vote))).all()] == ["no_upgrade"]


async def test_a_redelivery_recorded_in_the_same_batch_as_its_original_is_refused(database, clock, poll):
    inbox = inbox_for(database)
    from bot.voting.inbox import Reaction

    reaction = Reaction(
        community=GUILD,
        platform="discord",
        channel_id="c1",
        message_id="m1",
        person=Person("1001"),
        emoji=YES,
        added=True,
        event_id="Ev-same",
        now=clock(),
    )
    results = await asyncio.gather(inbox.record(reaction), inbox.record(reaction))  # one insert, both rows
    assert sorted(map(str, results)) == ["None", VoteOutcome.IGNORED_DUPLICATE_EVENT.value]
    await inbox.drain()
    assert list((await votes(database, poll.id)).values()) == ["upgrade"]


async def test_applied_events_are_pruned_after_a_week_and_pending_ones_never(database, clock, poll):
    from bot.voting.inbox import prune_applied

    await react(database, clock)(YES, user="1001")
    await record_only(database, [pending_row(clock, user="1002", emoji=NO, key="r:keep:1", order=5)])
    assert await prune_applied(database, now=clock() + timedelta(days=6)) == 0
    assert await prune_applied(database, now=clock() + timedelta(days=8)) == 1
    async with database.session() as session:
        left = (await session.exec(select(ReactionEvent))).all()
    assert [e.event_key for e in left] == ["r:keep:1"] and left[0].applied_at is None


def _random_json(rng: random.Random, depth: int = 0):
    kinds = ["null", "int", "str", "bool", "list", "dict"] if depth < 3 else ["null", "int", "str", "bool"]
    kind = rng.choice(kinds)
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == "dict":
        keys = ["type", "event", "event_id", "team_id", "user", "item", "reaction", "event_ts", "channel", "ts", "x"]
        return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    return {
        "null": None,
        "int": rng.randrange(-5, 10**12),
        "str": rng.choice(["", "reaction_added", "U1", "x"]),
        "bool": rng.random() < 0.5,
    }[kind]


async def test_fuzzed_signed_slack_requests_never_fail_with_a_server_error(database, service, clock, caplog):
    """Signed bodies of every shape, envelopes of reaction events with fields missing or of the wrong
    type among them: each gets an answer (200, or 400/404 for what is not a request we know), never a
    500 or a traceback."""
    rng = random.Random(17)
    bodies = []
    for _ in range(150):
        body = _random_json(rng)
        if rng.random() < 0.5:  # an Events API envelope around a random reaction event
            event = {
                "type": rng.choice(["reaction_added", "reaction_removed"]),
                "user": _random_json(rng),
                "reaction": _random_json(rng),
                "item": _random_json(rng),
                "event_ts": _random_json(rng),
            }
            body = {
                "type": "event_callback",
                "team_id": _random_json(rng),
                "event_id": _random_json(rng),
                "event": event,
            }
        bodies.append(json.dumps(body))
    bodies += ["", "\x00\xff", "{" * 50, json.dumps({"type": "event_callback", "event": None})]
    async with serving_slack(service, database, clock=clock) as slack:
        for body in bodies:
            response = await slack.post(body, headers=signed_request(body, content_type="application/json"))
            assert response.status in (200, 400, 404), (response.status, body)
    assert "Traceback" not in caplog.text
