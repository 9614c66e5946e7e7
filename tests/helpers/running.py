"""The whole bot, polling the Bot API stand-in over real HTTP, as the tests drive it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from telegram.ext import Application

from bot.engine import Engine
from bot.settings import Settings
from bot.store import SQLiteStore, Store
from bot.telegram.app import build_application, on_shutdown, on_startup
from bot.telegram.lifecycle import polling_failed
from bot.telegram.ordering import ChatOrder
from helpers.botapi import BotApiStandin

ADMIN_ID = 4242
"""A maintainer's Telegram user id (ADMIN_IDS) in the end-to-end tests."""
SETTLE_USER = 9_999_999
"""The user whose inline queries `settle` sends: nobody else uses it."""


@dataclass
class BotUnderTest:
    """The running Application, the stand-in it talks to, and what it was built from."""

    app: Application[Any, Any, Any, Any, Any, Any]
    api: BotApiStandin
    settings: Settings
    engine: Engine
    store: Store

    async def ask(self, text: str, **kwargs: Any) -> dict[str, Any]:
        """Send `text` as a user and return the bot's sendMessage parameters."""
        before = len(self.api.sent("sendMessage"))
        self.api.push_message(text, **kwargs)
        sent = await self.api.wait_for("sendMessage", count=before + 1)
        return sent[-1]

    async def settle(self) -> None:
        """Return once every update queued so far has been handled.

        Updates are fetched in order, so once an inline query pushed now is answered, every
        earlier update has been fetched; then the bot is done once nothing is in hand
        (chats are handled concurrently). The query adds no message:
        `api.sent("sendMessage")` is unchanged.
        """
        update = self.api.push_inline_query("", user_id=SETTLE_USER)
        query_id = update["inline_query"]["id"]
        await self.api.wait_for(
            "answerInlineQuery", where=lambda p: p.get("inline_query_id") == query_id
        )
        processor = self.app.update_processor
        assert isinstance(processor, ChatOrder)
        await asyncio.wait_for(processor.wait_idle(), timeout=10)


def bot_settings(api: BotApiStandin, qa_path: Path, data_dir: Path) -> Settings:
    """Settings for a bot on the stand-in: the given Q&A file, a database in `data_dir`."""
    return Settings(
        _env_file=None,
        token=SecretStr(api.token),
        base_url=api.api_base_url,
        qa_file=qa_path,
        admin_ids=frozenset({ADMIN_ID}),
        database_path=data_dir / "bot.sqlite3",
        reload_interval=0.1,
        user_budget=100_000,  # one test user asks everything; tests/test_fairness.py sets one
    )


@asynccontextmanager
async def serve(api: BotApiStandin, settings: Settings) -> AsyncIterator[BotUnderTest]:
    """The whole bot on `settings`, polling `api` over real HTTP, until the block ends."""
    engine = Engine(settings.qa_file, settle=0.05)
    store = SQLiteStore(settings.database_path, max_rows=100, vote_key=b"test-vote-key")
    app = build_application(settings, engine, store)
    await app.initialize()
    await on_startup(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1, error_callback=polling_failed)
    try:
        yield BotUnderTest(app, api, settings, engine, store)
    finally:
        await app.updater.stop()
        await app.stop()
        await on_shutdown(app)
        await app.shutdown()
