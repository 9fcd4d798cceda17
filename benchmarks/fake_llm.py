"""The fake OpenAI-compatible server (``tests/fakes/openai_server.py``) in a process of its own, for the
benchmarks: a fixed latency on every answer, and an interviewer that plays a scripted 9-turn interview.

It runs in a separate process so that its own work (parsing requests, filling schemas) never shares an
event loop or the GIL with the bot being measured — as a real, remote model would not.

    with fake_llm_process(latency=0.5) as base_url:
        llm = OpenAILLM(base_url=base_url, ...)

    python benchmarks/fake_llm.py --latency 0.5     # prints {"base_url": ...}, serves until stdin closes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Member answers after which the interviewer says it is ready to write the card.
READY_AFTER = 9

#: Interviewer questions of a realistic length (1–3 sentences, as the prompt asks), one per turn.
QUESTIONS = (
    "That's a thoughtful place to start. When you imagine a really good response here, what would it pay "
    "attention to first?",
    "You mentioned the friend's own judgement. When you have faced a choice like this yourself, what did "
    "you find yourself noticing?",
    "It sounds like honesty matters here, but I'd like to go beneath the rule. What good thing do you think "
    "speaking up is there to protect?",
    "Can you tell me about a particular time you lived by this? What was happening, and what did you notice "
    "in that moment?",
    "What about that moment made it feel like the right thing to do, apart from how it turned out afterwards?",
    "Is there someone you admire for handling situations like this well? What would they pay attention to?",
    "When you picture them in your friend's position, what would they notice about the people who could be affected?",
    "You've described several things. Which of them matters most to you when the stakes feel high?",
    "If an assistant attended to those things in its answer, how would the person on the other end feel "
    "afterwards, do you think?",
    "Thank you, I think I have a clear picture of what matters to you here.",
)


def interviewer_responder(request: dict[str, Any]) -> Any:
    """The default answers, except interviewer turns: a question by turn number, ready after 9 answers."""
    from tests.fakes.openai_server import default_responder

    answer = default_responder(request)
    # An interviewer turn (its schema also has the optional "language", which these answers leave out).
    if isinstance(answer, dict) and {"message", "ready_to_articulate"} <= set(answer):
        answered = sum(1 for message in request.get("messages", []) if message.get("role") == "user")
        answer = {
            "message": QUESTIONS[min(answered, len(QUESTIONS)) - 1] if answered else QUESTIONS[0],
            "ready_to_articulate": answered >= READY_AFTER,
        }
    return answer


async def serve(latency: float) -> None:
    from tests.fakes.openai_server import FakeOpenAI

    async with FakeOpenAI(latency=latency) as fake:
        fake.responder = interviewer_responder
        print(json.dumps({"base_url": fake.base_url}), flush=True)

        async def forget_requests() -> None:
            # The fake keeps every request for tests to inspect; a long benchmark does not need them.
            while True:
                await asyncio.sleep(2)
                with fake._lock:
                    fake._requests.clear()

        forgetting = asyncio.create_task(forget_requests())
        # Serve until the parent closes our stdin (or dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        forgetting.cancel()


@contextlib.contextmanager
def fake_llm_process(latency: float) -> Iterator[str]:
    """Start the fake in a child process; yield its base URL; stop it on exit."""
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        if not line:
            raise RuntimeError("the fake LLM server did not start")
        yield json.loads(line)["base_url"]
    finally:
        if child.stdin:
            with contextlib.suppress(BrokenPipeError):
                child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    asyncio.run(serve(args.latency))


if __name__ == "__main__":
    main()
