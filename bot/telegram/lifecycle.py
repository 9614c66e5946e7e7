"""Start-up and shut-down, shared by polling and webhook mode.

Start-up rides out a Telegram blip: each step (getMe, the command menus, deleteWebhook or
setWebhook) is retried with backoff for up to STARTUP_DEADLINE seconds, so a process
supervisor sees a slow start instead of a crash loop; then the error goes up and `run`
turns it into one line and exit 1. A refusal (bad token, bad webhook URL) is not retried.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import Application
from tenacity import AsyncRetrying, retry_if_exception, stop_before_delay, wait_exponential_jitter

from bot.settings import Settings

log = logging.getLogger(__name__)

AppType = Application[Any, Any, Any, Any, Any, Any]


def _startup_worth_retrying(error: BaseException) -> bool:
    """Telegram unreachable or overloaded; not a refusal (bad token, bad webhook URL)."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


async def patiently(settings: Settings, what: str, step: Callable[[], Awaitable[object]]) -> None:
    """Run a start-up step, retrying Telegram's blips for up to STARTUP_DEADLINE seconds."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_startup_worth_retrying),
        wait=wait_exponential_jitter(multiplier=0.5, max=10, jitter=0.5),
        stop=stop_before_delay(settings.startup_deadline),
        before_sleep=lambda state: log.warning(
            "Start-up (%s) failed, retrying in %.1f s: %s",
            what,
            state.upcoming_sleep,
            state.outcome.exception() if state.outcome else "?",
        ),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            await step()


async def start_up(app: AppType, settings: Settings) -> None:
    """getMe, the handlers and command menus, then the application, each step patiently."""
    await patiently(settings, "getMe", app.initialize)
    if app.post_init:  # on_startup: handlers, command menus, the knowledge watcher
        await patiently(settings, "setMyCommands", lambda: app.post_init(app))  # type: ignore[misc]
    await app.start()


async def shut_down(app: AppType) -> None:
    """Finish the updates in hand, close the watcher and database, release the client."""
    if app.running:
        await app.stop()
    if app.post_shutdown:  # on_shutdown: the watcher and the database
        await app.post_shutdown(app)
    await app.shutdown()


def polling_failed(error: TelegramError) -> None:
    """getUpdates failed (python-telegram-bot retries it): one line, not an ERROR."""
    log.warning("Polling Telegram failed, retrying: %s: %s", type(error).__name__, error)


async def serve_polling(app: AppType, settings: Settings) -> int:
    """Long polling until SIGINT/SIGTERM; then stop fetching and finish what was fetched."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    assert app.updater is not None
    updater = app.updater
    try:
        await start_up(app, settings)
        await patiently(
            settings,
            "deleteWebhook",
            lambda: updater.start_polling(
                allowed_updates=Update.ALL_TYPES, error_callback=polling_failed
            ),
        )
        await stop.wait()
    finally:
        if updater.running:
            await updater.stop()
        await shut_down(app)
    return 0
