"""The Bolt app and its two ways to run: Socket Mode (no public URL) and HTTP (Events API).

    app = build_slack_app(config, interviews=..., database=...)
    await run_slack_socket_mode(config, interviews=..., database=...)   # a community install
    await run_slack_http(config, interviews=..., database=..., port=3000)  # behind a public URL

The app is a single-workspace app (one bot token). Bolt's ``AsyncApp`` calls ``auth.test`` on the
first request to learn the bot's own user and bot ids, which its built-in middleware needs to drop
the bot's own messages; we keep that (no ``token_verification`` switch exists on ``AsyncApp``), so
the token is checked against ``api_url`` too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import buttons, commands, dm, polls
from adapters.slack.context import SlackDeps
from adapters.slack.member_commands import member_commands
from adapters.slack.moderator_commands import add_moderator_commands
from adapters.slack.polls import reaction_of
from bot.interview.service import InterviewService
from bot.voting.inbox import inbox_for
from storage.database import Database

log = logging.getLogger("mge.slack")

EVENTS_PATH = "/slack/events"
#: How long shutdown waits for replies still being worked on (an LLM call in flight).
SHUTDOWN_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class SlackConfig:
    """How to reach Slack. Secrets are kept out of ``repr`` so a logged config leaks nothing."""

    bot_token: str = field(repr=False)  # xoxb-…
    #: Verifies HTTP-mode requests; unused in Socket Mode (the websocket itself is authenticated).
    signing_secret: str = field(default="", repr=False)
    #: App-level token (xapp-…, scope connections:write), needed for Socket Mode only.
    app_token: str | None = field(default=None, repr=False)
    #: Web API base URL: GovSlack and test fakes use another host.
    api_url: str = "https://slack.com/api/"
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    #: Who may run moderator subcommands: user ids (U…/W…) and user-group ids (S…; needs usergroups:read),
    #: bare (every workspace) or scoped to one workspace as ``T…:U…`` / ``T…:S…``.
    moderator_ids: tuple[str, ...] = ()
    #: How long a story poll posted by ``/mge poll`` takes votes.
    poll_duration: timedelta = timedelta(hours=72)
    #: Price per million input and output tokens, for the cost estimate in ``/mge stats`` (0: none shown).
    token_prices: tuple[float, float] = (0.0, 0.0)

    def web_client(self) -> AsyncWebClient:
        base_url = self.api_url if self.api_url.endswith("/") else self.api_url + "/"
        return AsyncWebClient(token=self.bot_token, base_url=base_url)


def build_slack_app(
    config: SlackConfig,
    *,
    interviews: InterviewService,
    database: Database,
    deps: SlackDeps | None = None,
    command_registry: commands.CommandRegistry | None = None,
) -> tuple[AsyncApp, SlackDeps]:
    """The Bolt app with every handler registered, and the shared state the handlers use.

    ``command_registry`` defaults to the member subcommands plus the moderator ones (gated by
    ``config.moderator_ids``); pass another ``commands.CommandRegistry`` to change ``/mge``."""
    deps = deps or SlackDeps(interviews=interviews, database=database)
    if command_registry is None:
        command_registry = member_commands()
        command_registry = add_moderator_commands(
            command_registry,
            moderator_ids=config.moderator_ids,
            poll_duration=config.poll_duration,
            token_prices=config.token_prices,
        )
    app = AsyncApp(
        client=config.web_client(),
        signing_secret=config.signing_secret,
        # A long-running server: ack first, work after. True is for FaaS hosts (see dm.py).
        process_before_response=False,
        name="mge",
        logger=logging.getLogger("mge.slack.bolt"),
    )
    dm.register(app, deps)
    buttons.register(app, deps)
    commands.register(app, deps, command_registry)
    polls.register(app, deps)  # reaction_added / reaction_removed → story poll votes
    return app, deps


# --- HTTP mode -------------------------------------------------------------------------------------


class SlackHttpGate:
    """What stands between the internet and Bolt in HTTP mode.

    Every request's signature is checked before its body is parsed: unsigned, badly signed or stale →
    401, signed but malformed (not JSON, JSON that is not an object, a form whose ``payload`` is not) →
    400 with one log line. Anyone who finds the URL can send anything; none of it reaches a parser
    that could fail with a traceback.

    Poll reactions take a short road: recorded in the vote inbox (``bot.voting.inbox``), then answered
    200 — Bolt's middleware chain and listener matching cost more than recording does, and a burst of
    reactions must not queue behind them. An event that could not be recorded is answered 503, so Slack
    delivers it again. Everything else goes to Bolt as before.
    """

    def __init__(self, app: AsyncApp, deps: SlackDeps, *, signing_secret: str):
        self._app = app
        self._deps = deps
        self._verifier = SignatureVerifier(signing_secret)
        self._bot_user_id: str | None = None
        # One auth.test at a time: a burst of first events would otherwise each open a connection to ask.
        self._asking = asyncio.Lock()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.read()
        if not self._signed(body, request.headers):
            return web.Response(status=401, text="invalid signature")
        try:
            text = body.decode("utf-8")
            payload = _parse(text, request.content_type)
        except ValueError as error:
            log.warning("a signed Slack request with a malformed body was refused: %s", error)
            return web.Response(status=400, text="malformed request")
        # The short road needs the bot's own user id (its three reactions under every poll are not votes);
        # while it is unknown (auth.test failing), reactions go through Bolt, whose middleware records them.
        if payload.get("type") == "event_callback" and (bot_user_id := await self._bot_user()) is not None:
            reaction = reaction_of(payload, bot_user_id=bot_user_id, now=self._deps.clock())
            if reaction is not None:
                try:
                    await inbox_for(self._deps.database).record(reaction)
                except Exception as error:  # noqa: BLE001 — Slack retries what is not answered 200
                    log.error("could not record a reaction (%s); asking Slack to deliver it again", error)
                    return web.Response(status=503, text="try again")
                return web.Response(status=200)
        # Bolt reads the headers as any mapping (it lower-cases them itself); its hint names only dict.
        bolt_request = AsyncBoltRequest(
            body=text,
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
            context={commands.ARRIVED_AT: arrived},
        )
        try:
            response = await self._app.async_dispatch(bolt_request)
        except Exception as error:  # noqa: BLE001 — Bolt reading a body of a shape Slack never sends
            log.warning("a signed Slack request Bolt could not read was refused: %s: %s", type(error).__name__, error)
            return web.Response(status=400, text="malformed request")
        return await to_aiohttp_response(response)

    def _signed(self, body: bytes, headers) -> bool:
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        if not timestamp.isdigit():  # the verifier would fail on int() of it
            return False
        return self._verifier.is_valid(body=body, timestamp=timestamp, signature=headers.get("X-Slack-Signature", ""))

    async def _bot_user(self) -> str | None:
        """The bot's own user id (its reactions under every poll are not votes), asked once."""
        if self._bot_user_id is None:
            async with self._asking:
                if self._bot_user_id is None:
                    try:
                        self._bot_user_id = str((await self._app.client.auth_test())["user_id"])
                    except Exception as error:  # noqa: BLE001 — asked again with the next event
                        log.warning("could not learn the bot's own user id (%s)", error)
        return self._bot_user_id


