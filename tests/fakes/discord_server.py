"""A fake Discord (REST + gateway) on 127.0.0.1 that the real ``discord.Client`` connects to.

    async with FakeDiscord() as fake:                    # redirects discord.py here, restores on exit
        guild = fake.add_guild("Test Guild")
        alice = fake.add_user("alice")
        client = build_client(...); task = asyncio.create_task(client.start(fake.token))
        await fake.wait_until_identified()
        await fake.send_dm(alice, "hello")
        [reply] = await fake.wait_for_bot_messages(fake.dm_channel_id(alice), 1)

REST: what discord.py calls for login, command sync, DMs, messages, interaction callbacks and
follow-ups; every request is recorded in ``fake.requests``; anything else answers 404 (and is recorded).
Responses carry ``Content-Type: application/json`` exactly — discord.py compares it literally.

Gateway: HELLO, IDENTIFY (recorded: ``fake.identify``), READY (guilds unavailable, then one
GUILD_CREATE each), heartbeat ACKs, and helpers that dispatch events. Like real Discord, every message
the bot posts to a channel is echoed back as MESSAGE_CREATE, and every reaction it adds or removes as
MESSAGE_REACTION_ADD / MESSAGE_REACTION_REMOVE (``add_reaction`` / ``remove_reaction`` send members' ones).

Redirection relies on two discord.py 2.7 internals: ``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import discord
import yarl
from aiohttp import WSMsgType, web

EPHEMERAL = 64
ATTACHMENT_SIZE_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass(frozen=True)
class FakeGuild:
    id: int
    name: str
    channel_id: int  # its one text channel, "general"
    owner_id: int

    def channel_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.channel_id),
            "type": 0,
            "guild_id": str(self.id),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "parent_id": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }

    def payload(self) -> dict[str, Any]:
        everyone = {
            "id": str(self.id),
            "name": "@everyone",
            "permissions": str(discord.Permissions.general().value),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "owner_id": str(self.owner_id),
            "features": [],
            "roles": [everyone],
            "channels": [self.channel_payload()],
            "threads": [],
            "members": [],
            "presences": [],
            "voice_states": [],
            "emojis": [],
            "stickers": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "member_count": 2,
            "large": False,
            "unavailable": False,
            "joined_at": _now(),
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
        }


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any


@dataclass
class FakeInteraction:
    id: int
    token: str
    payload: dict[str, Any]
    #: Callback bodies ({"type": …, "data": …}) in order.
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    #: Follow-up message bodies in order.
    followups: list[dict[str, Any]] = field(default_factory=list)
    #: The messages its responses and follow-ups created, as Discord would show them (e.g. to press a
    #: button under an ephemeral reply, or to find its attachments in ``FakeDiscord.files``).
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Callbacks' ``data`` and follow-ups, in order, each with its ``type`` (follow-ups: "followup")."""
        return [{"type": c["type"], **(c.get("data") or {})} for c in self.callbacks] + [
            {"type": "followup", **f} for f in self.followups
        ]


