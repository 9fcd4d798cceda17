"""A run of ``mge eval`` as a JSON document: what was graded, by which model and prompt, every score with its
reason, and the summary a later run is compared with (``--baseline``). Written whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.eval.grade import EvalError, GradedDialogue
from core.grading import CRITERIA, PROMPT, SCALE, summarise
from core.prompts import load_prompt

FORMAT = "mge-eval/1"
#: The interview's own prompts, named in a run so two runs' documents show what changed between them.
INTERVIEW_PROMPTS = ("interviewer", "articulator", "revision")


def run_document(
    *,
    mode: str,
    graded: Sequence[GradedDialogue],
    grader_model: str,
    interview_models: tuple[str, str],
    now: datetime,
    extra: dict[str, Any] | None = None,
    tokens: dict[str, int] | None = None,
    personas: Sequence[str | None] | None = None,
    keep_dialogues: bool = False,
) -> dict[str, Any]:
    """The run as JSON-ready data. ``interview_models``: the chat and articulation models; ``extra`` adds
    sections, ``tokens`` other token counts; ``personas`` names who played each graded interview (persona
    mode); ``keep_dialogues`` keeps the graded texts (simulated members only: a stored interview's words stay
    in the database)."""
    interviews = []
    for n, item in enumerate(graded):
        row: dict[str, Any] = {
            "interview_id": item.dialogue.interview_id,
            "confirmed": item.dialogue.confirmed,
            "member_turns": item.dialogue.member_turns,
            "interview_tokens": item.dialogue.interview_tokens,
            "grader_model": item.model,
            "prompt_sha": item.prompt_sha,
            "grader_tokens": item.usage.total,
            "scores": {key: grade.model_dump() for key, grade in item.grades.items()},
        }
        if personas is not None:
            row = {"persona": personas[n], **row}
        if keep_dialogues:
            row["dialogue"] = item.dialogue.text
        interviews.append(row)
    summary = summarise({key: grade.score for key, grade in item.grades.items()} for item in graded)
    return {
        "format": FORMAT,
        "mode": mode,
        "created_at": now.isoformat(),
        "scale": {"min": SCALE[0], "max": SCALE[-1], "meaning": "5 = fully met, 3 = partly, 1 = not at all"},
        "criteria": [asdict(c) for c in CRITERIA],
        "grader": {"model": grader_model, "prompt": PROMPT, "prompt_sha": load_prompt(PROMPT).sha},
        "interviewer": {
            "chat_model": interview_models[0],
            "articulation_model": interview_models[1],
            "prompt_shas": {name: load_prompt(name).sha for name in INTERVIEW_PROMPTS},
        },
        **(extra or {}),
        "summary": {key: asdict(s) for key, s in summary.items()},
        "interviews": interviews,
        "tokens": {"grader": sum(item.usage.total for item in graded), **(tokens or {})},
    }


def read_baseline(path: Path) -> dict[str, Any]:
    """A saved run, checked enough to compare with: a JSON object with a ``summary`` of criterion means."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvalError(f"cannot read the baseline {path}: {error}") from None
    summary = document.get("summary") if isinstance(document, dict) else None
    if not isinstance(summary, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("mean"), int | float) for v in summary.values()
    ):
        raise EvalError(f"{path} is not a saved `mge eval` run (no summary of criterion means)")
    return document


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Write the run to ``path`` through a temporary file beside it, so the file is whole or not there."""
    path = path.expanduser()
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
