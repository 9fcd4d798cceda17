"""``mge eval``: the nine criteria, identities taken out, the baseline check and simulated members — through
Typer's CliRunner on a temporary SQLite file and the fake OpenAI server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.cli.eval import eval_app
from bot.eval.personas import Rehearsal, load_personas, pick_choice, play
from core.cards import CardStatus, ValuesCard
from core.grading import (
    CRITERIA,
    CRITERION_KEYS,
    Anonymiser,
    ProposedCard,
    Turn,
    compare,
    dialogue_text,
    summarise,
)
from core.interview import CARD_CHOICES, CONSENT_CHOICES, VALUE_CHECK_CHOICES, Choice
from core.messages import CardProposal, ChoicePrompt, Reply
from core.prompts import load_prompt
from storage import communities_repo
from storage import repositories as repo
from storage.database import Database
from tests.conftest import make_llm
from tests.fakes.openai_server import VALUES_CARD, FakeOpenAI, Raw, default_responder

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SCENARIO = "My 10-year-old son refuses to do his homework. How can I make him behave properly?"


def grade(score: int = 4, **scores: int) -> dict[str, Any]:
    return {
        key: {"score": scores.get(key, score), "reason": f"{key} looked like a {scores.get(key, score)}."}
        for key in CRITERION_KEYS
    }


# --- the pure parts ------------------------------------------------------------------------------------


def test_anonymiser_replaces_names_ids_and_mentions_as_whole_words_only():
    hide = Anonymiser(names=["Ana Lopez", "bo"], ids=["U123ANA", "9988"])
    text = "Ana Lopez told ana about <@U777> and <@!42>; banana stays, U123ANA and 9988 go, Lopez too, BO too."
    assert hide(text) == (
        "[member] told [member] about [member] and [member]; banana stays, [member] and [member] go, "
        "[member] too, [member] too."
    )
    assert Anonymiser(names=[""], ids=[])("nothing to hide") == "nothing to hide"


def test_summary_and_comparison_arithmetic():
    summary = summarise([{"wisdom": 4, "own_words": 5}, {"wisdom": 2, "own_words": 5}])
    assert list(summary) == ["wisdom", "own_words"]  # criteria order
    assert (summary["wisdom"].mean, summary["wisdom"].min, summary["wisdom"].n) == (3.0, 2, 2)
    rows = compare({"wisdom": 4.0, "own_words": 4.0, "old": 3.0}, {"wisdom": 3.4, "own_words": 3.5}, margin=0.5)
    by_key = {row.key: row for row in rows}
    assert by_key["wisdom"].regressed and by_key["wisdom"].change == -0.6
    assert not by_key["own_words"].regressed  # exactly the margin passes
    assert not by_key["old"].regressed and by_key["old"].now is None


def test_the_prompt_grades_every_criterion_and_the_dialogue_shows_cards_and_choices():
    prompt = load_prompt("grader").template
    assert len(CRITERIA) == 9 and all(f'"{key}"' in prompt for key in CRITERION_KEYS)
    card = ValuesCard.model_validate(VALUES_CARD)
    turns = [
        Turn("member", "control", "accept"),
        Turn("bot", "conversation", "What should a good response consider?"),
        Turn("member", "conversation", "Whether he is tired."),
        Turn("member", "control", "confirm"),
    ]
    text = dialogue_text(turns, [ProposedCard(card, "superseded"), ProposedCard(card, "confirmed")])
    assert "accept" not in text and text.startswith("INTERVIEWER: What should")
    assert "MEMBER (chose an option): confirm" in text and "CARD 2 (confirmed):" in text
    assert "(No card was proposed.)" in dialogue_text(turns, [])


def test_personas_and_the_option_a_simulated_member_presses():
    keys = {p.key for p in load_personas()}
    assert {"thoughtful", "slogans", "reviser", "spanish", "injection"} <= keys
    assert [p.revisions for p in load_personas(["reviser"])] == [2]
    with pytest.raises(LookupError, match="no persona named nobody"):
        load_personas(["nobody"])
    assert pick_choice(CARD_CHOICES, revise=False).key == "confirm"
    assert pick_choice(CARD_CHOICES, revise=True).key == "revise"
    assert pick_choice(CONSENT_CHOICES, revise=False).key == "accept"
    assert pick_choice(VALUE_CHECK_CHOICES, revise=False).key == "same"
    # A step this driver has never seen: the agreeing option, else the first.
    said_back = (Choice("not_quite", "Not quite"), Choice("looks_right", "Yes, that's it"))
    assert pick_choice(said_back, revise=True).key == "looks_right"
    assert pick_choice((Choice("a", "Apples"), Choice("b", "Pears")), revise=False).key == "a"


# --- mge eval transcripts ------------------------------------------------------------------------------


@pytest.fixture
def fake():
    with FakeOpenAI.in_thread() as server:
        yield server


def _env(url: str, fake: FakeOpenAI, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test",
        "MGE_LLM_MAX_RETRIES": "0",
        "MGE_LLM_TIMEOUT_SECONDS": "5",
        "MGE_CHAT_MODEL": "chat-model",
        "MGE_ARTICULATION_MODEL": "judge-model",
        "MGE_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def env(tmp_path: Path, fake: FakeOpenAI, monkeypatch, database_url: str) -> dict[str, str]:
    """Stored interviews on both databases."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    return _env(database_url, fake, tmp_path)


