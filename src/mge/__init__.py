"""Moral Graph Bot: Moral Graph Elicitation for Discord and Slack communities."""
__version__ = "0.1.0"
