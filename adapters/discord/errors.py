"""Failures on Discord, logged as one line each, and the guard that keeps a malformed gateway dispatch
from ending the process.

discord.py parses every gateway DISPATCH synchronously in ``DiscordWebSocket.received_message`` by
calling ``ConnectionState.parsers[event](data)``; an exception there (``d: null``, a non-numeric id,
``emoji: null``, a list where a snowflake belongs) is not caught: it leaves ``poll_event``, then
``Client.connect``, which only retries on connection errors, and ``mge run`` exits 1. Event handlers
and slash commands, by contrast, already run in their own tasks whose failures reach ``on_error``.

So the seam is the parser table itself: each parser is wrapped once, when the client is built, in a
function that logs the dispatch it could not read and returns. The table is the one dict the
connection state builds at construction and hands to every new websocket (``ws._discord_parsers =
client._connection.parsers``), so reconnects and resumes keep the guard. Validating ``d`` per event type
before discord.py sees it would mean restating discord.py's payload schema for every event it knows and
keeping the copy in step with it; catching around its own parsing covers every event, the ones it adds
later included. The price: a malformed event is dropped, as Discord's own docs expect a client to do with
what it cannot read; a well-formed one is parsed exactly as before. (``discord.py>=2.7,<2.8`` is pinned
and a test sends malformed dispatches through a real gateway connection, so a change here shows.)
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, MutableMapping
from typing import Any

#: The longest exception message a log line repeats (it may quote the malformed payload).
MAX_MESSAGE = 200


def one_line(error: BaseException) -> str:
    """``KeyError: 'emoji' (at state.py:812)``: the exception and where it was raised, on one line."""
    message = " ".join(str(error).split())
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {message}{where}" if message else f"{type(error).__name__}{where}"


def guard_parsers(parsers: MutableMapping[str, Callable[[Any], None]], log: logging.Logger) -> None:
    """Wrap every gateway event parser so a dispatch it cannot read is logged (one line) and dropped."""
    for event, parse in list(parsers.items()):
        if getattr(parse, "__mge_guarded__", False):
            continue
        parsers[event] = _guarded(event, parse, log)


def _guarded(event: str, parse: Callable[[Any], None], log: logging.Logger) -> Callable[[Any], None]:
    def guarded(data: Any) -> None:
        try:
            parse(data)
        except Exception as error:  # noqa: BLE001 — any parse failure means the payload was malformed
            log.warning("ignored a malformed %s dispatch: %s", event, one_line(error))

    guarded.__mge_guarded__ = True  # type: ignore[attr-defined]  # a marker on the function, so guarding is idempotent
    return guarded
