"""`/mge mycard` data: a member's cards and, for confirmed ones, the value each is in now, how many
other members share it, and where it ranks — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.values.my_card import member_cards
from core.messages import CommunityRef, Person
from storage import values_repo
from storage.models import MoralContext, TransitionStory, ValuesCardRecord
from tests.dedup_support import AUTONOMY, AUTONOMY_REWORDED, GENEROSITY, add_card
from tests.test_poll_selection import add_votes, open_poll
from tests.test_scheduler import community_id

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HERE = CommunityRef("console", "here", "Here")


async def test_mycard_says_which_value_a_card_is_in_who_shares_it_and_its_rank(database):
    cid = await community_id(database, HERE)
    ana = await add_card(database, cid, AUTONOMY, NOW, member="ana")
    bea = await add_card(database, cid, AUTONOMY_REWORDED, NOW, member="bea")
    cy = await add_card(database, cid, GENEROSITY, NOW, member="cy")
    draft = await add_card(database, cid, GENEROSITY, NOW, member="ana", status="proposed")
    async with database.session() as session:
        cards = {i: await session.get(ValuesCardRecord, i) for i in (ana, bea, cy)}
        autonomy = await values_repo.create_value_from_card(session, card=cards[ana], now=NOW)
        generosity = await values_repo.create_value_from_card(session, card=cards[cy], now=NOW)
        for card_id, value in ((ana, autonomy), (bea, autonomy), (cy, generosity)):
            await values_repo.add_assignment(
                session, card=cards[card_id], value_id=value.id, decision="new_value", now=NOW
            )
        context = MoralContext(community_id=cid, text="When someone is unsure", created_at=NOW)
        session.add(context)
        await session.flush()
        story = TransitionStory(
            community_id=cid,
            context_id=context.id,
            from_value_id=generosity.id,
            to_value_id=autonomy.id,
            story="…",
            steps={},
            prompt_sha="0" * 64,
            model="m",
            created_at=NOW,
        )
        session.add(story)
        await session.commit()
        story_id = story.id

    before = await member_cards(database, HERE, Person("ana"))
    assert [(c.status, c.placement is not None) for c in before] == [("confirmed", True), ("proposed", False)]
    assert before[0].placement.line() == (
        "In the value “Informed Autonomy Under Pressure” with 1 other member's card; "
        "not ranked yet (it needs votes on stories about it)."
    )
    assert draft  # the proposed card is listed without a placement

    poll = await open_poll(database, story_id, now=NOW, closes_at=None)
    await add_votes(database, poll, 3, now=NOW)
    [placed, _] = await member_cards(database, HERE, Person("ana"))
    assert placed.placement.best_rank == (1, 2, "When someone is unsure")
    assert placed.placement.line().endswith("ranked 1 of 2 in “When someone is unsure”.")
    [cys] = await member_cards(database, HERE, Person("cy"))
    assert cys.placement.best_rank == (2, 2, "When someone is unsure") and cys.placement.shared_with == 0
