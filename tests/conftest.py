"""Shared fixtures: real files in a temporary folder, never the shipped ones."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botapi_standin import BotApiStandin
from pydantic import SecretStr
from telegram.ext import Application

from bot.engine import Engine
from bot.settings import Settings
from bot.store import Store
from bot.telegram.app import build_application, on_shutdown, on_startup

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"

SMALL_ARTICLE = """# A small article

Monday, September 20

ISIS-K is how the branch of the Islamic State (ISIS) in Afghanistan is known.
Formed in 2014, on the border with Pakistan.

At least 170 people died, according to local health authorities.
"""

SMALL_QA = """entries:
  - id: what-is-isis-k
    question: What is ISIS-K?
    alternates: [who are iskp, isis k meaning]
    answer: The Afghan branch of the Islamic State.
    quote: ISIS-K is how the branch of the Islamic State (ISIS) in Afghanistan is known.
    related: [death-toll]
  - id: death-toll
    question: How many people died?
    alternates: [death toll, how many victims]
    answer: At least 170 people.
    quote: At least 170 people died, according to local health authorities.
"""


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A copy of the shipped knowledge folder; returns the path of its qa.yaml."""
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    return folder / "qa.yaml"


@pytest.fixture
def small_kb(tmp_path: Path) -> Path:
    """A two-entry knowledge folder; returns the path of its qa.yaml."""
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "article.md").write_text(SMALL_ARTICLE, encoding="utf-8")
    qa = folder / "qa.yaml"
    qa.write_text(SMALL_QA, encoding="utf-8")
    return qa


# --- the bot on a Bot API stand-in -----------------------------------------------------

ADMIN_ID = 4242
"""A maintainer's Telegram user id (ADMIN_IDS) in the end-to-end tests."""


@dataclass
class BotUnderTest:
    """The running Application, the stand-in it talks to, and what it was built from."""

    app: Application
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


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin() as api:
        yield api


@asynccontextmanager
async def serve(api: BotApiStandin, settings: Settings) -> AsyncIterator[BotUnderTest]:
    """The whole bot on `settings`, polling `api` over real HTTP, until the block ends."""
    engine = Engine(settings.qa_file, settle=0.05)
    store = Store(settings.database_path, max_rows=100, vote_key=b"test-vote-key")
    app = build_application(settings, engine, store)
    await app.initialize()
    await on_startup(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield BotUnderTest(app, api, settings, engine, store)
    finally:
        await app.updater.stop()
        await app.stop()
        await on_shutdown(app)
        await app.shutdown()


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
    )


@pytest.fixture
async def running_bot(
    standin: BotApiStandin, shipped_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BotUnderTest]:
    """The whole bot, polling the stand-in over real HTTP, on a copy of the knowledge."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22 warns about retry_after otherwise
    async with serve(standin, bot_settings(standin, shipped_copy, tmp_path / "data")) as bot:
        yield bot