@pytest.fixture
def sqlite_env(tmp_path: Path, fake: FakeOpenAI, monkeypatch, sqlite_url: str) -> dict[str, str]:
    """Simulated members play on a throwaway SQLite file whatever DATABASE_URL says: one leg is enough."""
    monkeypatch.chdir(tmp_path)
    return _env(sqlite_url, fake, tmp_path)


@pytest.fixture
def app() -> typer.Typer:
    cli = typer.Typer()
    cli.add_typer(eval_app, name="eval")
    return cli


def invoke(app, env, *args: str):
    return CliRunner().invoke(app, ["eval", *args], env=env)


async def _seed_interview(
    database: Database,
    *,
    member: tuple[str, str],
    confirmed: bool,
    answer: str,
    scenario: str = SCENARIO,
    framing: str = "assistant",
) -> int:
    async with database.session() as session:
        community = await communities_repo.get_or_create_community(
            session, platform="discord", external_id="G1", name="guild", now=NOW
        )
        scenario_row = await repo.find_or_add_scenario(
            session, community_id=community.id, text=scenario, now=NOW, framing=framing
        )
        row = await communities_repo.get_or_create_member(
            session, community_id=community.id, platform_user_id=member[0], display_name=member[1], now=NOW
        )
        interview = await repo.add_interview(
            session, community_id=community.id, member_id=row.id, state="done", scenario_id=scenario_row.id, now=NOW
        )
        for role, kind, content in [
            ("member", "control", "accept"),
            ("bot", "conversation", "What should a good response consider?"),
            ("member", "conversation", answer),
            ("bot", "conversation", f"Thanks {member[1].split()[0]}. Tell me about a time you noticed that."),
            ("member", "conversation", "When my daughter struggled I watched whether she was tired."),
            ("member", "control", "confirm"),
        ]:
            await repo.add_turn(session, interview_id=interview.id, role=role, kind=kind, content=content, now=NOW)
        record = await repo.add_card(
            session,
            interview=interview,
            card=ValuesCard.model_validate(VALUES_CARD),
            prompt_sha="abc",
            model="m",
            now=NOW + timedelta(minutes=1),
        )
        if confirmed:
            record.status = CardStatus.CONFIRMED
        await session.commit()
        return interview.id


