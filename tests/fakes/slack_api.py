"""A fake Slack on 127.0.0.1: the Web API, a Socket Mode websocket, and helpers to build signed requests.

    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        ...
        await slack.wait_for("chat.postMessage")
        slack.calls_to("chat.postMessage")[-1].params["blocks"]

``POST /api/{method}`` answers ``{"ok": true, ...}`` with realistic payloads and records every call
(method, parsed params, headers). ``apps.connections.open`` returns a ``ws://127.0.0.1`` URL served
by the same fake: it sends ``{"type": "hello"}``, then whatever ``push_envelope`` sends, and records the
client's acks in ``acks``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

TEAM_ID = "T0TEST"
TEAM_DOMAIN = "testteam"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0TEST"
SIGNING_SECRET = "test-signing-secret"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    #: What the fake answered (e.g. the ``ts`` of a posted message).
    result: dict[str, Any] = field(default_factory=dict)

    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.params.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    def message(self) -> dict[str, Any]:
        """A posted message as Slack would show it back: params, blocks and the ``ts`` it got."""
        return {**self.params, "blocks": self.blocks(), "ts": self.result.get("ts")}

    def dump(self) -> str:
        """Everything that would reach Slack's renderer (text and blocks), for 'contains no …' checks."""
        return json.dumps({"text": self.params.get("text"), "blocks": self.blocks()}, ensure_ascii=False)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        #: Users whose account is deactivated: ``conversations.open`` answers ``user_disabled`` for them.
        self.deactivated: set[str] = set()
        self.acks: list[dict[str, Any]] = []
        self.hellos_sent = 0
        #: (channel, ts) → reaction names the bot has added there, in order (``reactions.add``).
        self.bot_reactions: dict[tuple[str, str], list[str]] = {}
        #: User-group id (S…) → its members' user ids, for ``usergroups.users.list``.
        self.usergroups: dict[str, list[str]] = {}
        #: file id → bytes uploaded to the URL ``files.getUploadURLExternal`` handed out (files_upload_v2).
        self.uploads: dict[str, bytes] = {}
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # the SDK sends a few methods as GET (usergroups.users.list)
        app.router.add_get("/socket-mode", self._socket)
        app.router.add_post("/upload/{file_id}", self._upload)  # files_upload_v2 step 2
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        for ws in list(self._sockets):
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # --- inspecting ------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called at least ``count`` times in all; return those calls."""

        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)

        try:
            await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            seen = [c.method for c in self.calls]
            raise AssertionError(f"expected {count} × {method} within {timeout}s; calls so far: {seen}") from None
        return self.calls_to(method)

    def public_calls(self, channel: str) -> list[Call]:
        """Every call that changed what anyone in ``channel`` sees: messages posted or updated there and
        reactions added (ephemeral messages are ``chat.postEphemeral`` calls, one member's each)."""
        shown = ("chat.postMessage", "chat.update", "reactions.add")
        return [c for c in self.calls if c.method in shown and c.params.get("channel") == channel]

    # --- the Web API -----------------------------------------------------------------------------

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        # The SDK sends some methods' arguments in the query string, others as a form or JSON body.
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params |= await request.json()
        else:
            params |= dict(await request.post())
        answer = getattr(self, "api_" + method.replace(".", "_"), None)
        body = answer(params, request) if answer else {"ok": False, "error": "unknown_method"}
        await self._record(Call(method, params, dict(request.headers), body))
        return web.json_response(body)

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - uploaded")

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def api_auth_test(self, params, request) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Test Team",
            "user": "moral-graph-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def api_chat_postMessage(self, params, request) -> dict[str, Any]:
        ts = self._next_ts()
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": params.get("text", ""), "ts": ts}
        return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": message}

    def api_chat_update(self, params, request) -> dict[str, Any]:
        return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text", "")}

    def api_chat_postEphemeral(self, params, request) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def api_conversations_open(self, params, request) -> dict[str, Any]:
        users = str(params.get("users", ""))
        if users in self.deactivated:
            return {"ok": False, "error": "user_disabled"}
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0].lstrip("U")}}

    def api_users_info(self, params, request) -> dict[str, Any]:
        user = str(params.get("user", ""))
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": TEAM_ID,
                "name": user.lower(),
                "real_name": f"User {user}",
                "is_bot": False,
                "profile": {"display_name": f"user-{user.lower()}"},
            },
        }

    def api_team_info(self, params, request) -> dict[str, Any]:
        return {"ok": True, "team": {"id": TEAM_ID, "name": "Test Team", "domain": TEAM_DOMAIN}}

    def api_reactions_add(self, params, request) -> dict[str, Any]:
        names = self.bot_reactions.setdefault((str(params.get("channel")), str(params.get("timestamp"))), [])
        name = str(params.get("name", ""))
        if name in names:
            return {"ok": False, "error": "already_reacted"}
        names.append(name)
        return {"ok": True}

    def api_reactions_remove(self, params, request) -> dict[str, Any]:
        names = self.bot_reactions.get((str(params.get("channel")), str(params.get("timestamp"))), [])
        name = str(params.get("name", ""))
        if name not in names:
            return {"ok": False, "error": "no_reaction"}
        names.remove(name)
        return {"ok": True}

    def api_usergroups_users_list(self, params, request) -> dict[str, Any]:
        members = self.usergroups.get(str(params.get("usergroup", "")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}

    def api_files_getUploadURLExternal(self, params, request) -> dict[str, Any]:
        file_id = f"F{next(self._ts):08d}"
        return {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}

    def api_files_completeUploadExternal(self, params, request) -> dict[str, Any]:
        files = params.get("files") or "[]"
        files = json.loads(files) if isinstance(files, str) else files
        return {
            "ok": True,
            "files": [
                {"id": f["id"], "title": f.get("title", ""), "size": len(self.uploads.get(f["id"], b""))} for f in files
            ],
        }

    def api_apps_connections_open(self, params, request) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket-mode?ticket={uuid.uuid4()}"}

    # --- Socket Mode -----------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake"},
                "connection_info": {"app_id": APP_ID},
            }
        )
        self.hellos_sent += 1
        self._connected.set()
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                data = json.loads(frame.data)
                if "envelope_id" in data:
                    self.acks.append(data)
                    async with self._changed:
                        self._changed.notify_all()
        self._sockets.remove(ws)
        return ws

    async def wait_connected(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def push_envelope(self, payload: dict[str, Any], *, type: str = "events_api", retry_attempt: int = 0) -> str:
        """Send an envelope to the connected Socket Mode client; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": type,
            "accepts_response_payload": type != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "",
            "payload": payload,
        }
        await self._sockets[-1].send_json(envelope)
        return envelope_id

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        async def acked() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: any(a["envelope_id"] == envelope_id for a in self.acks))

        await asyncio.wait_for(acked(), timeout)
        return next(a for a in self.acks if a["envelope_id"] == envelope_id)


# --- signed HTTP requests (HTTP mode) -------------------------------------------------------------


def signed_request(
    body: str, secret: str = SIGNING_SECRET, *, timestamp: int | None = None, content_type: str | None = None
) -> dict[str, str]:
    """Headers Slack sends with ``body``: ``v0=HMAC_SHA256(secret, "v0:{ts}:{body}")``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    if content_type is None:
        content_type = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}


