"""The terminal as a chat platform: ``mge chat``.

Interactive (a TTY): a prompt, cards drawn with rich. Piped: each input line is one member message,
bot messages go to stdout as plain text, end of input ends the session (the interview is saved).
Input is awaited on the event loop, not in a thread, so Ctrl-C (which cancels the running task) ends
the session at once, at the prompt or while the model answers.

The values offered after a confirmed card (generalization picks, docs/method.md §2) are answered like any
option: a line naming one (by number or name, or "done") goes to the service, which records it as a
pick while the offer is open, exactly as for a DM.
"""

from __future__ import annotations

import asyncio
import codecs
import io
import os
import sys
import uuid
from typing import TextIO

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.interview.service import InterviewService
from core.cards import ValuesCard, card_as_text
from core.interview import Choice
from core.messages import CardProposal, ChoicePrompt, CommunityRef, InboundMessage, Outbound, Person, Reply


class ConsoleChat:
    def __init__(
        self,
        service: InterviewService,
        community: CommunityRef,
        person: Person,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        interactive: bool | None = None,
    ):
        self._service = service
        self._community = community
        self._person = person
        self._stdin = stdin or sys.stdin
        self._lines = _LineReader(self._stdin)
        out = stdout or sys.stdout
        self._interactive = self._stdin.isatty() if interactive is None else interactive
        # markup=False everywhere: member words must never be read as rich markup.
        self._console = Console(file=out, highlight=False, markup=False, force_terminal=self._interactive or None)

    async def run(self, *, scenario_id: int | None = None, consent: bool = False) -> None:
        self.render(await self._service.resume(self._community, self._person, scenario_id=scenario_id, consent=consent))
        while (line := await self._read()) is not None:
            if not line.strip() and not self._interactive:
                continue  # blank lines in piped input are spacing, not messages
            message = InboundMessage(
                community=self._community, author=self._person, text=line, event_id=f"console-{uuid.uuid4()}"
            )
            self.render(await self._service.handle(message))

    async def _read(self) -> str | None:
        if self._interactive:
            self._console.print(Text("you> "), end="")
            self._console.file.flush()
            line = await self._lines.readline()
            if line is None:
                self._console.print()  # Ctrl-D: leave the shell's prompt on a line of its own
            return line
        return await self._lines.readline()

    def render(self, outbound: list[Outbound]) -> None:
        for item in outbound:
            match item:
                case Reply(text=text):
                    self._say(text)
                case ChoicePrompt(text=text, choices=choices):
                    self._say(text)
                    self._choices(choices)
                case CardProposal(card=card, heading=heading, choices=choices, attention_heading=attention):
                    self._say(heading)
                    self._card(card, attention)
                    self._choices(choices)

    def _say(self, text: str) -> None:
        if self._interactive:
            self._console.print(Text("bot> ", style="bold cyan") + Text(text))
        else:
            self._console.print(text, soft_wrap=True)
        self._console.print()

    def _choices(self, choices: tuple[Choice, ...]) -> None:
        for number, choice in enumerate(choices, start=1):
            self._console.print(f"  {number}. {choice.detail or choice.label}", soft_wrap=True)
        self._console.print()

    def _card(self, card: ValuesCard, attention_heading: str) -> None:
        if not self._interactive:
            self._console.print(card_as_text(card, attention_heading=attention_heading), soft_wrap=True)
            self._console.print()
            return
        body = Text(card.description + "\n\n", style="italic")
        body.append(attention_heading + "\n", style="bold")
        for policy in card.policies:
            body.append("• " + policy + "\n")
        self._console.print(Panel(body, title=Text(card.title, style="bold"), expand=False))


class _LineReader:
    """Lines from a stream, awaited on the event loop (``add_reader``) rather than in a thread: a thread
    blocked in ``readline`` cannot be cancelled, so Ctrl-C would wait for Enter, and the process with it.
    Streams the loop cannot watch (a regular file, ``/dev/null``, an in-memory one) never block, and are
    read directly."""

    _CHUNK = 65536

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        try:
            self._fd: int | None = stream.fileno()
        except (OSError, ValueError, io.UnsupportedOperation):
            self._fd = None
        encoding = getattr(stream, "encoding", None) or "utf-8"
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._buffer = ""
        self._ended = False

    async def readline(self) -> str | None:
        """The next line without its newline; None at end of input."""
        if self._fd is None:
            line = self._stream.readline()
            return line.rstrip("\n") if line else None
        while "\n" not in self._buffer and not self._ended:
            chunk = await self._read_chunk(self._fd)
            self._buffer += self._decoder.decode(chunk, final=not chunk)
            self._ended = not chunk
        line, newline, rest = self._buffer.partition("\n")
        self._buffer = rest
        return line.removesuffix("\r") if newline or line else None

    async def _read_chunk(self, fd: int) -> bytes:
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        try:
            loop.add_reader(fd, wake)
        except (PermissionError, ValueError, OSError):
            return _read_or_end(fd, self._CHUNK)
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        return _read_or_end(fd, self._CHUNK)


def _read_or_end(fd: int, size: int) -> bytes:
    try:
        return os.read(fd, size)
    except OSError:  # EIO: the terminal went away; treat it as the end of input
        return b""
