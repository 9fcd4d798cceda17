"""Reading a deliberation made elsewhere (``mge import``), every file validated with pydantic, into one neutral
:class:`Deliberation`. Three sources are understood:

* **dft** — a folder of the MGE reference apps' database tables as JSON lists named after the tables:
  ``canonicalValuesCard.json`` (values), ``context.json`` (a context's id is its text), ``case.json`` and
  ``contextsOnCases.json`` (which contexts belong to which case, our scenario), ``edge.json`` (one vote
  each: ``userId``, ``fromId`` → ``toId`` in ``contextId``, the ``story`` voted on, the ``relationship``
  chosen and ``createdAt``). Older tables name a value's text ``instructionsShort`` and its policies
  ``evaluationCriteria``; both spellings are read.
* **summary** — the moral graph the paper published: ``values`` and ``edges`` with their counts, no
  individual votes. Each edge's counts become that many anonymous votes on a story between its values
  in its first context (``markedLessWise`` are the reverse edge's wiser votes, so they are not
  repeated), which rebuilds the same counts; there are no timestamps (the import's time stands in).
* **mge** — ``mge export --format json`` of this bot: values, stories and each vote with its
  anonymous voter and time.

A file that does not fit raises :class:`ImportFileError` naming the file and the entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.graph.votes import CHOICES

DFT_TABLES = ("canonicalValuesCard.json", "context.json", "case.json", "contextsOnCases.json", "edge.json")
Choice = Literal["upgrade", "no_upgrade", "not_sure"]


class ImportFileError(ValueError):
    """A file that cannot be imported; the message names the file and the entry."""


# --- the neutral form -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportedValue:
    key: str  # the source's id, unique within the source
    title: str
    description: str
    policies: tuple[str, ...]
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImportedVote:
    context: str
    from_key: str
    to_key: str
    story: str
    voter: str  # the source's voter id: only compared, then hashed into an anonymous key
    choice: str
    cast_at: datetime | None


@dataclass
class Deliberation:
    #: "dft", "summary" or "mge".
    kind: str
    values: list[ImportedValue] = field(default_factory=list)
    #: Scenario text → its contexts, in the source's order.
    scenarios: dict[str, list[str]] = field(default_factory=dict)
    contexts: list[str] = field(default_factory=list)
    votes: list[ImportedVote] = field(default_factory=list)


# --- reading ----------------------------------------------------------------------------------------------


def read_deliberation(path: Path) -> Deliberation:
    """The deliberation at ``path``: a folder of DFT tables, or one JSON file (a summary or our export)."""
    if path.is_dir():
        return _read_dft(path)
    doc = _load(path)
    if isinstance(doc, dict) and "votes" in doc and "stories" in doc:
        return _read_mge_export(path.name, doc)
    if isinstance(doc, dict) and "values" in doc and "edges" in doc:
        return _read_summary(path.name, doc)
    raise ImportFileError(
        f"{path.name}: not a deliberation this bot can import (expected a folder of the reference app's "
        'tables, a moral graph with "values" and "edges", or `mge export --format json`)'
    )


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ImportFileError(f"{path} does not exist") from None
    except json.JSONDecodeError as error:
        raise ImportFileError(f"{path.name} is not valid JSON: {error.msg} (line {error.lineno})") from None
    except UnicodeDecodeError:
        raise ImportFileError(f"{path.name} is not UTF-8 text") from None
    except OSError as error:
        raise ImportFileError(f"cannot read {path}: {error.strerror}") from None


M = TypeVar("M", bound=BaseModel)


def _entries(name: str, items: Any, model: type[M], where: str = "entry") -> list[M]:
    if not isinstance(items, list):
        raise ImportFileError(f"{name}: expected a list of entries, got {type(items).__name__}")
    rows = []
    for index, item in enumerate(items):
        try:
            rows.append(model.model_validate(item))
        except ValidationError as error:
            first = error.errors()[0]
            place = ".".join(str(part) for part in first["loc"]) or "the entry"
            ident = f" (id {item.get('id')!r})" if isinstance(item, dict) and "id" in item else ""
            raise ImportFileError(f"{name}: {where} {index}{ident}: {place}: {first['msg']}") from None
    return rows


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


#: The longest context a community keeps (``moral_context.text``).
CONTEXT_CHARS = 120


def _text(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be empty")
    return value


def _context(value: str) -> str:
    value = _text(value)
    if len(value) > CONTEXT_CHARS:
        raise ValueError(f"a context may have at most {CONTEXT_CHARS} characters, this one has {len(value)}")
    return value


class _Value(_Row):
    id: int | str
    title: str = Field(max_length=200)
    description: str = Field(
        default="", max_length=1000, validation_alias=AliasChoices("description", "instructionsShort")
    )
    policies: list[str] = Field(default_factory=list, validation_alias=AliasChoices("policies", "evaluationCriteria"))
    created_at: datetime | None = Field(default=None, validation_alias=AliasChoices("createdAt", "created_at"))

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return _text(value)

    def imported(self) -> ImportedValue:
        return ImportedValue(str(self.id), self.title, self.description, tuple(self.policies), _utc(self.created_at))


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- the reference apps' tables ---------------------------------------------------------------------------


class _Context(_Row):
    id: str

    @field_validator("id")
    @classmethod
    def _context_text(cls, value: str) -> str:
        return _context(value)


class _Case(_Row):
    id: str
    title: str | None = None
    question: str | None = None

    @property
    def text(self) -> str:
        return " ".join((self.question or self.title or self.id).split())


class _ContextOnCase(_Row):
    context_id: str = Field(validation_alias="contextId")
    case_id: str = Field(validation_alias="caseId")


class _Edge(_Row):
    user_id: int | str = Field(validation_alias="userId")
    from_id: int | str = Field(validation_alias="fromId")
    to_id: int | str = Field(validation_alias="toId")
    context_id: str = Field(validation_alias="contextId")
    story: str
    relationship: Choice
    created_at: datetime = Field(validation_alias="createdAt")


def _read_dft(folder: Path) -> Deliberation:
    missing = [name for name in DFT_TABLES if not (folder / name).is_file()]
    if missing:
        raise ImportFileError(f"{folder}: missing {', '.join(missing)} (a folder of the reference app's tables)")
    values = _entries("canonicalValuesCard.json", _load(folder / "canonicalValuesCard.json"), _Value)
    contexts = _entries("context.json", _load(folder / "context.json"), _Context)
    cases = _entries("case.json", _load(folder / "case.json"), _Case)
    links = _entries("contextsOnCases.json", _load(folder / "contextsOnCases.json"), _ContextOnCase)
    edges = _entries("edge.json", _load(folder / "edge.json"), _Edge)

    value_keys = _unique("canonicalValuesCard.json", (str(v.id) for v in values))
    context_ids = _unique("context.json", (c.id for c in contexts))
    case_text = {case.id: case.text for case in cases}
    scenarios: dict[str, list[str]] = {text: [] for text in case_text.values()}
    for index, link in enumerate(links):
        if link.case_id not in case_text or link.context_id not in context_ids:
            unknown = link.case_id if link.case_id not in case_text else link.context_id
            raise ImportFileError(f"contextsOnCases.json: entry {index}: no case or context {unknown!r}")
        scenarios[case_text[link.case_id]].append(link.context_id)
    votes = []
    for index, edge in enumerate(edges):
        where = f"edge.json: entry {index}"
        for key in (str(edge.from_id), str(edge.to_id)):
            if key not in value_keys:
                raise ImportFileError(f"{where}: no value {key!r} in canonicalValuesCard.json")
        if edge.context_id not in context_ids:
            raise ImportFileError(f"{where}: no context {edge.context_id!r} in context.json")
        if str(edge.from_id) == str(edge.to_id):
            raise ImportFileError(f"{where}: fromId and toId are the same value")
        votes.append(
            ImportedVote(
                edge.context_id,
                str(edge.from_id),
                str(edge.to_id),
                " ".join(edge.story.split()),
                str(edge.user_id),
                edge.relationship,
                _utc(edge.created_at),
            )
        )
    return Deliberation("dft", [v.imported() for v in values], scenarios, [c.id for c in contexts], votes)


def _unique(name: str, keys: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise ImportFileError(f"{name}: entry {index} repeats id {key!r}")
        seen.add(key)
    return seen


# --- the published moral graph ----------------------------------------------------------------------------


class _Counts(_Row):
    marked_wiser: int = Field(ge=0, validation_alias="markedWiser")
    marked_not_wiser: int = Field(default=0, ge=0, validation_alias="markedNotWiser")
    marked_unsure: int = Field(default=0, ge=0, validation_alias="markedUnsure")


class _SummaryEdge(_Row):
    source_value_id: int | str = Field(validation_alias="sourceValueId")
    wiser_value_id: int | str = Field(validation_alias="wiserValueId")
    contexts: list[str] = Field(min_length=1)
    counts: _Counts

    @field_validator("contexts")
    @classmethod
    def _contexts(cls, value: list[str]) -> list[str]:
        return [_context(context) for context in value]


def _read_summary(name: str, doc: dict) -> Deliberation:
    values = _entries(name, doc["values"], _Value, "values entry")
    edges = _entries(name, doc["edges"], _SummaryEdge, "edges entry")
    keys = _unique(name, (str(v.id) for v in values))
    votes = []
    for index, edge in enumerate(edges):
        source, wiser = str(edge.source_value_id), str(edge.wiser_value_id)
        for key in (source, wiser):
            if key not in keys:
                raise ImportFileError(f"{name}: edges entry {index}: no value {key!r} among the values")
        context = edge.contexts[0]
        counts = edge.counts
        for choice, count in zip(CHOICES, (counts.marked_wiser, counts.marked_not_wiser, counts.marked_unsure)):
            votes += [
                ImportedVote(context, source, wiser, "", f"edge-{index}-{choice}-{n}", choice, None)
                for n in range(count)
            ]
    contexts = list(dict.fromkeys(vote.context for vote in votes))
    return Deliberation("summary", [v.imported() for v in values], {}, contexts, votes)


# --- our own export ---------------------------------------------------------------------------------------


class _Story(_Row):
    id: int
    context: str
    from_value_id: str = Field(validation_alias="fromValueId")
    to_value_id: str = Field(validation_alias="toValueId")
    story: str

    @field_validator("context")
    @classmethod
    def _context_text(cls, value: str) -> str:
        return _context(value)


class _ExportVote(_Row):
    voter: str
    story: int
    choice: Choice
    cast_at: datetime = Field(validation_alias="castAt")


def _read_mge_export(name: str, doc: dict) -> Deliberation:
    values = _entries(name, doc.get("values"), _Value, "values entry")
    stories = _entries(name, doc.get("stories"), _Story, "stories entry")
    exported = _entries(name, doc.get("votes"), _ExportVote, "votes entry")
    keys = _unique(name, (str(v.id) for v in values))
    by_id = {}
    for index, story in enumerate(stories):
        for key in (story.from_value_id, story.to_value_id):
            if key not in keys:
                raise ImportFileError(f"{name}: stories entry {index}: no value {key!r} among the values")
        by_id[story.id] = story
    votes = []
    for index, vote in enumerate(exported):
        voted = by_id.get(vote.story)
        if voted is None:
            raise ImportFileError(f"{name}: votes entry {index}: no story {vote.story} among the stories")
        votes.append(
            ImportedVote(
                voted.context,
                voted.from_value_id,
                voted.to_value_id,
                voted.story,
                vote.voter,
                vote.choice,
                _utc(vote.cast_at),
            )
        )
    contexts = list(dict.fromkeys(story.context for story in stories))
    return Deliberation("mge", [v.imported() for v in values], {}, contexts, votes)


def context_order(deliberation: Deliberation) -> Sequence[str]:
    """Every context named anywhere, in first-seen order."""
    named = [*deliberation.contexts, *(c for cs in deliberation.scenarios.values() for c in cs)]
    return list(dict.fromkeys([*named, *(vote.context for vote in deliberation.votes)]))