def _parse(text: str, content_type: str) -> dict:
    """The request body as a dict (JSON events, or a form: slash commands and interactivity)."""
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))  # ValueError when not a form
        if "payload" in form:
            payload = json.loads(form["payload"])
            if not isinstance(payload, dict):
                raise ValueError("the interactivity payload is not a JSON object")
            _check_envelope(payload)
            return payload
        if not form:
            raise ValueError("an empty form")
        return form
    payload = json.loads(text)  # JSONDecodeError is a ValueError
    if not isinstance(payload, dict):
        raise ValueError(f"the body is JSON {type(payload).__name__}, not an object")
    _check_envelope(payload)
    return payload


#: Fields of Slack's envelopes (Events API, interactivity) that Bolt reads before any listener runs,
#: by the type Slack sends them as: a body with one of another type is not from Slack.
_ENVELOPE_TYPES: dict[str, type | tuple[type, ...]] = {
    "type": str,
    "token": str,
    "team_id": str,
    "api_app_id": str,
    "event_id": str,
    "enterprise_id": str,
    "context_team_id": str,
    "context_enterprise_id": (str, type(None)),
    "event_time": int,
    "event": dict,
    "team": (dict, type(None)),
    "user": dict,
    "channel": dict,
    "enterprise": (dict, type(None)),
    "authorizations": list,
    "is_enterprise_install": bool,
}


def _check_envelope(payload: dict) -> None:
    for name, expected in _ENVELOPE_TYPES.items():
        if name in payload and not isinstance(payload[name], expected):
            raise ValueError(f"{name!r} is {type(payload[name]).__name__}")
    event = payload.get("event")
    if isinstance(event, dict) and not isinstance(event.get("type"), str):
        raise ValueError("the event has no type")


async def start_http(
    app: AsyncApp, deps: SlackDeps, *, host: str, port: int, signing_secret: str
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (port 0: any free port) behind a ``SlackHttpGate``; returns the
    runner and the bound port."""
    gate = SlackHttpGate(app, deps, signing_secret=signing_secret)
    web_app = web.Application()
    web_app.router.add_post(EVENTS_PATH, gate.handle)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, bound


async def run_slack_http(
    config: SlackConfig,
    *,
    interviews: InterviewService,
    database: Database,
    host: str | None = None,
    port: int | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the Events API, interactivity and slash commands at ``POST /slack/events`` until ``stop``."""
    if not config.signing_secret:
        raise ValueError("HTTP mode needs the Slack signing secret")
    app, deps = build_slack_app(config, interviews=interviews, database=database)
    runner, bound = await start_http(
        app,
        deps,
        host=host or config.http_host,
        port=config.http_port if port is None else port,
        signing_secret=config.signing_secret,
    )
    log.info("Slack HTTP mode listening on %s:%s%s", host or config.http_host, bound, EVENTS_PATH)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
        await _drain(deps)


# --- Socket Mode -----------------------------------------------------------------------------------


async def run_slack_socket_mode(
    config: SlackConfig,
    *,
    interviews: InterviewService,
    database: Database,
    stop: asyncio.Event | None = None,
) -> None:
    """Connect to Slack over a websocket (``apps.connections.open`` at ``api_url``) until ``stop``."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    if not config.app_token:
        raise ValueError("Socket Mode needs an app-level token (xapp-…)")
    app, deps = build_slack_app(config, interviews=interviews, database=database)
    # The handler's web client is the app's, so apps.connections.open honours api_url as well.
    handler = AsyncSocketModeHandler(app, config.app_token, web_client=app.client)
    await handler.connect_async()
    log.info("Slack Socket Mode connected")
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await handler.close_async()
        await _drain(deps)


async def _drain(deps: SlackDeps) -> None:
    """Let replies already being worked on finish (their member turns are saved either way)."""
    try:
        await deps.background.wait_idle(SHUTDOWN_GRACE_SECONDS)
    except TimeoutError:
        log.warning("shutting down with %d Slack replies unfinished", deps.background.active)
