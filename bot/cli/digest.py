"""``mge digest``: the weekly graph digest, previewed into files without posting anything.

The graph code and matplotlib are imported inside the command, so ``mge --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from bot.cli.support import COMMUNITY_HELP, fail

digest_app = typer.Typer(help="The weekly graph digest.", no_args_is_help=True, add_completion=False)


@digest_app.callback()
def _digest() -> None:
    """The weekly graph digest."""


@digest_app.command("preview")
def preview(
    out: Path = typer.Option(..., "--out", help="Folder to write digest.md and graph.png into (created if missing)."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP),
) -> None:
    """Write the digest the community would get now (OUT/digest.md) and its picture (OUT/graph.png).

    Nothing is posted and nothing is stored: the next real digest still compares with the last one posted."""
    if out.exists() and not out.is_dir():
        raise fail(f"{out} is a file; --out needs a folder")

    from bot.cli.support import choose_community, run_with_database
    from bot.digest.build import prepare_digest
    from core.clock import utcnow
    from core.digest import digest_markdown

    async def preview(database) -> Any:
        community_id = await choose_community(database, community)
        return await prepare_digest(database, community_id=community_id, now=utcnow())

    digest, _, png = run_with_database(preview)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "digest.md").write_text(digest_markdown(digest), encoding="utf-8")
        (out / "graph.png").write_bytes(png)
    except OSError as error:
        raise fail(f"cannot write {out}: {error.strerror or error}") from None
    contexts = len(digest.contexts())
    typer.echo(
        f"{digest.community} {digest.period}: {digest.values} values, {digest.edges} edges, {contexts} ranked contexts "
        f"→ {out / 'digest.md'}, {out / 'graph.png'}",
        err=True,
    )
