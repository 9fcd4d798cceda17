"""Moderator actions on transition stories: list them, ask for the stories of a chosen pair of values,
withdraw a bad one, correct one's wording (``bot.stories.moderation`` has the rules)."""

from __future__ import annotations

from bot.commands.base import ActionError, ActionReply, ModeratorAction, ModeratorCall, Param, audit_action
from bot.stories.generate import story_rows
from bot.stories.moderation import edit_story, withdraw_story, write_pair_stories

STORY = Param("story", "the story's number (see /mge stories list)", kind="int")
#: How much of a story a list shows: enough to recognise it.
PREVIEW_CHARS = 160


async def stories_list(call: ModeratorCall) -> ActionReply:
    context = call.arg("context")
    rows = await story_rows(
        call.database, community_id=call.community_id, context_id=call.int_arg("context") if context else None
    )
    if not rows:
        return ActionReply("No stories to vote on yet.")
    lines = []
    for row in rows:
        text = row["story"] if len(row["story"]) <= PREVIEW_CHARS else row["story"][:PREVIEW_CHARS] + "…"
        edited = " (edited)" if row["edited_by"] else ""
        lines.append(
            f"{row['id']}. [{row['context_id']}] {row['context']}: {row['from_value_id']} {row['from_title']} → "
            f"{row['to_value_id']} {row['to_title']}{edited}\n    {text}"
        )
    return ActionReply("\n".join(lines))


async def stories_pair(call: ModeratorCall) -> ActionReply:
    if call.services.llm is None:
        raise ActionError("Writing stories needs the language model, which this process has not configured.")
    a, b = call.int_arg("value_a"), call.int_arg("value_b")
    written = await write_pair_stories(
        call.database,
        llm=call.services.llm,
        model=call.services.model,
        community_id=call.community_id,
        from_value_id=a,
        to_value_id=b,
        context_id=call.int_arg("context") if call.arg("context") else None,
        actor=call.actor,
        now=call.now,
    )
    where = f"context {written.context_id} “{written.context}”"
    if not written.written:
        return ActionReply(f"Values {a} and {b} already have stories both ways in {where}: {_ids(written.existing)}.")
    await audit_action(
        call,
        "stories.pair",
        f"values {a} and {b}",
        after={"context": written.context_id, "stories": list(written.written)},
    )
    kept = f" (kept {_ids(written.existing)}, already written)" if written.existing else ""
    return ActionReply(f"Wrote {_ids(written.written)} for values {a} and {b} in {where}{kept}.")


async def stories_withdraw(call: ModeratorCall) -> ActionReply:
    withdrawn = await withdraw_story(
        call.database, community_id=call.community_id, story_id=call.int_arg("story"), now=call.now
    )
    await audit_action(
        call,
        "stories.withdraw",
        f"story {withdrawn.story_id}",
        before={"status": withdrawn.status_before},
        after={"status": "retracted", "polls_closed": list(withdrawn.polls_closed)},
    )
    closed = f" {len(withdrawn.polls_closed)} open poll(s) on it were closed." if withdrawn.polls_closed else ""
    return ActionReply(
        f"Story {withdrawn.story_id} is withdrawn: it is not put to a vote again, and its votes are kept "
        f"but left out of the graph.{closed}"
    )


async def stories_edit(call: ModeratorCall) -> ActionReply:
    edited = await edit_story(
        call.database,
        community_id=call.community_id,
        story_id=call.int_arg("story"),
        text=call.arg("text") or "",
        actor=call.actor,
        now=call.now,
    )
    await audit_action(
        call, "stories.edit", f"story {edited.story_id}", before={"text": edited.before}, after={"text": edited.after}
    )
    return ActionReply(
        f"Story {edited.story_id} now reads as you wrote it; the model's text is kept beside it. "
        "Polls posted from now on show it (one already posted keeps its message)."
    )


def _ids(ids: tuple[int, ...]) -> str:
    return ("story " if len(ids) == 1 else "stories ") + " and ".join(str(i) for i in ids)


ACTIONS = (
    ModeratorAction(
        "stories",
        "list",
        "the stories to vote on, with their numbers",
        stories_list,
        (Param("context", "only this context's (see /mge contexts list)", kind="int", required=False),),
        read_only=True,
    ),
    ModeratorAction(
        "stories",
        "pair",
        "write the stories (both ways) of two values you choose",
        stories_pair,
        (
            Param("value_a", "a value's number (see /mge values list)", kind="int"),
            Param("value_b", "the other value's number", kind="int"),
            Param(
                "context", "the context (default: the one both values are candidates in)", kind="int", required=False
            ),
        ),
        slow=True,
    ),
    ModeratorAction(
        "stories", "withdraw", "withdraw a bad story (votes kept, left out of the graph)", stories_withdraw, (STORY,)
    ),
    ModeratorAction(
        "stories",
        "edit",
        "correct a story's wording (the model's text is kept)",
        stories_edit,
        (STORY, Param("text", "the story as it should read")),
    ),
)
