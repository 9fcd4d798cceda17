"""`mge run`: serve the configured chat platforms from one process until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from datetime import timedelta

from mge.bot.routing import DmRouter
from mge.bot.settings import Settings, SettingsError
from mge.bot.wiring import App

log = logging.getLogger("mge.run")

PLATFORMS = ("discord", "slack")


def choose_platforms(settings: Settings, requested: str) -> list[str]:
    """The platforms to start: the requested one, or every configured one for ``all``."""
    configured = settings.platforms()
    if requested == "all":
        if not configured:
            raise SettingsError(
                "No chat platform is configured. Set DISCORD_TOKEN for Discord and/or SLACK_BOT_TOKEN "
                "(plus SLACK_APP_TOKEN for Socket Mode) for Slack; see the README. To try the bot without "
                "a platform, run `mge chat`."
            )
        return configured
    if requested not in configured:
        token = "DISCORD_TOKEN" if requested == "discord" else "SLACK_BOT_TOKEN"
        raise SettingsError(f"{requested} was requested but {token} is not set.")
    return [requested]


def platform_jobs(
    app: App, platforms: list[str], *, stop: asyncio.Event, http_port: int | None, http_host: str
) -> list[Coroutine]:
    settings = app.settings
    jobs: list[Coroutine] = []
    if "slack" in platforms:
        from mge.adapters.slack import SlackConfig, run_slack_http, run_slack_socket_mode

        config = SlackConfig(
            bot_token=settings.slack_bot_token.get_secret_value(),
            signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
            app_token=settings.slack_app_token.get_secret_value() if settings.slack_app_token else None,
            api_url=settings.slack_api_url,
            moderator_ids=settings.slack_moderator_ids,
            poll_duration=timedelta(hours=settings.poll_duration_hours),
        )
        if http_port is not None:
            jobs.append(
                run_slack_http(config, interviews=app.interviews, database=app.database, host=http_host, port=http_port, stop=stop)
            )
        else:
            jobs.append(run_slack_socket_mode(config, interviews=app.interviews, database=app.database, stop=stop))
    if "discord" in platforms:
        from mge.adapters.discord import DiscordConfig, run_discord

        config = DiscordConfig(
            token=settings.discord_token.get_secret_value(),
            command_guild_ids=settings.discord_command_guild_ids,
            moderator_role_ids=settings.discord_moderator_role_ids,
            poll_duration=timedelta(hours=settings.poll_duration_hours),
        )
        jobs.append(_until(stop, run_discord(config, interviews=app.interviews, router=DmRouter(app.database), database=app.database)))
    return jobs


async def _until(stop: asyncio.Event, job: Coroutine) -> None:
    """Run ``job`` until it ends or ``stop`` is set (then cancel it; it cleans up on cancellation)."""
    task = asyncio.ensure_future(job)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task not in done:
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def serve(app: App, platforms: list[str], *, http_port: int | None, http_host: str) -> None:
    """Run every platform until SIGINT/SIGTERM, or until one of them fails (then stop the others)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    jobs = [asyncio.ensure_future(job) for job in platform_jobs(app, platforms, stop=stop, http_port=http_port, http_host=http_host)]
    log.info("serving %s", ", ".join(platforms))
    try:
        for finished in asyncio.as_completed(jobs):
            try:
                await finished
            finally:
                stop.set()  # one platform ending (or failing) stops the process: a supervisor restarts it
    finally:
        await asyncio.gather(*jobs, return_exceptions=True)
        await app.close()
