"""What kind of answer a member's message is, where the interview offers something to accept: a plain
yes (whole message: "looks good", "ok!", "👍", "vale"), or a question about what is shown.

Pure and table-driven: the words are data, so another language's yes is one more entry. Only whole
messages count, so "yes, but the second point is wrong" is not a yes: it is what to change; and "ok?"
is a question, not a yes.
"""

from __future__ import annotations

import re
import unicodedata

#: A whole message that accepts what was shown. Compared after normalising (case, accents kept,
#: surrounding punctuation and spacing dropped), so "Looks good!" and "looks  good" match "looks good".
AFFIRMATIVES = frozenset(
    {
        # English
        "yes",
        "y",
        "yep",
        "yeah",
        "ok",
        "okay",
        "k",
        "sure",
        "looks good",
        "looks great",
        "looks right",
        "perfect",
        "great",
        "good",
        "correct",
        "right",
        "exactly",
        "that's it",
        "thats it",
        "that is it",
        "that's right",
        "sounds right",
        "sounds good",
        "yes that's it",
        "yes, that's it",
        "yes please",
        "👍",
        "✅",
        # Spanish
        "sí",
        "si",
        "vale",
        "perfecto",
        "correcto",
        "de acuerdo",
        "eso es",
        # French
        "oui",
        "d'accord",
        "parfait",
        "c'est ça",
        "exact",
        # German
        "ja",
        "genau",
        "passt",
        "stimmt",
        "perfekt",
        "das ist es",
        # Portuguese
        "sim",
        "isso",
        "é isso",
        "certo",
        "perfeito",
        "combinado",
    }
)

#: First words that make a message a question even without a question mark ("why policy 3"). Not German
#: "was" nor French "comment": in English they open statements ("was thinking …", "comment: …").
QUESTION_WORDS = frozenset({"why", "por qué", "qué", "cómo", "pourquoi", "quoi", "warum", "wie"})
#: English question words that open statements just as often ("when I said family I meant …", "what I
#: meant is …", "how about …"): without a question mark they make a question only before an auxiliary
#: ("what does …", "how is …").
QUESTION_WORDS_BEFORE_AUXILIARY = frozenset({"what", "how", "when", "where", "who", "which"})
AUXILIARIES = frozenset(
    {"is", "are", "was", "were", "do", "does", "did", "can", "could", "would", "should", "will", "has", "have"}
)
#: A whole message that says no to what was shown without saying what to change.
NEGATIVES = frozenset({"no", "n", "nope", "nah", "not really", "not quite", "non", "nein", "não", "nao"})

#: Openings of a request phrased as a question ("can you make the title shorter?"): a change to make,
#: not a question to answer.
REQUEST_OPENINGS = ("can you", "could you", "would you", "will you", "please", "can we", "could we")

_EDGE_PUNCTUATION = " \t\n.,;:!?¡¿…\"'“”‘’()"
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def normalise_answer(text: str) -> str:
    """Case-folded, single-spaced, curly apostrophes made straight, punctuation trimmed at both ends."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    text = " ".join(text.split()).casefold()
    # Emoji variation selectors and skin tones don't change what a thumbs-up means.
    text = re.sub("[\ufe0f\U0001f3fb-\U0001f3ff]", "", text)
    return text.strip(_EDGE_PUNCTUATION)


def fold_label(text: str) -> str:
    """``normalise_answer`` without accents and inner punctuation, for a button's label typed as people
    type it: "no gracias" is "No, gracias", "bestatigen" is "Bestätigen", "thats it" is "That's it"."""
    decomposed = unicodedata.normalize("NFKD", normalise_answer(text))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w\s]", " ", bare.replace("'", "")).split())


def is_affirmative(text: str) -> bool:
    """True when the whole message says yes to what was shown; "ok?" asks, it does not accept."""
    return not text.strip().endswith("?") and normalise_answer(text) in AFFIRMATIVES


def is_negative(text: str) -> bool:
    """True when the whole message is a bare no ("no", "not really")."""
    return not text.strip().endswith("?") and normalise_answer(text) in NEGATIVES


def is_question(text: str) -> bool:
    """True when the message asks something: it ends with "?" or starts with a question word, and is
    not a request ("could you shorten it?")."""
    stripped = text.strip()
    if not stripped or is_affirmative(stripped):
        return False
    words = normalise_answer(stripped).split()
    if not words or " ".join(words[:2]).startswith(REQUEST_OPENINGS):
        return False
    if stripped.endswith("?"):
        return True
    if words[0] in QUESTION_WORDS or " ".join(words[:2]) in QUESTION_WORDS:
        return True
    return words[0] in QUESTION_WORDS_BEFORE_AUXILIARY and len(words) > 1 and words[1] in AUXILIARIES
