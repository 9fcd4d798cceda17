"""The ``mge`` command line. Heavy modules are imported inside commands so ``mge --help`` and the
file-only commands (``mge graph build``) start fast."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mge",
    help="Moral Graph Bot: values interviews, transition-story polls and a moral graph for your community.",
    no_args_is_help=True,
    add_completion=False,
)


def main() -> None:
    app()
