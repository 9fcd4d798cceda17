"""A Spanish-speaking member's interview as they see it on Discord (the real discord.Client ↔ the fake
Discord), on Slack (the real Bolt app ↔ the fake Web API) and in `mge chat` (a real process): every text
the bot writes itself — consent, buttons, the said-back list's frame, the card's headings, thanks — is
Spanish, not only the model's questions."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from adapters.discord.legitimacy import DiscordDirectMessenger
from bot.values.checks import send_value_checks
from core.member_texts import english, texts_for
from core.messages import CommunityRef
from storage.models import ValueCheck, ValuesCardRecord
from tests.discord_support import fake_discord, guild, running_bot  # noqa: F401 (fixtures)
from tests.test_cli_chat import env, fake, mge  # noqa: F401 (env and fake are fixtures)
from tests.test_discord_adapter import DmThread, buttons, rows
from tests.test_discord_adapter import scenario_id as discord_scenario_id  # noqa: F401 (a fixture)
from tests.test_framing_language import ENGLISH_OF_SPANISH, HEARD_IN_SPANISH, SPANISH_CARD
from tests.test_member_texts import interviewed_before
from tests.test_slack_http import (
    actions,
    slack,  # noqa: F401 (a fixture)
)
from tests.test_slack_http import scenario_id as slack_scenario_id  # noqa: F401 (a fixture)
from tests.test_value_checks_platforms import merged_by_the_batch_job

pytestmark = pytest.mark.sqlite_only
ES = texts_for("es")


def turn(message: str, ready: bool = False) -> dict:
    return {"message": message, "ready_to_articulate": ready, "language": "es"}


INTERVIEW = (turn("¿En qué te fijas primero?"), turn("¿Me cuentas una vez?"), turn("Gracias.", ready=True))
ANSWERS = (
    "Creo que debería pensar en quién sale herido.",
    "Me fijo en cuándo la gente duda.",
    "Una vez hablé sobre un problema de seguridad y sirvió.",
)


@pytest.fixture
async def bot(fake_discord, guild, service, database, clock):  # noqa: F811
    async with running_bot(fake_discord, service, database, clock) as client:
        yield client


async def test_discord_a_spanish_dm_gets_a_spanish_interview(
    fake_discord, fake_openai, bot, guild, database, discord_scenario_id
):
    alice = fake_discord.add_user("alicia", global_name="Alicia")
    member = DmThread(fake_discord, alice)
    [consent] = await member.send("Hola, quiero participar")
    assert consent["content"] == ES.consent_notice
    assert [b["label"] for row in consent["components"] for b in row["components"]] == ["Acepto", "No, gracias"]
    assert buttons(consent) == ["mge:choice:accept", "mge:choice:decline"]  # the keys stay the machine's

    [opening] = await member.press(consent, "accept")
    assert opening["content"].startswith(ES.situation) and opening["content"].endswith(ES.opening_assistant)
    fake_openai.script(*INTERVIEW, HEARD_IN_SPANISH, SPANISH_CARD, ENGLISH_OF_SPANISH)
    for answer in ANSWERS[:-1]:
        await member.send(answer)
    [check] = await member.send(ANSWERS[-1])
    assert check["content"].startswith(ES.say_back_opening) and ES.say_back_question in check["content"]
    assert [b["label"] for row in check["components"] for b in row["components"]] == ["Eso es"]

    [proposal] = await member.press(check, "agree")
    assert proposal["content"] == ES.card_heading
    [embed] = proposal["embeds"]
    assert embed["title"] == SPANISH_CARD["title"] and f"**{ES.attention_heading}**" in embed["description"]
    labels = [b["label"] for row in proposal["components"] for b in row["components"]]
    assert labels == ["Confirmar", "Revisar", "Empezar de nuevo"]

    [done] = await member.press(proposal, "confirm")
    assert "Tu tarjeta de valores «Valentía con cuidado» está guardada." in done["content"]
    assert done["content"].endswith(ES.thanks)
    [card] = await rows(database, ValuesCardRecord)
    assert card.status == "confirmed" and card.title == ENGLISH_OF_SPANISH["title"]  # shared in English


async def test_slack_a_member_who_answers_the_notice_in_spanish_continues_in_spanish(
    slack, fake_openai, database, slack_scenario_id
):
    await slack.command("join")
    [consent] = await slack.next_posts()
    assert consent.params["text"].startswith(english().consent_notice[:40])  # nothing said yet: English
    await slack.dm("Sí, acepto")  # not a whole-message yes: asked again, now in Spanish
    [again] = await slack.next_posts()
    assert ES.pick_an_option in again.params["text"] and actions(again) == ["Acepto", "No, gracias"]

    await slack.press(again, "Acepto")
    [opening] = await slack.next_posts()
    assert ES.opening_assistant in opening.params["text"]
    [pressed] = await slack.slack.wait_for("chat.update")
    assert "\u2713 *Acepto*" in json.dumps(pressed.blocks(), ensure_ascii=False)

    fake_openai.script(*INTERVIEW, HEARD_IN_SPANISH, SPANISH_CARD, ENGLISH_OF_SPANISH)
    for answer in ANSWERS:
        await slack.dm(answer)
        [reply] = await slack.next_posts()
    assert reply.params["text"].startswith(ES.say_back_opening) and actions(reply) == ["Eso es"]
    await slack.dm("eso es")  # the label, typed
    [card] = await slack.next_posts()
    assert card.params["text"].startswith(ES.card_heading)
    assert f"*{ES.attention_heading}*" in json.dumps(card.blocks(), ensure_ascii=False)
    assert actions(card) == ["Confirmar", "Revisar", "Empezar de nuevo"]
    await slack.press(card, "Confirmar")
    [done] = await slack.next_posts()
    assert "está guardada" in done.params["text"] and ES.thanks in done.params["text"]


@pytest.mark.slow
def test_mge_chat_switches_to_spanish_when_the_member_writes_spanish(fake, env, tmp_path):  # noqa: F811
    fake.script(*INTERVIEW, HEARD_IN_SPANISH, SPANISH_CARD, ENGLISH_OF_SPANISH)
    lines = ["sí", *ANSWERS, "1", "Confirmar"]
    scenario = "A neighbour asks whether to lend money to a struggling relative. What should the assistant say?"
    result = mge("chat", "--scenario", scenario, "--user", "ana", env=env, input="\n".join(lines) + "\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("Do you agree to take part?") < out.index(ES.situation)  # English until "sí"
    assert ES.opening_assistant in out and ES.say_back_opening in out and "1. Eso es" in out
    assert ES.card_heading in out and ES.attention_heading in out and "1. Confirmar" in out
    assert "Tu tarjeta de valores «Valentía con cuidado» está guardada." in out


# --- the DMs after an interview: in the language of the member's last one ------------------------------


async def test_discord_a_value_check_after_a_merge_is_asked_in_the_members_language(
    fake_discord, guild, service, database, fake_openai, clock
):
    alice = fake_discord.add_user("alicia")
    ref = CommunityRef("discord", str(guild.id), guild.name)
    cid, _, _ = await merged_by_the_batch_job(database, fake_openai, ref, joining=str(alice.id), clock=clock)
    await interviewed_before(database, str(alice.id), language="es-MX", at=clock())
    async with running_bot(fake_discord, service, database, clock) as client:
        messengers = {"discord": DiscordDirectMessenger(client)}
        assert await send_value_checks(database, messengers, community_id=cid, now=clock()) == 1
        channel = fake_discord.dm_channel_id(alice)
        [message] = await fake_discord.wait_for_bot_messages(channel, 1)
        assert message["content"].startswith(ES.later_check_merged) and message["content"].endswith(
            ES.later_check_question
        )
        assert ES.attention_heading in message["content"]
        labels = [c["label"] for row in message["components"] for c in row["components"]]
        assert labels == ["Sí", "No, mantener el mío aparte"]
        async with database.session() as session:
            [check] = (await session.exec(select(ValueCheck))).all()
        await fake_discord.press_button(alice, message, f"mge:choice:valuecheck:{check.id}:same")
        [_, thanks] = await fake_discord.wait_for_bot_messages(channel, 2)
        assert thanks["content"] == ES.later_check_thanks_same
