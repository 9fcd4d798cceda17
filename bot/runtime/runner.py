"""`mge run`: serve the configured chat platforms, and run the scheduler, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import timedelta

from bot.interview.routing import DmRouter
from bot.runtime.heap import freeze_startup_heap
from bot.runtime.settings import Settings, SettingsError
from bot.runtime.wiring import App

log = logging.getLogger("mge.run")

PLATFORMS = ("discord", "slack")
#: What one process does: ``all`` serves every configured platform and runs the scheduler; the others
#: split that work between processes sharing one PostgreSQL database (README: "Several processes").
ROLES = ("all", "discord", "slack", "worker")


@dataclass(frozen=True)
class RolePlan:
    platforms: list[str]
    scheduler: bool


def plan_role(settings: Settings, role: str) -> RolePlan:
    """The platforms to serve and whether to run the scheduler, for ``role``."""
    configured = settings.platforms()
    if role in ("all", "worker") and not configured:
        raise SettingsError(
            "No chat platform is configured. Set DISCORD_TOKEN for Discord and/or SLACK_BOT_TOKEN "
            "(plus SLACK_APP_TOKEN for Socket Mode) for Slack; see the README. To try the bot without "
            "a platform, run `mge chat`."
        )
    if role == "all":
        return RolePlan(configured, scheduler=True)
    if role == "worker":  # posts polls and digests through the platforms' web APIs; serves no events
        return RolePlan([], scheduler=True)
    if role not in configured:
        token = "DISCORD_TOKEN" if role == "discord" else "SLACK_BOT_TOKEN"
        raise SettingsError(f"{role} was requested but {token} is not set.")
    return RolePlan([role], scheduler=False)


def token_prices(settings: Settings) -> tuple[float, float]:
    return settings.llm_input_price_per_million, settings.llm_output_price_per_million


def slack_config(settings: Settings):
    from adapters.slack import SlackConfig

    assert settings.slack_bot_token is not None
    return SlackConfig(
        bot_token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
        app_token=settings.slack_app_token.get_secret_value() if settings.slack_app_token else None,
        api_url=settings.slack_api_url,
        moderator_ids=settings.slack_moderator_ids,
        poll_duration=timedelta(hours=settings.poll_duration_hours),
        token_prices=token_prices(settings),
    )


def discord_config(settings: Settings):
    from adapters.discord import DiscordConfig

    assert settings.discord_token is not None
    return DiscordConfig(
        token=settings.discord_token.get_secret_value(),
        command_guild_ids=settings.discord_command_guild_ids,
        moderator_role_ids=settings.discord_moderator_role_ids,
        poll_duration=timedelta(hours=settings.poll_duration_hours),
        token_prices=token_prices(settings),
    )


def platform_jobs(
    app: App, platforms: list[str], *, stop: asyncio.Event, http_port: int | None, http_host: str
) -> list[Coroutine]:
    settings = app.settings
    jobs: list[Coroutine] = []
    if "slack" in platforms:
        from adapters.slack import run_slack_http, run_slack_socket_mode

        config = slack_config(settings)
        if http_port is not None:
            jobs.append(
                run_slack_http(
                    config, interviews=app.interviews, database=app.database, host=http_host, port=http_port, stop=stop
                )
            )
        else:
            jobs.append(run_slack_socket_mode(config, interviews=app.interviews, database=app.database, stop=stop))
    if "discord" in platforms:
        from adapters.discord import run_discord

        jobs.append(
            _until(
                stop,
                run_discord(
                    discord_config(settings),
                    interviews=app.interviews,
                    router=DmRouter(app.database),
                    database=app.database,
                ),
            )
        )
    return jobs


@contextlib.asynccontextmanager
async def platform_publishers(settings: Settings) -> AsyncIterator[tuple[dict, dict, dict]]:
    """Poll and digest publishers and DM messengers (``bot.legitimacy.checks``) for every configured platform,
    by platform, on web-API clients of their own (Discord: a REST-only client, logged in but not connected
    to the gateway), so a worker process posts without serving events."""
    polls: dict = {}
    digests: dict = {}
    messengers: dict = {}
    async with contextlib.AsyncExitStack() as stack:
        if settings.slack_bot_token is not None:
            from adapters.slack.digest import SlackDigestPublisher
            from adapters.slack.polls import SlackPollPublisher

            web = slack_config(settings).web_client()
            polls["slack"], digests["slack"] = SlackPollPublisher(web), SlackDigestPublisher(web)
            from adapters.slack.legitimacy import SlackDirectMessenger

            messengers["slack"] = SlackDirectMessenger(web)
        if settings.discord_token is not None:
            import discord

            from adapters.discord.digest import DiscordDigestPublisher
            from adapters.discord.polls import DiscordPollPublisher

            rest = discord.Client(intents=discord.Intents.none())
            stack.push_async_callback(rest.close)
            await rest.login(settings.discord_token.get_secret_value())
            polls["discord"], digests["discord"] = DiscordPollPublisher(rest), DiscordDigestPublisher(rest)
            from adapters.discord.legitimacy import DiscordDirectMessenger

            messengers["discord"] = DiscordDirectMessenger(rest)
        yield polls, digests, messengers


async def scheduler_job(app: App, *, stop: asyncio.Event) -> None:
    """Run the scheduler (once this process leads) until ``stop``."""
    from bot.runtime.scheduler import SchedulerContext, run_scheduler
    from bot.runtime.wiring import build_maintenance

    settings = app.settings
    every = settings.maintenance_interval_minutes
    async with platform_publishers(settings) as (polls, digests, messengers):
        context = SchedulerContext(
            database=app.database,
            poll_publishers=polls,
            digest_publishers=digests,
            messengers=messengers,
            default_poll_duration=timedelta(hours=settings.poll_duration_hours),
            maintenance=build_maintenance(settings, llm=app.llm) if every else None,
        )
        await run_scheduler(
            context,
            database_url=settings.resolved_database_url,
            stop=stop,
            tick=timedelta(seconds=settings.scheduler_tick_seconds),
            maintenance_every=timedelta(minutes=every) if every else None,
        )


#: How often a running process looks for reactions recorded but not applied (by a process that died).
PENDING_VOTES_EVERY_SECONDS = 30.0


async def pending_votes_job(app: App, *, stop: asyncio.Event) -> None:
    """Apply reactions an earlier (or another, crashed) process recorded but did not apply: at start,
    then every ``PENDING_VOTES_EVERY_SECONDS``; and at shutdown whatever this process still holds."""
    from bot.voting.inbox import inbox_for, prune_applied
    from core.clock import utcnow

    inbox = inbox_for(app.database)
    while True:
        try:
            await inbox.drain()
            await prune_applied(app.database, now=utcnow())
        except Exception:  # noqa: BLE001 — they stay recorded; the next round tries again
            log.exception("applying recorded reactions failed; they stay pending")
        try:
            await asyncio.wait_for(stop.wait(), PENDING_VOTES_EVERY_SECONDS)
        except TimeoutError:
            continue
        break
    await inbox.close()


async def _until(stop: asyncio.Event, job: Coroutine) -> None:
    """Run ``job`` until it ends or ``stop`` is set (then cancel it; it cleans up on cancellation)."""
    task = asyncio.ensure_future(job)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task not in done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(app: App, plan: RolePlan, *, http_port: int | None, http_host: str) -> None:
    """Run every platform (and the scheduler) until SIGINT/SIGTERM, or until one of them fails (then
    stop the others)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    work = platform_jobs(app, plan.platforms, stop=stop, http_port=http_port, http_host=http_host)
    if plan.scheduler:
        work.append(scheduler_job(app, stop=stop))
    # Everything is imported and wired by now: what lives until exit need not be scanned again.
    log.debug("froze %d start-up objects", freeze_startup_heap())
    jobs = [asyncio.ensure_future(job) for job in work]
    votes = asyncio.ensure_future(pending_votes_job(app, stop=stop))
    log.info("serving %s", ", ".join(plan.platforms + (["the scheduler"] if plan.scheduler else [])))
    try:
        for finished in asyncio.as_completed(jobs):
            try:
                await finished
            finally:
                stop.set()  # one platform ending (or failing) stops the process: a supervisor restarts it
    finally:
        stop.set()
        await asyncio.gather(*jobs, return_exceptions=True)
        await asyncio.gather(votes, return_exceptions=True)  # after the platforms: nothing new arrives
        await app.close()
