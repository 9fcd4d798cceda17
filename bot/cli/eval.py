"""``mge eval``: check how well the configured model interviews (docs/method.md §3, "Checking a model") —
stored interviews or simulated members graded on nine criteria, compared with a saved run (``--baseline``).
Database and LLM modules are imported inside the commands so ``mge --help`` stays fast."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from bot.cli.support import COMMUNITY_HELP_ALL, fail, operator_errors, run_with_database, settings_or_exit

eval_app = typer.Typer(
    help="Check your model: interviews graded on nine criteria (1–5), compared with a saved run.",
    no_args_is_help=True,
)

#: Exit code when a criterion dropped by more than the margin against the baseline.
REGRESSION_EXIT = 1

OUT_HELP = "Write the whole run (every score with its reason, prompt hash and model) to this JSON file."
BASELINE_HELP = "A run saved with --out to compare with: exit 1 when a criterion's mean drops by more than --margin."
MARGIN_HELP = "Largest drop of a criterion's mean (on the 1–5 scale) that still passes against --baseline."
GRADER_HELP = (
    "Model that grades the interviews. Default: the judge model (MGE_DEDUP_MODEL, else the articulation model)."
)


@eval_app.command("transcripts")
def eval_transcripts(
    sample: int = typer.Option(20, "--sample", min=1, max=10000, help="Interviews graded at most (drawn at random)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draw: the same seed grades the same interviews."),
    community: str | None = typer.Option(None, "--community", help=COMMUNITY_HELP_ALL),
    out: Path | None = typer.Option(None, "--out", help=OUT_HELP),
    baseline: Path | None = typer.Option(None, "--baseline", help=BASELINE_HELP),
    margin: float = typer.Option(0.5, "--margin", min=0.0, max=4.0, help=MARGIN_HELP),
    grader_model: str | None = typer.Option(None, "--grader-model", help=GRADER_HELP),
) -> None:
    """Grade stored interviews that reached a card, with member names and ids taken out first.

    Prints the mean, lowest score and count per criterion; the scores and reasons go to --out."""
    from bot.eval.grade import EvalError, grade_interviews, sample_interviews
    from bot.runtime.wiring import build_llm

    settings = settings_or_exit()
    saved = _baseline_or_exit(baseline)
    with operator_errors():
        llm = build_llm(settings)
    model = grader_model or settings.judge_model

    async def grade(database) -> dict[str, Any]:
        from bot.cli.support import community_ids
        from bot.eval.results import run_document
        from core.clock import utcnow

        try:
            ids = await community_ids(database, community)
            chosen = await sample_interviews(database, community_ids=ids, sample=sample, seed=seed)
            if not chosen:
                raise LookupError("no interview has reached a card yet: there is nothing to grade")
            graded = await grade_interviews(database, llm=llm, model=model, interview_ids=chosen)
        finally:
            await llm.aclose()
        return run_document(
            mode="transcripts",
            graded=graded,
            grader_model=model,
            interview_models=(settings.chat_model, settings.articulation_model),
            now=utcnow(),
            extra={"sample": {"size": sample, "seed": seed, "community": community, "graded": len(graded)}},
        )

    try:
        document = run_with_database(grade)
    except EvalError as error:
        raise fail(f"{error}; nothing was written", code=1) from None
    _report(document, out=out, baseline=saved, margin=margin)


@eval_app.command("personas")
def eval_personas(
    persona: list[str] | None = typer.Option(
        None, "--persona", help="Only this persona (repeatable): thoughtful, slogans, reviser, spanish, injection."
    ),
    runs: int = typer.Option(1, "--runs", min=1, max=20, help="Interviews per persona."),
    scenario: str | None = typer.Option(None, "--scenario", help="The question discussed. Default: the homework one."),
    max_turns: int = typer.Option(30, "--max-turns", min=2, max=200, help="Messages a simulated member sends at most."),
    out: Path | None = typer.Option(None, "--out", help=OUT_HELP),
    baseline: Path | None = typer.Option(None, "--baseline", help=BASELINE_HELP),
    margin: float = typer.Option(0.5, "--margin", min=0.0, max=4.0, help=MARGIN_HELP),
    persona_model: str | None = typer.Option(
        None, "--persona-model", help="Model that plays the members. Default: the chat model (MGE_CHAT_MODEL)."
    ),
    grader_model: str | None = typer.Option(None, "--grader-model", help=GRADER_HELP),
) -> None:
    """Simulated members interviewed by the real interviewer on a throwaway database, then graded.

    Each persona (bot/eval/personas/*.toml) is played by a model; prints the criteria table and, per
    persona, how often a card was confirmed, in how many turns and for how many tokens."""
    import tempfile

    from bot.eval.grade import EvalError
    from bot.eval.personas import DEFAULT_SCENARIO, Rehearsal, load_personas, persona_rates, play_and_grade
    from bot.eval.results import run_document
    from bot.runtime.wiring import build_app
    from core.clock import utcnow

    settings = settings_or_exit()
    saved = _baseline_or_exit(baseline)
    try:
        chosen = load_personas(persona or None)
    except LookupError as error:
        raise fail(str(error.args[0])) from None
    topic = scenario or DEFAULT_SCENARIO
    member_model = persona_model or settings.chat_model
    model = grader_model or settings.judge_model

    with tempfile.TemporaryDirectory(prefix="mge-eval-") as folder:
        # A database of its own, whatever DATABASE_URL says: the simulated members never touch the community's.
        trial = settings.model_copy(update={"database_url": f"sqlite:///{Path(folder) / 'eval.sqlite3'}"})
        with operator_errors():
            bot = build_app(trial)

        async def simulate():
            try:
                rehearsal = Rehearsal(bot.interviews, bot.database, bot.llm, member_model, topic, max_turns)
                return await play_and_grade(chosen, rehearsal, grader_model=model, runs=runs)
            finally:
                await bot.close()

        try:
            played = asyncio.run(simulate())
        except EvalError as error:
            raise fail(f"{error}; nothing was written", code=1) from None
    graded = [item for one in played for item in one.graded]
    document = run_document(
        mode="personas",
        graded=graded,
        grader_model=model,
        interview_models=(settings.chat_model, settings.articulation_model),
        now=utcnow(),
        extra={
            "scenario": topic,
            "persona_model": member_model,
            "max_turns": max_turns,
            "personas": persona_rates(played),
        },
        tokens={
            "personas": sum(one.run.persona_tokens for one in played),
            "interviews": sum(one.interview_tokens for one in played),
        },
        personas=[one.run.persona.key for one in played for _ in one.graded],
        keep_dialogues=True,
    )
    _report(document, out=out, baseline=saved, margin=margin)


def _baseline_or_exit(path: Path | None) -> dict[str, Any] | None:
    """The saved run, read before any model is asked (a wrong path costs no tokens)."""
    if path is None:
        return None
    from bot.eval.grade import EvalError
    from bot.eval.results import read_baseline

    try:
        return read_baseline(path)
    except EvalError as error:
        raise fail(str(error)) from None


def _report(document: dict[str, Any], *, out: Path | None, baseline: dict[str, Any] | None, margin: float) -> None:
    """Print the tables, write --out (even when the baseline check then fails: the run itself is sound), and
    exit 1 when a criterion regressed."""
    from rich.console import Console

    from bot.eval.results import write_document

    console = Console(markup=False, highlight=False)
    console.print(_criteria_table(document))
    if "personas" in document:
        console.print(_personas_table(document["personas"]))
    tokens = ", ".join(f"{name} {count:,}" for name, count in document["tokens"].items())
    console.print(
        f"Tokens: {tokens}. Grader: {document['grader']['model']} (prompt {document['grader']['prompt_sha']})."
    )
    if out is not None:
        try:
            write_document(out, document)
        except OSError as error:
            raise fail(f"cannot write {out}: {error}", code=1) from None
        console.print(f"Written to {out}.")
    if baseline is None:
        return
    regressions = _compare(console, baseline, document, margin=margin)
    if regressions:
        typer.echo(
            f"error: {len(regressions)} criterion mean(s) dropped by more than {margin} against the baseline: "
            + ", ".join(regressions),
            err=True,
        )
        raise typer.Exit(REGRESSION_EXIT)


def _criteria_table(document: dict[str, Any]):
    from rich.table import Table

    table = Table("criterion", "mean", "min", "n", title="Interview quality (1–5, 5 = fully met)")
    names = {c["key"]: c["name"] for c in document["criteria"]}
    for key, row in document["summary"].items():
        table.add_row(names.get(key, key), f"{row['mean']:.2f}", str(row["min"]), str(row["n"]))
    if not document["summary"]:
        table.add_row("(nothing graded)", "", "", "")
    return table


def _personas_table(rates: dict[str, dict[str, Any]]):
    from rich.table import Table

    table = Table(
        "persona", "runs", "confirmed", "turns", "interview tokens", "turn cap hit", title="Simulated members"
    )
    for key, row in rates.items():
        table.add_row(
            key,
            str(row["runs"]),
            f"{row['confirmed']} ({row['confirmed_rate']:.0%})",
            f"{row['turns_mean']:.1f}",
            f"{row['interview_tokens_mean']:,}",
            str(row["hit_turn_cap"]),
        )
    return table


def _compare(console, baseline: dict[str, Any], document: dict[str, Any], *, margin: float) -> list[str]:
    from rich.table import Table

    from core.grading import compare

    def means(run: dict[str, Any]) -> dict[str, float]:
        return {key: float(row["mean"]) for key, row in run["summary"].items()}

    rows = compare(means(baseline), means(document), margin=margin)
    table = Table("criterion", "baseline", "now", "change", "", title=f"Against the baseline (margin {margin})")
    names = {c["key"]: c["name"] for c in document["criteria"]}
    for row in rows:
        table.add_row(
            names.get(row.key, row.key),
            "—" if row.baseline is None else f"{row.baseline:.2f}",
            "—" if row.now is None else f"{row.now:.2f}",
            "—" if row.change is None else f"{row.change:+.2f}",
            "DROP" if row.regressed else "",
        )
    console.print(table)
    before, now = baseline.get("grader") or {}, document["grader"]
    if before.get("prompt_sha") not in (None, now["prompt_sha"]) or before.get("model") not in (None, now["model"]):
        console.print(
            f"Note: the baseline was graded by {before.get('model')} with prompt {before.get('prompt_sha')}; "
            "scores from another grader or grading prompt are not strictly comparable."
        )
    return [names.get(row.key, row.key) for row in rows if row.regressed]
