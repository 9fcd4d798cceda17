"""What the interviewer says to a member in its own words, per language (docs/method.md §10): the consent
notice, the headings around a card, the buttons, thanks, the notes for coming back or a failed model
step. The model's own words (questions, the said-back list, the card) are written in the member's
language by the prompts; these fixed texts come from one file per language beside this module, so that a
Spanish-speaking member reads a Spanish interview from the first message to the last.

``en.toml`` is the reference: every other file has the same keys and the same ``{placeholders}`` (checked
when it is loaded). A language without a file falls back to English.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.answers import AFFIRMATIVES, NEGATIVES, fold_label, normalise_answer
from core.languages import DEFAULT_LANGUAGE, language_tag

#: Slack's limit for a button's text (Discord's is 80): a label is shown whole on both.
MAX_LABEL = 75
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class ChoiceLabels(BaseModel):
    """The buttons' labels, by the choice key the interview machine reads (typed labels are accepted too)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accept: str = Field(min_length=1, max_length=MAX_LABEL)
    decline: str = Field(min_length=1, max_length=MAX_LABEL)
    agree: str = Field(min_length=1, max_length=MAX_LABEL)
    confirm: str = Field(min_length=1, max_length=MAX_LABEL)
    revise: str = Field(min_length=1, max_length=MAX_LABEL)
    restart: str = Field(min_length=1, max_length=MAX_LABEL)
    # "continue" is a Python keyword: the attribute is continue_, the file's key "continue".
    continue_: str = Field(min_length=1, max_length=MAX_LABEL, alias="continue")
    same: str = Field(min_length=1, max_length=MAX_LABEL)
    mine: str = Field(min_length=1, max_length=MAX_LABEL)
    #: The offer of other values: the last button before a pick, and what it becomes after one.
    none: str = Field(min_length=1, max_length=MAX_LABEL)
    done: str = Field(min_length=1, max_length=MAX_LABEL)
    #: The DMs after an interview: a value check's yes, a reason question's two buttons.
    yes: str = Field(min_length=1, max_length=MAX_LABEL)
    skip: str = Field(min_length=1, max_length=MAX_LABEL)
    stop_asking: str = Field(min_length=1, max_length=MAX_LABEL)

    def by_key(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)


class CommandWords(BaseModel):
    """Whole messages that cancel, restart or retry in any state, in this language."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cancel: tuple[str, ...] = Field(min_length=1)
    restart: tuple[str, ...] = Field(min_length=1)
    retry: tuple[str, ...] = Field(min_length=1)

    @field_validator("cancel", "restart", "retry")
    @classmethod
    def _lower(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(" ".join(word.split()).casefold() for word in words)
        if any(not word for word in cleaned):
            raise ValueError("a command word must not be empty")
        return cleaned


class LLMErrorTexts(BaseModel):
    """What a member is told when a model step failed, by ``core.llm.LLMErrorKind``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_limited: str
    unavailable: str
    timeout: str
    invalid_output: str
    rejected: str
    configuration: str


