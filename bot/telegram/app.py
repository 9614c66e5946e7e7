"""Wire the bot together, in one place: handlers in order, commands, reload, start-up.

Handler order matters: python-telegram-bot runs the first matching handler of a group, so
`handler_list` puts maintainers' commands before public ones, commands before free text,
and every button kind before the catch-all for unknown button data.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import uuid
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    LinkPreviewOptions,
    Message,
    User,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot import health
from bot.callbacks import Pick, ShowAnswer, ShowTopics, Vote
from bot.engine import Engine, ReloadOutcome
from bot.errors import KnowledgeError
from bot.knowledge import Knowledge, load_knowledge
from bot.logs import configure_logging, one_line_telegram_errors
from bot.messages import say
from bot.pacing import watched_event_loop
from bot.publishing import follow_latest, start_engine
from bot.replies import bot_description, bot_short_description, fit_plain
from bot.settings import Settings
from bot.store import Store, StoreError, open_store
from bot.store.budget import overall_rate
from bot.telegram.admission import GROUP_BUDGET, GROUP_WINDOW, UpdateGate
from bot.telegram.fairness import Budgets
from bot.telegram.handlers import Handlers
from bot.telegram.lifecycle import patiently, serve_polling
from bot.telegram.liveness import LivenessRequest
from bot.telegram.ordering import ChatOrder
from bot.telegram.sending import PollingRequest, RetryingRequest, SharedRateLimiter
from bot.telegram.webhook import register_webhook, serve_webhook

log = logging.getLogger(__name__)

PUBLIC = ("start", "ask", "topics", "source", "help")
"""The public commands, in menu order; their descriptions are in each catalogue."""


def public_commands(language: str = "en") -> list[BotCommand]:
    return [BotCommand(name, say(language, f"commands.{name}")) for name in PUBLIC]


PUBLIC_COMMANDS = public_commands()
ADMIN_ONLY = [
    BotCommand("reload", "Reload the knowledge files now"),
    BotCommand("unanswered", "Top questions I could not answer"),
    BotCommand("stats", "What is loaded and recorded"),
]
ADMIN_COMMANDS = [*PUBLIC_COMMANDS, *ADMIN_ONLY]
GROUP_ONLY = {"ask", "help"}
"""In a group the menu offers what works there; the rest is for a private chat."""
GROUP_COMMANDS = [c for c in PUBLIC_COMMANDS if c.command in GROUP_ONLY]

MESSAGES = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
PRIVATE = filters.ChatType.PRIVATE & MESSAGES
GROUPS = filters.ChatType.GROUPS & MESSAGES

AppType = Application[Any, Any, Any, Any, Any, Any]


class MentionsBot(filters.Mention):
    """`filters.Mention`, or the bot's @username in the text: a modified client can send
    entities that do not fit the text (a mention splitting a surrogate pair, offsets past
    the end), which must neither crash the filter nor hide a real mention."""

    __slots__ = ("pattern",)

    def __init__(self, me: User) -> None:
        super().__init__(me)
        name = re.escape(me.username or str(me.id))
        self.pattern = re.compile(rf"@{name}\b", re.IGNORECASE)

    def filter(self, message: Message) -> bool:
        try:
            if super().filter(message):
                return True
        except (UnicodeError, IndexError, ValueError):
            log.info("A message's entities do not fit its text; reading the text instead")
        return bool(self.pattern.search(message.text or message.caption or ""))


class RepliesTo(filters.MessageFilter):
    """Messages that reply to a message of the given user (here: the bot itself)."""

    __slots__ = ("user_id",)

    def __init__(self, user_id: int) -> None:
        super().__init__(name=f"RepliesTo({user_id})")
        self.user_id = user_id

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        return bool(replied and replied.from_user and replied.from_user.id == self.user_id)


def handler_list(
    h: Handlers, me: User, admin_ids: frozenset[int]
) -> list[BaseHandler[Any, Any, Any]]:
    """Every handler, in the order python-telegram-bot tries them (first match wins).

    `me` is the bot's own user (from getMe), which the group filters need.
    """
    admins = filters.User(user_id=admin_ids)
    maintainer_commands = [c.command for c in ADMIN_ONLY]
    addressed = MentionsBot(me) | RepliesTo(me.id)
    return [
        # 1. Maintainers' commands: admins in private; an admin in a group is told to use a
        #    private chat (a group must not see the log); anyone else gets a refusal.
        CommandHandler("reload", h.reload, filters=admins & filters.ChatType.PRIVATE),
        CommandHandler("unanswered", h.unanswered, filters=admins & filters.ChatType.PRIVATE),
        CommandHandler("stats", h.stats, filters=admins & filters.ChatType.PRIVATE),
        CommandHandler(maintainer_commands, h.admin_in_group, filters=admins),
        CommandHandler(maintainer_commands, h.not_admin),
        # 2. Public commands, everywhere ("/ask@thisbot" in groups is understood).
        CommandHandler("start", h.start),
        CommandHandler("help", h.help),
        CommandHandler("topics", h.topics),
        CommandHandler("source", h.source),
        CommandHandler("ask", h.ask),
        # 3. Buttons, one handler per kind of callback data (bot.callbacks), then data that
        #    no kind matches (old keyboards, tampered clients): just stop the spinner.
        CallbackQueryHandler(h.show_answer, pattern=ShowAnswer.PATTERN),
        CallbackQueryHandler(h.pick, pattern=Pick.PATTERN),
        CallbackQueryHandler(h.show_topics, pattern=ShowTopics.PATTERN),
        CallbackQueryHandler(h.vote, pattern=Vote.PATTERN),
        CallbackQueryHandler(h.unknown_button),
        # 4. Inline mode: "@bot question" in any chat.
        InlineQueryHandler(h.inline_query),
        # 5. Free text: any text in private; in groups only when addressed.
        MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, h.private_text),
        MessageHandler(GROUPS & filters.TEXT & ~filters.COMMAND & addressed, h.group_text),
        # 6. Anything else a person sends privately (stickers, photos, voice), and commands
        #    the bot does not have (in groups: "/foo@thisbot"). Channel posts and
        #    unaddressed group messages reach no handler.
        MessageHandler(PRIVATE & ~filters.TEXT & ~filters.StatusUpdate.ALL, h.not_text),
        MessageHandler(PRIVATE & filters.COMMAND, h.unknown_command),
        MessageHandler(GROUPS & filters.COMMAND & MentionsBot(me), h.unknown_command),
    ]


def build_application(
    settings: Settings, engine: Engine, store: Store, *, instance: str | None = None
) -> AppType:
    """The whole bot as a python-telegram-bot Application, ready to initialise.

    The handlers are added by `on_startup`, once getMe has told the bot its own name.
    Every call but getUpdates goes through `RetryingRequest` (bot.telegram.sending);
    updates are handled concurrently across chats, in order within each (`ChatOrder`),
    after the gate (bot.telegram.admission) has dropped re-deliveries and floods.
    `instance` names this process in the store (its update claims, its heartbeat); a new
    random one when not given.
    """
    instance = instance or uuid.uuid4().hex
    handlers = Handlers(engine, store, settings)
    gate = UpdateGate(
        store,
        users=Budgets(settings.user_budget, settings.user_budget_window),
        groups=Budgets(GROUP_BUDGET, GROUP_WINDOW),
        slow_down=handlers.slow_down,
        holder=instance,
    )
    order = ChatOrder(settings.concurrent_updates, gate)
    polls: PollingRequest = (
        LivenessRequest(settings.health_file)
        if settings.health_file is not None
        else PollingRequest(connection_pool_size=1)
    )
    polls.wait_handled = order.wait_handled  # confirm a batch once it has been handled
    builder = (
        ApplicationBuilder()
        .token(settings.token.get_secret_value())
        .base_url(settings.base_url)
        .request(
            RetryingRequest(
                deadline=settings.send_deadline, read_timeout=settings.send_read_timeout
            )
        )
        .get_updates_request(polls)
        .concurrent_updates(order)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .post_init(on_startup)
        .post_shutdown(on_shutdown)
    )
    app: AppType = builder.rate_limiter(rate_limiter(settings, store)).build()
    app.bot_data["handlers"] = handlers
    app.bot_data["instance"] = instance
    return app


def rate_limiter(settings: Settings, store: Store) -> AIORateLimiter | SharedRateLimiter:
    """Throttling to Telegram's limits. SEND_RATE_LIMIT means one thing either way: at most
    that many messages a second for the bot token, evenly spaced (`overall_rate`). With a
    shared database every replica spends the store's one budget (overall, per chat, per
    group); alone, python-telegram-bot's AIORateLimiter keeps it in memory (overall, per
    group). 429s are retried per call by RetryingRequest, so neither ever retries."""
    if settings.shared:
        return SharedRateLimiter(store.take_send_tokens)
    overall = overall_rate(settings.send_rate_limit)
    if overall is None:
        return AIORateLimiter(overall_max_rate=0, max_retries=0)
    # A bucket of one token refilled every 1/rate s: spaced, no bursts (as in the store).
    return AIORateLimiter(
        overall_max_rate=1, overall_time_period=1 / overall.per_second, max_retries=0
    )


def handlers_of(app: AppType) -> Handlers:
    handlers: Handlers = app.bot_data["handlers"]
    return handlers


async def on_startup(app: AppType) -> None:
    """After getMe: add the handlers, publish the command menus (unless RUN_SETUP=0), and
    watch the knowledge files, or, with a shared database, follow the published version.

    `run_polling` and the webhook server call it as `post_init`; the tests call it.
    """
    handlers = handlers_of(app)
    if not app.bot_data.get("wired"):  # start-up may be retried: wire once
        app.add_handlers(handler_list(handlers, app.bot.bot, handlers.settings.admin_ids))
        app.add_error_handler(handlers.error)
        app.bot_data["wired"] = True
    if handlers.settings.run_setup:
        await publish_commands(app.bot, handlers.settings, handlers.engine.knowledge)
    if "heartbeat" not in app.bot_data:  # first beat before any update is claimed
        await beat(handlers.store, app.bot_data["instance"], failing=False)
        app.bot_data["heartbeat"] = asyncio.create_task(heartbeat(app), name="heartbeat")
    if "watcher" not in app.bot_data:
        follow = follow_published if handlers.settings.shared else watch_knowledge
        app.bot_data["watcher"] = asyncio.create_task(follow(app), name="knowledge-watch")


async def on_shutdown(app: AppType) -> None:
    """Stop the watcher and the heartbeat, leave (this process's unfinished claims are free
    at once) and close the database (`post_shutdown`, or called directly)."""
    for name in ("watcher", "heartbeat"):
        task = app.bot_data.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    handlers = handlers_of(app)
    try:
        await asyncio.to_thread(handlers.store.leave, app.bot_data["instance"])
    except Exception as exc:  # the claims are free HOLDER_TIMEOUT later anyway
        log.warning("Could not remove this process from the database: %s", exc)
    await asyncio.to_thread(handlers.store.close)
    if handlers.settings.health_file is not None:
        health.clear(handlers.settings.health_file)


async def publish_commands(bot: Bot, settings: Settings, knowledge: Knowledge) -> None:
    """What Telegram shows before and around a chat: the bot's description (the empty chat
    before /start) and short description (its profile and shared links), and the command
    menus by scope: private chats get every public command, groups /ask and /help, each
    admin's private chat the maintainers' commands too. Each language the knowledge is
    answered in gets its own texts (Telegram picks them by the user's language)."""
    for code in knowledge.languages:
        view, language = knowledge.in_language(code), None if code == "en" else code
        public = public_commands(code)
        group = [c for c in public if c.command in GROUP_ONLY]
        await bot.set_my_description(bot_description(view), language_code=language)
        await bot.set_my_short_description(bot_short_description(view), language_code=language)
        await bot.set_my_commands(public, scope=BotCommandScopeDefault(), language_code=language)
        await bot.set_my_commands(
            public, scope=BotCommandScopeAllPrivateChats(), language_code=language
        )
        await bot.set_my_commands(
            group, scope=BotCommandScopeAllGroupChats(), language_code=language
        )
    for admin in sorted(settings.admin_ids):
        try:
            await bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeChat(admin))
        except TelegramError as exc:  # an admin who never opened the bot has no chat
            log.warning("Could not set the admin menu for %s: %s", admin, exc)


