"""Settings: defaults, validation messages, and .env.example documenting every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.runtime.settings import Settings, SettingsError, env_name, load_settings

ROOT = Path(__file__).parents[1]


def test_defaults_need_nothing_but_give_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(data_dir=tmp_path / "d")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'd' / 'mge.sqlite3'}"
    assert settings.chat_model and settings.llm_timeout_seconds == 60


def test_an_llm_endpoint_is_required_for_the_interview(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match="No language model is configured"):
        load_settings().require_llm()
    load_settings(openai_base_url="http://127.0.0.1:11434/v1").require_llm()  # a local server needs no key


def test_environment_names(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1/db")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    monkeypatch.setenv("MGE_CHAT_MODEL", "llama3")
    settings = load_settings()
    assert settings.resolved_database_url == "postgresql://u:p@127.0.0.1/db"
    assert settings.openai_base_url == "http://127.0.0.1:8000/v1" and settings.chat_model == "llama3"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"openai_base_url": "ftp://x"}, "http(s) URL"),
        ({"database_url": "oracle://x"}, "sqlite:///"),
        ({"llm_timeout_seconds": 0}, "between 1 and 600"),
        ({"llm_max_retries": 11}, "between 0 and 10"),
        ({"interview_min_turns": 5, "interview_max_turns": 4}, "MGE_INTERVIEW_MIN_TURNS"),
        ({"chat_model": "  "}, "must not be empty"),
        ({"structured_output": "xml"}, "json_schema"),
        ({"interview_idle_timeout_hours": -1}, "positive"),
    ],
)
def test_bad_values_are_rejected_with_a_helpful_message(overrides, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=re.escape(words)):
        load_settings(**overrides)


def test_env_example_documents_every_setting():
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert documented == {env_name(name) for name in Settings.model_fields}


def test_errors_name_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MGE_DISCORD_COMMAND_GUILD_IDS", "general")
    monkeypatch.setenv("OPENAI_BASE_URL", "nope")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "MGE_DISCORD_COMMAND_GUILD_IDS: " in str(raised.value) and "OPENAI_BASE_URL: " in str(raised.value)


def test_lists_and_platforms(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MGE_DISCORD_COMMAND_GUILD_IDS", "12, 34")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_API_URL", "https://slack-gov.com/api")
    settings = load_settings()
    assert settings.discord_command_guild_ids == (12, 34)
    assert settings.slack_api_url == "https://slack-gov.com/api/"
    assert settings.platforms() == ["slack"]
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN"):
        settings.require_slack(http=False)
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        settings.require_slack(http=True)


def test_slack_moderator_ids_may_be_scoped_to_a_workspace(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MGE_SLACK_MODERATOR_IDS", "U0456, T0123ABC:W0789 ;T0123ABC:S0MODS")
    assert load_settings().slack_moderator_ids == ("U0456", "T0123ABC:W0789", "T0123ABC:S0MODS")
    example = (ROOT / ".env.example").read_text()
    assert "T0123ABCD:U0456EFGH" in example and "EVERY workspace" in example


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("X0123:U0456", "'X0123' is not a Slack workspace (team) id: those start with T"),
        ("t0123:U0456", "(Slack ids are upper case)"),
        (":U0456", "'' is not a Slack workspace (team) id"),
        ("T0123:Q0456", "'Q0456' is not a Slack user id (U… or W…"),
        ("T0123:", "'' is not a Slack user id"),
        ("T0123:u0456", "(Slack ids are upper case)"),
        ("U1, general", "in 'general', 'general' is not a Slack user id"),
        ("T1:T2:U3", "'T1:T2' is not a Slack workspace (team) id"),
    ],
)
def test_bad_slack_moderator_ids_say_which_part_is_wrong(value, words, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MGE_SLACK_MODERATOR_IDS", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "MGE_SLACK_MODERATOR_IDS: " in message and words in message
    assert "TEAM:ID for one workspace only" in message