class InterviewTexts(BaseModel):
    """The bot's fixed texts to a member in one language: the interview's, and those of the offer and the
    DMs that follow it. Field names are the keys of the language files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: str
    consent_notice: str
    no_consent: str
    pick_an_option: str
    choose_scenario: str
    no_scenario: str
    #: Before the scenario, in the first question.
    situation: str
    #: The paper's opening question after the scenario, one per framing (core.framing).
    opening_assistant: str
    opening_community: str
    opening_personal: str
    #: Between groups of three digits ("4,000" in English, "4.000" in Spanish); may be empty.
    thousands_separator: str = Field(max_length=1)
    #: A message the interview cannot read: nothing in it, or longer than core.text.MAX_MESSAGE_CHARS.
    empty_message: str
    message_too_long: str
    go_on: str
    say_back_opening: str
    say_back_question: str
    card_heading: str
    revised_card_heading: str
    card_again: str
    #: Above a card's policies, wherever a card is shown to the member.
    attention_heading: str
    revision_question: str
    saved: str
    closing_note: str
    value_check_question: str
    agreed_value: str
    kept_separate: str
    thanks: str
    cancelled: str
    starting_over: str
    welcome_back: str
    continue_or_start_over: str
    stale_button: str
    stale_no_interview: str
    stale_here: str
    invalid_card: str
    tell_operator: str
    nothing_lost: str
    #: The offer of other members' values after a confirmed card (docs/method.md §2).
    offer_question: str
    offer_this_question: str
    offer_picked: str
    offer_already_picked: str
    offer_finished_one: str
    offer_finished: str
    offer_none_fit: str
    offer_closed: str
    offer_invalid: str
    offer_not_yours: str
    offer_other_community: str
    #: Asked by DM after a merge: is the value still the member's? (docs/method.md §4)
    later_check_merged: str
    later_check_restated: str
    later_check_reads_now: str
    later_check_question: str
    later_check_thanks_same: str
    later_check_thanks_separate: str
    later_check_already_answered: str
    later_check_moved_since: str
    #: Asked by DM after a vote: what made them choose it? (docs/method.md §7)
    reason_question: str
    reason_saved: str
    reason_skipped: str
    reason_opted_out: str
    reason_closed: str
    reason_vote_changed: str
    choices: ChoiceLabels
    commands: CommandWords
    llm_errors: LLMErrorTexts

    @field_validator("language")
    @classmethod
    def _tag(cls, value: str) -> str:
        return language_tag(value)

    @model_validator(mode="after")
    def _not_blank(self) -> InterviewTexts:
        texts = self.model_dump(exclude={"thousands_separator"})  # a space, or nothing, is a separator
        blank = [name for name, value in texts.items() if isinstance(value, str) and not value.strip()]
        if blank:
            raise ValueError(f"empty texts: {', '.join(blank)}")
        return self

    @model_validator(mode="after")
    def _typed_words_work(self) -> InterviewTexts:
        """What a member may type means one thing, and a text that tells them what to type names a word
        that does it: a command word is no plain yes or no (a "no" to a card would cancel the interview)
        nor another button's label, and the consent notice, the failure note, the revision question and
        the said-back question name a cancel word, a retry word, the confirm and the agree label."""
        labels = {key: fold_label(label) for key, label in self.choices.by_key().items()}
        plain_answers = AFFIRMATIVES | NEGATIVES
        problems = []
        kinds = {"cancel": self.commands.cancel, "restart": self.commands.restart, "retry": self.commands.retry}
        for kind, words in kinds.items():
            for other, others in kinds.items():
                if other > kind and set(words) & set(others):
                    problems.append(f"commands.{kind} and commands.{other} share {sorted(set(words) & set(others))}")
            for word in words:
                if normalise_answer(word) in plain_answers:
                    problems.append(f"commands.{kind}: {word!r} is a plain yes or no")
                clashes = [key for key, label in labels.items() if label == fold_label(word) and key != kind]
                if clashes:
                    problems.append(f"commands.{kind}: {word!r} is the label of choices.{clashes[0]}")
        named = {
            "consent_notice": self.commands.cancel,
            "nothing_lost": self.commands.retry,
            "revision_question": (self.choices.confirm,),
            "say_back_question": (self.choices.agree,),
        }
        all_commands = {word: kind for kind, words in kinds.items() for word in words}
        for key, words in named.items():
            text = f" {fold_label(getattr(self, key))} "
            if not any(f" {fold_label(word)} " in text for word in words):
                problems.append(f"{key} must tell the member to type one of {list(words)}")
            # Beside the word to type, another command word is one a member may type instead.
            misleading = [w for w, kind in all_commands.items() if w not in words and f" {fold_label(w)} " in text]
            if misleading:
                problems.append(f"{key} names {misleading[0]!r}, a {all_commands[misleading[0]]} word")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def number(self, n: int) -> str:
        """``n`` written with this language's thousands separator."""
        return f"{n:,}".replace(",", self.thousands_separator)

    def opening(self, framing: str) -> str:
        """The opening question for a framing ("assistant", "community" or "personal")."""
        return str(getattr(self, f"opening_{framing}"))


def placeholders(texts: InterviewTexts) -> dict[str, set[str]]:
    """The ``{placeholders}`` of every text, by its key ("llm_errors.timeout" for nested ones)."""
    found: dict[str, set[str]] = {}

    def walk(prefix: str, values: Mapping[str, object]) -> None:
        for key, value in values.items():
            if isinstance(value, str):
                found[prefix + key] = set(_PLACEHOLDER.findall(value))
            elif isinstance(value, Mapping):
                walk(f"{prefix}{key}.", value)

    walk("", texts.model_dump(by_alias=True, exclude={"language", "commands"}))
    return found


class CatalogueError(ValueError):
    pass


def check_against_english(texts: InterviewTexts) -> InterviewTexts:
    """``texts`` when each text has exactly the English text's placeholders; CatalogueError otherwise."""
    reference = placeholders(english())
    problems = [
        f"{key} needs {sorted(wanted)}, has {sorted(got)}"
        for key, wanted in reference.items()
        if (got := placeholders(texts).get(key, set())) != wanted
    ]
    if problems:
        raise CatalogueError(f"texts for {texts.language!r}: " + "; ".join(problems))
    return texts


def parse_catalogue(text: str, *, source: str) -> InterviewTexts:
    """A language file's TOML as checked texts; CatalogueError naming ``source`` and the problem."""
    try:
        return InterviewTexts.model_validate(tomllib.loads(text))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in error.errors())
        raise CatalogueError(f"{source}: {problems}") from error
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise CatalogueError(f"{source}: {error}") from error


@cache
def _load(name: str) -> InterviewTexts:
    source = f"core/member_texts/{name}.toml"
    texts = parse_catalogue(resources.files(__package__).joinpath(f"{name}.toml").read_text("utf-8"), source=source)
    if texts.language != name:
        raise CatalogueError(f"{source}: says language {texts.language!r}")
    return texts if name == DEFAULT_LANGUAGE else check_against_english(texts)


def english() -> InterviewTexts:
    return _load(DEFAULT_LANGUAGE)


@cache
def built_in_languages() -> tuple[str, ...]:
    """The languages with a file here (primary subtags: "es" serves "es-MX" too). Read once: every
    ``texts_for`` asks, and the files do not change while the bot runs."""
    names = (entry.name for entry in resources.files(__package__).iterdir())
    return tuple(sorted(name.removesuffix(".toml") for name in names if name.endswith(".toml")))


def built_in(tag: str | None) -> InterviewTexts | None:
    """The texts written for ``tag``'s language, or None when there is no file for it."""
    if not tag:
        return None
    primary = tag.split("-")[0].lower()
    return _load(primary) if primary in built_in_languages() else None


def texts_for(tag: str | None) -> InterviewTexts:
    """The texts for ``tag``'s language, English when there is no file for it."""
    return built_in(tag) or english()
