"""Two processes on one database (each its own engine, its own InterviewService and its own leases)
receive two messages from the same member at once: the turns are taken one after the other, so no two
LLM calls race on one transcript — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from bot.interview.service import InterviewService
from bot.runtime.leases import MemberLeases
from storage.database import Database
from tests.conftest import make_llm
from tests.fakes.openai_server import FakeOpenAI
from tests.test_interview_service import say, scenario_id, start_conversation, texts, turn  # noqa: F401 (fixture)


async def test_two_processes_take_one_members_messages_in_turn(database, interview_config, clock, scenario_id):
    other_db = Database(database.url)
    async with FakeOpenAI(latency=0.2) as fake:
        first_llm, second_llm = make_llm(fake), make_llm(fake)
        first = InterviewService(
            database=database, llm=first_llm, config=interview_config, clock=clock, leases=MemberLeases(database)
        )
        second = InterviewService(
            database=other_db, llm=second_llm, config=interview_config, clock=clock, leases=MemberLeases(other_db)
        )
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


@pytest.mark.slow  # `mge chat` processes
def test_two_mge_chat_processes_for_one_member_on_sqlite_take_turns(tmp_path):
    """Two real processes (`mge chat --user` twice, on one SQLite file) answering for one member at once:
    no exception, every message saved once, turn numbers consecutive."""
    import os
    import sqlite3
    import subprocess
    import sys

    from tests.test_cli_chat import SCENARIO

    with FakeOpenAI.in_thread(latency=0.1) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MGE_", "OPENAI_", "DATABASE_URL"))}
        env.update(
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="test",
            MGE_DATA_DIR=str(tmp_path / "data"),
            MGE_LLM_MAX_RETRIES="0",
            HOME=str(tmp_path),
        )
        command = [sys.executable, "-m", "bot", "chat", "--user", "pat"]
        started = subprocess.run(
            [*command, "--scenario", SCENARIO, "--yes"],
            input="",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert started.returncode == 0, started.stderr
        answers = {name: [f"{name} answer {i}." for i in range(6)] for name in ("first", "second")}
        processes = [
            subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=tmp_path,
                text=True,
            )
            for _ in answers
        ]
        outputs = [p.communicate("\n".join(lines) + "\n", timeout=120) for p, lines in zip(processes, answers.values())]

    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
        assert "Traceback" not in out + err and "Error" not in err
    with sqlite3.connect(tmp_path / "data" / "mge.sqlite3") as db:
        turns = db.execute("SELECT seq, role, content FROM interview_turn ORDER BY seq").fetchall()
    said = [content for _, role, content in turns if role == "member"]
    assert sorted(said) == sorted(answers["first"] + answers["second"])  # each saved once
    assert [seq for seq, _, _ in turns] == list(range(turns[0][0], turns[0][0] + len(turns)))
    # Each process's own messages stay in its order.
    for lines in answers.values():
        assert [s for s in said if s in lines] == lines
