"""One handled message's context: the open session, the member's rows, and the interview's transcript as
this handler reads and adds to it (each turn it adds is noted, so the transcript is read at most once
per message), with the LLM calls it records."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime.jobs import LLMRecorder
from core.interviewer import TranscriptLine
from core.languages import DEFAULT_LANGUAGE
from core.member_texts import InterviewTexts, texts_for
from storage import repositories as repo
from storage.models import Interview, Member

#: Turn kinds: "conversation", "check" (the said-back list, and the member's corrections or agreement)
#: and "revision" are what the LLM sees; "question" (about the proposed card, and its answer), "control"
#: and "notice" are not.
LLM_KINDS = ("conversation", "check", "revision")
#: The kinds that tell whether the member's last words are still unanswered (see ``TurnContext.pending``).
PENDING_KINDS = (*LLM_KINDS, "question", "notice")
#: ``TurnContext.last_role`` before it is read.
NOT_READ = object()


@dataclass(slots=True)
class TurnContext:
    """What one handled message works with: the open session and the member's rows."""

    session: AsyncSession
    member: Member
    interview: Interview
    now: datetime
    # This handler is the interview's only writer (the member's lock, and leases across processes), so
    # what it read of the transcript stays true as long as it notes its own additions (``add_turn``):
    # each saves a query per turn.
    #: The number of the next turn.
    next_seq: int | None = None
    #: Who spoke last among the PENDING_KINDS turns (None: nobody yet).
    last_role: object = NOT_READ
    #: (role, kind, content) of the LLM_KINDS turns, in order.
    transcript_rows: list[tuple[str, str, str]] | None = None
    #: MGE_COMMUNITY_LANGUAGE: the interview's language until the member's is known.
    community_language: str = DEFAULT_LANGUAGE
    #: Fixed texts for languages without a file, by tag, as ``bot.interview.member_texts`` found them.
    resolved: dict[str, InterviewTexts] = field(default_factory=dict)

    @property
    def language(self) -> str:
        """The interview's language: the member's, once known (guessed from their first messages, then as
        the interviewer reports it); else the community's."""
        return self.interview.language or self.community_language

    @property
    def texts(self) -> InterviewTexts:
        """The interviewer's fixed texts in the interview's language: written for it, or translated (as
        resolved for this message), else English."""
        return self.resolved.get(self.language) or texts_for(self.language)

    async def call_llm(self, purpose: str, prompt_sha: str, model: str, request: Awaitable):
        """Await an LLM request and record it (tokens, outcome) against the interview, even on failure."""
        recorder = LLMRecorder(self.session, self.interview.community_id, self.now, interview=self.interview)
        return await recorder.call(purpose, prompt_sha, model, request)

    async def bot_turn(self, text: str, *, kind: str, prompt_sha: str | None = None, result=None) -> None:
        await self.add_turn(
            role="bot",
            kind=kind,
            content=text,
            prompt_sha=prompt_sha,
            model=result.model if result else None,
            input_tokens=result.usage.input_tokens if result else 0,
            output_tokens=result.usage.output_tokens if result else 0,
        )

    async def add_turn(self, *, role: str, kind: str, content: str, **turn) -> None:
        seq = await repo.add_turn(
            self.session,
            interview_id=self.interview.id,
            now=self.now,
            seq=self.next_seq,
            role=role,
            kind=kind,
            content=content,
            **turn,
        )
        self.next_seq = seq + 1
        if kind in PENDING_KINDS:
            self.last_role = role
        if kind in LLM_KINDS and self.transcript_rows is not None:
            self.transcript_rows.append((role, kind, content))

    async def llm_transcript(self) -> list[tuple[str, str, str]]:
        """(role, kind, content) of the turns the LLM sees, read once per message."""
        if self.transcript_rows is None:
            self.transcript_rows = await repo.transcript(self.session, interview_id=self.interview.id, kinds=LLM_KINDS)
        return self.transcript_rows

    async def transcript(self, kinds: tuple[str, ...] = LLM_KINDS) -> list[TranscriptLine]:
        """The turns of ``kinds`` (some of LLM_KINDS) as the prompts take them."""
        return [TranscriptLine(role, content) for role, kind, content in await self.llm_transcript() if kind in kinds]

    async def pending(self) -> bool:
        """True when the member's last words got no answer (the LLM step failed or the bot stopped)."""
        if self.last_role is NOT_READ:
            self.last_role, seq = await repo.last_role_and_seq(
                self.session, interview_id=self.interview.id, kinds=PENDING_KINDS
            )
            if self.next_seq is None:
                self.next_seq = seq + 1
        return self.last_role == "member"
