"""Moral contexts and their rules (docs/method.md §5): short "When …" situations with moral weight.

Pure: the schemas the LLM must fill (their validators enforce the rules, so a bad answer is repaired
once by the adapter or rejected), normalisation, and synonym merging. Merging happens in two passes:
a cheap lexical one (same normalised text, or nearly the same content words) and an LLM-judged one
(``SynonymGroups``) for synonyms that share no words ("When grieving" / "When mourning a loss").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CONTEXT_COUNT = (5, 7)
#: "At most ~6 words" (docs/method.md §5): the prompt asks for 6, the validator tolerates 7 so a good context
#: isn't thrown away over one word.
MAX_CONTEXT_WORDS = 7
#: Moderators write their own wording; they get more room, but not a sentence.
MAX_MODERATOR_CONTEXT_WORDS = 12
MAX_CONTEXT_CHARS = 120  # the column's size
#: Content-word overlap (Jaccard) at which two contexts count as the same without asking the LLM.
NEAR_DUPLICATE_SIMILARITY = 0.8

_TRAILING = ".,;:!?…-–— \"'“”‘’"
_LEADING = "\"'“”‘’-–—•* "
# A context names the situation someone is in, not what they are after ("When wanting to be liked"),
# and it is general, not the speaker's own ("When my son lies").
_WANTING = re.compile(r"\b(wants?|wanting|wish(es|ing)?|hop(e|es|ing) to|would like|desires?|goals?)\b", re.I)
_FIRST_PERSON = re.compile(r"\b(I|me|my|mine|we|us|our)\b", re.I)
# Words that carry no situation: dropped before comparing two contexts.
_STOPWORDS = frozenset(
    [
        "when",
        "a",
        "an",
        "the",
        "is",
        "are",
        "am",
        "be",
        "being",
        "been",
        "someone",
        "somebody",
        "person",
        "people",
        "one's",
        "one",
        "their",
        "they",
        "them",
        "his",
        "her",
        "he",
        "she",
        "it",
        "its",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "about",
    ]
)
_WORD = re.compile(r"[a-z0-9']+")


def normalise_context(text: str) -> str:
    """One spacing, no quotes or trailing punctuation, and "When" capitalised; the rest keeps its case
    (proper nouns and "Christian" must stay as written)."""
    text = " ".join(text.split()).strip(_LEADING).rstrip(_TRAILING)
    if text[:5].casefold() == "when ":
        text = "When " + text[5:]
    elif text:
        text = text[0].upper() + text[1:]
    return text


def context_problem(text: str, *, max_words: int = MAX_CONTEXT_WORDS) -> str | None:
    """Why a (normalised) context breaks the rules, or None when it is fine."""
    if not text.startswith("When "):
        return f"a context must start with 'When', like 'When in distress': {text!r}"
    words = len(text.split())
    if words < 2:
        return f"a context must name a situation after 'When': {text!r}"
    if words > max_words:
        return f"a context must be at most {max_words} words, got {words}: {text!r}"
    if len(text) > MAX_CONTEXT_CHARS:
        return f"a context must be at most {MAX_CONTEXT_CHARS} characters: {text[:40]!r}…"
    if _WANTING.search(text):
        return f"a context names the situation the person is in, not what they want: {text!r}"
    if _FIRST_PERSON.search(text):
        return f"a context is general ('someone', 'a person'), never first person: {text!r}"
    return None


def context_key(text: str) -> str:
    """Text for exact-duplicate checks: case, spacing and trailing punctuation ignored."""
    return normalise_context(text).casefold()


def content_words(text: str) -> frozenset[str]:
    """The words that name the situation, crudely singularised ("decisions" = "decision")."""
    words = _WORD.findall(normalise_context(text).casefold())
    return frozenset(_singular(w) for w in words if w not in _STOPWORDS)


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two contexts' content words (1.0 when both have none)."""
    wa, wb = content_words(a), content_words(b)
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


def near_duplicates(a: str, b: str) -> bool:
    return context_key(a) == context_key(b) or similarity(a, b) >= NEAR_DUPLICATE_SIMILARITY


# --- what the LLM answers ------------------------------------------------------------------------------


