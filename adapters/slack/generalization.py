"""Generalization picks (docs/method.md §2) on Slack: presses on the buttons under "Which of these would be wise
to consider for …?".

The question comes from the interview as an ordinary ``ChoicePrompt`` (Block Kit buttons whose values
are ``general:<offer id>:<value id|done>``); ``bot.commands.buttons`` routes presses on those to
``record_press`` instead of to the interview, and ``buttons`` shows the result with ``show_pick``.
A member may pick several values, so a pick takes only the pressed button away (a note under the
message says what was picked, "None of these" becomes "Done"); "Done" takes all the buttons away.
The press is recorded with the workspace the press came from, so a press for another workspace's
question is refused. Anything but a fresh pick (done, a repeat, a refusal) is answered in the DM;
texts are escaped by the usual renderer.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.context import ButtonMessage
from adapters.slack.render import (
    BUTTON_LABEL_LIMIT,
    CHOICES_BLOCK_PREFIX,
    escape,
    mrkdwn,
    plain,
    without_buttons,
)
from bot.generalization.picks import PressResult, PressStatus
from core.generalization import done_label, parse_key

log = logging.getLogger("mge.slack.generalization")


def blocks_after_pick(blocks: list[dict[str, Any]], *, key: str, note: str) -> list[dict[str, Any]]:
    """The message without the pressed button, "None of these" relabelled "Done", and ``note`` (escaped)."""
    kept: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "actions" and str(block.get("block_id", "")).startswith(CHOICES_BLOCK_PREFIX):
            elements = []
            for element in block.get("elements") or []:
                value = str(element.get("value") or "")
                if value == key:
                    continue
                parsed = parse_key(value)
                if parsed is not None and parsed.done:
                    label = done_label(str((element.get("text") or {}).get("text") or ""))
                    element = {**element, "text": plain(label, BUTTON_LABEL_LIMIT)}
                elements.append(element)
            if elements:
                kept.append({**block, "elements": elements})
            continue
        kept.append(block)
    kept.append({"type": "context", "elements": [mrkdwn(note)]})
    return kept


def updated_blocks(blocks: list[dict[str, Any]], *, key: str, result: PressResult) -> list[dict[str, Any]] | None:
    """How the pressed message should look after ``result``; None to leave it as it is."""
    if result.status in (PressStatus.PICKED, PressStatus.ALREADY_PICKED):
        return blocks_after_pick(blocks, key=key, note=f"\u2713 *{escape(result.title or '')}*")
    if result.status is PressStatus.DONE:
        return without_buttons(blocks, f"\u2713 *{escape(_label_of(blocks, key))}*")
    if result.status is PressStatus.CLOSED:
        return without_buttons(blocks)
    return None


def _label_of(blocks: list[dict[str, Any]], key: str) -> str:
    """The label of the button with value ``key`` (the "None of these" / "Done" one, in its language)."""
    for block in blocks:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            if str(element.get("value") or "") == key:
                return str((element.get("text") or {}).get("text") or "")
    return ""


async def show_pick(client: AsyncWebClient, pressed: ButtonMessage, key: str, result: PressResult) -> None:
    """The pressed message as ``result`` leaves it (the reply text is sent by ``buttons``)."""
    blocks = updated_blocks(pressed.blocks, key=key, result=result) if pressed.blocks else None
    if blocks is not None:
        try:
            await client.chat_update(channel=pressed.channel, ts=pressed.ts, text=pressed.text, blocks=blocks)
        except SlackApiError as error:  # a deleted message or a lost permission must not block the reply
            log.warning("could not update the pressed message: %s", error.response.get("error"))