async def watch_knowledge(app: AppType) -> None:
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


HEARTBEAT_EVERY = 1.0
"""Seconds between heartbeats (`Store.heartbeat`); a process silent for `HOLDER_TIMEOUT`
is taken for dead and its unfinished update claims are taken over."""


async def beat(store: Store, instance: str, *, failing: bool) -> bool:
    """One heartbeat, off the event loop; whether it failed (logged once per outage)."""
    try:
        await asyncio.to_thread(store.heartbeat, instance)
    except Exception as exc:  # the heartbeat must outlive any surprise
        if not failing:
            log.warning("Could not record this process as alive: %s", exc)
        return True
    return False


async def heartbeat(app: AppType) -> None:
    """Tell the store this process is alive, every `HEARTBEAT_EVERY` seconds."""
    store, instance = handlers_of(app).store, app.bot_data["instance"]
    failing = False
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        failing = await beat(store, instance, failing=failing)


FOLLOW_WAIT = 1.0
"""Seconds one wait for a published version lasts (a NOTIFY, or SQLite's poll, ends it
sooner); the task looks up again after each, so stopping never waits longer."""


async def follow_published(app: AppType) -> None:
    """With a shared database: serve each newly published knowledge version, checked and
    indexed in a worker thread (answers go on from the old snapshot meanwhile); tell the
    admins about a refused version once, whichever replica gets there first."""
    handlers = handlers_of(app)
    engine, store = handlers.engine, handlers.store
    seen = engine.version or 0
    failing = False
    while True:
        try:
            newest = await asyncio.to_thread(store.wait_for_publish, FOLLOW_WAIT, after=seen)
            if newest is None:
                continue
            followed = await asyncio.to_thread(follow_latest, engine, store)
            seen = max(seen, followed.version or newest)
            failing = False
            if followed.outcome.ok:
                if followed.outcome.changed:
                    log.info(
                        "Serving published knowledge version %s: %d entries",
                        followed.version,
                        followed.outcome.entries,
                    )
            elif followed.report:
                await report_reload(app, followed.outcome)
            else:
                log.warning("Published knowledge version %s refused (reported)", followed.version)
        except StoreError as exc:
            if not failing:
                log.warning("Cannot follow the published knowledge: %s", exc)
            failing = True
            await asyncio.sleep(FOLLOW_WAIT)
        except Exception:  # the follower must outlive any surprise
            log.exception("Following the published knowledge failed; retrying")
            await asyncio.sleep(FOLLOW_WAIT)


