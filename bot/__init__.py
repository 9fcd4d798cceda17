"""Moral Graph Bot: Moral Graph Elicitation for Discord and Slack communities. The use cases, the
runtime (bot.runtime) and the command line (bot.cli); `python -m bot` is the `mge` command."""

__version__ = "0.1.0"
