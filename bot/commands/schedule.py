"""Moderator actions for the schedule: where and how often story polls and the weekly digest are posted,
posting either one now, and previewing the digest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.commands.base import (
    ActionError,
    ActionReply,
    ModeratorAction,
    ModeratorCall,
    Param,
    audit_action,
    post_failure_text,
    record_moderator_action,
    terminal_command,
)
from bot.digest.build import prepare_digest
from bot.runtime.schedules import community_schedule, describe_schedule, update_schedule
from bot.voting.polls import post_story_poll, story_poll_view
from bot.voting.selection import next_story
from core.digest import digest_markdown
from core.polls import PollMode
from core.schedule import parse_interval, parse_time_of_day

CHANNEL = Param("channel", "the channel (default: this one)", kind="channel", required=False)


async def _show(call: ModeratorCall, prefix: str = "") -> ActionReply:
    row = await community_schedule(call.database, community_id=call.community_id)
    hours = int(call.services.default_poll_duration.total_seconds() // 3600)
    return ActionReply("\n".join(([prefix] if prefix else []) + describe_schedule(row, default_duration_hours=hours)))


async def _set(call: ModeratorCall, action: str, changes: dict[str, Any]) -> ActionReply:
    before, after = await update_schedule(
        call.database, community_id=call.community_id, actor=call.actor, now=call.now, changes=changes, action=action
    )
    return await _show(call, "Saved." if before != after else "Nothing changed.")


def _channel(call: ModeratorCall) -> str:
    channel = call.arg("channel") or call.channel_id
    if not channel:
        raise ActionError("Name a channel, or run the command in the channel you mean (not in a DM).")
    return channel


async def show(call: ModeratorCall) -> ActionReply:
    return await _show(call)


async def polls_channel(call: ModeratorCall) -> ActionReply:
    return await _set(call, "polls.channel", {"poll_channel_id": _channel(call)})


async def polls_every(call: ModeratorCall) -> ActionReply:
    return await _set(call, "polls.every", {"poll_interval_minutes": parse_interval(call.arg("interval") or "")})


async def polls_per_round(call: ModeratorCall) -> ActionReply:
    return await _set(call, "polls.per-round", {"polls_per_round": call.int_arg("count")})


async def polls_duration(call: ModeratorCall) -> ActionReply:
    return await _set(call, "polls.duration", {"poll_duration_hours": call.int_arg("hours")})


async def polls_pause(call: ModeratorCall) -> ActionReply:
    return await _set(call, "polls.pause", {"polls_paused": True})


async def polls_resume(call: ModeratorCall) -> ActionReply:
    return await _set(call, "polls.resume", {"polls_paused": False})


async def polls_mode(call: ModeratorCall) -> ActionReply:
    """How polls posted from now on take votes; open polls keep the mode they were posted with."""
    changes = {"poll_mode": call.arg("mode") or ""}
    before, after = await update_schedule(
        call.database,
        community_id=call.community_id,
        actor=call.actor,
        now=call.now,
        changes=changes,
        action="polls.mode",
    )
    if before == after:
        return ActionReply(f"Polls already take votes by {_MODE_WORDS[after['poll_mode']]}. Nothing changed.")
    return ActionReply(
        f"Saved: polls posted from now on take votes by {_MODE_WORDS[after['poll_mode']]}. "
        "Polls already open keep the way they were posted with."
    )


_MODE_WORDS = {
    PollMode.REACTIONS: "reaction (everyone sees who reacted how)",
    PollMode.PRIVATE: "private button (only the voter sees their choice; the tally is shown when the poll closes)",
}


async def polls_post_now(call: ModeratorCall) -> ActionReply:
    """The story that most needs votes, posted now in the poll channel (or this one), outside the rounds."""
    row = await community_schedule(call.database, community_id=call.community_id)
    channel = call.arg("channel") or row.poll_channel_id or call.channel_id
    if not channel:
        raise ActionError("No poll channel is set: name one, or run this in the channel you mean.")
    story_id = await next_story(call.database, community_id=call.community_id, now=call.now)
    if story_id is None:
        return ActionReply(
            "No story needs votes right now: stories are written for new values by the "
            f"scheduler's maintenance (or {terminal_command(call.community, 'stories generate')})."
        )
    duration = (
        timedelta(hours=row.poll_duration_hours) if row.poll_duration_hours else call.services.default_poll_duration
    )
    try:
        poll = await post_story_poll(
            call.database,
            call.services.poll_publisher,
            story_id=story_id,
            platform=call.community.platform,
            channel_id=channel,
            closes_at=call.now + duration,
            now=call.now,
        )
    except Exception as error:
        if (text := post_failure_text(call.services, error, channel)) is None:
            raise
        raise ActionError(text) from None
    await audit_poll(
        call.database, poll, community_id=call.community_id, actor=call.actor, now=call.now, action="polls.post-now"
    )
    view = await story_poll_view(call.database, story_id)
    return ActionReply(
        f"Posted a poll on “{view.context}”: {view.from_value.title} → {view.to_value.title} "
        f"(poll {poll.id}), open for {int(duration.total_seconds() // 3600)} h."
    )


async def audit_poll(database, poll, *, community_id: int, actor: str, now, action: str) -> None:
    """A poll a moderator had posted (``/mge poll``, ``/mge polls post-now``), in the audit log."""
    await record_moderator_action(
        database,
        community_id=community_id,
        actor=actor,
        action=action,
        now=now,
        target=f"poll {poll.id}",
        after={
            "story": poll.story_id,
            "channel": poll.channel_id,
            "message": poll.message_id,
            "closes_at": poll.closes_at.isoformat() if poll.closes_at else None,
        },
    )


async def digest_channel(call: ModeratorCall) -> ActionReply:
    return await _set(call, "digest.channel", {"digest_channel_id": _channel(call)})


async def digest_schedule(call: ModeratorCall) -> ActionReply:
    hour, minute = parse_time_of_day(call.arg("time") or "")
    return await _set(
        call, "digest.schedule", {"digest_day": call.arg("day") or "", "digest_hour": hour, "digest_minute": minute}
    )


async def digest_timezone(call: ModeratorCall) -> ActionReply:
    return await _set(call, "digest.timezone", {"digest_timezone": call.arg("timezone") or ""})


async def digest_pause(call: ModeratorCall) -> ActionReply:
    return await _set(call, "digest.pause", {"digest_paused": True})


async def digest_resume(call: ModeratorCall) -> ActionReply:
    return await _set(call, "digest.resume", {"digest_paused": False})


async def digest_preview(call: ModeratorCall) -> ActionReply:
    """The digest as it would be posted now, privately: its text and its picture as a file."""
    digest, _, png = await prepare_digest(call.database, community_id=call.community_id, now=call.now)
    return ActionReply(digest_markdown(digest), file=("moral-graph.png", png))


async def digest_post_now(call: ModeratorCall) -> ActionReply:
    """Post the digest now in the digest channel (or this one). It does not replace the weekly one, and
    the weekly one still compares with the last weekly digest."""
    row = await community_schedule(call.database, community_id=call.community_id)
    channel = call.arg("channel") or row.digest_channel_id or call.channel_id
    if not channel:
        raise ActionError("No digest channel is set: name one, or run this in the channel you mean.")
    digest, _, png = await prepare_digest(call.database, community_id=call.community_id, now=call.now)
    try:
        await call.services.digest_publisher.publish_digest(channel_id=channel, digest=digest, png=png)
    except Exception as error:
        if (text := post_failure_text(call.services, error, channel)) is None:
            raise
        raise ActionError(text.replace("the poll", "the digest")) from None
    await audit_action(call, "digest.post-now", f"channel {channel}")
    return ActionReply(f"Posted the digest ({digest.values} values, {digest.edges} edges) in channel {channel}.")


ACTIONS = (
    ModeratorAction("schedule", "", "show where and how often polls and the digest are posted", show, read_only=True),
    ModeratorAction("polls", "channel", "post scheduled story polls in a channel", polls_channel, (CHANNEL,)),
    ModeratorAction(
        "polls",
        "every",
        "how often a round of polls is posted (30m, 12h, 1d, 1w)",
        polls_every,
        (Param("interval", "e.g. 1d"),),
    ),
    ModeratorAction(
        "polls", "per-round", "stories posted per round (0-10)", polls_per_round, (Param("count", "0-10", kind="int"),)
    ),
    ModeratorAction(
        "polls",
        "duration",
        "hours each poll stays open (1-768)",
        polls_duration,
        (Param("hours", "1-768", kind="int"),),
    ),
    ModeratorAction("polls", "pause", "stop posting rounds (open polls still close)", polls_pause),
    ModeratorAction("polls", "resume", "post rounds again", polls_resume),
    ModeratorAction(
        "polls", "post-now", "post the story that most needs votes now", polls_post_now, (CHANNEL,), slow=True
    ),
    ModeratorAction(
        "polls",
        "mode",
        "how new polls take votes: reactions (seen by all) or private (buttons; tally at close)",
        polls_mode,
        (Param("mode", "private or reactions"),),
    ),
    ModeratorAction("digest", "channel", "post the weekly digest in a channel", digest_channel, (CHANNEL,)),
    ModeratorAction(
        "digest",
        "schedule",
        "weekday and time of the digest",
        digest_schedule,
        (Param("day", "mon … sun"), Param("time", "24-hour HH:MM")),
    ),
    ModeratorAction(
        "digest",
        "timezone",
        "the digest's timezone, e.g. Europe/Berlin",
        digest_timezone,
        (Param("timezone", "an IANA name such as America/New_York"),),
    ),
    ModeratorAction("digest", "pause", "stop posting the weekly digest", digest_pause),
    ModeratorAction("digest", "resume", "post the weekly digest again", digest_resume),
    ModeratorAction(
        "digest",
        "preview",
        "see the digest as it would be posted now (only you)",
        digest_preview,
        slow=True,
        read_only=True,
    ),
    ModeratorAction("digest", "post-now", "post the digest now", digest_post_now, (CHANNEL,), slow=True),
)
