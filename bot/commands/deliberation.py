"""Moderator actions that run a deliberation round: scenarios (adding one generates its moral contexts),
opening and closing the round of interviews on a scenario, and the contexts themselves."""

from __future__ import annotations

from bot.commands.base import ActionError, ActionReply, ModeratorAction, ModeratorCall, Param, audit_action
from bot.stories.contexts import add_context, add_scenario, edit_context, remove_context
from core.framing import DEFAULT_FRAMING, FRAMING_NAMES, FramingError, framing_line, parse_framing
from storage import repositories as repo
from storage import stories_repo
from storage.governance_repo import record_action

SCENARIO = Param("scenario", "the scenario's number (see /mge scenario list)", kind="int")
CONTEXT = Param("context", "the context's number (see /mge contexts list)", kind="int")


async def scenario_add(call: ModeratorCall) -> ActionReply:
    if call.services.llm is None:
        raise ActionError("Adding a scenario needs the language model, which this process has not configured.")
    try:
        framing = parse_framing(call.arg("framing"))
    except FramingError as error:
        raise ActionError(str(error)) from None
    added = await add_scenario(
        call.database,
        llm=call.services.llm,
        model=call.services.model,
        community=call.community,
        text=call.arg("text") or "",
        now=call.now,
        framing=framing,
    )
    scenario = added.scenario
    await audit_action(
        call,
        "scenario.add",
        f"scenario {scenario.id}",
        after={"text": scenario.text, "framing": scenario.framing, "contexts": [c.text for c in added.contexts]},
    )
    lines = [
        f"Scenario {scenario.id} is open for interviews: {scenario.text}",
        f"Framing: {framing_line(scenario.framing)}",
        "Its moral contexts:",
    ]
    lines += [f"  {c.id}. {c.text}" for c in added.contexts] or ["  (none yet: add some with /mge contexts add)"]
    return ActionReply("\n".join(lines))


async def scenario_list(call: ModeratorCall) -> ActionReply:
    async with call.database.session() as session:
        rows = []
        for scenario in await stories_repo.scenarios_of_community(session, community_id=call.community_id):
            contexts = await stories_repo.contexts_of_scenario(session, scenario_id=scenario.id)
            rows.append((scenario, contexts))
    if not rows:
        return ActionReply("No scenarios yet: add one with /mge scenario add <the question>.")
    lines = []
    for scenario, contexts in sorted(rows, key=lambda row: row[0].archived_at is not None):
        state = "archived" if scenario.archived_at else "open" if scenario.is_open else "closed"
        framed = "" if scenario.framing == DEFAULT_FRAMING else f", {scenario.framing} framing"
        lines.append(f"{scenario.id}. {scenario.text} — {state}{framed}")
        if scenario.archived_at is None:
            lines += [f"     [{c.id}] {c.text}" for c in contexts]
    return ActionReply("\n".join(lines))


async def _set_round(call: ModeratorCall, *, is_open: bool) -> ActionReply:
    scenario_id = call.int_arg("scenario")
    async with call.database.session() as session:
        scenario = await repo.get_scenario(session, community_id=call.community_id, scenario_id=scenario_id)
        if scenario is None:
            raise LookupError(f"No scenario {scenario_id} in this community.")
        if scenario.archived_at is not None:
            raise ActionError(f"Scenario {scenario_id} is archived: restore it first with /mge scenario restore.")
        if scenario.is_open == is_open:
            return ActionReply(f"Scenario {scenario_id} is already {'open' if is_open else 'closed'}.")
        scenario.is_open = is_open
        session.add(scenario)
        await record_action(
            session,
            community_id=call.community_id,
            actor=call.actor,
            now=call.now,
            action="round.open" if is_open else "round.close",
            target=f"scenario {scenario_id}",
            before={"open": not is_open},
            after={"open": is_open},
        )
        await session.commit()
        text = scenario.text
    if is_open:
        return ActionReply(f"Scenario {scenario_id} is open: members can be interviewed about it ({text}).")
    return ActionReply(
        f"Scenario {scenario_id} is closed: no new interviews about it; interviews already under "
        "way may finish, and its stories and polls go on."
    )


async def round_open(call: ModeratorCall) -> ActionReply:
    return await _set_round(call, is_open=True)


async def round_close(call: ModeratorCall) -> ActionReply:
    return await _set_round(call, is_open=False)