async def report_reload(app: AppType, outcome: ReloadOutcome) -> None:
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


def start_serving(settings: Settings, store: Store) -> Engine:
    """The engine at start: the knowledge files; with a shared database the newest
    published version (the files, published, when there is none yet).

    Everything built so far lives as long as the process: frozen (`gc.freeze`), the
    cyclic collector never walks it again, which on a big file would hold up answers."""
    if not settings.shared:
        engine = Engine(settings.qa_file)
    else:
        engine, refused = start_engine(settings.qa_file, store)
        for problem in refused:  # the follower tells the admins, once for all replicas
            log.error(
                "Published knowledge refused, serving %s instead: %s", settings.qa_file, problem
            )
        if engine.version is not None:
            log.info("Serving published knowledge version %d", engine.version)
    gc.freeze()
    return engine


def setup(settings: Settings) -> int:
    """`python -m bot setup`, a deploy step: register the webhook (when WEBHOOK_URL is
    set) and the command menus once, so replicas started with RUN_SETUP=0 skip it."""
    configure_logging(settings.log_level, settings.token, settings.webhook_secret)
    request = RetryingRequest(
        deadline=settings.send_deadline, read_timeout=settings.send_read_timeout
    )
    bot = Bot(settings.token.get_secret_value(), base_url=settings.base_url, request=request)

    async def chores() -> list[str]:
        done = []
        async with bot:
            await patiently(settings, "getMe", bot.get_me)
            if settings.webhook_url:
                await patiently(settings, "setWebhook", lambda: register_webhook(bot, settings))
                done.append(f"webhook {settings.webhook_url.rstrip('/')}/telegram")
            knowledge = load_knowledge(settings.qa_file)
            await patiently(
                settings, "setMyCommands", lambda: publish_commands(bot, settings, knowledge)
            )
            done.append(
                "description and command menus "
                f"(private, groups, and {len(settings.admin_ids)} admin(s))"
            )
        return done

    try:
        done = asyncio.run(chores())
    except InvalidToken:
        log.error("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather")
        return 2
    except BadRequest as exc:
        log.error("Telegram refused the set-up request: %s", exc.message)
        return 2
    except NetworkError as exc:
        log.error("Could not reach the Bot API at %s: %s", settings.base_url, exc)
        return 1
    log.info("Set up: %s", "; ".join(done))
    return 0


