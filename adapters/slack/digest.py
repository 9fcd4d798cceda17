"""The weekly graph digest as a Slack message (Block Kit), and posting it with its picture.

Member text goes through ``escape`` (no ``<!here>``, ``<@U…>`` or links) in ``mrkdwn`` fields with
``verbatim``; headers are ``plain_text``. A message carries at most 50 blocks: contexts that do not
fit are counted in a last block. The picture is uploaded with ``files_upload_v2`` to the same channel.
"""

from __future__ import annotations

from typing import Any

from adapters.slack.render import HEADER_LIMIT, SECTION_LIMIT, Blocks, _message, escape, mrkdwn, plain
from core.digest import ContextDigest, Digest, change_lines, participation_line

MAX_BLOCKS = 50
#: Slack documents no hard total for blocks, but very long messages get cut or refused; a digest this
#: long is unreadable anyway. Contexts past this many characters are counted, not shown.
MAX_TOTAL_TEXT = 12_000
MAX_POLICIES = 2
FILENAME = "moral-graph.png"


def _cut(text: str, limit: int) -> str:
    """Shorten already-escaped text without cutting an ``&amp;``-style entity in half."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", len(cut) - 6)
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"


def esc(text: str) -> str:
    return escape(" ".join(text.split()))


def _context_text(scenario: str | None, ctx: ContextDigest) -> str:
    lines = [f"*{_cut(esc(ctx.context), 300)}*"]
    if scenario:
        lines.append(f"_{_cut(esc(scenario), 200)}_")
    for top in ctx.top:
        line = f"{top.rank}. *{_cut(esc(top.title), 200)}* · {top.score:.3f}"
        if top.beaten:
            line += f"\n      ↳ {_cut(top.how_it_won_escaped(esc), 400)}"
        line += "".join(f"\n      ↻ {_cut(cycle, 400)}" for cycle in top.cycle_lines(esc))
        lines.append(line)
        lines += [f"      • {_cut(esc(p), 200)}" for p in top.policies[:MAX_POLICIES]]
    return _cut("\n".join(lines), SECTION_LIMIT)


def digest_blocks(digest: Digest) -> dict[str, Any]:
    """``chat.postMessage`` arguments (without the channel) for the digest."""
    blocks: Blocks = [
        {"type": "header", "text": plain(f"Moral graph digest — {digest.community} — {digest.period}", HEADER_LIMIT)},
        {"type": "context", "elements": [mrkdwn(escape(participation_line(digest.participation)))]},
        {
            "type": "section",
            "text": mrkdwn(
                _cut(
                    "*What changed*\n" + "\n".join(f"• {line}" for line in change_lines(digest.changes, esc)),
                    SECTION_LIMIT,
                )
            ),
        },
        {"type": "divider"},
    ]
    if not digest.scenarios:
        blocks.append({"type": "section", "text": mrkdwn("No context has a ranking yet: polls need a few more votes.")})
    contexts = digest.contexts()
    total = 0
    for n, (scenario, ctx) in enumerate(contexts):
        left = len(contexts) - n
        text = _context_text(scenario, ctx)
        total += len(text)
        if len(blocks) + (2 if left > 1 else 1) > MAX_BLOCKS or total > MAX_TOTAL_TEXT:
            blocks.append({"type": "section", "text": mrkdwn(f"…and {left} more contexts: see the full digest")})
            break
        blocks.append({"type": "section", "text": mrkdwn(text)})
    fallback = f"Moral graph digest — {esc(digest.community)} — {digest.period}"
    return _message(fallback, blocks)


async def post_digest(client: Any, channel: str, digest: Digest, png_bytes: bytes | None) -> dict[str, Any]:
    """Post the digest to ``channel`` (an id) with an ``AsyncWebClient``, then upload the picture to
    the same channel. Returns ``{"ts": <message ts>, "file_id": <uploaded file id or None>}``."""
    posted = await client.chat_postMessage(channel=channel, **digest_blocks(digest))
    file_id = None
    if png_bytes:
        uploaded = await client.files_upload_v2(
            channel=channel,
            file=png_bytes,
            filename=FILENAME,
            title=f"Moral graph — {digest.period}",
            alt_txt="The moral graph: values as circles, arrows toward the value voted wiser",
        )
        file_id = (uploaded.get("file") or {}).get("id")
    return {"ts": posted.get("ts"), "file_id": file_id}


class SlackDigestPublisher:
    """``DigestPublisher`` for Slack, with an ``AsyncWebClient``."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def publish_digest(self, *, channel_id: str, digest: Digest, png: bytes) -> str:
        return str((await post_digest(self._client, channel_id, digest, png))["ts"])