class FakeDiscord:
    def __init__(self, *, token: str = "fake-token", heartbeat_interval_ms: int = 41_250) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self.bot = FakeUser(self.snowflake(), "mge-bot", bot=True)
        self.application_id = self.snowflake()
        self.guilds: dict[int, FakeGuild] = {}
        self.users: dict[int, FakeUser] = {}
        #: Users whose DMs are closed to the bot: posting to their DM channel gets 403 / code 50007.
        self.closed_dms: set[int] = set()
        self.requests: list[Recorded] = []
        #: attachment id → bytes of every file the bot sent with a message.
        self.files: dict[str, bytes] = {}
        self.identify: dict[str, Any] | None = None
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # guild id (None: global) → commands
        self.interactions: dict[int, FakeInteraction] = {}
        self._messages: dict[int, list[dict[str, Any]]] = {}  # channel id → bot messages, in order
        #: (channel id, message id) → the reactions on it now, as (user id, emoji), in the order added.
        self.reactions: dict[tuple[int, int], list[tuple[int, str]]] = {}
        self._dm_channels: dict[int, int] = {}  # user id → DM channel id
        self._dm_recipients: dict[int, FakeUser] = {}  # DM channel id → user
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._sequence = 0
        self._runner: web.AppRunner | None = None
        self._saved: tuple[str, yarl.URL] | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._redirect()

    async def stop(self) -> None:
        self._restore()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def _redirect(self) -> None:
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = f"http://127.0.0.1:{self.port}/api/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    def _restore(self) -> None:
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None

    # --- the world --------------------------------------------------------------------------------

    def snowflake(self) -> int:
        return next(self._ids)

    def add_user(self, username: str, *, global_name: str | None = None, bot: bool = False) -> FakeUser:
        user = FakeUser(self.snowflake(), username, global_name or username.title(), bot)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str) -> FakeGuild:
        """A guild the bot is in. Add guilds before the client connects (they arrive after READY)."""
        guild = FakeGuild(self.snowflake(), name, self.snowflake(), owner_id=self.snowflake())
        self.guilds[guild.id] = guild
        return guild

    def dm_channel_id(self, user: FakeUser) -> int:
        if user.id not in self._dm_channels:
            channel_id = self.snowflake()
            self._dm_channels[user.id] = channel_id
            self._dm_recipients[channel_id] = user
        return self._dm_channels[user.id]

    def bot_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """What the bot has posted (and what it looks like now, after edits) in a channel."""
        return list(self._messages.get(channel_id, []))

    def requests_to(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def public_bodies(self, channel_id: int) -> list[Any]:
        """Every request body of the bot's that anyone in ``channel_id`` could see: messages posted or edited
        there, and interaction responses and follow-ups there that are not ephemeral (for "reveals
        nothing" checks)."""
        seen: list[Any] = []
        for request in self.requests:
            body = request.json if isinstance(request.json, dict) else {}
            if request.method in ("POST", "PATCH") and re.fullmatch(
                rf"/channels/{channel_id}/messages(/\d+)?", request.path
            ):
                seen.append(body)
                continue
            callback = re.fullmatch(r"/interactions/(\d+)/[^/]+/callback", request.path)
            webhook = re.fullmatch(r"/webhooks/\d+/([^/]+)(/messages/.+)?", request.path)
            if callback:
                interaction = self.interactions.get(int(callback[1]))
                flags = (body.get("data") or {}).get("flags") or 0
            elif webhook:
                interaction = next((i for i in self.interactions.values() if i.token == webhook[1]), None)
                # An edit keeps its message's flags: counted as public, to be safe.
                flags = 0 if webhook[2] else body.get("flags") or 0
            else:
                continue
            here = interaction is not None and interaction.payload.get("channel_id") == str(channel_id)
            if here and not flags & EPHEMERAL:
                seen.append(body)
        return seen

    # --- waiting ------------------------------------------------------------------------------------

    async def _wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        async def until() -> Any:
            async with self._changed:
                await self._changed.wait_for(predicate)
                return predicate()

        try:
            return await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until_identified(self, timeout: float = 5) -> dict[str, Any]:
        return await self._wait(lambda: self.identify, timeout, "IDENTIFY")

    async def wait_for_bot_messages(self, channel_id: int, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        """The bot's messages in a channel, once there are at least ``count``."""
        await self._wait(lambda: len(self._messages.get(channel_id, [])) >= count, timeout, f"{count} messages")
        return self.bot_messages(channel_id)

    async def wait_for_responses(self, interaction_id: int, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        """An interaction's callbacks and follow-ups, once there are at least ``count``."""
        interaction = self.interactions[interaction_id]
        await self._wait(lambda: len(interaction.responses) >= count, timeout, f"{count} interaction responses")
        return interaction.responses

    # --- gateway ------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_json(
                {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
            )
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                op = message.get("op")
                if op == 1:  # heartbeat
                    await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:  # identify
                    self.identify = message["d"]
                    await self._ready(ws)
                    await self._notify()
        finally:
            self._sockets.remove(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse) -> None:
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
                "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
                "session_id": secrets.token_hex(16),
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
            ws=ws,
        )
        for guild in self.guilds.values():
            await self.dispatch("GUILD_CREATE", guild.payload(), ws=ws)

    async def dispatch(self, event: str, data: dict[str, Any], *, ws: web.WebSocketResponse | None = None) -> None:
        """Send a DISPATCH event to the connected client."""
        target = ws or (self._sockets[-1] if self._sockets else None)
        if target is None or target.closed:
            raise AssertionError("no client connected to the fake gateway")
        self._sequence += 1
        await target.send_json({"op": 0, "s": self._sequence, "t": event, "d": data})

    # --- events a test sends --------------------------------------------------------------------------

    async def send_guild_create(self, guild: FakeGuild) -> None:
        """The bot joins ``guild`` while connected."""
        self.guilds[guild.id] = guild
        await self.dispatch("GUILD_CREATE", guild.payload())

    async def send_dm(
        self,
        user: FakeUser,
        text: str,
        *,
        attachments: Sequence[dict[str, Any]] = (),
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """A DM from ``user`` to the bot (MESSAGE_CREATE without guild_id). Reuse ``message_id`` to redeliver."""
        message = self._message(
            self.dm_channel_id(user), user, text, attachments=list(attachments), message_id=message_id
        )
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def send_guild_message(self, user: FakeUser, guild: FakeGuild, text: str) -> dict[str, Any]:
        message = self._message(guild.channel_id, user, text, guild_id=guild.id)
        message["member"] = self._member(user, 0)
        del message["member"]["user"]
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def send_slash_command(
        self,
        user: FakeUser,
        guild: FakeGuild | None,
        command: str,
        subcommand: str,
        *,
        options: Sequence[dict[str, Any]] = (),
        member_permissions: int = 0,
        group: str | None = None,
    ) -> int:
        """`/command subcommand` (or `/command group subcommand`) from ``user`` in ``guild`` (None: in the
        bot's DMs). Returns the interaction id."""
        command_id = next(
            (c["id"] for cmds in self.commands.values() for c in cmds if c["name"] == command), str(self.snowflake())
        )
        chosen = [{"name": subcommand, "type": 1, "options": list(options)}]
        if group is not None:
            chosen = [{"name": group, "type": 2, "options": chosen}]
        data = {"id": command_id, "name": command, "type": 1, "options": chosen}
        return await self.send_interaction(2, user, guild, data, member_permissions=member_permissions)

    async def press_button(self, user: FakeUser, message: dict[str, Any], custom_id: str) -> int:
        """``user`` presses the button ``custom_id`` under ``message`` (one of the bot's). Returns the interaction
        id."""
        current = self._find_message(int(message["channel_id"]), int(message["id"])) or message
        data = {"custom_id": custom_id, "component_type": 2}
        guild = self.guilds.get(int(current["guild_id"])) if current.get("guild_id") else None
        return await self.send_interaction(3, user, guild, data, message=current)

    async def add_reaction(self, user: FakeUser, message: dict[str, Any], emoji: str) -> None:
        """``user`` reacts with the unicode ``emoji`` under ``message`` (MESSAGE_REACTION_ADD)."""
        key = (int(message["channel_id"]), int(message["id"]))
        if (user.id, emoji) not in self.reactions.setdefault(key, []):
            self.reactions[key].append((user.id, emoji))
        await self.dispatch("MESSAGE_REACTION_ADD", self._reaction(user, message, emoji, added=True))

    async def remove_reaction(self, user: FakeUser, message: dict[str, Any], emoji: str) -> None:
        """``user`` takes their ``emoji`` reaction back (MESSAGE_REACTION_REMOVE: no member object)."""
        key = (int(message["channel_id"]), int(message["id"]))
        if (user.id, emoji) in self.reactions.get(key, []):
            self.reactions[key].remove((user.id, emoji))
        await self.dispatch("MESSAGE_REACTION_REMOVE", self._reaction(user, message, emoji, added=False))

    def reaction_payload(self, user: FakeUser, message: dict[str, Any], emoji: str, *, added: bool) -> dict[str, Any]:
        """The ``d`` of a MESSAGE_REACTION_ADD / _REMOVE, as Discord sends it (to send altered ones)."""
        return self._reaction(user, message, emoji, added=added)

    def dm_payload(self, user: FakeUser, text: str) -> dict[str, Any]:
        """The ``d`` of a MESSAGE_CREATE for a DM from ``user`` (to send altered ones)."""
        return self._message(self.dm_channel_id(user), user, text)

    def _reaction(self, user: FakeUser, message: dict[str, Any], emoji: str, *, added: bool) -> dict[str, Any]:
        # "type" and "burst" are required by discord.py 2.7's RawReactionActionEvent.
        data: dict[str, Any] = {
            "type": 0,
            "burst": False,
            "user_id": str(user.id),
            "channel_id": str(message["channel_id"]),
            "message_id": str(message["id"]),
            "emoji": {"id": None, "name": emoji},
        }
        if message.get("guild_id"):
            data["guild_id"] = str(message["guild_id"])
            if added:
                data["member"] = self._member(user, 0)
        if added:
            data["message_author_id"] = str(message["author"]["id"])
            data["burst_colors"] = []
        return data

    # --- payload builders -------------------------------------------------------------------------------

    def _message(
        self,
        channel_id: int,
        author: FakeUser,
        content: str,
        *,
        guild_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
        message_id: int | None = None,
        embeds: list[dict[str, Any]] | None = None,
        components: list[dict[str, Any]] | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        message = {
            "id": str(message_id or self.snowflake()),
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": embeds or [],
            "components": components or [],
            "pinned": False,
            "type": 0,
            "flags": flags,
        }
        if guild_id is not None:
            message["guild_id"] = str(guild_id)
        return message

    def attachment(self, filename: str = "picture.png", size: int = 1234) -> dict[str, Any]:
        attachment_id = self.snowflake()
        url = f"https://cdn.discordapp.com/attachments/1/{attachment_id}/{filename}"
        return {"id": str(attachment_id), "filename": filename, "size": size, "url": url, "proxy_url": url}

    def _member(self, user: FakeUser, permissions: int) -> dict[str, Any]:
        return {
            "user": user.payload(),
            "roles": [],
            "joined_at": _now(),
            "nick": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "permissions": str(permissions),
        }

    async def send_interaction(
        self,
        kind: int,
        user: FakeUser,
        guild: FakeGuild | None,
        data: dict[str, Any],
        *,
        member_permissions: int = 0,
        message: dict[str, Any] | None = None,
    ) -> int:
        """An INTERACTION_CREATE of type ``kind`` with ``data`` from ``user`` in ``guild`` (None: the bot's
        DMs), recorded like every interaction so its answers can be awaited. Returns the interaction id."""
        interaction_id = self.snowflake()
        token = secrets.token_urlsafe(24)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": token,
            "version": 1,
            "data": data,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "app_permissions": str(discord.Permissions.general().value),
        }
        if guild is not None:
            payload |= {
                "guild_id": str(guild.id),
                "guild_locale": "en-US",
                "channel_id": str(guild.channel_id),
                "channel": guild.channel_payload(),
                "member": self._member(user, member_permissions),
                "context": 0,
                "authorizing_integration_owners": {"0": str(guild.id)},
            }
        else:
            channel_id = self.dm_channel_id(user)
            payload |= {
                "channel_id": str(channel_id),
                "channel": {"id": str(channel_id), "type": 1, "recipients": [user.payload()]},
                "user": user.payload(),
                "context": 1,
                "authorizing_integration_owners": {"0": str(user.id)},
            }
        if message is not None:
            payload["message"] = message
        self.interactions[interaction_id] = FakeInteraction(interaction_id, token, payload)
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    # --- REST -----------------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.content_type == "multipart/form-data":
            body = await self._multipart(request)
        elif request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        self.requests.append(Recorded(request.method, path, dict(request.query), body))
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if method == request.method and match:
                response = await handler(body, **match.groupdict())
                await self._notify()
                return response
        await self._notify()
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    @staticmethod
    async def _multipart(request: web.Request) -> dict[str, Any]:
        """A message with files, as discord.py sends it: ``payload_json`` plus ``files[n]`` parts. The
        files come back under ``"_files"`` as (filename, bytes)."""
        body: dict[str, Any] = {}
        files: list[tuple[str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                body.update(json.loads(await part.read()))
            elif part.name and part.name.startswith("files["):
                files.append((part.filename or "file", bytes(await part.read())))
        body["_files"] = files
        return body

    def _routes(self) -> list[tuple[str, str, Callable[..., Awaitable[web.Response]]]]:
        return [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/gateway(?:/bot)?", self._get_gateway),
            ("PUT", r"/applications/(?P<app>\d+)/commands", self._put_commands),
            ("PUT", r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands", self._put_commands),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("POST", r"/channels/(?P<channel>\d+)/typing", self._typing),
            ("POST", r"/channels/(?P<channel>\d+)/messages", self._post_message),
            ("PATCH", r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)", self._patch_message),
            (
                "PUT",
                r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)/reactions/(?P<emoji>[^/]+)/@me",
                self._put_reaction,
            ),
            (
                "DELETE",
                r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)/reactions/(?P<emoji>[^/]+)/@me",
                self._delete_reaction,
            ),
            ("POST", r"/interactions/(?P<interaction>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", self._followup),
            ("PATCH", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<message>[^/]+)", self._edit_followup),
        ]

    async def _get_me(self, body: Any) -> web.Response:
        return _json({**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0})

    async def _get_application(self, body: Any) -> web.Response:
        owner = FakeUser(self.snowflake(), "owner")
        return _json(
            {
                "id": str(self.application_id),
                "name": "Moral Graph Bot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": owner.payload(),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def _get_gateway(self, body: Any) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _put_commands(self, body: Any, app: str, guild: str | None = None) -> web.Response:
        commands = []
        for command in body or []:
            command = {**command, "id": str(self.snowflake()), "application_id": app, "version": "1"}
            if guild:
                command["guild_id"] = guild
            commands.append(command)
        self.commands[guild] = commands
        return _json(commands)

    async def _create_dm(self, body: Any) -> web.Response:
        user = self.users[int(body["recipient_id"])]
        channel_id = self.dm_channel_id(user)
        return _json({"id": str(channel_id), "type": 1, "recipients": [user.payload()], "last_message_id": None})

    async def _typing(self, body: Any, channel: str) -> web.Response:
        return web.Response(status=204)

    async def _post_message(self, body: Any, channel: str) -> web.Response:
        channel_id = int(channel)
        recipient = self._dm_recipients.get(channel_id)
        if recipient is not None and recipient.id in self.closed_dms:
            return _json({"message": "Cannot send messages to this user", "code": 50007}, status=403)
        guild_id = next((g.id for g in self.guilds.values() if g.channel_id == channel_id), None)
        files = body.get("_files") or []
        message = self._message(
            channel_id,
            self.bot,
            body.get("content") or "",
            guild_id=guild_id,
            attachments=self._keep_files(files),
            embeds=body.get("embeds"),
            components=body.get("components"),
            flags=body.get("flags") or 0,
        )
        self._messages.setdefault(channel_id, []).append(message)
        await self.dispatch("MESSAGE_CREATE", message)  # real Discord echoes the bot's own messages
        return _json(message)

    async def _patch_message(self, body: Any, channel: str, message: str) -> web.Response:
        found = self._find_message(int(channel), int(message))
        if found is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        self._apply_edit(found, body)
        return _json(found)

    async def _put_reaction(self, body: Any, channel: str, message: str, emoji: str) -> web.Response:
        found = self._find_message(int(channel), int(message))
        if found is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        await self.add_reaction(self.bot, found, unquote(emoji))  # real Discord echoes the bot's own reaction
        return web.Response(status=204)

    async def _delete_reaction(self, body: Any, channel: str, message: str, emoji: str) -> web.Response:
        found = self._find_message(int(channel), int(message))
        if found is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        await self.remove_reaction(self.bot, found, unquote(emoji))
        return web.Response(status=204)

    async def _callback(self, body: Any, interaction: str, token: str) -> web.Response:
        record = self.interactions.get(int(interaction))
        if record is None or record.token != token:
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        if record.callbacks:
            return _json({"message": "Interaction has already been acknowledged.", "code": 40060}, status=400)
        record.callbacks.append(body)
        kind, data = body["type"], body.get("data") or {}
        flags = data.get("flags") or 0
        message: dict[str, Any] | None = None
        if kind == 7 and "message" in record.payload:  # update the message the button was under
            message = (
                self._find_message(int(record.payload["message"]["channel_id"]), int(record.payload["message"]["id"]))
                or record.payload["message"]
            )
            self._apply_edit(message, data)
        elif kind in (4, 5):
            channel_id = int(record.payload["channel_id"])
            files = body.pop("_files", None) or []
            message = self._message(
                channel_id,
                self.bot,
                data.get("content") or "",
                embeds=data.get("embeds"),
                components=data.get("components"),
                flags=flags,
                attachments=self._keep_files(files),
            )
            record.messages.append(message)
        result: dict[str, Any] = {
            "interaction": {
                "id": str(record.id),
                "type": record.payload["type"],
                "response_message_id": message["id"] if message else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            },
            "resource": {"type": kind, **({"message": message} if message else {})},
        }
        return _json(result)

    async def _followup(self, body: Any, app: str, token: str) -> web.Response:
        record = next((i for i in self.interactions.values() if i.token == token), None)
        if record is None:
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        files = body.pop("_files", None) or []
        record.followups.append(body)
        message = self._message(
            int(record.payload["channel_id"]),
            self.bot,
            body.get("content") or "",
            embeds=body.get("embeds"),
            components=body.get("components"),
            flags=body.get("flags") or 0,
            attachments=self._keep_files(files),
        )
        message["webhook_id"] = app
        record.messages.append(message)
        return _json(message)

    def _keep_files(self, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Attachments for files sent with an interaction response or follow-up (bytes in ``files``)."""
        attachments = [self.attachment(name, len(data)) for name, data in files]
        for attachment, (_, data) in zip(attachments, files, strict=True):
            self.files[attachment["id"]] = data
        return attachments

    async def _edit_followup(self, body: Any, app: str, token: str, message: str) -> web.Response:
        record = next((i for i in self.interactions.values() if i.token == token), None)
        if record is None:
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        record.followups.append({**body, "edit": message})
        edited = self._message(int(record.payload["channel_id"]), self.bot, body.get("content") or "")
        return _json(edited)

    def _find_message(self, channel_id: int, message_id: int) -> dict[str, Any] | None:
        return next((m for m in self._messages.get(channel_id, []) if int(m["id"]) == message_id), None)

    @staticmethod
    def _apply_edit(message: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                message[key] = body[key]
        message["edited_timestamp"] = _now()


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py compares the header literally (no "; charset=utf-8").
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def _now() -> str:
    return datetime.now(UTC).isoformat()