def run(settings: Settings, *, webhook: bool = False) -> int:
    """Start the bot (long polling or webhook) until interrupted; an exit code."""
    redactor = configure_logging(
        settings.log_level, settings.token, settings.webhook_secret, settings.vote_key
    )
    one_line_telegram_errors(redactor)
    try:
        store = open_store(settings)
    except StoreError as exc:
        log.error("%s", exc)
        return 1
    try:
        engine = start_serving(settings, store)
    except (KnowledgeError, StoreError) as exc:
        problems = exc.problems if isinstance(exc, KnowledgeError) else [exc]
        for problem in problems:
            log.error("%s", problem)
        store.close()
        return 1
    app = build_application(settings, engine, store, instance=uuid.uuid4().hex)
    log.info(
        "Serving %d entries about %r", len(engine.knowledge.entries), engine.knowledge.article.title
    )
    try:
        serve = serve_webhook if webhook else serve_polling
        with asyncio.Runner(loop_factory=watched_event_loop) as runner:
            return runner.run(serve(app, settings))
    except InvalidToken:
        log.error("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather")
        return 2
    except BadRequest as exc:  # a subclass of NetworkError, but Telegram did answer
        log.error("Telegram refused the start-up request: %s", exc.message)
        return 2
    except NetworkError as exc:
        log.error(
            "Could not reach the Bot API at %s for %.0f s: %s",
            settings.base_url,
            settings.startup_deadline,
            exc,
        )
        return 1