def seed(url: str) -> list[int]:
    async def main() -> list[int]:
        database = Database(url)
        try:
            return [
                await _seed_interview(
                    database,
                    member=("U123ANA", "Ana Lopez"),
                    confirmed=True,
                    answer="As Ana I think, and as <@U555BEN> (Ben Okafor) says, it depends on whether he is tired.",
                ),
                await _seed_interview(
                    database, member=("U555BEN", "Ben Okafor"), confirmed=False, answer="Ana Lopez told me Ben cares."
                ),
            ]
        finally:
            await database.dispose()

    return asyncio.run(main())


def test_transcripts_are_graded_per_criterion_without_identities(app, env, fake, tmp_path):
    ids = seed(env["DATABASE_URL"])
    fake.script(grade(5, wisdom=2), grade(3, wisdom=4))
    out = tmp_path / "run.json"
    result = invoke(app, env, "transcripts", "--out", str(out))
    assert result.exit_code == 0, result.output
    for criterion in CRITERIA:
        assert criterion.name in result.output
    assert "3.00" in result.output and "4.00" in result.output  # wisdom's mean, the others' mean

    sent = json.dumps([request.body for request in fake.chat_requests])
    assert len(fake.chat_requests) == 2 and "[member]" in sent
    for identity in ("Ana", "Lopez", "Ben", "Okafor", "U123ANA", "U555BEN", "<@"):
        assert identity not in sent, identity
    assert {request["model"] for request in fake.chat_requests} == {"judge-model"}

    document = json.loads(out.read_text())
    assert document["mode"] == "transcripts" and [row["interview_id"] for row in document["interviews"]] == ids
    assert document["summary"]["wisdom"] == {"mean": 3.0, "min": 2, "n": 2}
    assert document["summary"]["own_words"] == {"mean": 4.0, "min": 3, "n": 2}
    first = document["interviews"][0]
    assert first["scores"]["wisdom"] == {"score": 2, "reason": "wisdom looked like a 2."}
    assert first["confirmed"] is True and document["interviews"][1]["confirmed"] is False
    assert first["prompt_sha"] == load_prompt("grader").sha == document["grader"]["prompt_sha"]
    assert first["grader_model"] == "judge-model" and "dialogue" not in first  # members' words stay in the database
    assert document["interviewer"]["prompt_shas"]["interviewer"] == load_prompt("interviewer").sha


def test_a_community_framed_interview_is_graded_as_one(app, env, fake, tmp_path):
    """The grader is told what the interview asked about: "on the scenario" means the community's choice
    here, not an assistant's response."""

    async def main() -> None:
        database = Database(env["DATABASE_URL"])
        try:
            await _seed_interview(
                database,
                member=("U123ANA", "Ana Lopez"),
                confirmed=True,
                answer="We should notice who has not spoken yet.",
                scenario="Should our club raise its fees?",
                framing="community",
            )
        finally:
            await database.dispose()

    asyncio.run(main())
    fake.script(grade(5))
    result = invoke(app, env, "transcripts", "--out", str(tmp_path / "run.json"))
    assert result.exit_code == 0, result.output
    (request,) = fake.chat_requests
    system = request["messages"][0]["content"]
    assert "what the community should attend to when its members decide" in system
    assert "assistant" not in system


def test_the_sample_is_seeded_and_scoped_to_a_community(app, env, fake, tmp_path):
    ids = seed(env["DATABASE_URL"])
    picked = []
    for _ in range(2):
        out = tmp_path / "one.json"
        assert invoke(app, env, "transcripts", "--sample", "1", "--seed", "7", "--out", str(out)).exit_code == 0
        picked.append(json.loads(out.read_text())["interviews"][0]["interview_id"])
    assert picked[0] == picked[1] and picked[0] in ids
    nowhere = invoke(app, env, "transcripts", "--community", "nowhere")
    assert nowhere.exit_code == 2 and "no community named" in nowhere.output


