"""The ideology screen of docs/method.md §8, the pure parts: what the model is asked about a member's opening
answer, what it must answer, and the statistics reported beside the survey.

A metric, never a gate: the rating is made afterwards, in a batch job, and nothing about the interview
depends on it. The paper found no correlation between how ideological participants' opening messages
were and whether they felt their card expressed what they care about; the stats report the same
correlation for a community (Pearson's r, with n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.llm import ChatMessage
from core.prompts import Prompt, load_prompt

PROMPT = "ideology"
MAX_REASON_CHARS = 300
#: Fewer pairs than this: no correlation is reported.
MIN_PAIRS = 3
SCALE = (1, 2, 3, 4, 5)


class IdeologyScore(BaseModel):
    """The model's answer: a 1–5 score and one short sentence why."""

    model_config = ConfigDict(frozen=True)

    score: int = Field(
        ge=1, le=5, description="1 = not ideological at all, 5 = nothing but slogan, persuasion or sweeping verdicts."
    )
    reason: str = Field(description="One short sentence: which signs were seen, or that none were.")

    @field_validator("score", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # 3.0 is 3; 2.5 (or "3", or true) is not a score on the scale.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("score must be a whole number from 1 to 5")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("score must be a whole number from 1 to 5")
            return int(value)
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("give a short reason")
        return value if len(value) <= MAX_REASON_CHARS else value[: MAX_REASON_CHARS - 1].rstrip() + "…"


def _fenced(text: str) -> str:
    # Member text must not be able to close the <answer> fence and talk to the model directly.
    return text.replace("</answer", "< /answer")


def ideology_messages(scenario: str | None, opening: str) -> tuple[Prompt, list[ChatMessage]]:
    prompt = load_prompt(PROMPT)
    system = prompt.render(scenario=" ".join((scenario or "(not recorded)").split()))
    return prompt, [ChatMessage("system", system), ChatMessage("user", f"<answer>\n{_fenced(opening)}\n</answer>")]


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation coefficient; None with fewer than two pairs or when either side has no spread."""
    if len(xs) != len(ys):
        raise ValueError("pearson needs pairs")
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def correlation_text(pairs: Sequence[tuple[float, float]]) -> str:
    """ "r = 0.12 (n = 9)", or why there is none."""
    n = len(pairs)
    if n < MIN_PAIRS:
        return f"not enough data (n = {n}; needs {MIN_PAIRS})"
    r = pearson([p[0] for p in pairs], [p[1] for p in pairs])
    if r is None:
        return f"undefined: the scores or the answers are all the same (n = {n})"
    return f"r = {r:+.2f} (n = {n})"
