"""All configuration, from the environment and an optional ``.env`` file. ``.env.example`` documents each key."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.commands.permissions import parse_slack_moderator_id
from core.languages import language_tag
from core.stories import MAX_PAIRS_LIMIT
from storage.database import DatabaseURLError, database_backend, sqlite_path


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "moral-graph-bot"


class SettingsError(Exception):
    """Configuration that can't work, explained for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MGE_", env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Where the SQLite database lives.")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "MGE_DATABASE_URL"),
        description="sqlite:///path or postgresql://user:pass@host/db; default: SQLite in data_dir.",
    )

    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "MGE_OPENAI_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "MGE_OPENAI_API_KEY")
    )
    chat_model: str = "gpt-4o"
    articulation_model: str = "gpt-4o"
    embedding_model: str = "text-embedding-3-small"
    #: Model that judges whether two cards are the same value; empty: the articulation model.
    dedup_model: str | None = None
    #: Override the embedding model's default thresholds (core.dedup_thresholds); empty: the model's default.
    dedup_match_distance: float | None = None
    dedup_cluster_eps: float | None = None
    dedup_cluster_min_points: int = 3
    #: What proposes dedup candidates: the embeddings endpoint (``embedding_model``), the offline semantic
    #: embedder (the ``offline-embeddings`` extra), or the hashed-words lexical embedder (the last resort).
    embedder: Literal["endpoint", "wordllama", "lexical"] = "endpoint"
    #: How often maintenance also re-deduplicates all active values with each other (days; 0: never).
    dedup_recheck_days: int = 7
    llm_timeout_seconds: float = 60.0
    llm_max_retries: int = 2
    structured_output: Literal["auto", "json_schema", "json_object"] = "auto"

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "MGE_DISCORD_TOKEN")
    )
    #: Guilds whose slash commands are synced at start (instant); empty: global commands.
    discord_command_guild_ids: Annotated[tuple[int, ...], NoDecode] = ()
    #: Roles whose members may run moderator commands (besides Manage Server / Administrator).
    discord_moderator_role_ids: Annotated[tuple[int, ...], NoDecode] = ()
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "MGE_SLACK_BOT_TOKEN")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "MGE_SLACK_APP_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "MGE_SLACK_SIGNING_SECRET")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL", "MGE_SLACK_API_URL")
    )
    #: Slack users (U…/W…) and user groups (S…) who may run moderator commands. ``T…:U…`` / ``T…:S…`` is a
    #: moderator only in that workspace (team); a bare id is a moderator in every workspace the bot serves
    #: (with Enterprise Grid, W… ids are shared by the organisation's workspaces: scope them).
    slack_moderator_ids: Annotated[tuple[str, ...], NoDecode] = ()
    #: How long a story poll stays open.
    poll_duration_hours: float = 72.0
    #: Price per million input / output tokens of the configured models, for `/mge stats` (0: unknown).
    llm_input_price_per_million: float = 0.0
    llm_output_price_per_million: float = 0.0
    #: How often the scheduler runs dedup and story generation (minutes; 0: never, run them by hand).
    maintenance_interval_minutes: int = 180
    #: How often the scheduler looks for due poll rounds, polls to close and digests (seconds).
    scheduler_tick_seconds: int = 60
    #: Deepening pairs the model may give each moral context in all (moderators may add more by hand).
    story_pairs_per_context: int = 3

    interview_max_turns: int = 12
    interview_min_turns: int = 3
    interview_idle_timeout_hours: float = 72.0
    #: BCP-47 tag of the language cards are shared in (dedup, stories, polls, the digest); members are
    #: interviewed in their own, and their cards translated into this one.
    community_language: str = "en"

    @field_validator("openai_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError(
                f"OPENAI_BASE_URL must be an http(s) URL such as https://api.openai.com/v1 or "
                f"http://localhost:11434/v1, got {value!r}"
            )
        return value.rstrip("/")

    @field_validator("discord_command_guild_ids", "discord_moderator_role_ids", mode="before")
    @classmethod
    def _discord_ids(cls, value, info):
        if isinstance(value, str):
            parts = _split_ids(value)
            if not all(part.isdigit() for part in parts):
                raise ValueError(
                    f"{env_name(info.field_name)} must be comma-separated numeric Discord ids, got {value!r}"
                )
            return tuple(int(part) for part in parts)
        return value

    @field_validator("slack_moderator_ids", mode="before")
    @classmethod
    def _slack_ids(cls, value):
        parts = _split_ids(value) if isinstance(value, str) else [str(part).strip() for part in value or ()]
        problems = []
        for part in parts:
            try:
                parse_slack_moderator_id(part)
            except ValueError as error:
                problems.append(str(error))
        if problems:
            raise ValueError(
                "; ".join(problems) + ". Each comma-separated entry is a Slack user id (U…, W…) or user-group id "
                "(S…), a moderator in every workspace, or TEAM:ID for one workspace only (e.g. T0123ABCD:U0456EFGH)"
            )
        return tuple(part for part in parts if part)

    @field_validator("poll_duration_hours")
    @classmethod
    def _poll_duration(cls, value: float) -> float:
        if not 1 <= value <= 768:
            raise ValueError(f"MGE_POLL_DURATION_HOURS must be between 1 and 768 hours, got {value}")
        return value

    @field_validator("maintenance_interval_minutes")
    @classmethod
    def _maintenance(cls, value: int) -> int:
        if value != 0 and not 10 <= value <= 10080:
            raise ValueError(
                f"MGE_MAINTENANCE_INTERVAL_MINUTES must be 0 (off) or between 10 and 10080 (a week), got {value}"
            )
        return value

    @field_validator("story_pairs_per_context")
    @classmethod
    def _story_pairs(cls, value: int) -> int:
        if not 1 <= value <= MAX_PAIRS_LIMIT:
            raise ValueError(f"MGE_STORY_PAIRS_PER_CONTEXT must be between 1 and {MAX_PAIRS_LIMIT}, got {value}")
        return value

    @field_validator("llm_input_price_per_million", "llm_output_price_per_million")
    @classmethod
    def _price(cls, value: float, info) -> float:
        if not 0 <= value <= 10_000:
            raise ValueError(
                f"{env_name(info.field_name)} must be between 0 and 10000 (dollars per million tokens), got {value}"
            )
        return value

    @field_validator("scheduler_tick_seconds")
    @classmethod
    def _tick(cls, value: int) -> int:
        if not 1 <= value <= 900:
            raise ValueError(f"MGE_SCHEDULER_TICK_SECONDS must be between 1 and 900, got {value}")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError(f"SLACK_API_URL must be an http(s) URL such as https://slack.com/api/, got {value!r}")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            backend = database_backend(value)
        except DatabaseURLError as error:
            raise ValueError(str(error)) from None
        if backend == "sqlite" and sqlite_path(value) is None:
            raise ValueError(
                f"{value!r} is an in-memory SQLite database: each connection would see its own empty copy and "
                "everything would be lost at exit. Give a file, e.g. sqlite:////var/lib/mge/mge.sqlite3 "
                "(four slashes for an absolute path), or leave DATABASE_URL unset for one in MGE_DATA_DIR"
            )
        return value

    @field_validator("chat_model", "articulation_model", "embedding_model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model names must not be empty")
        return value.strip()

    @field_validator("dedup_match_distance", "dedup_cluster_eps", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("dedup_match_distance", "dedup_cluster_eps")
    @classmethod
    def _distance(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < 2:
            raise ValueError(f"cosine distances lie between 0 and 2, got {value}")
        return value

    @field_validator("dedup_recheck_days")
    @classmethod
    def _recheck(cls, value: int) -> int:
        if not 0 <= value <= 365:
            raise ValueError(f"MGE_DEDUP_RECHECK_DAYS must be between 0 (never) and 365, got {value}")
        return value

    @field_validator("dedup_cluster_min_points")
    @classmethod
    def _min_points(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"a cluster needs at least 2 cards, got {value}")
        return value

    @field_validator("llm_timeout_seconds")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not 1 <= value <= 600:
            raise ValueError(f"MGE_LLM_TIMEOUT_SECONDS must be between 1 and 600 seconds, got {value}")
        return value

    @field_validator("llm_max_retries")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 0 <= value <= 10:
            raise ValueError(f"MGE_LLM_MAX_RETRIES must be between 0 and 10, got {value}")
        return value

    @field_validator("community_language")
    @classmethod
    def _community_language(cls, value: str) -> str:
        try:
            return language_tag(value)
        except ValueError as error:
            raise ValueError(f"MGE_COMMUNITY_LANGUAGE: {error}") from None

    @field_validator("interview_idle_timeout_hours")
    @classmethod
    def _idle(cls, value: float) -> float:
        # Bounded above too: hours become a timedelta, which overflows past about 2.7e9 hours.
        if not 0 < value <= 8760:
            raise ValueError(
                f"MGE_INTERVIEW_IDLE_TIMEOUT_HOURS must be positive and at most 8760 (a year), got {value}"
            )
        return value

    @model_validator(mode="after")
    def _turns(self) -> Settings:
        if not 1 <= self.interview_min_turns <= self.interview_max_turns <= 50:
            raise ValueError(
                "need 1 ≤ MGE_INTERVIEW_MIN_TURNS ≤ MGE_INTERVIEW_MAX_TURNS ≤ 50, got "
                f"{self.interview_min_turns} and {self.interview_max_turns}"
            )
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mge.sqlite3').expanduser()}"

    def require_llm(self) -> None:
        """Raise a helpful error unless an LLM endpoint is configured."""
        if self.openai_base_url is None and self.openai_api_key is None:
            raise SettingsError(
                "No language model is configured. Set OPENAI_API_KEY (for OpenAI), or OPENAI_BASE_URL "
                "for any OpenAI-compatible server (for example http://localhost:11434/v1 for Ollama), "
                "in the environment or in a .env file. See .env.example."
            )

    @property
    def judge_model(self) -> str:
        return self.dedup_model or self.articulation_model

    def platforms(self) -> list[str]:
        """The chat platforms with credentials configured."""
        return [name for name, token in (("discord", self.discord_token), ("slack", self.slack_bot_token)) if token]

    def require_slack(self, *, http: bool) -> None:
        missing = [name for name, value in (("SLACK_BOT_TOKEN", self.slack_bot_token),) if not value]
        if http and not self.slack_signing_secret:
            missing.append("SLACK_SIGNING_SECRET (HTTP mode verifies every request with it)")
        if not http and not self.slack_app_token:
            missing.append(
                "SLACK_APP_TOKEN (an xapp- token with connections:write, for Socket Mode; or use --http-port)"
            )
        if missing:
            raise SettingsError("Slack is not fully configured. Missing: " + "; ".join(missing))


def _split_ids(value: str) -> list[str]:
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


def env_name(field: str) -> str:
    """The environment variable an operator sets for ``field`` (e.g. OPENAI_BASE_URL, MGE_CHAT_MODEL)."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field.upper()
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"MGE_{field.upper()}"


def load_settings(**overrides) -> Settings:
    """Settings from the environment and .env, with readable errors instead of a pydantic traceback."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"]) or "settings"
            problems.append(f"{env_name(field)}: {problem['msg'].removeprefix('Value error, ')}")
        raise SettingsError("Invalid configuration: " + "; ".join(problems)) from None
