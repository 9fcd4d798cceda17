"""Two processes on one database (each its own engine, its own InterviewService and its own leases)
receive two messages from the same member at once: the turns are taken one after the other, so no two
LLM calls race on one transcript — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

from mge.bot.interviews import InterviewService
from mge.bot.leases import MemberLeases
from mge.storage.database import Database
from tests.conftest import make_llm
from tests.fakes.openai_server import FakeOpenAI
from tests.test_interview_service import scenario_id, say, start_conversation, texts, turn  # noqa: F401 (fixture)


async def test_two_processes_take_one_members_messages_in_turn(database, interview_config, clock, scenario_id):
    other_db = Database(database.url)
    async with FakeOpenAI(latency=0.2) as fake:
        first_llm, second_llm = make_llm(fake), make_llm(fake)
        first = InterviewService(database=database, llm=first_llm, config=interview_config, clock=clock,
                                 leases=MemberLeases(database))
        second = InterviewService(database=other_db, llm=second_llm, config=interview_config, clock=clock,
                                  leases=MemberLeases(other_db))
        try:
            await start_conversation(first, scenario_id)
            fake.script(turn("reply A"), turn("reply B"))
            replies = await asyncio.gather(first.handle(say("message one")), second.handle(say("message two")))
        finally:
            await first_llm.aclose()
            await second_llm.aclose()
            await other_db.dispose()
    assert sorted(texts(r) for r in replies) == ["reply A", "reply B"]
    # Whichever went second saw the first one's whole exchange: the calls did not overlap.
    later = [m["content"] for m in fake.chat_requests[-1]["messages"][1:]]
    assert later[-3:] in (["message one", "reply A", "message two"], ["message two", "reply A", "message one"])
