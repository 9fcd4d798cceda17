"""Slack adapter: DM interviews, choice buttons and the ``/mge`` command, on Bolt for Python.

One module per concern: ``dm`` (message.im events), ``buttons`` (block_actions), ``commands``
(/mge and its registry), ``member_commands`` (its member subcommands), ``render`` (Block Kit), ``app``
(building and running).
Nothing here decides anything about interviews; it translates.
"""

from adapters.slack.app import SlackConfig, build_slack_app, run_slack_http, run_slack_socket_mode

__all__ = ["SlackConfig", "build_slack_app", "run_slack_http", "run_slack_socket_mode"]
