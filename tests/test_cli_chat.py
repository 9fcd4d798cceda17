"""`mge chat` and `mge cards list` as a user runs them: `mge chat` in real subprocesses (piped stdin, a
terminal, signals, kills), the fake LLM server. The commands that only read settings and the database
(`--help`, `cards list`, `db`, a settings error) run in the test's process (tests/cli_support.py), as
tests/test_operator_errors.py explains; one `mge --help` process checks the entry point itself."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli_support import mge_in_process
from tests.fakes.openai_server import FakeOpenAI

# Slow: `mge` processes, some killed mid-turn.
pytestmark = pytest.mark.slow

SCENARIO = "A neighbour asks whether to lend money to a struggling relative. What should the assistant say?"
CARD = {
    "title": "Generosity With Clear Eyes",
    "description": "The assistant helps the person give in ways that keep both people whole.",
    "policies": [
        "SIGNS that the relative is ready to use help well",
        "LIMITS the person can hold without resentment",
        "CONVERSATIONS where both people say what they expect",
        "MOMENTS when giving strengthens the relationship",
    ],
}


#: What the interviewer says back before writing the card.
HEARD = {"items": ["whether the relative has a plan", "what I can give without resentment", "talking openly after"]}


def turn(message: str, ready: bool = False) -> dict:
    return {"message": message, "ready_to_articulate": ready}


@pytest.fixture
def fake():
    with FakeOpenAI.in_thread() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeOpenAI) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MGE_", "OPENAI_", "DATABASE_URL"))}
    environment.update(
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="test",
        MGE_DATA_DIR=str(tmp_path / "data"),
        MGE_LLM_MAX_RETRIES="0",
        MGE_LLM_TIMEOUT_SECONDS="5",
        HOME=str(tmp_path),
    )
    return environment


def mge(*args: str, env: dict, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=input, env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_scripted_interview_through_piped_stdin_produces_a_valid_card_listed_by_community(fake, env, tmp_path):
    fake.script(turn("What do you notice first?"), turn("Tell me about a time."), turn("ok", ready=True), HEARD, CARD)
    lines = [
        "She should think about whether the money will really help.",
        "I notice whether my cousin has a plan.",
        "When I lent my brother money I watched whether we could still talk openly.",
        "1",  # "That's it": the said-back list is right
        "looks good",  # a typed yes confirms the card
    ]
    result = mge(
        *("chat", "--scenario", SCENARIO, "--yes", "--user", "ana", "--community", "club"),
        env=env,
        input="\n".join(lines) + "\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert SCENARIO in out and "What do you notice first?" in out and "Tell me about a time." in out
    assert "what I heard you pay attention to" in out and "• whether the relative has a plan" in out
    assert "1. That's it" in out and out.index("1. That's it") < out.index("Generosity With Clear Eyes")
    assert "Generosity With Clear Eyes" in out and "1. Confirm" in out and "is saved" in out
    assert "agree" not in out.lower().split("is saved")[0].split("good response")[0]  # --yes skipped the notice

    listed = mge_in_process("cards", "list", "--format", "json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [card] = json.loads(listed.stdout)
    assert card["title"] == CARD["title"] and card["policies"] == CARD["policies"]
    assert card["author"] == "ana" and card["scenario"] == SCENARIO and card["created"]
    assert {"id", "title", "description", "policies", "author", "scenario", "created"} <= card.keys()

    table = mge_in_process("cards", "list", "--format", "table", env=env, cwd=tmp_path)
    assert table.returncode == 0 and "Generosity" in table.stdout

    in_club = mge_in_process("cards", "list", "--format", "json", "--community", "club", env=env, cwd=tmp_path)
    assert [card["id"] for card in json.loads(in_club.stdout)] == [card["id"]]
    missing = mge_in_process("cards", "list", "--community", "nowhere", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "no community named 'nowhere'" in missing.stderr


def test_end_of_input_saves_and_the_same_user_resumes_with_settings_from_a_dotenv_file(fake, env, tmp_path):
    env = {k: v for k, v in env.items() if k != "OPENAI_BASE_URL"}
    (tmp_path / ".env").write_text(f"OPENAI_BASE_URL={fake.base_url}\nMGE_CHAT_MODEL=dotenv-model\n")
    fake.script(turn("What matters most to you here?"))
    first = mge(
        "chat", "--scenario", SCENARIO, "--yes", "--user", "ben", env=env, input="Trust matters.\n", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "What matters most to you here?" in first.stdout and fake.chat_requests[-1]["model"] == "dotenv-model"
    again = mge("chat", "--user", "ben", env=env, input="", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "What matters most to you here?"  # no consent or scenario asked again
    other = mge("chat", "--user", "cleo", env=env, input="", cwd=tmp_path)
    assert "Do you agree to take part?" in other.stdout and "1. I agree" in other.stdout


def test_choices_accept_numbers_and_labels(fake, env, tmp_path):
    result = mge("chat", "--user", "dev", env=env, input="I AGREE\n2\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Which question would you like to think about?" in result.stdout
    assert "how to make a bomb" in result.stdout.split("Here is the situation")[1]


def _read_until(process: subprocess.Popen, needle: str, timeout: float = 30) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {needle!r}; saw {seen!r}"
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536).decode()
            assert chunk, f"process ended before {needle!r}; saw {seen!r}"
            seen += chunk
    return seen


def test_killed_between_turns_resumes_with_no_lost_turn(fake, env, tmp_path):
    fake.script(turn("First question?"), turn("Second question?"))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--scenario", SCENARIO, "--yes", "--user", "eve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        _read_until(process, "good response should consider")
        process.stdin.write(b"My first answer.\n")
        process.stdin.flush()
        _read_until(process, "First question?")
        process.stdin.write(b"My second answer.\n")
        process.stdin.flush()
        _read_until(process, "Second question?")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
        process.stdin.close()

    fake.script(turn("Third question?"))
    resumed = mge("chat", "--user", "eve", env=env, input="My third answer.\n", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("Second question?") and "Third question?" in resumed.stdout
    members = [m["content"] for m in fake.chat_requests[-1]["messages"] if m["role"] == "user"]
    assert members == ["My first answer.", "My second answer.", "My third answer."]


def _answer_in_flight(process: subprocess.Popen, slow: FakeOpenAI) -> None:
    """Answer the opening question and wait until the model has been asked (and is slow to answer)."""
    _read_until(process, "good response should consider")
    process.stdin.write(b"An answer in flight.\n")
    process.stdin.flush()
    deadline = time.monotonic() + 20
    while not slow.chat_requests:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_killed_while_waiting_for_the_llm_answers_the_pending_turn_on_restart(env, tmp_path):
    from tests.fakes.openai_server import Delay

    with FakeOpenAI.in_thread() as slow:
        env = {**env, "OPENAI_BASE_URL": slow.base_url}
        slow.script(Delay(30, then=turn("never delivered")))
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat", "--scenario", SCENARIO, "--yes", "--user", "fay"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        try:
            _answer_in_flight(process, slow)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            process.stdout.close()
            process.stderr.close()
            process.stdin.close()
        slow.script(turn("Sorry for the wait. What happened then?"))
        resumed = mge("chat", "--user", "fay", env=env, input="", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "Sorry for the wait. What happened then?"


def _drain(fd: int) -> str:
    """What is left to read on a pseudo-terminal whose process has ended."""
    seen = b""
    while select.select([fd], [], [], 1)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: nothing more, the other side is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode(errors="replace")


#: Python, started as a shell starts a foreground job: SIGINT neither ignored nor blocked. A child inherits
#: both from the test's process, where another test's libraries may have changed them; then Ctrl-C never
#: reaches `mge chat` (seen on CI: the event loop idle at the prompt 20 s after SIGINT).
AS_A_FOREGROUND_PROCESS = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
]


def _read_to_end(fd: int) -> str:
    """Everything a pseudo-terminal's process writes until it closes its side (it has ended), or
    2 × AT_ONCE of silence."""
    seen = b""
    while select.select([fd], [], [], 2 * AT_ONCE)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode(errors="replace")


#: Seconds within which Ctrl-C ends `mge chat`: far below the slow model's 30 s, and above what exiting
#: takes on a loaded machine (tests in parallel, a shared CI host), where 2 s was once missed at 2.5 s.
AT_ONCE = 10


def _interrupt(process: subprocess.Popen) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGINT)  # what the terminal sends for Ctrl-C
    process.wait(timeout=2 * AT_ONCE)
    return time.monotonic() - started


def test_ctrl_c_at_the_prompt_and_while_the_model_answers_ends_at_once_and_resumes(env, tmp_path):
    import pty

    from tests.fakes.openai_server import Delay

    with FakeOpenAI.in_thread() as slow:
        env = {**env, "OPENAI_BASE_URL": slow.base_url, "TERM": "xterm", "PYTHONFAULTHANDLER": "1"}
        command = [*AS_A_FOREGROUND_PROCESS, "-m", "bot", "chat", "--scenario", SCENARIO, "--yes", "--user", "ola"]

        # At the prompt, on a terminal: nothing typed, the process waits on its input.
        controller, terminal = pty.openpty()
        process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=tmp_path)
        os.close(terminal)

        class Terminal:  # _read_until reads .stdout.fileno()
            stdout = os.fdopen(controller, "rb", buffering=0)

        try:
            screen = _read_until(Terminal, "you> ")
            # Keep reading the terminal while the process exits, as a terminal does: output nobody reads
            # fills the pty's few kilobytes and blocks the writer, which would look like a hang at Ctrl-C.
            with ThreadPoolExecutor(1) as reader:
                rest = reader.submit(_read_to_end, controller)
                try:
                    waited = _interrupt(process)
                except subprocess.TimeoutExpired:
                    # Still running: have faulthandler print every thread's stack, for the failure message.
                    process.send_signal(signal.SIGABRT)
                    process.wait(timeout=AT_ONCE)
                    raise AssertionError(f"no exit after Ctrl-C:\n{screen}{rest.result(timeout=AT_ONCE)}") from None
                screen += rest.result(timeout=2 * AT_ONCE)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            Terminal.stdout.close()
        assert waited < AT_ONCE and process.returncode == 130, screen
        assert "Interrupted; your interview is saved. Run `mge chat --user ola` to continue." in screen
        assert "Traceback" not in screen and "Error" not in screen

        # While the model answers, with piped input: the member's message is saved before the call.
        slow.script(Delay(30, then=turn("never delivered")))
        process = subprocess.Popen(
            command[: len(AS_A_FOREGROUND_PROCESS) + 3] + ["--user", "ola"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        try:
            _answer_in_flight(process, slow)
            waited = _interrupt(process)
            output = process.stdout.read().decode() + process.stderr.read().decode()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            process.stdout.close()
            process.stderr.close()
            process.stdin.close()
        assert waited < AT_ONCE and process.returncode == 130, output
        assert "interview is saved" in output and "Traceback" not in output and "Error" not in output

        slow.script(turn("What happened then?"))
        resumed = mge("chat", "--user", "ola", env=env, input="", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "What happened then?"  # the pending answer, no consent or scenario again
    members = [m["content"] for m in slow.chat_requests[-1]["messages"] if m["role"] == "user"]
    assert members == ["An answer in flight."]


def test_llm_errors_and_a_cut_off_response_are_told_in_words_and_the_resumed_chat_recovers(fake, env, tmp_path):
    from tests.fakes.openai_server import Body, Error

    fake.script(Error(500), Body('{"id": "chatcmpl-1", "choi'))
    first = mge(
        "chat", "--scenario", SCENARIO, "--yes", "--user", "lou", env=env, input="An answer.\nretry\n", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    unreachable, cut_off = first.stdout.split("Send 'retry' to try again.", 1)
    assert "couldn't reach the language model" in unreachable
    assert "gave me an answer I couldn't use" in cut_off and "nothing is lost" in cut_off

    fake.script(Body("<html>502 Bad Gateway</html>", content_type="text/html"), turn("Recovered question?"))
    resumed = mge("chat", "--user", "lou", env=env, input="retry\n", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    # The resume answers the pending turn and fails in words again; "retry" then gets the question.
    failed, recovered_there = resumed.stdout.split("Send 'retry' to try again.")
    assert "couldn't use" in failed and recovered_there.strip() == "Recovered question?"
    members = [m["content"] for m in fake.chat_requests[-1]["messages"] if m["role"] == "user"]
    assert members == ["An answer."]

    recovered = mge("chat", "--user", "lou", env=env, input="", cwd=tmp_path)
    assert recovered.returncode == 0 and recovered.stdout.strip() == "Recovered question?"
    for result in (first, resumed, recovered):
        assert "Traceback" not in result.stdout + result.stderr


def test_no_llm_configured_is_a_clear_error(env, tmp_path):
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    result = mge_in_process("chat", "--user", "hal", env=env, input="", cwd=tmp_path)
    assert result.returncode == 2
    assert "No language model is configured" in result.stderr and "OPENAI_BASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("OPENAI_BASE_URL", "localhost:11434", "must be an http(s) URL"),
        ("DATABASE_URL", "mysql://x/y", "sqlite:///… or postgresql://…"),
        ("MGE_LLM_TIMEOUT_SECONDS", "0", "between 1 and 600"),
        ("MGE_INTERVIEW_MAX_TURNS", "2", "MGE_INTERVIEW_MIN_TURNS"),
        ("MGE_LLM_MAX_RETRIES", "lots", "valid integer"),
    ],
)
def test_malformed_settings_are_explained(env, tmp_path, key, value, words):
    result = mge_in_process("chat", env={**env, key: value}, input="", cwd=tmp_path)
    assert result.returncode == 2
    assert "Invalid configuration" in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_has_help(env, tmp_path):
    entry_point = mge("--help", env=env, cwd=tmp_path)
    assert entry_point.returncode == 0 and "Usage" in entry_point.stdout
    for args in [("chat",), ("cards",), ("cards", "list"), ("db",), ("db", "upgrade"), ("db", "status")]:
        result = mge_in_process(*args, "--help", env=env, cwd=tmp_path)
        assert result.returncode == 0 and "Usage" in result.stdout, args


def test_db_upgrade_and_status(env, tmp_path):
    status = mge_in_process("db", "status", env=env, cwd=tmp_path)
    assert status.returncode == 1 and "revision: none" in status.stdout
    upgraded = mge_in_process("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0 and "was empty" in upgraded.stdout
    status = mge_in_process("db", "status", env=env, cwd=tmp_path)
    assert status.returncode == 0 and str(tmp_path / "data" / "mge.sqlite3") in status.stdout


def test_interactive_terminal_shows_a_prompt_and_draws_the_card(fake, env, tmp_path):
    import pty

    fake.script(turn("Q1"), turn("Q2"), turn("ok", ready=True), HEARD, CARD)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--scenario", SCENARIO, "--yes", "--user", "kim"],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env={**env, "COLUMNS": "120", "TERM": "xterm"},
        cwd=tmp_path,
    )
    os.close(terminal)

    class Terminal:  # _read_until reads .stdout.fileno()
        stdout = os.fdopen(controller, "rb", buffering=0)

    try:
        _read_until(Terminal, "you> ")
        for answer in ["a1", "a2", "a3"]:
            os.write(controller, answer.encode() + b"\n")
        assert "talking openly after" in _read_until(Terminal, "That's it")
        os.write(controller, b"That's it\n")
        screen = _read_until(Terminal, "Start over")
        assert "Generosity With Clear Eyes" in screen and "╭" in screen  # a rich panel, not plain lines
        os.write(controller, b"confirm\n")
        assert "is saved" in _read_until(Terminal, "is saved")
        os.write(controller, b"\x04")  # Ctrl-D ends the session
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        Terminal.stdout.close()
        process.stderr.close()
