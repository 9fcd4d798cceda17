"""Asking the community's moral graph (docs/method.md §9): `/mge ask` on Discord and Slack, `mge ask` in a terminal.

``ask_graph`` builds the community's graph (default algorithm, per-context rankings, exactly what the
digest ranks), asks the LLM which of the community's contexts the question touches, takes the winning
value of each, and asks the LLM for an answer guided by their policies. Both LLM calls are recorded in
``llm_call`` (prompt hash, model, tokens) under the community; the question itself is not stored.

Every way it can end is an :class:`AskAnswer` with a member-facing ``text``: the answer, or why there
is none (an empty or oversized question; no graph yet, without calling the LLM; a question no context
covers, listing the contexts that have a ranking; a context touched but not ranked yet; the LLM failing).
The texts are plain: each adapter escapes them its own way (see :meth:`AskAnswer.formatted`).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.graph.build import load_community_graph_input
from bot.runtime.jobs import LLMRecorder
from core.ask import (
    ANSWER_PURPOSE,
    CONTEXTS_PURPOSE,
    AskContext,
    Escape,
    Guide,
    answer_messages,
    answer_schema,
    clean_question,
    context_choice_schema,
    context_messages,
    distinct_contexts,
    format_answer,
    graph_key,
    quoted_list,
    ranked_contexts,
    used_guides,
    winners,
)
from core.framing import framing_of
from core.graph import GraphParams, build_moral_graph
from core.llm import LLM, LLMError, LLMErrorKind
from core.messages import CommunityRef
from storage import stories_repo
from storage.communities_repo import community_id_of
from storage.database import Database

log = logging.getLogger("mge.ask")

#: Choosing contexts is classification; the answer may be a little freer.
CONTEXTS_TEMPERATURE = 0.2
ANSWER_TEMPERATURE = 0.4

NO_GRAPH_TEXT = (
    "This community has no moral graph to ask yet: no moral context has enough votes on its stories to rank "
    "its values. Once members have voted on a few story polls, ask again."
)
NO_MATCH_TEXT = (
    "Your question doesn't seem to touch any of the moral contexts this community has ranked values for, "
    "so its graph has nothing to say about it. The contexts with a ranking are: {contexts}."
)
NOT_RANKED_TEXT = (
    "Your question touches {touched}, but the community hasn't ranked any values there yet (its story polls "
    "need more votes). The contexts with a ranking are: {contexts}."
)


class AskOutcome(enum.StrEnum):
    ANSWERED = "answered"
    INVALID_QUESTION = "invalid_question"
    NO_GRAPH = "no_graph"
    NO_MATCH = "no_match"
    NOT_RANKED = "not_ranked"
    LLM_FAILED = "llm_failed"


@dataclass(frozen=True, slots=True)
class AskAnswer:
    outcome: AskOutcome
    #: The answer (ANSWERED) or, otherwise, what to tell the member. Plain, unescaped.
    text: str
    #: The contexts whose winning values guided the answer, in order.
    contexts: tuple[str, ...] = ()
    #: The values that guided the answer: per value its id, title, context, score and how it won.
    values: tuple[Guide, ...] = ()
    #: Contexts the question touches that have no ranking yet.
    unranked_contexts: tuple[str, ...] = ()
    #: The LLM's one-sentence reason for the contexts it chose.
    reason: str = ""
    #: Hashes of the prompts used, in call order, and the model that answered last.
    prompt_shas: tuple[str, ...] = ()
    model: str = ""
    #: For LLM_FAILED: what went wrong (LLMErrorKind).
    error_kind: str | None = None

    @property
    def answered(self) -> bool:
        return self.outcome is AskOutcome.ANSWERED

    def formatted(self, *, esc: Escape = str, strong: Escape = str, bullet: str = "•") -> str:
        """The whole reply: the answer with its citations, or the outcome's text, escaped with ``esc``."""
        if not self.answered:
            return esc(self.text)
        return format_answer(
            self.text, self.values, unranked=self.unranked_contexts, esc=esc, strong=strong, bullet=bullet
        )

    def as_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "text": self.text,
            "contexts": list(self.contexts),
            "values": [guide.as_json() for guide in self.values],
            "unrankedContexts": list(self.unranked_contexts),
            "reason": self.reason,
            "promptShas": list(self.prompt_shas),
            "model": self.model,
            "errorKind": self.error_kind,
        }


