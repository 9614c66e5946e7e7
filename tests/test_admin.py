"""The maintainers' side through Telegram: admin commands, their menu, the unanswered
log, votes, and the report that reads them back.

Everything runs on the Bot API stand-in over real HTTP, with a real SQLite file.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.botapi import BotApiStandin
from helpers.running import ADMIN_ID, BotUnderTest, bot_settings, serve
from helpers.waiting import until

from bot.settings import Settings
from bot.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
USER_ID = 1001
"""The stand-in's default user ("Alice"); in a private chat the chat id is the user id."""
OTHER_ID = 2002
GROUP_ID = -4001
"""The stand-in's default group chat id."""
NOT_ADMIN = "This command is for the bot's maintainers."

WEATHER = "what's the weather in paris"
WORLD_CUP = "who won the world cup"


# --- helpers ---------------------------------------------------------------------------


def to_chat(chat_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda params: params.get("chat_id") == chat_id


async def say(bot: BotUnderTest, text: str, chat_id: int = USER_ID, **kwargs: Any) -> str:
    """Send `text` and return the text of the bot's next message in `chat_id`."""
    before = len(bot.api.sent("sendMessage", where=to_chat(chat_id)))
    bot.api.push_message(text, **kwargs)
    sent = await bot.api.wait_for("sendMessage", count=before + 1, where=to_chat(chat_id))
    return sent[before]["text"]


async def admin_says(bot: BotUnderTest, text: str) -> str:
    return await say(bot, text, ADMIN_ID, user_id=ADMIN_ID, first_name="Maintainer")


async def press(bot: BotUnderTest, data: str, message_id: int, **kwargs: Any) -> str:
    """Press an inline button; the text of the bot's answerCallbackQuery."""
    before = len(bot.api.sent("answerCallbackQuery"))
    bot.api.push_callback_query(data, message_id=message_id, **kwargs)
    answers = await bot.api.wait_for("answerCallbackQuery", count=before + 1)
    return answers[before].get("text", "")


def last_message_id(bot: BotUnderTest, chat_id: int) -> int:
    """message_id of the bot's latest message in `chat_id`, as Telegram returned it."""
    found = [
        e.result["message_id"]
        for e in bot.api.exchanges
        if e.ok and e.method == "sendMessage" and e.params.get("chat_id") == chat_id
    ]
    return found[-1]


def vote_buttons(bot: BotUnderTest, chat_id: int) -> list[str]:
    """callback_data of the 👍/👎 buttons on the bot's latest message in `chat_id`."""
    params = bot.api.sent("sendMessage", where=to_chat(chat_id))[-1]
    rows = params.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if b.get("text") in {"👍", "👎"}]


def database_values(path: Path) -> list[Any]:
    """Every value in every table of the SQLite file."""
    with sqlite3.connect(path) as conn:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        values = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                values.extend(row)
    conn.close()
    return values


def run_report(settings: Settings) -> dict[str, Any]:
    """`python -m bot report --json` on the test database and Q&A file, as a process."""
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env.update(DATABASE_PATH=str(settings.database_path), QA_FILE=str(settings.qa_file))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "report", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- 5. admin commands ---------------------------------------------------------------------


