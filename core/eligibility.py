"""Who may vote: a community's rules and the facts about a member, judged at the moment of a vote.

A fact the platform never gave us (Slack tells no account age or join date) cannot satisfy a rule
that needs it: such a vote is "unverified" and left out while that rule is set — the moderator sees
how many in stats and can drop the rule. Blocked members' votes are always left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Reasons a vote is left out, as stats count them.
BLOCKED = "blocked"
ACCOUNT_TOO_NEW = "account too new"
JOINED_TOO_RECENTLY = "joined too recently"
MISSING_ROLE = "missing the required role"
UNVERIFIED = "unverified (the platform does not tell)"


@dataclass(frozen=True)
class Rules:
    min_account_age: timedelta = timedelta(0)
    min_membership: timedelta = timedelta(0)
    required_role_id: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.min_account_age or self.min_membership or self.required_role_id)

    def describe(self) -> str:
        parts = []
        if self.min_account_age:
            parts.append(f"an account at least {self.min_account_age.days} day(s) old")
        if self.min_membership:
            parts.append(f"a member for at least {self.min_membership.days} day(s)")
        if self.required_role_id:
            parts.append(f"the role {self.required_role_id}")
        return "Votes count from members with " + ", ".join(parts) + "." if parts else "Every member's vote counts."


@dataclass(frozen=True)
class Facts:
    account_created_at: datetime | None = None
    joined_at: datetime | None = None
    role_ids: Sequence[str] | None = None
    blocked: bool = False


#: How each exclusion reason reads to the member whose vote it leaves out.
_EXCLUSION_WORDS = {
    BLOCKED: "a moderator has blocked your votes in this community",
    ACCOUNT_TOO_NEW: "your account is too new",
    JOINED_TOO_RECENTLY: "you joined too recently",
    MISSING_ROLE: "you don't have the role votes need",
    UNVERIFIED: "the platform doesn't tell the bot what this community's rule asks about you",
}


def exclusion_words(reason: str) -> str:
    """An exclusion reason (from :func:`exclusion_reason`) in words for the member it concerns."""
    return _EXCLUSION_WORDS.get(reason, reason)


def exclusion_reason(facts: Facts | None, rules: Rules, *, at: datetime) -> str | None:
    """Why a vote cast ``at`` by a member with ``facts`` does not count, or None when it counts."""
    facts = facts or Facts()
    if facts.blocked:
        return BLOCKED
    if rules.min_account_age:
        if facts.account_created_at is None:
            return UNVERIFIED
        if at - facts.account_created_at < rules.min_account_age:
            return ACCOUNT_TOO_NEW
    if rules.min_membership:
        if facts.joined_at is None:
            return UNVERIFIED
        if at - facts.joined_at < rules.min_membership:
            return JOINED_TOO_RECENTLY
    if rules.required_role_id:
        if facts.role_ids is None:
            return UNVERIFIED
        if rules.required_role_id not in facts.role_ids:
            return MISSING_ROLE
    return None
