"""Fixtures: real files in a temporary folder (never the shipped ones), the Bot API
stand-in, and the bot wired to it. Helpers live in `tests/helpers/`; nothing imports
this file.

Every test and fixture runs on one event loop for the session (pyproject.toml), so a bot
can be shared by a whole module: `shared_bot` starts once per module, `running_bot` once
per test (for tests that edit files or need an empty database).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from helpers.backends import Backend
from helpers.botapi import BotApiStandin
from helpers.postgres import PostgresServer, find_binaries, start_postgres
from helpers.running import BotUnderTest, bot_settings, serve

from bot.store import Store
from bot.telegram.app import handlers_of

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


def pytest_configure(config: pytest.Config) -> None:
    # python-telegram-bot 22 warns about retry_after as an int unless told to use timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "true")


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


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin() as api:
        yield api


@pytest.fixture
async def running_bot(
    standin: BotApiStandin, shipped_copy: Path, tmp_path: Path
) -> AsyncIterator[BotUnderTest]:
    """A bot of its own for one test, polling the stand-in, on a copy of the knowledge."""
    async with serve(standin, bot_settings(standin, shipped_copy, tmp_path / "data")) as bot:
        yield bot


@pytest.fixture(scope="module")
async def module_bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotUnderTest]:
    """One bot for a whole module, on its own stand-in and copy of the knowledge."""
    folder = tmp_path_factory.mktemp("shared")
    qa = Path(shutil.copytree(KNOWLEDGE, folder / "knowledge")) / "qa.yaml"
    async with BotApiStandin() as api, serve(api, bot_settings(api, qa, folder / "data")) as bot:
        yield bot


@pytest.fixture
async def shared_bot(module_bot: BotUnderTest) -> BotUnderTest:
    """The module's bot, done with the previous test's updates and with a clean record of
    Bot API calls: for tests that neither edit its files nor need an empty database."""
    await module_bot.settle()
    module_bot.api.reset()
    forget_conversations(module_bot)
    return module_bot


def forget_conversations(bot: BotUnderTest) -> None:
    """No follow-up context carries over from one test to the next (the same chats)."""
    handlers_of(bot.app).forget_conversations()


# --- a throwaway PostgreSQL ------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, on loopback; each test takes a fresh database
    from it (`postgres_server.fresh_database()`). Skipped only where the server is not
    installed (CI installs it)."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin)")
    server = start_postgres(binaries)
    try:
        yield server
    finally:
        server.stop()


# --- the store on both back ends ------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A fresh SQLite file, then a fresh PostgreSQL database: a test runs on each."""
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "data" / "bot.sqlite3"))
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return Backend("postgres", server.fresh_database())


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    """A store opened on the module's `backend`."""
    with backend.open() as opened:
        yield opened
