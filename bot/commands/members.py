"""Moderator actions on who may take part: blocking a member, and the community's eligibility rules for
votes. Blocked or ineligible members' votes are kept but left out of the graph (``bot.graph.build``) and
counted in ``/mge stats``; changing a rule re-decides every vote, past ones included."""

from __future__ import annotations

import re

from bot.commands.base import ActionError, ActionReply, ModeratorAction, ModeratorCall, Param
from storage import communities_repo, eligibility_repo
from storage.governance_repo import record_action

MEMBER = Param("member", "the member, as a @mention", kind="member")
#: Discord <@123> / <@!123>, Slack <@U123> / <@U123|name>; a bare id is accepted too.
_MENTION = re.compile(r"^<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>$|^([A-Za-z0-9]+)$")
#: Discord <@&123>; a bare id too.
_ROLE = re.compile(r"^<@&(\d+)>$|^(\d+)$")
SLACK_CANNOT = (
    "Slack does not tell apps when an account was created, when someone joined the workspace, or "
    "their roles, so this rule can't be checked on Slack. Block members one by one instead."
)


def _user_id(call: ModeratorCall) -> str:
    match = _MENTION.match(call.arg("member") or "")
    if not match:
        raise ActionError("Name the member with a @mention.")
    return match.group(1) or match.group(2)


async def _block(call: ModeratorCall, *, blocked: bool) -> ActionReply:
    user_id = _user_id(call)
    async with call.database.session() as session:
        member = await communities_repo.get_or_create_member(
            session, community_id=call.community_id, platform_user_id=user_id, display_name="", now=call.now
        )
        assert member.id is not None
        changed = await eligibility_repo.set_blocked(session, member_id=member.id, blocked=blocked, now=call.now)
        if changed:
            await record_action(
                session,
                community_id=call.community_id,
                actor=call.actor,
                action="member.block" if blocked else "member.unblock",
                now=call.now,
                target=f"member {member.id}",
                before={"blocked": not blocked},
                after={"blocked": blocked},
            )
        await session.commit()
    if not changed:
        return ActionReply(f"That member is already {'blocked' if blocked else 'not blocked'}.")
    if blocked:
        return ActionReply(
            "Blocked. Their votes are kept but no longer count in the graph (past ones included), "
            "and stats count them. Unblock to count them again."
        )
    return ActionReply("Unblocked: their votes count again.")


async def block(call: ModeratorCall) -> ActionReply:
    return await _block(call, blocked=True)


async def unblock(call: ModeratorCall) -> ActionReply:
    return await _block(call, blocked=False)


async def show_rules(call: ModeratorCall) -> ActionReply:
    async with call.database.session() as session:
        rules = await eligibility_repo.get_rules(session, community_id=call.community_id)
        blocked = await eligibility_repo.blocked_members(session, community_id=call.community_id)
    return ActionReply(f"{rules.describe()} Blocked members: {len(blocked)}.")


async def _set_rule(call: ModeratorCall, *, field: str, value, action: str) -> ActionReply:
    if call.community.platform == "slack" and value:
        raise ActionError(SLACK_CANNOT)
    async with call.database.session() as session:
        row = await eligibility_repo.rules_for_update(session, community_id=call.community_id, now=call.now)
        before = getattr(row, field)
        if before == value:
            await session.rollback()
            return await show_rules(call)
        setattr(row, field, value)
        row.updated_at = call.now
        session.add(row)
        await record_action(
            session,
            community_id=call.community_id,
            actor=call.actor,
            action=action,
            now=call.now,
            target="eligibility",
            before={field: before},
            after={field: value},
        )
        await session.commit()
    return await show_rules(call)


def _days(call: ModeratorCall) -> int:
    days = call.int_arg("days")
    if not 0 <= days <= 3650:
        raise ActionError("Give a number of days between 0 (no rule) and 3650.")
    return days


async def account_age(call: ModeratorCall) -> ActionReply:
    return await _set_rule(call, field="min_account_age_days", value=_days(call), action="eligibility.account-age")


async def membership(call: ModeratorCall) -> ActionReply:
    return await _set_rule(call, field="min_membership_days", value=_days(call), action="eligibility.membership")


async def role(call: ModeratorCall) -> ActionReply:
    raw = call.arg("role")
    role_id = None
    if raw is not None:
        match = _ROLE.match(raw)
        if not match:
            raise ActionError("Name the role with a @role mention (or leave it out to drop the rule).")
        role_id = match.group(1) or match.group(2)
    return await _set_rule(call, field="required_role_id", value=role_id, action="eligibility.role")


DAYS = Param("days", "0 for no rule", kind="int")
ACTIONS = (
    ModeratorAction("member", "block", "leave a member's votes out of the graph", block, (MEMBER,)),
    ModeratorAction("member", "unblock", "count a blocked member's votes again", unblock, (MEMBER,)),
    ModeratorAction(
        "eligibility", "show", "who may vote, and how many members are blocked", show_rules, read_only=True
    ),
    ModeratorAction(
        "eligibility", "account-age", "minimum account age in days for votes to count", account_age, (DAYS,)
    ),
    ModeratorAction("eligibility", "membership", "minimum days in the server for votes to count", membership, (DAYS,)),
    ModeratorAction(
        "eligibility",
        "role",
        "a role members need for their votes to count (none: drop the rule)",
        role,
        (Param("role", "a @role", required=False),),
    ),
)
