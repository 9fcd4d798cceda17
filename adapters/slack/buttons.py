"""Button presses (``block_actions``) on our choice buttons → ``bot.commands.buttons`` → the answer in the DM.

After a press the pressed message keeps its text but loses its buttons, and a small note says what
was chosen: the member sees their answer was taken (a generalization pick, several per message, takes
only the pressed button away: ``generalization.show_pick``). What the press means is decided by its
key in ``bot.commands.buttons``: older messages keep their buttons, and a press on one of those is
answered by the interview as out of date (the same rule on every platform, and it survives restarts).
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
from adapters.slack.generalization import show_pick
from adapters.slack.legitimacy import message_args
from adapters.slack.polls import answer_poll_press
from adapters.slack.render import CHOICE_ACTION_PREFIX, escape, render
from bot.commands.buttons import STALE_BUTTON_TEXT, ButtonPress, ButtonReply, route_for
from core.messages import Person, Reply

CHOICE_ACTION = re.compile(rf"^{CHOICE_ACTION_PREFIX}\d+$")
#: Every action id but ours (Bolt matches a pattern with ``re.search``).
OTHER_ACTION = re.compile(rf"^(?!{CHOICE_ACTION_PREFIX}\d+$)")

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
        route = route_for(str(action.get("value") or ""))
        if route.in_channel:  # a private poll's button: the channel's message must stay as it is
            await answer_poll_press(client, deps, route, body, action)
            return
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
            route = route_for(key)
            if not route.several_per_message:
                label = unescape(str((action.get("text") or {}).get("text") or action.get("value") or ""))
                await retire(client, pressed, f"\u2713 *{escape(label)}*")
            press = ButtonPress(
                key=key,
                platform="slack",
                person=person,
                community=community,
                event_id=f"action-{action.get('action_ts') or body.get('trigger_id')}",
                now=deps.clock(),
                database=deps.database,
                interviews=deps.interviews,
            )
            await show_reply(client, pressed, key, await route.handler(press))

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


async def show_reply(client: AsyncWebClient, pressed: ButtonMessage, key: str, reply: ButtonReply) -> None:
    """A press's answer, in the DM the button was pressed in."""
    if reply.pick is not None:
        await show_pick(client, pressed, key, reply.pick)
    await deliver(client, pressed.channel, list(reply.messages))
    for message in reply.plain:
        await client.chat_postMessage(channel=pressed.channel, **message_args(message.text, message.buttons))
    if reply.private is not None:
        await client.chat_postMessage(channel=pressed.channel, **render(Reply(reply.private)))