async def _set_archived(call: ModeratorCall, *, archived: bool) -> ActionReply:
    scenario_id = call.int_arg("scenario")
    async with call.database.session() as session:
        scenario = await repo.get_scenario(session, community_id=call.community_id, scenario_id=scenario_id)
        if scenario is None:
            raise LookupError(f"No scenario {scenario_id} in this community.")
        if (scenario.archived_at is not None) == archived:
            return ActionReply(f"Scenario {scenario_id} is already {'archived' if archived else 'not archived'}.")
        before = {"archived": not archived, "open": scenario.is_open}
        scenario.archived_at = call.now if archived else None
        if archived:
            scenario.is_open = False
        session.add(scenario)
        await record_action(
            session,
            community_id=call.community_id,
            actor=call.actor,
            now=call.now,
            action="scenario.archive" if archived else "scenario.restore",
            target=f"scenario {scenario_id}",
            before=before,
            after={"archived": archived, "open": scenario.is_open},
        )
        await session.commit()
    if archived:
        return ActionReply(
            f"Scenario {scenario_id} is archived: closed for interviews and listed apart. Its "
            "values, stories and votes stay in the graph."
        )
    return ActionReply(f"Scenario {scenario_id} is restored (still closed: open it with /mge round open).")


async def scenario_archive(call: ModeratorCall) -> ActionReply:
    return await _set_archived(call, archived=True)


async def scenario_restore(call: ModeratorCall) -> ActionReply:
    return await _set_archived(call, archived=False)


async def contexts_list(call: ModeratorCall) -> ActionReply:
    return await scenario_list(call)


async def contexts_add(call: ModeratorCall) -> ActionReply:
    scenario_id = call.int_arg("scenario")
    context = await add_context(
        call.database,
        community_id=call.community_id,
        scenario_id=scenario_id,
        text=call.arg("text") or "",
        now=call.now,
    )
    await audit_action(
        call, "contexts.add", f"context {context.id}", after={"scenario": scenario_id, "text": context.text}
    )
    return ActionReply(f"Context {context.id} “{context.text}” is linked to scenario {scenario_id}.")


async def contexts_edit(call: ModeratorCall) -> ActionReply:
    context_id = call.int_arg("context")
    async with call.database.session() as session:
        old = await stories_repo.get_context(session, community_id=call.community_id, context_id=context_id)
    if old is None:
        raise LookupError(f"No context {context_id} in this community.")
    before = old.text
    context = await edit_context(
        call.database, community_id=call.community_id, context_id=context_id, text=call.arg("text") or ""
    )
    await audit_action(
        call, "contexts.edit", f"context {context_id}", before={"text": before}, after={"text": context.text}
    )
    return ActionReply(f"Context {context_id} now reads “{context.text}”.")


async def contexts_remove(call: ModeratorCall) -> ActionReply:
    removed = await remove_context(call.database, community_id=call.community_id, context_id=call.int_arg("context"))
    await audit_action(
        call,
        "contexts.remove",
        f"context {removed.context_id}",
        before={"text": removed.text},
        after={"stories_withdrawn": removed.withdrawn_stories},
    )
    withdrawn = (
        f" {removed.withdrawn_stories} story(ies) about it were withdrawn (their votes are kept)."
        if removed.withdrawn_stories
        else ""
    )
    return ActionReply(f"Removed context {removed.context_id} “{removed.text}”.{withdrawn}")


ACTIONS = (
    ModeratorAction(
        "scenario",
        "add",
        "add a scenario to deliberate; its moral contexts are written at once",
        scenario_add,
        (
            Param(
                "framing",
                "whose response: assistant (the paper's, default), community or personal",
                required=False,
                choices=FRAMING_NAMES,
            ),
            Param("text", "the question members will be interviewed about"),
        ),
        slow=True,
    ),
    ModeratorAction(
        "scenario", "list", "the scenarios, open or closed, with their contexts", scenario_list, read_only=True
    ),
    ModeratorAction(
        "scenario", "archive", "close a finished scenario and list it apart", scenario_archive, (SCENARIO,)
    ),
    ModeratorAction("scenario", "restore", "bring an archived scenario back (closed)", scenario_restore, (SCENARIO,)),
    ModeratorAction("round", "open", "open interviews on a scenario", round_open, (SCENARIO,)),
    ModeratorAction("round", "close", "close interviews on a scenario", round_close, (SCENARIO,)),
    ModeratorAction("contexts", "list", "every scenario's moral contexts", contexts_list, read_only=True),
    ModeratorAction(
        "contexts",
        "add",
        "add a 'When …' context to a scenario",
        contexts_add,
        (SCENARIO, Param("text", "e.g. When someone is in distress")),
    ),
    ModeratorAction("contexts", "edit", "reword a context", contexts_edit, (CONTEXT, Param("text", "the new wording"))),
    ModeratorAction(
        "contexts", "remove", "remove a context (its stories are withdrawn, votes kept)", contexts_remove, (CONTEXT,)
    ),
)