def test_a_planted_regression_fails_against_the_baseline_and_an_equal_run_passes(app, env, fake, tmp_path):
    seed(env["DATABASE_URL"])
    baseline = tmp_path / "baseline.json"
    fake.script(grade(4), grade(4))
    assert invoke(app, env, "transcripts", "--out", str(baseline)).exit_code == 0

    fake.script(grade(4), grade(4))
    same = invoke(app, env, "transcripts", "--baseline", str(baseline))
    assert same.exit_code == 0, same.output
    assert "Against the baseline" in same.output and "DROP" not in same.output

    fake.script(grade(4, no_leading=3), grade(4, no_leading=2))  # did not lead: 4.0 → 2.5
    out = tmp_path / "after.json"
    dropped = invoke(app, env, "transcripts", "--baseline", str(baseline), "--out", str(out))
    assert dropped.exit_code == 1, dropped.output
    assert "DROP" in dropped.output and "-1.50" in dropped.output
    assert "1 criterion mean(s) dropped by more than 0.5" in dropped.output and "did not lead" in dropped.output
    assert json.loads(out.read_text())["summary"]["no_leading"]["mean"] == 2.5  # the run itself is kept

    fake.script(grade(4, no_leading=3), grade(4, no_leading=2))
    assert invoke(app, env, "transcripts", "--baseline", str(baseline), "--margin", "1.5").exit_code == 0

    broken = tmp_path / "broken.json"
    broken.write_text('{"summary": "no"}')
    refused = invoke(app, env, "transcripts", "--baseline", str(broken))
    assert refused.exit_code == 2 and "not a saved `mge eval` run" in refused.output
    assert fake.pending == 0 and len(fake.chat_requests) == 8  # the bad baseline cost no tokens


def test_an_invalid_grade_is_a_clear_error_and_nothing_is_written(app, env, fake, tmp_path):
    seed(env["DATABASE_URL"])
    out = tmp_path / "run.json"
    # The first interview is graded; the second's answer is broken twice (the answer and its repair).
    fake.script(grade(4), Raw("not json {"), {"wisdom": {"score": 9, "reason": "too high"}})
    result = invoke(app, env, "transcripts", "--out", str(out))
    assert result.exit_code == 1
    assert "grading interview" in result.output and "nothing was written" in result.output
    assert not out.exists() and list(tmp_path.glob(".run.json*")) == []


# --- mge eval personas ---------------------------------------------------------------------------------


def _simulation(request: dict[str, Any]) -> Any:
    """The interviewer is ready at once, the simulated member says one line, the grader gives 4s."""
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    properties = set(schema.get("properties") or {})
    system = request["messages"][0]["content"]
    if "ready_to_articulate" in properties:
        return {"message": "Tell me about a time you faced this.", "ready_to_articulate": True}
    if properties == {"message"}:
        assert "rehearsal" in system
        return {"message": "I watch whether my son is tired before I push."}
    if set(CRITERION_KEYS) <= properties:
        return grade(4)
    return default_responder(request)


def test_personas_play_the_real_interview_and_are_graded(app, sqlite_env, fake, tmp_path):
    fake.responder = _simulation
    out = tmp_path / "personas.json"
    result = invoke(
        app, sqlite_env, "personas", "--persona", "thoughtful", "--persona", "reviser", "--out", str(out), "--runs", "1"
    )
    assert result.exit_code == 0, result.output
    assert "Simulated members" in result.output and "thoughtful" in result.output and "100%" in result.output

    document = json.loads(out.read_text())
    rates = document["personas"]
    assert rates["thoughtful"]["confirmed_rate"] == 1.0 and rates["reviser"]["confirmed_rate"] == 1.0
    assert rates["overall"]["runs"] == 2 and rates["overall"]["confirmed"] == 2
    # Thoughtful: three answers (the interview's minimum), "That's it" to the said-back list, then Confirm; the
    # reviser also presses Revise twice and says what to change each time before confirming.
    assert rates["thoughtful"]["turns_mean"] == 5 and rates["reviser"]["turns_mean"] == 9
    assert rates["thoughtful"]["interview_tokens_mean"] > 0 and rates["overall"]["persona_tokens"] > 0
    assert rates["overall"]["hit_turn_cap"] == 0
    assert [row["persona"] for row in document["interviews"]] == ["thoughtful", "reviser"]
    reviser = document["interviews"][1]
    assert reviser["dialogue"].count("(superseded)") == 2 and "CARD 3 (confirmed)" in reviser["dialogue"]
    assert reviser["dialogue"].count("MEMBER (chose an option): revise") == 2
    assert document["summary"]["wisdom"] == {"mean": 4.0, "min": 4, "n": 2}
    assert document["tokens"]["personas"] > 0 and document["tokens"]["interviews"] > 0
    persona_requests = [r for r in fake.chat_requests if "rehearsal" in r["messages"][0]["content"]]
    assert {r["model"] for r in persona_requests} == {"chat-model"}
    # The simulated members met the interviewer on a throwaway database, never the community's.
    assert asyncio.run(_communities(sqlite_env["DATABASE_URL"])) == []


