"""Button presses (``block_actions``) on our choice buttons → the choice's key as a member message.

After a press the pressed message keeps its text but loses its buttons, and a small note says what
was chosen: the member sees their answer was taken. Older messages keep their buttons; a press on one
of those is sent with ``is_choice`` and the interview service answers that the button is out of date
rather than reading it as an answer (the same rule on every platform, and it survives restarts).
Keys starting ``general:`` (values picked after a confirmed card, several per message) and the
legitimacy keys are not interview answers: ``generalization`` and ``legitimacy`` answer them.
Any other action (a button from an older version of the bot, say) is answered privately: it is no
longer in use. Without that, Bolt answers 404 and logs a warning, and the member's press goes nowhere.

Slack hands the pressed message back with ``&``, ``<``, ``>`` escaped inside ``plain_text`` fields too
(slackapi/bolt-python#513), so those are unescaped before the blocks are sent back in ``chat.update``;
otherwise a button label "A & B" would come back as "A &amp; B".
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.context import ButtonMessage, SlackDeps, community_of, deliver, retire, run_member_work
from adapters.slack.render import CHOICE_ACTION_PREFIX, escape
from core.generalization import is_generalization_key
from core.legitimacy import is_legitimacy_key
from core.messages import InboundMessage, Person

CHOICE_ACTION = re.compile(rf"^{CHOICE_ACTION_PREFIX}\d+$")
#: Every action id but ours (Bolt matches a pattern with ``re.search``).
OTHER_ACTION = re.compile(rf"^(?!{CHOICE_ACTION_PREFIX}\d+$)")
STALE_BUTTON_TEXT = "This button is no longer in use. Try `/mge help` to see what I can do now."

log = logging.getLogger("mge.slack.buttons")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain_text_unescaped(node: Any) -> Any:
    """The payload's blocks with ``plain_text`` texts as we sent them (mrkdwn stays escaped, as sent)."""
    if isinstance(node, list):
        return [plain_text_unescaped(item) for item in node]
    if isinstance(node, dict):
        if node.get("type") == "plain_text" and isinstance(node.get("text"), str):
            return {**node, "text": unescape(node["text"])}
        return {key: plain_text_unescaped(value) for key, value in node.items()}
    return node


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.action(CHOICE_ACTION)
    async def on_choice(ack, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
        original = body.get("message") or {}
        ts = str((body.get("container") or {}).get("message_ts") or original.get("ts") or "")
        user = body.get("user") or {}
        community = community_of(body)
        person = Person(str(user.get("id", "")), str(user.get("username") or user.get("name") or ""))
        pressed = ButtonMessage(
            channel, ts, str(original.get("text", "")), plain_text_unescaped(list(original.get("blocks") or []))
        )
        if not channel or not person.platform_user_id:
            return

        async def work() -> None:
            key = str(action.get("value") or "")
            if is_generalization_key(key):
                # Values picked after a confirmed card (MGE.md §2): several per message, so only the
                # pressed button goes; the press is checked against the workspace it came from.
                from adapters.slack.generalization import answer_generalization_press

                await answer_generalization_press(client, deps.database, pressed=pressed, key=key, community=community,
                                                  platform_user_id=person.platform_user_id, now=deps.clock())
                return
            label = unescape(str((action.get("text") or {}).get("text") or action.get("value") or ""))
            await retire(client, pressed, f"You chose: *{escape(label)}*")
            if is_legitimacy_key(key):
                # Not an interview answer: the fair-position question or the survey (MGE.md §8).
                from adapters.slack.legitimacy import answer_legitimacy_press

                await answer_legitimacy_press(client, deps.database, channel=channel, key=key,
                                              platform_user_id=person.platform_user_id, now=deps.clock())
                return
            event_id = f"action-{action.get('action_ts') or body.get('trigger_id')}"
            # is_choice: the service refuses a key its current question does not offer.
            message = InboundMessage(
                community=community, author=person, text=str(action.get("value") or ""), event_id=event_id,
                is_choice=True,
            )
            outbound = await deps.interviews.handle(message)
            await deliver(client, channel, outbound)

        await run_member_work(client, deps, channel, work)

    @app.action(OTHER_ACTION)
    async def on_unknown(ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        actions = body.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        log.info("unknown action %.100r from %s", action.get("action_id") or body.get("callback_id"), user)
        if not channel or not user:
            return
        try:
            await client.chat_postEphemeral(channel=channel, user=user, text=STALE_BUTTON_TEXT)
        except SlackApiError as error:
            log.warning("could not answer an unknown action: %s", error.response.get("error"))
