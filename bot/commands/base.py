"""Moderator actions, platform-neutral: ``/mge polls every 1d`` on Slack and ``/mge polls every every:1d``
on Discord run the same :class:`ModeratorAction`. Each adapter checks that the caller is a moderator
(``bot.commands.permissions``), turns its platform's input into a :class:`ModeratorCall`, runs the action and
shows the :class:`ActionReply` privately to the moderator.

Actions that change anything record it in the audit log with before and after, and commit before the
reply is sent. Bad input raises :class:`ActionError` (a ``ValueError``) or ``LookupError`` with a
message the moderator can act on; :func:`run_action` turns those into the reply.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.messages import CommunityRef
from storage.database import Database
from storage.governance_repo import record_action

log = logging.getLogger("mge.moderation")


class ActionError(ValueError):
    """Input a moderator can correct; the message says how."""


@dataclass(frozen=True)
class Param:
    name: str
    help: str
    #: "text", "int", "channel" (Slack's ``<#C…|name>``, Discord's ``<#…>``) or "member" (a @mention).
    kind: str = "text"
    required: bool = True
    #: The words it may be (Discord offers them as choices). An optional parameter with choices is taken
    #: from typed text only when the word is one of them, so "scenario add Should we …" needs none.
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionReply:
    """What the moderator sees (plain text: adapters escape it for their platform) and an optional file."""

    text: str
    file: tuple[str, bytes] | None = None


@dataclass(frozen=True)
class ModeratorServices:
    """What actions may need from the platform the command came from."""

    poll_publisher: Any = None  # PollPublisher
    digest_publisher: Any = None  # DigestPublisher
    default_poll_duration: timedelta = timedelta(hours=72)
    llm: Any = None  # LLM, for actions that write with it (a scenario's contexts)
    model: str = ""
    #: Price per million input and output tokens (the operator's settings), for the cost estimate.
    token_prices: tuple[float, float] = (0.0, 0.0)
    #: ``(error, channel id)`` → what the moderator is told when the platform refused a post there (the
    #: bot is not in the channel, lacks a permission …), or None for an error it does not recognise.
    post_failure: Callable[[BaseException, str], str | None] | None = None


@dataclass(frozen=True)
class ModeratorCall:
    database: Database
    community_id: int
    community: CommunityRef
    #: "discord:<user id>" or "slack:<user id>", for the audit log.
    actor: str
    #: The channel the command was run in (None in a DM).
    channel_id: str | None
    args: Mapping[str, str]
    now: datetime
    services: ModeratorServices = field(default_factory=ModeratorServices)

    def arg(self, name: str) -> str | None:
        value = self.args.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def int_arg(self, name: str) -> int:
        raw = self.arg(name)
        try:
            return int(raw or "")
        except ValueError:
            raise ActionError(f"{name} must be a whole number, not {raw!r}") from None


Runner = Callable[[ModeratorCall], Awaitable[ActionReply]]


@dataclass(frozen=True)
class ModeratorAction:
    group: str
    name: str
    help: str
    run: Runner
    params: tuple[Param, ...] = ()
    #: Builds a picture or a file, or posts to a channel: adapters acknowledge first and answer after.
    slow: bool = False
    #: Changes nothing, so it is not in the audit log (every other action is: tests/test_audit_coverage.py).
    read_only: bool = False

    @property
    def path(self) -> str:
        return f"{self.group} {self.name}".strip()

    def usage(self) -> str:
        parts = [self.path] + [f"<{p.name}>" if p.required else f"[{p.name}]" for p in self.params]
        return " ".join(parts)


async def run_action(action: ModeratorAction, call: ModeratorCall) -> ActionReply:
    """Run ``action``; input errors become the reply, anything else is logged and reported briefly."""
    missing = [p.name for p in action.params if p.required and not call.arg(p.name)]
    if missing:
        return ActionReply(f"Missing {', '.join(missing)}. Usage: /mge {action.usage()}")
    try:
        return await action.run(call)
    except (ValueError, LookupError) as error:
        return ActionReply(str(error.args[0]) if error.args else str(error))
    except Exception:
        log.exception("moderator action %s failed for %s", action.path, call.actor)
        return ActionReply(
            f"Something went wrong running /mge {action.path}. The details are in the bot's "
            "log; try again, or ask the bot's operator."
        )


def terminal_command(community: CommunityRef, command: str) -> str:
    """``mge <command> --community <id>`` as a moderator can paste it into the operator's terminal."""
    import shlex

    return f"`mge {command} --community {shlex.quote(community.external_id)}`"


def split_words(text: str, params: tuple[Param, ...]) -> dict[str, str]:
    """Typed words → parameters, in order; the last parameter takes the rest of the text (so a context
    or a question may have spaces). Channel mentions (``<#C123|general>``, ``<#123>``) become ids."""
    words = text.split()
    args: dict[str, str] = {}
    at = 0
    for index, param in enumerate(params):
        if at >= len(words):
            break
        if param.choices and not param.required and words[at].casefold() not in param.choices:
            continue
        value = " ".join(words[at:]) if index == len(params) - 1 else words[at]
        args[param.name] = channel_id_of(value) if param.kind == "channel" else value
        at += 1
    return args


def channel_id_of(text: str) -> str:
    """``<#C123|general>`` or ``<#123>`` → ``C123`` / ``123``; anything else unchanged."""
    text = text.strip()
    if text.startswith("<#") and text.endswith(">"):
        return text[2:-1].split("|", 1)[0]
    return text


async def audit_action(
    call: ModeratorCall, action: str, target: str, *, before: dict | None = None, after: dict | None = None
) -> None:
    """Record, in its own transaction, an action whose change a use case has already committed."""
    await record_moderator_action(
        call.database,
        community_id=call.community_id,
        actor=call.actor,
        action=action,
        now=call.now,
        target=target,
        before=before,
        after=after,
    )


async def record_moderator_action(
    database: Database,
    *,
    community_id: int,
    actor: str,
    action: str,
    now: datetime,
    target: str,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """:func:`audit_action` for commands that run outside the action table (``/mge poll``)."""
    async with database.session() as session:
        await record_action(
            session,
            community_id=community_id,
            actor=actor,
            action=action,
            now=now,
            target=target,
            before=before,
            after=after,
        )
        await session.commit()


def post_failure_text(services: ModeratorServices, error: BaseException, channel: str) -> str | None:
    return services.post_failure(error, channel) if services.post_failure is not None else None
