"""Embedders for :class:`core.embeddings.Embedder`.

- :class:`LLMEmbedder` — the production default: the configured OpenAI-compatible ``/v1/embeddings``.
- :class:`LexicalEmbedder` — an offline fallback needing no model at all: hashed word and word-bigram
  counts. It only sees shared words, so "honest" and "candour" are unrelated to it, and two cards about
  different values that share vocabulary look close. That is acceptable only because embeddings merely
  *propose* candidates: the LLM judge decides whether two cards are the same value, and a lexical
  miss just means a duplicate is not proposed (the moderator can still merge by hand).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from core.embeddings import Embedded
from core.llm import LLM, LLMError, LLMErrorKind


class LLMEmbedder:
    """Embeddings from the LLM port. ``model`` is the configured model name, used as the cache key even
    when the server answers with a more specific name (``text-embedding-3-small-2024…``), so the cache
    survives a server reporting versions differently."""

    def __init__(self, llm: LLM, model: str) -> None:
        self.llm = llm
        self.model = model

    async def embed(self, texts: Sequence[str]) -> Embedded:
        if not texts:
            return Embedded(np.zeros((0, 0), dtype=np.float32), self.model)
        result = await self.llm.embed(list(texts), model=self.model)
        vectors = np.asarray(result.vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts) or vectors.shape[1] == 0:
            raise LLMError(
                LLMErrorKind.INVALID_OUTPUT,
                f"embeddings of shape {vectors.shape} for {len(texts)} texts",
                usage=result.usage,
                model=result.model,
            )
        if not np.all(np.isfinite(vectors)):
            raise LLMError(
                LLMErrorKind.INVALID_OUTPUT,
                "embeddings contain NaN or infinity",
                usage=result.usage,
                model=result.model,
            )
        return Embedded(vectors, result.model, result.usage)


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Function words, plus the words almost every attentional policy shares ("the person", "when"): left
# in, they would make every card look like every other card.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "nor",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "about",
        "as",
        "than",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "it's",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "they",
        "them",
        "their",
        "he",
        "him",
        "his",
        "she",
        "her",
        "who",
        "whom",
        "whose",
        "which",
        "what",
        "when",
        "where",
        "while",
        "how",
        "why",
        "not",
        "no",
        "so",
        "if",
        "then",
        "there",
        "can",
        "could",
        "should",
        "would",
        "may",
        "might",
        "will",
        "shall",
        "must",
        "also",
        "very",
        "more",
        "most",
        "such",
        "own",
        "other",
        "others",
        "each",
        "person",
        "person's",
        "people",
        "someone",
        "something",
        "one",
        "ones",
    ]
)


def _tokens(text: str) -> list[str]:
    words = []
    for word in _WORD.findall(text.casefold()):
        word = word.removesuffix("'s")
        if word in _STOPWORDS:
            continue
        # Crude plural folding ("moments" ~ "moment") without a stemmer; "ss" words ("awareness") stay.
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return words


class LexicalEmbedder:
    """Deterministic, corpus-independent bag of hashed words and word bigrams.

    Each feature is hashed (BLAKE2b, not Python's salted ``hash``) to one of ``dimensions`` buckets with
    a sign, weighted ``1 + log(count)`` (sublinear, so one repeated word cannot dominate), and the vector
    is L2-normalised. No vocabulary or IDF is learned from the corpus, so a text's vector never changes
    as cards arrive and can be cached forever under :attr:`model`.
    """

    VERSION = "lexical-hash-v1"

    def __init__(self, dimensions: int = 1024) -> None:
        if dimensions < 16:
            raise ValueError("dimensions must be at least 16")
        self.dimensions = dimensions
        # The dimension is part of the name: vectors of different sizes must not share cache entries.
        self.model = self.VERSION if dimensions == 1024 else f"{self.VERSION}-{dimensions}"

    async def embed(self, texts: Sequence[str]) -> Embedded:
        return Embedded(self.vectors(texts), self.model)

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _tokens(text)
            features = Counter(words)
            features.update(f"{a} {b}" for a, b in zip(words, words[1:]))
            for feature, count in features.items():
                bucket, sign = self._bucket(feature)
                matrix[row, bucket] += sign * (1.0 + math.log(count))
            norm = float(np.linalg.norm(matrix[row]))
            if norm > 0:
                matrix[row] /= norm
        return matrix

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dimensions, 1.0 if (value >> 63) & 1 else -1.0


class WordLlamaEmbedder:
    """An offline semantic embedder: WordLlama's small static token embeddings (the ``l2_supercat`` model,
    256 dimensions, ~16 MB of weights shipped inside the ``wordllama`` wheel), averaged per text; numpy
    only, no torch, no download. The optional extra ``offline-embeddings`` installs it.

    It knows that "honest" and "candour" are related, which the lexical embedder cannot, but it is still a
    bag of token vectors: word order and negation are lost, so the judge stays the one who decides.
    """

    model = "wordllama-l2-supercat-256"

    def __init__(self) -> None:
        try:
            import wordllama
        except ImportError as error:
            raise RuntimeError(
                "MGE_EMBEDDER=wordllama needs the optional extra: pip install 'moral-graph-bot[offline-embeddings]'"
            ) from error
        from pathlib import Path

        # The wheel ships the weights and the tokenizer; pointing the cache at the package itself makes
        # wordllama find both there (0.4.0 looks for the tokenizer in the cache folder only) and never
        # reach for the network.
        package = Path(wordllama.__file__).parent
        self._model = wordllama.WordLlama.load(config="l2_supercat", dim=256, cache_dir=package, disable_download=True)

    async def embed(self, texts: Sequence[str]) -> Embedded:
        return Embedded(self.vectors(texts), self.model)

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 256), dtype=np.float32)
        return np.asarray(self._model.embed(list(texts), norm=True), dtype=np.float32)
