"""Moderator actions on canonical values: list, show where one came from, hide and restore, merge two,
split a member's card out. Hidden values leave the graph, the digest and story polls until restored;
every change is audited and, for merges and splits, reversible (``mge values undo``)."""

from __future__ import annotations

from bot.commands.base import ActionReply, ModeratorAction, ModeratorCall, Param, audit_action, terminal_command
from bot.values.corrections import merge_values, split_card
from bot.values.provenance import value_provenance, value_rows
from storage import values_repo
from storage.governance_repo import record_action

MAX_LISTED = 40
VALUE = Param("value", "the value's number (see /mge values list)", kind="int")


async def list_values(call: ModeratorCall) -> ActionReply:
    rows = await value_rows(call.database, community_ids=[call.community_id], statuses=["active", "hidden"])
    if not rows:
        return ActionReply("No values yet: they appear as members confirm their cards.")
    lines = [
        f"{r['id']}. {r['title']} — {r['cards']} card(s)" + (" (hidden)" if r["status"] == "hidden" else "")
        for r in rows[:MAX_LISTED]
    ]
    if len(rows) > MAX_LISTED:
        lines.append(
            f"… and {len(rows) - MAX_LISTED} more "
            f"({terminal_command(call.community, 'values list')} in the terminal shows all)."
        )
    return ActionReply("\n".join(lines))


async def show_value(call: ModeratorCall) -> ActionReply:
    value = await value_provenance(call.database, call.int_arg("value"), community_id=call.community_id)
    lines = [
        f"{value.id}. {value.title} ({value.status})",
        value.description,
        *[f"• {p}" for p in value.policies],
        f"Member cards in it: {len(value.cards)}",
    ]
    for card in value.cards:
        agrees = {True: ", the member agrees", False: ", the member disagrees", None: ""}[card.member_agrees]
        lines.append(f"  card {card.card_id}: {card.title} ({card.decision}{agrees})")
    if value.merged_from:
        lines.append("Merged from values " + ", ".join(map(str, value.merged_from)))
    return ActionReply("\n".join(lines))


async def _set_status(call: ModeratorCall, *, status: str, action: str) -> ActionReply:
    value_id = call.int_arg("value")
    async with call.database.session() as session:
        value = await values_repo.get_value(session, value_id=value_id, community_id=call.community_id)
        if value is None:
            raise LookupError(f"No value {value_id} in this community.")
        allowed = {"hidden": ("active",), "active": ("hidden",)}[status]
        if value.status not in allowed:
            return ActionReply(f"Value {value_id} is {value.status}; nothing changed.")
        before = value.status
        value.status, value.updated_at = status, call.now
        session.add(value)
        await record_action(
            session,
            community_id=call.community_id,
            actor=call.actor,
            action=action,
            now=call.now,
            target=f"value {value_id}",
            before={"status": before},
            after={"status": status},
        )
        await session.commit()
        title = value.title
    verb = "Hidden" if status == "hidden" else "Restored"
    return ActionReply(f"{verb}: {value_id}. {title}.")


async def hide_value(call: ModeratorCall) -> ActionReply:
    return await _set_status(call, status="hidden", action="values.hide")


async def restore_value(call: ModeratorCall) -> ActionReply:
    return await _set_status(call, status="active", action="values.restore")


async def merge(call: ModeratorCall) -> ActionReply:
    keep, other = call.int_arg("keep"), call.int_arg("merge")
    moved = await merge_values(
        call.database, keep_id=keep, merge_id=other, actor=call.actor, now=call.now, community_id=call.community_id
    )
    await audit_action(call, "values.merge", f"value {other} into {keep}", after={"cards_moved": moved})
    return ActionReply(
        f"Merged value {other} into {keep}: {moved} card(s) moved. Each move can be undone "
        "with `mge values undo CARD` in the terminal."
    )


async def split(call: ModeratorCall) -> ActionReply:
    card_id = call.int_arg("card")
    result = await split_card(
        call.database, card_id=card_id, actor=call.actor, now=call.now, community_id=call.community_id
    )
    await audit_action(call, "values.split", f"card {card_id}", after={"value": result.value_id})
    return ActionReply(f"Card {card_id} is now a value of its own: {result.value_id}. {result.value_card.title}.")


ACTIONS = (
    ModeratorAction(
        "values", "list", "the community's values and how many cards each holds", list_values, read_only=True
    ),
    ModeratorAction(
        "values", "show", "a value and every member card merged into it", show_value, (VALUE,), read_only=True
    ),
    ModeratorAction("values", "hide", "take a value out of the graph, digest and polls", hide_value, (VALUE,)),
    ModeratorAction("values", "restore", "bring a hidden value back", restore_value, (VALUE,)),
    ModeratorAction(
        "values",
        "merge",
        "merge a duplicate value into another",
        merge,
        (Param("keep", "the value to keep", kind="int"), Param("merge", "the duplicate", kind="int")),
    ),
    ModeratorAction(
        "values",
        "split",
        "take a member's card out of its value",
        split,
        (Param("card", "the card's number (see /mge values show)", kind="int"),),
    ),
)
