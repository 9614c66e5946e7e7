"""Wire the bot together, in one place: handlers in order, commands, reload, start-up.

Handler order matters: python-telegram-bot runs the first matching handler of a group, so
commands come before the catch-all text handlers, and private chats before groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.config import Settings
from bot.engine import Engine, ReloadOutcome
from bot.errors import KnowledgeError
from bot.logs import Redactor, configure_logging
from bot.replies import fit_plain
from bot.store import Store
from bot.telegram.handlers import Handlers

log = logging.getLogger(__name__)

PUBLIC_COMMANDS = [
    BotCommand("start", "Welcome and example questions"),
    BotCommand("ask", "Ask a question (handy in groups)"),
    BotCommand("topics", "Every question I can answer"),
    BotCommand("source", "Where the answers come from"),
    BotCommand("help", "How to use me"),
]
ADMIN_COMMANDS = [
    *PUBLIC_COMMANDS,
    BotCommand("reload", "Reload the knowledge files now"),
    BotCommand("unanswered", "Top questions I could not answer"),
    BotCommand("stats", "What is loaded and recorded"),
]

MESSAGES = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
PRIVATE = filters.ChatType.PRIVATE & MESSAGES
GROUPS = filters.ChatType.GROUPS & MESSAGES


def build_application(
    settings: Settings,
    engine: Engine,
    store: Store,
    *,
    request: BaseRequest | None = None,
    rate_limiter: bool = True,
) -> Application:
    """The whole bot as a python-telegram-bot Application, ready to initialise."""
    builder = (
        ApplicationBuilder()
        .token(settings.token.reveal())
        .base_url(settings.base_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .post_init(on_startup)
        .post_shutdown(on_shutdown)
    )
    if rate_limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()
    handlers = Handlers(engine, store, settings)
    app.bot_data["handlers"] = handlers

    # 1. Commands, everywhere ("/ask@thisbot" in groups is understood by CommandHandler).
    app.add_handler(CommandHandler("start", handlers.start))
    app.add_handler(CommandHandler("help", handlers.help))
    app.add_handler(CommandHandler("topics", handlers.topics))
    app.add_handler(CommandHandler("source", handlers.source))
    app.add_handler(CommandHandler("ask", handlers.ask))
    # 2. Maintainers' commands: they check the sender against ADMIN_IDS themselves.
    app.add_handler(CommandHandler("reload", handlers.reload))
    app.add_handler(CommandHandler("unanswered", handlers.unanswered))
    app.add_handler(CommandHandler("stats", handlers.stats))
    # 3. Buttons and inline mode.
    app.add_handler(CallbackQueryHandler(handlers.button))
    app.add_handler(InlineQueryHandler(handlers.inline_query))
    # 4. Free text: any text in private; in groups only when addressed (checked inside).
    app.add_handler(
        MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, handlers.private_text)
    )
    app.add_handler(MessageHandler(GROUPS & filters.TEXT & ~filters.COMMAND, handlers.group_text))
    # 5. Anything else a person sends privately (stickers, photos, voice, unknown commands).
    app.add_handler(
        MessageHandler(PRIVATE & ~filters.TEXT & ~filters.StatusUpdate.ALL, handlers.not_text)
    )
    app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, handlers.help))
    # Channel posts are not questions to the bot: no handler takes them.
    app.add_error_handler(handlers.error)
    return app


def handlers_of(app: Application) -> Handlers:
    return app.bot_data["handlers"]


async def on_startup(app: Application) -> None:
    """After getMe: publish the command menus and start watching the knowledge files.

    `run_polling` calls it as `post_init`; the webhook server and the tests call it.
    """
    handlers = handlers_of(app)
    await _publish_commands(app, handlers.settings)
    app.bot_data["watcher"] = asyncio.create_task(watch_knowledge(app), name="knowledge-watch")


async def on_shutdown(app: Application) -> None:
    """Stop the watcher and close the database (`post_shutdown`, or called directly)."""
    watcher = app.bot_data.pop("watcher", None)
    if watcher is not None:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    await asyncio.to_thread(handlers_of(app).store.close)


async def _publish_commands(app: Application, settings: Settings) -> None:
    """The public menu for everyone; the admin menu only in each admin's private chat."""
    await app.bot.set_my_commands(PUBLIC_COMMANDS, scope=BotCommandScopeDefault())
    for admin in sorted(settings.admin_ids):
        try:
            await app.bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeChat(admin))
        except TelegramError as exc:  # an admin who never opened the bot has no chat
            log.warning("Could not set the admin menu for %s: %s", admin, exc)


async def watch_knowledge(app: Application) -> None:
    """Poll the knowledge files' stamps; reload on change, keep serving on a bad edit."""
    handlers = handlers_of(app)
    engine = handlers.engine
    interval = handlers.settings.reload_interval
    while True:
        await asyncio.sleep(interval)
        try:
            if engine.changed_on_disk():
                outcome = await asyncio.to_thread(engine.reload)
                await report_reload(app, outcome)
        except Exception:  # the watcher must outlive any surprise
            log.exception("Knowledge watcher failed; retrying")


async def report_reload(app: Application, outcome: ReloadOutcome) -> None:
    """Log a reload, and tell the admins when an edit was refused."""
    if outcome.ok:
        if outcome.changed:
            log.info("Knowledge reloaded: %d entries", outcome.entries)
        return
    for problem in outcome.problems:
        log.error("Knowledge not reloaded: %s", problem)
    text = fit_plain(outcome.summary())
    for admin in sorted(handlers_of(app).settings.admin_ids):
        try:
            await app.bot.send_message(admin, text)
        except TelegramError as exc:
            log.warning("Could not tell admin %s about the failed reload: %s", admin, exc)


def _one_line_network_errors(redactor: Redactor) -> Callable[[logging.LogRecord], bool]:
    """Telegram unreachable or a bad token is a condition, not a bug: no traceback."""

    def shorten(record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, NetworkError | InvalidToken) and not isinstance(error, BadRequest):
            message = f"{record.getMessage()} ({error})"
            record.msg, record.args = redactor.scrub(message), None
            record.exc_info, record.exc_text = None, None
        return True

    return shorten


def run(settings: Settings, *, webhook: bool = False) -> int:
    """Start the bot (long polling or webhook) until interrupted; an exit code."""
    redactor = configure_logging(
        settings.log_level, settings.token, settings.webhook_secret, settings.vote_key
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_one_line_network_errors(redactor))
    try:
        engine = Engine(settings.qa_path)
    except KnowledgeError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        return 1
    store = Store(
        settings.database_path,
        max_rows=settings.unanswered_max_rows,
        vote_key=(settings.vote_key or settings.token).reveal().encode(),
    )
    app = build_application(settings, engine, store)
    log.info(
        "Serving %d entries about %r", len(engine.knowledge.entries), engine.knowledge.article.title
    )
    try:
        if webhook:
            from bot.telegram.webhook import serve_webhook

            return asyncio.run(serve_webhook(app, settings))
        app.run_polling(
            allowed_updates=Update.ALL_TYPES, stop_signals=(signal.SIGINT, signal.SIGTERM)
        )
    except InvalidToken:
        log.error("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather")
        return 2
    except BadRequest as exc:  # a subclass of NetworkError, but Telegram did answer
        log.error("Telegram refused the start-up request: %s", exc.message)
        return 2
    except NetworkError as exc:
        log.error("Could not reach the Bot API at %s: %s", settings.base_url, exc)
        return 1
    return 0
