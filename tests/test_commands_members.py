"""The one table of member commands (``bot.commands.member_commands``) drives both platforms' `/mge`."""

from __future__ import annotations

import pytest

from adapters.discord.member_commands import HELP_TEXT
from adapters.slack.member_commands import member_commands
from bot.commands.member_commands import MEMBER_COMMANDS, handlers_for, help_lines

NAMES = [command.name for command in MEMBER_COMMANDS]


def test_a_platform_must_implement_exactly_the_table():
    handlers = {name: object() for name in NAMES}
    assert [command.name for command, _ in handlers_for("test", handlers)] == NAMES
    with pytest.raises(ValueError, match=r"missing \['help'\]"):
        handlers_for("test", {name: object() for name in NAMES if name != "help"})
    with pytest.raises(ValueError, match=r"unknown \['poll'\]"):
        handlers_for("test", {**handlers, "poll": object()})


def test_both_helps_list_the_same_member_commands_with_the_same_words():
    slack_help = member_commands().help_text()
    for command, line in zip(MEMBER_COMMANDS, help_lines(), strict=True):
        assert line in HELP_TEXT
        assert command.help in slack_help and f"`/mge {command.name}" in slack_help
    assert "`/mge forget [confirm]`" in slack_help and "`/mge ask &lt;question&gt;`" in slack_help


def test_slack_registers_the_member_commands_in_the_tables_order():
    assert list(member_commands().subcommands) == NAMES