async def ask_graph(
    database: Database,
    *,
    llm: LLM,
    model: str,
    community_id: int,
    question: str,
    now: datetime,
    params: GraphParams = GraphParams(),
) -> AskAnswer:
    """Answer ``question`` from community ``community_id``'s moral graph (see the module docstring)."""
    text, problem = clean_question(question)
    if problem is not None:
        return AskAnswer(AskOutcome.INVALID_QUESTION, problem)
    try:
        data = await load_community_graph_input(database, community_id=community_id)
    except LookupError:
        return AskAnswer(AskOutcome.NO_GRAPH, NO_GRAPH_TEXT)
    graph = build_moral_graph(data.values, data.votes, params)
    async with database.session() as session:
        rows = await stories_repo.all_contexts(session, community_id=community_id)
        framings = await stories_repo.framings_of_contexts(session, community_id=community_id)
    contexts = distinct_contexts(AskContext(row.id, row.text) for row in rows)
    ranked = ranked_contexts(graph, contexts)
    if not ranked:
        return AskAnswer(AskOutcome.NO_GRAPH, NO_GRAPH_TEXT)
    ranked_list = quoted_list([graph_key(c.text) for c in ranked])

    shas: list[str] = []
    answered_by = model
    async with database.session() as session:
        recorder = LLMRecorder(session, community_id, now)
        try:
            framing = framing_of(f for c in contexts for f in framings.get(c.id, ()))
            prompt, messages = context_messages(text, contexts, framing=framing)
            shas.append(prompt.sha)
            choice = await recorder.call(
                CONTEXTS_PURPOSE,
                prompt.sha,
                model,
                llm.structured(
                    messages,
                    context_choice_schema(c.id for c in contexts),
                    model=model,
                    temperature=CONTEXTS_TEMPERATURE,
                ),
            )
            answered_by = choice.model
            by_id = {c.id: c for c in contexts}
            touched = [by_id[i] for i in choice.value.contexts]
            reason = choice.value.reason
            guides = winners(graph, touched)
            unranked = tuple(graph_key(c.text) for c in touched if c not in ranked)
            if not touched:
                return AskAnswer(
                    AskOutcome.NO_MATCH,
                    NO_MATCH_TEXT.format(contexts=ranked_list),
                    reason=reason,
                    prompt_shas=tuple(shas),
                    model=answered_by,
                )
            if not guides:
                return AskAnswer(
                    AskOutcome.NOT_RANKED,
                    NOT_RANKED_TEXT.format(touched=quoted_list(unranked), contexts=ranked_list),
                    unranked_contexts=unranked,
                    reason=reason,
                    prompt_shas=tuple(shas),
                    model=answered_by,
                )

            framing = framing_of(f for c in touched for f in framings.get(c.id, ()))
            prompt, messages = answer_messages(text, guides, framing=framing)
            shas.append(prompt.sha)
            reply = await recorder.call(
                ANSWER_PURPOSE,
                prompt.sha,
                model,
                llm.structured(
                    messages, answer_schema(g.value_id for g in guides), model=model, temperature=ANSWER_TEMPERATURE
                ),
            )
        except LLMError as error:
            log.warning("asking the graph of community %s failed: %s", community_id, error)
            return AskAnswer(
                AskOutcome.LLM_FAILED,
                failure_text(error),
                prompt_shas=tuple(shas),
                model=error.model or answered_by,
                error_kind=error.kind.value,
            )
        finally:
            # The calls' records (and tokens) are kept whatever the outcome.
            await session.commit()

    cited = used_guides(guides, reply.value.used_value_ids)
    return AskAnswer(
        AskOutcome.ANSWERED,
        reply.value.answer,
        contexts=tuple(dict.fromkeys(g.context for g in cited)),
        values=tuple(cited),
        unranked_contexts=unranked,
        reason=reason,
        prompt_shas=tuple(shas),
        model=reply.model,
    )


def failure_text(error: LLMError) -> str:
    """What the member is told when the LLM failed (nothing was stored but the call records)."""
    what = error.member_text
    if error.kind is LLMErrorKind.CONFIGURATION:
        return f"{what} Please tell the bot's operator."
    if error.kind is LLMErrorKind.INVALID_OUTPUT:
        return f"{what} Please try again, perhaps with your question worded differently."
    return f"{what} Please try again in a moment."


async def ask_community(
    database: Database,
    *,
    llm: LLM,
    model: str,
    community: CommunityRef,
    question: str,
    now: datetime,
    params: GraphParams = GraphParams(),
) -> AskAnswer:
    """:func:`ask_graph` for a platform community (Discord guild, Slack workspace)."""
    _, problem = clean_question(question)
    if problem is not None:
        return AskAnswer(AskOutcome.INVALID_QUESTION, problem)
    community_id = await community_id_of(database, community)
    if community_id is None:
        return AskAnswer(AskOutcome.NO_GRAPH, NO_GRAPH_TEXT)
    return await ask_graph(
        database, llm=llm, model=model, community_id=community_id, question=question, now=now, params=params
    )