class ContextProposal(BaseModel):
    """The contexts an LLM proposes for one scenario."""

    model_config = ConfigDict(frozen=True)

    contexts: list[str] = Field(
        description=(
            "5 to 7 moral contexts, each starting with 'When', at most 6 words, naming the situation the "
            "person is in (not what they want), e.g. 'When in distress', 'When being religious'."
        )
    )

    @field_validator("contexts")
    @classmethod
    def _contexts(cls, value: list[str]) -> list[str]:
        cleaned = [normalise_context(text) for text in value]
        low, high = CONTEXT_COUNT
        if not low <= len(cleaned) <= high:
            raise ValueError(f"propose {low}–{high} contexts, got {len(cleaned)}")
        problems = [problem for text in cleaned if (problem := context_problem(text))]
        if problems:
            raise ValueError("; ".join(problems))
        if len({context_key(text) for text in cleaned}) != len(cleaned):
            raise ValueError("contexts must not repeat")
        return cleaned


class SynonymGroup(BaseModel):
    contexts: list[str] = Field(description="Two or more contexts from the list, copied exactly, that mean the same.")


class SynonymGroups(BaseModel):
    """Groups of synonymous contexts among a known list. Use :func:`synonym_schema` to bind the list,
    so the validator can reject texts that aren't on it."""

    #: The contexts the LLM was shown, by ``context_key``. Bound per call by ``synonym_schema``.
    known: ClassVar[frozenset[str]] = frozenset()

    groups: list[SynonymGroup] = Field(
        description="Only groups of contexts that name the same situation; an empty list when none do."
    )

    @model_validator(mode="after")
    def _groups_use_known_contexts(self) -> SynonymGroups:
        seen: set[str] = set()
        for group in self.groups:
            keys = [context_key(text) for text in group.contexts]
            if len(set(keys)) < 2:
                raise ValueError(f"a group needs at least two different contexts: {group.contexts!r}")
            unknown = [text for text, key in zip(group.contexts, keys, strict=True) if key not in self.known]
            if unknown:
                raise ValueError(f"groups may only use contexts from the list, exactly as written: {unknown!r}")
            if seen & set(keys):
                raise ValueError("a context may be in one group only")
            seen |= set(keys)
        return self


def synonym_schema(contexts: Sequence[str]) -> type[SynonymGroups]:
    """A ``SynonymGroups`` whose validator knows ``contexts`` (same class name, so same schema name)."""
    return type("SynonymGroups", (SynonymGroups,), {"known": frozenset(context_key(t) for t in contexts)})


# --- merging -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergedContext:
    """One context a scenario will be linked to: an existing one (reused) or a new one (to insert)."""

    text: str
    existing: bool
    #: The proposed wordings this context stands for (for logs and reports).
    merged_from: tuple[str, ...] = ()


def lexical_candidates(proposed: Sequence[str], existing: Sequence[str]) -> list[str]:
    """What is still worth showing the LLM for synonym judging: ``existing`` plus the proposed contexts
    that the lexical pass didn't already match (to each other or to an existing one)."""
    merged = merge_contexts(proposed, existing, groups=())
    fresh = [m.text for m in merged if not m.existing]
    return [*existing, *fresh]


def merge_contexts(
    proposed: Sequence[str], existing: Sequence[str], *, groups: Sequence[Sequence[str]]
) -> list[MergedContext]:
    """Collapse synonyms among ``proposed`` and against ``existing``; keep existing wording when a group
    has one (members and stories already use it), else the first proposed wording.

    Returns one entry per distinct context the proposals stand for, in proposal order. Existing
    contexts are never merged with each other here: that would rewrite stories' contexts, which is a
    moderator's decision.
    """
    texts = [*existing, *(normalise_context(t) for t in proposed)]
    is_existing = [True] * len(existing) + [False] * len(proposed)
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            # Keep the smaller index as root: existing contexts come first, then proposal order.
            parent[max(ri, rj)] = min(ri, rj)

    for j in range(len(existing), len(texts)):
        for i in range(j):
            if near_duplicates(texts[i], texts[j]):
                union(i, j)
    index_by_key: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        index_by_key.setdefault(context_key(text), []).append(i)
    for group in groups:
        members = [i for text in group for i in index_by_key.get(context_key(text), [])]
        # A group of existing contexts only is ignored (see above); otherwise join the new ones to the
        # group's first member.
        if any(not is_existing[i] for i in members):
            for i in members[1:]:
                if not (is_existing[i] and is_existing[members[0]]):
                    union(members[0], i)

    result: dict[int, MergedContext] = {}
    for j in range(len(existing), len(texts)):
        root = find(j)
        # Two existing contexts can share a root through a new one; the root is the first of them.
        previous = result.get(root)
        merged_from = (*(previous.merged_from if previous else ()), texts[j])
        result[root] = MergedContext(texts[root], is_existing[root], merged_from)
    return list(result.values())
