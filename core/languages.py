"""The member's language and the community's (docs/method.md §10): BCP-47 tags, checked and normalised.

Members write in many languages. The interviewer model says, with each turn, which language the member
writes in (``core.interviewer.InterviewerTurn.language``); the card is written in it, and translated
into the community's language (``MGE_COMMUNITY_LANGUAGE``) for everything shared: dedup, stories,
polls, the digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.cards import ValuesCard
from core.framing import Framing, words
from core.llm import ChatMessage
from core.prompts import Prompt, load_prompt

DEFAULT_LANGUAGE = "en"

# language[-script][-region][-variant…]: "en", "es", "pt-BR", "zh-Hant-TW", "sr-Latn", "es-419".
_TAG = re.compile(r"^[a-zA-Z]{2,3}(?:-[a-zA-Z]{4})?(?:-(?:[a-zA-Z]{2}|[0-9]{3}))?(?:-[a-zA-Z0-9]{5,8})*$")

# Names the prompts use for the commonest tags (a model understands the bare tag too).
_NAMES = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "zh": "Chinese",
}


def language_tag(text: str) -> str:
    """``text`` as a normalised BCP-47 tag ("PT-br" → "pt-BR"); ValueError when it isn't one."""
    tag = text.strip().replace("_", "-")
    if not _TAG.match(tag):
        raise ValueError(f"not a BCP-47 language tag (like 'en', 'es' or 'pt-BR'): {text!r}")
    first, *rest = tag.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())
        elif len(part) == 2 or part.isdigit():
            parts.append(part.upper())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def same_language(a: str, b: str) -> bool:
    """True when a card in ``a`` needs no translation for ``b``: the same primary language ("es-MX", "es")."""
    return a.split("-")[0].lower() == b.split("-")[0].lower()


def is_english(tag: str) -> bool:
    return same_language(tag, DEFAULT_LANGUAGE)


def language_name(tag: str) -> str:
    """What prompts call the language: "Spanish (es)", or the tag alone when it has no name here."""
    name = _NAMES.get(tag.split("-")[0].lower())
    return f"{name} ({tag})" if name else f"the language with BCP-47 tag {tag}"


@dataclass(frozen=True, slots=True)
class CardTranslation:
    """A member's card in the community's language, with the call that translated it."""

    card: ValuesCard
    member_language: str
    prompt_sha: str
    model: str


def translation_messages(
    card: ValuesCard, *, source: str, target: str, framing: Framing
) -> tuple[list[ChatMessage], Prompt]:
    """Messages for the call that puts a member's card into the community's language."""
    prompt = load_prompt("card_translation")
    system = prompt.render(
        source=language_name(source), target=language_name(target), card_description=words(framing).card_description
    )
    return [ChatMessage("system", system), ChatMessage("user", card.model_dump_json())], prompt


# Frequent short words for telling a member's first message apart among the languages the interviewer's
# fixed texts are written in (core/member_texts). A guess for the first messages only: once the
# interviewer has read the member, its report decides. English words that another language's list
# holds too ("me", "as", "um", "die", "con", "bin") are in the English list as well, so they say little.
_COMMON_WORDS = {
    "en": "the and is i'm you to of it that this my want like would please think with about for not be are "
    "me as um die con bin",
    "es": "el la los las de que es en un una qué cómo por para con quiero me mi mí sé pero como lo está esto muy creo",
    "fr": "le la les de des et est je tu vous un une pour avec pas que ce c'est mais moi suis j'ai très",
    "de": "der die das und ist ich du sie ein eine nicht mit für auf mein aber wir es zu bin habe sehr mir mich dass",
    "pt": "os as de que um uma eu você mas meu minha está isso muito acho para com mim tudo bem",
}
#: Greetings, yes and thanks: alone, one of them tells a message's language ("Hola", "oui", "Danke"); another
#: short word alone ("me", "con", "tu": English words or names too) does not, a longer one ("quiero") does.
_GREETINGS = {
    "en": "hi hello hey yes thanks thank sure okay",
    "es": "hola buenas sí si gracias vale claro",
    "fr": "bonjour salut merci oui d'accord",
    "de": "hallo danke ja gerne",
    "pt": "olá oi obrigado obrigada sim não",
}
_LETTERS = {"es": "ñ¿¡", "pt": "ãõ", "de": "ßäöü", "fr": "èêœùû"}
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")
_SENTENCE_END = frozenset(".!?¡¿:;\n")
_BEFORE_A_SENTENCE = frozenset("\"'“”«»(")  # with white space: what may stand between a sentence's end and it


def _starts_sentence(text: str, at: int) -> bool:
    """True when the word at ``at`` opens the text, a line or a sentence (only white space and opening
    quotes before it since). Looks back over those characters only, so a long message costs linear time."""
    index = at - 1
    while index >= 0 and (text[index].isspace() or text[index] in _BEFORE_A_SENTENCE):
        if text[index] == "\n":
            return True
        index -= 1
    return index < 0 or text[index] in _SENTENCE_END


def _telling_words(text: str) -> list[str]:
    """The words of ``text`` that may tell its language, case-folded: not one-letter words ("a", "e",
    "o", "y" are in several languages and in answers like "a1"), not a capitalised word inside a sentence
    (a name: "Los Angeles", "Des Moines"; English "I'm" excepted) nor an upper-case one in a message that
    has lower case (an acronym: "EU", "OS")."""
    has_lower = any(ch.islower() for ch in text)
    words = []
    for match in _WORD.finditer(text):
        word = match.group().replace("\u2019", "'")
        if len(word) < 2:
            continue
        if has_lower and word.isupper():
            continue
        if word[0].isupper() and not _starts_sentence(text, match.start()) and not word.startswith("I'"):
            continue
        words.append(word.casefold())
    return words


def guess_language(text: str, *, among: tuple[str, ...]) -> str | None:
    """The language of ``among`` that ``text`` is most likely written in, or None when the words say too
    little ("ok", a number, a name, one short word that is not a greeting) or two languages score alike."""
    greetings = {word for tag in among for word in _GREETINGS.get(tag, "").split()}
    lists = {tag: set((_COMMON_WORDS.get(tag, "") + " " + _GREETINGS.get(tag, "")).split()) for tag in among}
    telling = [word for word in _telling_words(text) if any(word in words for words in lists.values())]
    if len(telling) == 1 and len(telling[0]) < 4 and telling[0] not in greetings:
        return None
    scores = dict.fromkeys(among, 0.0)
    for word in telling:
        speakers = [tag for tag in among if word in lists[tag]]
        for tag in speakers:
            scores[tag] += 1 / len(speakers)  # a word several languages share says less
    for tag, letters in _LETTERS.items():
        if tag in scores and any(letter in text.casefold() for letter in letters):
            scores[tag] += 0.5  # a name ("Müller") has them too: with a word, not alone
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked or ranked[0][1] < 1 or (len(ranked) > 1 and ranked[0][1] - ranked[1][1] < 0.5):
        return None
    return ranked[0][0]
