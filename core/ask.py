"""Asking the moral graph (docs/method.md §9, the paper's Figure 9): a new question → the moral contexts it
touches → the winning value of each context in the community's graph → an answer guided by their
policies, showing which values and contexts guided it and how each value won.

Pure: the question's rules, the two schemas the LLM must fill (bound per call to the ids it was
shown, so an unknown id fails validation, goes through the adapter's one repair request and is
otherwise rejected), the prompts' messages, choosing the winners from a built
:class:`~core.graph.MoralGraph`, and the citation text. How a value won is the digest's
computation (:func:`core.digest.top_values`), so the two always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.digest import Beaten, top_values
from core.framing import DEFAULT_FRAMING, Framing, words
from core.graph import MoralGraph
from core.llm import ChatMessage
from core.prompts import Prompt, load_prompt
from core.text import MAX_MESSAGE_CHARS, clean_member_text

#: A question is a sentence or two, not a document: the answer prompt repeats it.
MAX_QUESTION_CHARS = 500
#: The contexts one question may touch.
MAX_CONTEXTS = 3
#: The answer fits one chat message with its citations below it.
MAX_ANSWER_CHARS = 1200
MAX_REASON_CHARS = 400
#: "Voted wiser than …" lines shown per value; the rest are counted ("and 2 more").
MAX_BEATEN_SHOWN = 3
#: Contexts listed when a question matches none.
MAX_CONTEXTS_LISTED = 10

EMPTY_QUESTION_TEXT = "Please ask a question in words, for example: How do I support a friend who is grieving?"

CONTEXTS_PURPOSE = "ask_contexts"
ANSWER_PURPOSE = "ask_answer"

Escape = Callable[[str], str]


def _same(text: str) -> str:
    return text


# --- the question ------------------------------------------------------------------------------------


def clean_question(raw: str | None) -> tuple[str, str | None]:
    """(the question ready for the LLM, None), or ("", why it can't be asked, in words for the member)."""
    raw = raw or ""
    if len(raw) > MAX_MESSAGE_CHARS:  # not a question but a document: don't even clean it
        return "", _too_long(len(raw))
    cleaned = clean_member_text(raw)  # control and invisible characters out, spacing tidied
    if cleaned.problem is not None or not cleaned.text:
        return "", EMPTY_QUESTION_TEXT
    if len(cleaned.text) > MAX_QUESTION_CHARS:
        return "", _too_long(len(cleaned.text))
    return cleaned.text, None


def _too_long(length: int) -> str:
    return (
        f"That question is {length:,} characters long; please keep it to at most {MAX_QUESTION_CHARS} characters "
        "(a sentence or two)."
    )


def question_problem(raw: str | None) -> str | None:
    """Why ``raw`` can't be asked (empty, too long), or None. Cheap: adapters check before acking."""
    return clean_question(raw)[1]


# --- contexts and their winners ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AskContext:
    """A moral context of the community, as the context prompt sees it."""

    id: int
    text: str


@dataclass(frozen=True, slots=True)
class Guide:
    """The winning value of one context: what the answer prompt is given and what the answer cites."""

    context_id: int
    context: str
    value_id: str
    title: str
    description: str
    policies: tuple[str, ...]
    #: Its PageRank in the context's graph.
    score: float
    #: The values it was voted wiser than in the context (its incoming edges), most "wiser" votes first.
    beaten: tuple[Beaten, ...] = ()

    def how_it_won(self, esc: Escape = _same) -> str:
        """E.g. "voted wiser than Fixing The Problem (3 of 4 voters)"; "" without incoming edges."""
        if not self.beaten:
            return ""
        shown = [b.line(esc) for b in self.beaten[:MAX_BEATEN_SHOWN]]
        rest = len(self.beaten) - len(shown)
        return "voted " + "; ".join(shown) + (f"; and {rest} more" if rest else "")

    def as_json(self) -> dict[str, object]:
        return {
            "contextId": self.context_id,
            "context": self.context,
            "valueId": self.value_id,
            "title": self.title,
            "score": self.score,
            "howItWon": self.how_it_won(),
            "beaten": [{"title": b.title, "wiserVotes": b.wiser_votes, "voters": b.voters} for b in self.beaten],
        }


def graph_key(text: str) -> str:
    """How the graph names a context (``bot.graph.build`` strips the stored text)."""
    return text.strip()


def distinct_contexts(contexts: Iterable[AskContext]) -> list[AskContext]:
    """One entry per graph context name (the first row wins), in the given order."""
    seen: dict[str, AskContext] = {}
    for context in contexts:
        seen.setdefault(graph_key(context.text), context)
    return list(seen.values())


def ranked_contexts(graph: MoralGraph, contexts: Sequence[AskContext]) -> list[AskContext]:
    """The contexts among ``contexts`` that have a ranking (a winner) in ``graph``."""
    return [c for c in contexts if graph.winner(graph_key(c.text)) is not None]


def winners(graph: MoralGraph, contexts: Sequence[AskContext]) -> list[Guide]:
    """The winning value of each context that has one, in the order given."""
    by_id = {value.id: value for value in graph.values}
    guides = []
    for context in contexts:
        ctx = graph.contexts.get(graph_key(context.text))
        if ctx is None or not ctx.ranking:
            continue
        [top] = top_values(graph, ctx, limit=1)
        value = by_id.get(top.value_id)
        guides.append(
            Guide(
                context_id=context.id,
                context=graph_key(context.text),
                value_id=top.value_id,
                title=top.title,
                description=value.description if value else "",
                policies=top.policies,
                score=top.score,
                beaten=top.beaten,
            )
        )
    return guides


# --- (1) which contexts the question touches --------------------------------------------------------


class ContextChoice(BaseModel):
    """The contexts a question touches. Bind the offered ids with :func:`context_choice_schema`."""

    model_config = ConfigDict(frozen=True)
    offered_ids: ClassVar[frozenset[int]] = frozenset()

    contexts: list[int] = Field(
        description=f"Ids of the 0 to {MAX_CONTEXTS} contexts the question touches, most relevant first; "
        "an empty list when none fits."
    )
    reason: str = Field(description="One sentence: why these contexts fit, or why none does.")

    @field_validator("contexts")
    @classmethod
    def _contexts(cls, value: list[int]) -> list[int]:
        chosen = list(dict.fromkeys(value))  # a repeated id is the same choice
        if len(chosen) > MAX_CONTEXTS:
            raise ValueError(f"choose at most {MAX_CONTEXTS} contexts, the most relevant, got {len(chosen)}")
        return chosen

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return " ".join(value.split())[:MAX_REASON_CHARS]

    @model_validator(mode="after")
    def _offered(self) -> ContextChoice:
        unknown = [i for i in self.contexts if i not in self.offered_ids]
        if unknown:
            raise ValueError(f"context ids {unknown} are not in the list; use only {sorted(self.offered_ids)}")
        return self


def context_choice_schema(offered_ids: Iterable[int]) -> type[ContextChoice]:
    """``ContextChoice`` accepting only these context ids (same class name, so same schema name)."""
    return type("ContextChoice", (ContextChoice,), {"offered_ids": frozenset(offered_ids)})


def context_messages(
    question: str, contexts: Sequence[AskContext], *, framing: Framing = DEFAULT_FRAMING
) -> tuple[Prompt, list[ChatMessage]]:
    """``framing``: how the scenarios behind the contexts were framed (``core.framing.framing_of``)."""
    prompt = load_prompt(CONTEXTS_PURPOSE)
    listed = "\n".join(f"{c.id}. {' '.join(c.text.split())}" for c in contexts)
    system = prompt.render(contexts=listed, max_contexts=str(MAX_CONTEXTS), values_origin=words(framing).values_origin)
    return prompt, [ChatMessage("system", system), ChatMessage("user", question)]


# --- (2) the answer ----------------------------------------------------------------------------------


class GuidedAnswer(BaseModel):
    """The answer and the values that guided it. Bind the offered value ids with :func:`answer_schema`."""

    model_config = ConfigDict(frozen=True)
    offered_ids: ClassVar[frozenset[str]] = frozenset()

    answer: str = Field(description=f"The answer in plain text (no markdown), at most {MAX_ANSWER_CHARS} characters.")
    used_value_ids: list[str] = Field(description="Ids of the values that guided the answer, at least one.")

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: str) -> str:
        cleaned = clean_member_text(value)  # control and invisible characters out, spacing tidied
        if not cleaned.text:
            raise ValueError("the answer must not be empty")
        if len(cleaned.text) > MAX_ANSWER_CHARS:
            raise ValueError(
                f"the answer must be at most {MAX_ANSWER_CHARS} characters, got {len(cleaned.text)}: shorten it"
            )
        return cleaned.text

    @field_validator("used_value_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: object) -> object:
        # Ids look like numbers; a model that writes 12 for "12" means the same value.
        if isinstance(value, list):
            return [str(item) if isinstance(item, int) and not isinstance(item, bool) else item for item in value]
        return value

    @field_validator("used_value_ids")
    @classmethod
    def _used(cls, value: list[str]) -> list[str]:
        used = list(dict.fromkeys(i.strip() for i in value))  # a repeated id is the same value
        if not used:
            raise ValueError("used_value_ids must name at least one of the values that guided the answer")
        return used

    @model_validator(mode="after")
    def _used_offered(self) -> GuidedAnswer:
        unknown = [i for i in self.used_value_ids if i not in self.offered_ids]
        if unknown:
            raise ValueError(f"value ids {unknown} were not given; use only {sorted(self.offered_ids)}")
        return self


def answer_schema(offered_ids: Iterable[str]) -> type[GuidedAnswer]:
    return type("GuidedAnswer", (GuidedAnswer,), {"offered_ids": frozenset(offered_ids)})


def values_block(guides: Sequence[Guide]) -> str:
    """The winning values for the answer prompt: each value once, with every context it won."""
    contexts: dict[str, list[str]] = {}
    first: dict[str, Guide] = {}
    for guide in guides:
        first.setdefault(guide.value_id, guide)
        contexts.setdefault(guide.value_id, []).append(guide.context)
    blocks = []
    for value_id, guide in first.items():
        won = " and ".join(f"“{c}”" for c in contexts[value_id])
        lines = [
            f"Value id {value_id}, the wisest value in the context {won}:",
            f"Title: {guide.title}",
            f"Description: {guide.description}",
            "What it pays attention to:",
            *(f"- {policy}" for policy in guide.policies),
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def answer_messages(
    question: str, guides: Sequence[Guide], *, framing: Framing = DEFAULT_FRAMING
) -> tuple[Prompt, list[ChatMessage]]:
    prompt = load_prompt(ANSWER_PURPOSE)
    system = prompt.render(
        values=values_block(guides), max_chars=str(MAX_ANSWER_CHARS), values_origin=words(framing).values_origin
    )
    return prompt, [ChatMessage("system", system), ChatMessage("user", question)]


def used_guides(guides: Sequence[Guide], used_value_ids: Iterable[str]) -> list[Guide]:
    """The guides whose value the answer says it used, in the contexts' order."""
    used = set(used_value_ids)
    return [g for g in guides if g.value_id in used]


# --- what the member sees ----------------------------------------------------------------------------

GUIDED_BY_HEADING = "Guided by the community's moral graph:"


def citation_line(guide: Guide, *, esc: Escape = _same, strong: Escape = _same) -> str:
    """E.g. "Being With The Person (wisest in “When someone is in distress”, score 0.412): voted wiser
    than Fixing The Problem (3 of 4 voters)". Texts pass through ``esc``; ``strong`` marks the title up."""
    how = guide.how_it_won(esc) or "ranked first"
    return f"{strong(esc(guide.title))} (wisest in “{esc(guide.context)}”, score {guide.score:.3f}): {how}"


def quoted_list(texts: Sequence[str], *, esc: Escape = _same, limit: int = MAX_CONTEXTS_LISTED) -> str:
    """“A”, “B” and “C” (at most ``limit``, then "and N more")."""
    shown = [f"“{esc(t)}”" for t in texts[:limit]]
    rest = len(texts) - len(shown)
    if rest:
        return ", ".join(shown) + f" and {rest} more"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def format_answer(
    answer: str,
    guides: Sequence[Guide],
    *,
    unranked: Sequence[str] = (),
    esc: Escape = _same,
    strong: Escape = _same,
    bullet: str = "•",
) -> str:
    """The answer with its citations below it. Every text passes through ``esc`` (the answer too)."""
    lines = [esc(answer), "", strong(GUIDED_BY_HEADING)]
    lines += [f"{bullet} {citation_line(g, esc=esc, strong=strong)}" for g in guides]
    if unranked:
        lines += [
            "",
            f"Your question also touches {quoted_list(unranked, esc=esc)}, where no value has been ranked yet.",
        ]
    return "\n".join(lines)