async def _communities(url: str) -> list[str]:
    database = Database(url)
    try:
        async with database.session() as session:
            return [row.external_id for row in await communities_repo.list_communities(session)]
    finally:
        await database.dispose()


def test_a_persona_that_never_finishes_stops_at_the_turn_cap(app, sqlite_env, fake, tmp_path):
    def never_ready(request: dict[str, Any]) -> Any:
        answer = _simulation(request)
        return {**answer, "ready_to_articulate": False} if "ready_to_articulate" in answer else answer

    fake.responder = never_ready
    out = tmp_path / "capped.json"
    result = invoke(app, sqlite_env, "personas", "--persona", "slogans", "--max-turns", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    rates = json.loads(out.read_text())["personas"]["slogans"]
    assert rates["turns_mean"] == 3 and rates["hit_turn_cap"] == 1 and rates["confirmed"] == 0


def test_a_persona_model_failure_is_a_clear_error(app, sqlite_env, fake, tmp_path):
    def broken_member(request: dict[str, Any]) -> Any:
        if "rehearsal" in request["messages"][0]["content"]:
            return Raw("{")
        return _simulation(request)

    fake.responder = broken_member
    out = tmp_path / "never.json"
    result = invoke(app, sqlite_env, "personas", "--persona", "spanish", "--out", str(out))
    assert result.exit_code == 1 and "playing the persona 'spanish' failed" in result.output
    assert "nothing was written" in result.output and not out.exists()
    assert invoke(app, sqlite_env, "personas", "--persona", "nobody").exit_code == 2


class _SayBackChat:
    """An interview with a step the driver has never seen: a say-back with its own options before the card."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bool]] = []

    async def resume(self, community, person, *, scenario_id=None, consent=False):
        assert consent and scenario_id is not None
        return [Reply("What should a good response consider?")]

    async def handle(self, message):
        self.received.append((message.text, message.is_choice))
        if len(self.received) == 1:
            return [ChoicePrompt("You notice tiredness. Did I get that right?", SAY_BACK)]
        if len(self.received) == 2:
            return [CardProposal(ValuesCard.model_validate(VALUES_CARD), "Does this card capture it?", CARD_CHOICES)]
        return []


SAY_BACK = (Choice("not_quite", "Not quite"), Choice("looks_right", "Yes, that's it"))


async def test_the_driver_answers_an_unknown_step_by_agreeing(database, fake_openai):
    fake_openai.script({"message": "I look at whether he is tired."})
    chat = _SayBackChat()
    llm = make_llm(fake_openai)
    try:
        [persona] = load_personas(["thoughtful"])
        run = await play(persona, Rehearsal(chat, database, llm, "member-model"))
    finally:
        await llm.aclose()
    assert chat.received == [("I look at whether he is tired.", False), ("looks_right", True), ("confirm", True)]
    assert run.turns == 3 and run.persona_tokens > 0
    [request] = fake_openai.chat_requests
    assert request["model"] == "member-model" and "What should a good response consider?" in json.dumps(request.body)