# --- payloads ------------------------------------------------------------------------------------

_event_ids = itertools.count(1)
_message_ts = itertools.count(1)


def new_event_id() -> str:
    return f"Ev{next(_event_ids):08d}"


def message_im_event(
    text: str | None,
    *,
    user: str = "U1",
    channel: str = "D1",
    team: str = TEAM_ID,
    event_id: str | None = None,
    ts: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An Events API ``event_callback`` body for a member's DM (``message.im``)."""
    ts = ts or f"{int(time.time())}.{next(_message_ts):06d}"
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "im",
        "team": team,
        **extra,
    }
    if text is not None:
        event["text"] = text
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "context_team_id": team,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(float(ts)),
        "authorizations": [{"team_id": team, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


def reaction_event(
    reaction: str,
    *,
    added: bool = True,
    user: str = "U1",
    channel: str = "C1",
    ts: str,
    item_user: str = BOT_USER_ID,
    team: str = TEAM_ID,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An Events API body for ``reaction_added`` / ``reaction_removed`` on the message ``channel``/``ts``."""
    event_ts = f"{time.time():.6f}"
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "context_team_id": team,
        "api_app_id": APP_ID,
        "event": {
            "type": "reaction_added" if added else "reaction_removed",
            "user": user,
            "reaction": reaction,
            "item_user": item_user,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": event_ts,
        },
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(float(event_ts)),
        "authorizations": [{"team_id": team, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


def slash_command_body(text: str, **options: Any) -> str:
    """A slash command as Slack POSTs it in HTTP mode (form-encoded)."""
    return urlencode(slash_command_payload(text, **options))


def slash_command_payload(
    text: str,
    *,
    user: str = "U1",
    user_name: str = "alice",
    team: str = TEAM_ID,
    channel: str = "C1",
    command: str = "/mge",
) -> dict[str, str]:
    """A slash command's fields (the Socket Mode envelope payload)."""
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/commands/response",
        "trigger_id": f"trigger-{uuid.uuid4()}",
    }


def block_actions_payload(
    message: dict[str, Any],
    *,
    action_id: str,
    user: str = "U1",
    team: str = TEAM_ID,
    channel: str = "D1",
) -> dict[str, Any]:
    """A ``block_actions`` payload for pressing ``action_id`` on ``message`` (a ``chat.postMessage`` call's
    params plus its ``ts``), the way Slack sends it for a button in a DM."""
    blocks = message["blocks"]
    button, block_id = next(
        (element, block.get("block_id"))
        for block in blocks
        if block.get("type") == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    )
    action_ts = f"{time.time():.6f}"
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": team},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"trigger-{uuid.uuid4()}",
        "team": {"id": team, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage"},
        "message": {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "blocks": blocks,
        },
        "state": {"values": {}},
        "response_url": "http://127.0.0.1:9/actions/response",
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": button["text"],
                "value": button["value"],
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }


def block_actions_body(payload: dict[str, Any]) -> str:
    """Interactivity requests are form-encoded with the JSON in ``payload``."""
    return urlencode({"payload": json.dumps(payload)})


def url_verification_body(challenge: str = "challenge-token") -> str:
    return json.dumps({"token": "legacy-verification-token", "challenge": challenge, "type": "url_verification"})
