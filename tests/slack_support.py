"""Serving the real Bolt app over HTTP on loopback against the fake Slack, shared by the Slack test
modules: signed requests in, recorded Web API calls out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp

from adapters.slack.app import SlackConfig, build_slack_app, start_http
from adapters.slack.context import SlackDeps
from bot.voting.inbox import inbox_for
from tests.fakes.slack_api import (
    SIGNING_SECRET,
    Call,
    FakeSlack,
    block_actions_body,
    block_actions_payload,
    message_im_event,
    reaction_event,
    signed_request,
    slash_command_body,
)


@dataclass
class Response:
    status: int
    text: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Harness:
    slack: FakeSlack
    url: str
    http: aiohttp.ClientSession
    deps: SlackDeps
    app: AsyncApp
    _mark: int = field(default=0)

    async def post(self, body: str, headers: dict[str, str] | None = None, **sign: Any) -> Response:
        started = time.perf_counter()
        async with self.http.post(self.url, data=body.encode(), headers=headers or signed_request(body, **sign)) as r:
            return Response(r.status, await r.text(), time.perf_counter() - started)

    async def event(self, payload: dict[str, Any], *, retry: int | None = None) -> Response:
        body = json.dumps(payload)
        headers = signed_request(body)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        response = await self.post(body, headers)
        assert response.status == 200, response.text
        return response

    async def dm(self, text: str | None, **extra: Any) -> Response:
        return await self.event(message_im_event(text, **extra))

    async def command(self, text: str, **extra: Any) -> Response:
        response = await self.post(slash_command_body(text, **extra))
        assert response.status == 200, response.text
        return response

    async def press(self, posted: Call, label: str) -> Response:
        response = await self.post(press_body(posted.message(), label))
        assert response.status == 200, response.text
        return response

    async def react(
        self, channel: str, ts: str, reaction: str, *, added: bool = True, user: str = "U1", **extra
    ) -> dict:
        body = reaction_event(reaction, added=added, user=user, channel=channel, ts=ts, **extra)
        await self.event(body)
        await self.settle()
        return body

    def posted(self) -> list[Call]:
        return self.slack.calls_to("chat.postMessage")

    def posts_to(self, channel: str) -> list[Call]:
        return [c for c in self.posted() if c.params.get("channel") == channel]

    async def next_posts(self, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait for ``count`` more chat.postMessage calls than were seen before the last ``mark``."""
        calls = await self.slack.wait_for("chat.postMessage", self._mark + count, timeout)
        new = calls[self._mark :]
        self._mark = len(calls)
        return new

    async def settle(self, timeout: float = 10) -> None:
        """Let every handler that was dispatched finish: Bolt runs each listener as a task of its own that
        goes on after the ack, and the work it hands to ``deps.background`` with it; then the reactions
        recorded so far are applied. Waits for those tasks themselves rather than for a while: a wait long
        enough for a loaded machine cost every test. Fails after ``timeout`` seconds saying what still runs."""
        background = self.deps.background
        try:
            async with asyncio.timeout(timeout) as waiting:
                while True:
                    await asyncio.sleep(0)  # a listener dispatched by the last request starts
                    if listeners := bolt_listeners():
                        await asyncio.wait(listeners)
                    elif background.active:
                        await background.wait_idle()
                    else:
                        await inbox_for(self.deps.database).drain()
                        if not bolt_listeners() and not background.active:
                            return
        except TimeoutError:
            if not waiting.expired():
                raise
            raise AssertionError(
                f"Slack handlers still running after {timeout} s: {len(bolt_listeners())} Bolt listener(s), "
                f"{background.active} in deps.background (or the vote inbox's drain)"
            ) from None


#: The task slack_bolt's AsyncioListenerRunner runs each listener in (ack first, then the rest of the handler).
BOLT_LISTENER_TASK = "run_ack_function_asynchronously"


def bolt_listeners() -> set[asyncio.Task]:
    """The Bolt listener tasks of this event loop not finished yet."""
    return {
        task
        for task in asyncio.all_tasks()
        if not task.done() and BOLT_LISTENER_TASK in getattr(task.get_coro(), "__qualname__", "")
    }


def press_body(message: dict[str, Any], label: str, **where: Any) -> str:
    """The signed-request body of pressing the button labelled ``label`` on ``message`` (``where``: the
    user and channel, see ``block_actions_payload``)."""
    action_id = next(
        e["action_id"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == label
    )
    return block_actions_body(block_actions_payload(message, action_id=action_id, **where))


@contextlib.asynccontextmanager
async def serving_slack(service, database, *, clock=None, prepare=None, **config: Any) -> AsyncIterator[Harness]:
    """The Bolt app on a free loopback port, talking to a fresh fake Slack; ``config`` overrides
    SlackConfig fields, ``clock`` the handlers' clock, ``prepare(fake)`` sets the fake up first."""
    async with FakeSlack() as fake:
        if prepare is not None:
            prepare(fake)
        settings = SlackConfig(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=fake.api_url, **config)
        deps = SlackDeps(interviews=service, database=database, **({"clock": clock} if clock else {}))
        app, deps = build_slack_app(settings, interviews=service, database=database, deps=deps)
        runner, port = await start_http(app, deps, host="127.0.0.1", port=0, signing_secret=SIGNING_SECRET)
        try:
            async with aiohttp.ClientSession() as http:
                harness = Harness(fake, f"http://127.0.0.1:{port}/slack/events", http, deps, app)
                yield harness
                await harness.settle()
        finally:
            await runner.cleanup()