async def test_admin_commands_refused_for_non_admin(
    running_bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/reload, /unanswered, /stats from an ordinary user: a short refusal, nothing else."""
    engine = running_bot.engine
    reloads: list[None] = []
    real_reload = engine.reload

    def counting_reload() -> Any:
        reloads.append(None)
        return real_reload()

    monkeypatch.setattr(engine, "reload", counting_reload)
    await say(running_bot, WEATHER)  # something /unanswered could reveal
    await until(lambda: running_bot.store.count_unanswered() == 1, timeout=5, what="logged")
    recorded = running_bot.store.count_unanswered()

    for command in ("/reload", "/unanswered", "/stats"):
        reply = await say(running_bot, command)
        assert reply == NOT_ADMIN, (command, reply)

    texts = running_bot.api.texts(USER_ID)
    assert not any("weather" in t for t in texts[1:])
    assert not any("Entries loaded" in t or "entries loaded" in t for t in texts)
    assert reloads == []
    assert running_bot.store.count_unanswered() == recorded  # commands are not questions
    running_bot.api.assert_no_errors()


async def test_admin_stats_and_unanswered(running_bot: BotUnderTest) -> None:
    """From the admin: /stats counts the entries; /unanswered ranks the questions."""
    for question in (WEATHER, WORLD_CUP, WEATHER):
        await say(running_bot, question)

    stats = await admin_says(running_bot, "/stats")
    knowledge = running_bot.engine.knowledge
    assert f"Entries loaded: {len(knowledge.entries)} (version {knowledge.fingerprint})" in stats
    assert "Unanswered: 3" in stats

    top = await admin_says(running_bot, "/unanswered")
    lines = top.splitlines()
    assert lines[0] == "Top 2 unanswered (of 3 recorded):"
    assert lines[1].startswith(f"1. {WEATHER} ×2")
    assert lines[2].startswith(f"2. {WORLD_CUP} ×1")
    # Nothing of this went to the ordinary user.
    assert not any("unanswered" in t.lower() for t in running_bot.api.texts(USER_ID))
    running_bot.api.assert_no_errors()


async def test_admin_unanswered_when_nothing_recorded(running_bot: BotUnderTest) -> None:
    assert await admin_says(running_bot, "/unanswered") == "No unanswered questions recorded yet."


# --- 6. the command menus -------------------------------------------------------------------


async def test_command_menus_and_descriptions_published_on_startup(
    running_bot: BotUnderTest,
) -> None:
    """Menus by scope: every public command in private chats (and by default), /ask and
    /help in groups, the maintainers' commands in each admin's chat; and the bot's
    description and short description, which the empty chat and its profile show."""
    calls = running_bot.api.sent("setMyCommands")

    def menu(scope: dict[str, object], language: str | None = None) -> set[str]:
        (call,) = [
            c
            for c in calls
            if c.get("scope", {"type": "default"}) == scope and c.get("language_code") == language
        ]
        return {c["command"] for c in call["commands"]}

    languages = running_bot.engine.knowledge.languages
    assert len(calls) == 3 * len(languages) + 1, calls  # three scopes each, and the admin
    public = menu({"type": "default"})
    assert menu({"type": "all_private_chats"}) == public
    assert menu({"type": "all_group_chats"}) == {"ask", "help"}
    maintainers = menu({"type": "chat", "chat_id": ADMIN_ID})
    assert {"start", "ask", "topics", "help"} <= public
    assert not {"reload", "unanswered", "stats"} & public
    assert {"reload", "unanswered", "stats"} <= maintainers
    assert public <= maintainers  # the admin keeps the public commands too
    title = running_bot.engine.knowledge.article.title
    descriptions = running_bot.api.descriptions
    assert title in descriptions[("description", "")]
    assert 0 < len(descriptions[("short_description", "")]) <= 120
    # In Spanish too: Telegram shows these to people whose app is in Spanish.
    assert "es" in languages
    spanish = [c for c in calls if c.get("language_code") == "es"]
    assert {d["description"] for c in spanish for d in c["commands"]} & {"Cómo usarme"}
    assert menu({"type": "all_group_chats"}, "es") == {"ask", "help"}
    assert descriptions[("description", "es")].startswith("Respondo preguntas")
    running_bot.api.assert_no_errors()


# --- 7. the unanswered log ------------------------------------------------------------------


async def test_unanswered_log_keeps_text_not_identity(running_bot: BotUnderTest) -> None:
    """Off-topic questions (private and group) are stored without who or where."""
    bot = running_bot
    await say(bot, WEATHER)
    await say(bot, f"/ask {WORLD_CUP}", GROUP_ID, chat_type="group")
    # Answered questions and small talk are not recorded.
    assert "<blockquote>" in await say(bot, "What is ISIS-K?")
    assert "<blockquote>" in await say(
        bot, "/ask who claimed the kabul attack?", GROUP_ID, chat_type="group"
    )
    await say(bot, "hello")
    await say(bot, "thanks")
    # A group message not addressed to the bot is neither answered nor recorded.
    bot.api.push_message("is it going to rain in paris", chat_type="group")
    assert "<blockquote>" in await say(bot, "/ask what is isis-k", GROUP_ID, chat_type="group")
    assert not any("rain" in t for t in bot.api.texts(GROUP_ID))

    rows = bot.store.unanswered()
    assert [(r.text, r.chat_type) for r in rows] == [(WORLD_CUP, "group"), (WEATHER, "private")]
    for row in rows:
        assert 0 <= row.score <= 100

    database = bot.settings.database_path
    values = database_values(database)
    assert WEATHER in values and WORLD_CUP in values
    for value in values:
        text = str(value)
        for number in (USER_ID, GROUP_ID, abs(GROUP_ID)):
            assert not re.search(rf"(?<![\d-]){number}(?!\d)", text), (number, value)
        assert "alice" not in text.lower(), value
    # Nor in the raw bytes (pages, the WAL journal) of the database files.
    for path in database.parent.glob(database.name + "*"):
        raw = path.read_bytes().lower()
        assert b"alice" not in raw, path
    bot.api.assert_no_errors()


# --- 8. votes ---------------------------------------------------------------------------


async def test_votes_through_buttons_and_report(running_bot: BotUnderTest) -> None:
    """👍, a repeat, a switch, a second voter; store.votes() and `report --json` agree."""
    bot = running_bot
    await say(bot, "What is ISIS-K?")
    assert vote_buttons(bot, USER_ID) == ["v:what-is-isis-k:+", "v:what-is-isis-k:-"]
    answer = last_message_id(bot, USER_ID)

    assert await press(bot, "v:what-is-isis-k:+", answer) == "Thanks for the feedback!"
    assert bot.store.votes()["what-is-isis-k"].up == 1
    assert await press(bot, "v:what-is-isis-k:+", answer) == "You already voted on this answer."
    counts = bot.store.votes()["what-is-isis-k"]
    assert (counts.up, counts.down) == (1, 0)
    assert await press(bot, "v:what-is-isis-k:-", answer) == "Vote changed. Thanks!"
    counts = bot.store.votes()["what-is-isis-k"]
    assert (counts.up, counts.down) == (0, 1)

    # A second user, in their own chat, counts separately.
    await say(bot, "What is ISIS-K?", OTHER_ID, user_id=OTHER_ID, first_name="Bob")
    theirs = last_message_id(bot, OTHER_ID)
    assert await press(bot, "v:what-is-isis-k:+", theirs, user_id=OTHER_ID) == (
        "Thanks for the feedback!"
    )
    # Two people on the same group message count separately too.
    await say(bot, "/ask what is isis-k", GROUP_ID, chat_type="group")
    posted = last_message_id(bot, GROUP_ID)
    for voter in (USER_ID, OTHER_ID):
        assert (
            await press(bot, "v:what-is-isis-k:+", posted, chat_type="group", user_id=voter)
            == "Thanks for the feedback!"
        )
    counts = bot.store.votes()["what-is-isis-k"]
    assert (counts.up, counts.down) == (3, 1)
    assert bot.store.stats()["votes_up"] == 3

    # The maintainers' report, as a separate process reading the same files.
    for question in (WEATHER, WEATHER, WORLD_CUP):
        await say(bot, question)
    await until(lambda: bot.store.count_unanswered() == 3, timeout=5, what="logged")
    report = run_report(bot.settings)
    (votes,) = report["votes"]
    assert votes["id"] == "what-is-isis-k" and votes["question"] == "What is ISIS-K?"
    assert (votes["up"], votes["down"], votes["weak"]) == (3, 1, False)
    assert report["unanswered_total"] == 3
    groups = [(g["question"], g["count"]) for g in report["unanswered"]]
    assert groups == [(WEATHER, 2), (WORLD_CUP, 1)]
    bot.api.assert_no_errors()


# --- 9. the log survives a restart -------------------------------------------------------


async def test_unanswered_log_survives_restart(
    standin: BotApiStandin, shipped_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Questions recorded by one run are listed by /unanswered in the next run."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    settings = bot_settings(standin, shipped_copy, tmp_path / "data")
    async with serve(standin, settings) as bot:
        for question in (WEATHER, WORLD_CUP, WEATHER):
            await say(bot, question)
        # Logged just after the reply (so a replica killed before replying logs nothing).
        await until(lambda: bot.store.count_unanswered() == 3, timeout=5, what="logged")
        before = bot.store.unanswered()
    assert len(before) == 3

    # The file alone, opened afresh after the bot stopped.
    with SQLiteStore(settings.database_path, vote_key=b"another key") as reopened:
        assert reopened.unanswered() == before

    async with serve(standin, settings) as bot:
        top = await admin_says(bot, "/unanswered")
    assert f"1. {WEATHER} ×2" in top
    assert f"2. {WORLD_CUP} ×1" in top
    standin.assert_no_errors()
