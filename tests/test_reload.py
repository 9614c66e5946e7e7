"""Live reload of the knowledge files while the bot runs on the Bot API stand-in.

Real files (a temporary copy of knowledge/), the real watcher task, real HTTP: a
maintainer's edit must reach Telegram users within seconds, and a bad or half-saved
edit must never replace what is being served.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.running import ADMIN_ID, BotUnderTest
from helpers.waiting import until

from bot.errors import KnowledgeError
from bot.knowledge import load_knowledge

USER_ID = 1001
SHIPPED_ENTRIES = len(
    load_knowledge(Path(__file__).resolve().parent.parent / "knowledge" / "qa.yaml").entries
)
"""The stand-in's default user; in a private chat the chat id is the user id."""

OLD_ANSWER = "ISIS-K is the Afghan branch of the Islamic State (ISIS)."
ISIS_K_QUOTE = "ISIS-K is how the branch of the Islamic State (ISIS) in Afghanistan is known."

NEW_ENTRY = """
  - id: marmalade-protocol
    question: What is the zanzibar marmalade protocol?
    alternates:
      - zanzibar marmalade
      - marmalade protocol
    answer: >-
      A made-up entry, added while the bot was running.
    quote: >-
      Those were the words of the President of the United States.
    translations:
      es:
        question: ¿Qué es el protocolo de mermelada de Zanzíbar?
        answer: Una entrada inventada, añadida con el bot en marcha.
"""


# --- helpers ---------------------------------------------------------------------------


def add_entry(qa: Path) -> None:
    """Add NEW_ENTRY as a maintainer would: as the first entry, written in one go."""
    text = qa.read_text(encoding="utf-8")
    head, marker, rest = text.partition("\nentries:\n")
    qa.write_text(head + marker + NEW_ENTRY.lstrip("\n") + "\n" + rest, encoding="utf-8")


def to_chat(chat_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda params: params.get("chat_id") == chat_id


async def ask_in_chat(bot: BotUnderTest, text: str, chat_id: int, **kwargs: Any) -> dict[str, Any]:
    """Send `text` and return the next sendMessage to `chat_id` (ignores admin reports)."""
    before = len(bot.api.sent("sendMessage", where=to_chat(chat_id)))
    bot.api.push_message(text, **kwargs)
    sent = await bot.api.wait_for("sendMessage", count=before + 1, where=to_chat(chat_id))
    return sent[before]


async def ask(bot: BotUnderTest, text: str) -> str:
    """The text of the bot's reply to a private question from the default user."""
    return (await ask_in_chat(bot, text, USER_ID))["text"]


def admin_texts(bot: BotUnderTest) -> list[str]:
    return bot.api.texts(ADMIN_ID)


def line_of(text: str, needle: str, after: str = "") -> int:
    """1-based number of the first line containing `needle` (after the line with `after`)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


def entry_starts(text: str) -> list[int]:
    """Character offsets where each `  - id:` entry begins."""
    return [m.start() for m in re.finditer(r"^  - id: ", text, flags=re.MULTILINE)]


# --- 1. live reload ------------------------------------------------------------------------


async def test_changed_answer_reaches_telegram_within_two_seconds(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """Rewriting an answer in qa.yaml: the next question gets the new text, within 2 s."""
    assert OLD_ANSWER in await ask(running_bot, "What is ISIS-K?")
    before = running_bot.engine.knowledge.fingerprint
    unique = "Rewritten answer 7f3a9c: the Afghan branch of the Islamic State."
    text = shipped_copy.read_text(encoding="utf-8")
    edited = text.replace(OLD_ANSWER, unique, 1)
    assert edited != text

    start = time.monotonic()
    shipped_copy.write_text(edited, encoding="utf-8")
    await until(lambda: running_bot.engine.knowledge.fingerprint != before, what="reload")
    reply = await ask(running_bot, "What is ISIS-K?")
    elapsed = time.monotonic() - start

    assert unique in reply
    assert OLD_ANSWER not in reply
    assert f"<blockquote>{ISIS_K_QUOTE}" in reply
    assert elapsed < 2.0, f"new answer took {elapsed:.2f}s"
    assert len(running_bot.engine.knowledge.entries) == SHIPPED_ENTRIES
    assert admin_texts(running_bot) == []  # a good edit is not reported to admins
    running_bot.api.assert_no_errors()


async def test_added_entry_is_answered_within_two_seconds(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """A new entry (new question, alternates, a quote copied from article.md) goes live."""
    engine = running_bot.engine
    assert not engine.ask("zanzibar marmalade protocol").matched
    count = len(engine.knowledge.entries)

    start = time.monotonic()
    add_entry(shipped_copy)
    await until(lambda: len(engine.knowledge.entries) == count + 1, what="the new entry")
    reply = await ask(running_bot, "marmalade protocol")
    elapsed = time.monotonic() - start

    assert "A made-up entry, added while the bot was running." in reply
    assert "<blockquote>Those were the words of the President of the United States." in reply
    assert elapsed < 2.0, f"new entry took {elapsed:.2f}s"
    # The old entries are still answered.
    assert OLD_ANSWER in await ask(running_bot, "What is ISIS-K?")
    running_bot.api.assert_no_errors()


async def test_article_edit_keeping_quotes_valid_is_picked_up(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """Appending a paragraph to article.md changes the served snapshot (its fingerprint)."""
    engine = running_bot.engine
    before = engine.knowledge.fingerprint
    article = shipped_copy.parent / "article.md"
    paragraph = "A closing paragraph added by a maintainer while the bot was running."
    with article.open("a", encoding="utf-8") as f:
        f.write(f"\n\n{paragraph}\n")

    await until(lambda: engine.knowledge.fingerprint != before, what="article reload")
    assert engine.knowledge.article.paragraphs[-1] == paragraph
    assert len(engine.knowledge.entries) == SHIPPED_ENTRIES
    assert engine.last_problems == ()
    assert OLD_ANSWER in await ask(running_bot, "What is ISIS-K?")
    assert admin_texts(running_bot) == []
    running_bot.api.assert_no_errors()


# --- 2. a bad edit while running -----------------------------------------------------------


async def test_quote_not_in_article_keeps_old_answers_and_tells_admin(
    running_bot: BotUnderTest, shipped_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A quote missing from the article: logged and messaged once; old answers stay."""
    caplog.set_level(logging.INFO)
    engine = running_bot.engine
    fingerprint = engine.knowledge.fingerprint
    text = shipped_copy.read_text(encoding="utf-8")
    bad = text.replace(OLD_ANSWER, "A new answer that must not go live.", 1).replace(
        f"      {ISIS_K_QUOTE}", "      This sentence is nowhere in the article.", 1
    )
    line = line_of(bad, "    quote:", after="id: what-is-isis-k")
    where = f"{shipped_copy}:{line}"

    shipped_copy.write_text(bad, encoding="utf-8")
    (report,) = await running_bot.api.wait_for("sendMessage", where=to_chat(ADMIN_ID))

    assert where in report["text"]
    assert "what-is-isis-k" in report["text"]
    assert f"still serving {SHIPPED_ENTRIES} entries" in report["text"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(where in r.getMessage() for r in errors), [r.getMessage() for r in errors]
    assert engine.knowledge.fingerprint == fingerprint
    reply = await ask(running_bot, "What is ISIS-K?")
    assert OLD_ANSWER in reply and "must not go live" not in reply

    # Reported once, not on every poll of the watcher: let it poll five more times.
    await asyncio.sleep(5 * running_bot.settings.reload_interval)
    assert len(admin_texts(running_bot)) == 1

    # Fixing the file loads the new version.
    fixed = bad.replace("This sentence is nowhere in the article.", ISIS_K_QUOTE, 1)
    shipped_copy.write_text(fixed, encoding="utf-8")
    await until(lambda: engine.knowledge.fingerprint != fingerprint, what="fixed file")
    assert "A new answer that must not go live." in await ask(running_bot, "What is ISIS-K?")
    assert engine.last_problems == ()
    assert len(admin_texts(running_bot)) == 1
    running_bot.api.assert_no_errors()


async def test_invalid_yaml_keeps_old_answers_and_tells_admin(
    running_bot: BotUnderTest, shipped_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Broken YAML: file:line in the log and in the admin's message; then a fix loads."""
    engine = running_bot.engine
    fingerprint = engine.knowledge.fingerprint
    text = shipped_copy.read_text(encoding="utf-8")
    bad = text.replace("  - id: what-is-isis-k\n", "  - id: what-is-isis-k\n    oops: : :\n", 1)
    where = f"{shipped_copy}:{line_of(bad, 'oops: : :')}"

    shipped_copy.write_text(bad, encoding="utf-8")
    (report,) = await running_bot.api.wait_for("sendMessage", where=to_chat(ADMIN_ID))

    assert where in report["text"]
    assert "invalid YAML" in report["text"]
    assert f"still serving {SHIPPED_ENTRIES} entries" in report["text"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(where in message and "qa.yaml" in message for message in errors), errors
    assert engine.knowledge.fingerprint == fingerprint
    assert OLD_ANSWER in await ask(running_bot, "What is ISIS-K?")

    shipped_copy.write_text(text.replace(OLD_ANSWER, "Fixed and reloaded 51c2.", 1), "utf-8")
    await until(lambda: engine.knowledge.fingerprint != fingerprint, what="fixed file")
    assert "Fixed and reloaded 51c2." in await ask(running_bot, "What is ISIS-K?")
    running_bot.api.assert_no_errors()


async def test_article_edit_breaking_quotes_keeps_old_snapshot(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """Rewording a quoted sentence of article.md: refused, each quote's qa.yaml line named."""
    engine = running_bot.engine
    fingerprint = engine.knowledge.fingerprint
    article = shipped_copy.parent / "article.md"
    qa_text = shipped_copy.read_text(encoding="utf-8")
    quoted = "Formed in 2014, on the border with Pakistan"
    assert qa_text.count(quoted) == 3
    article.write_text(
        article.read_text(encoding="utf-8").replace(quoted, "Founded in 2014, near Pakistan"),
        encoding="utf-8",
    )
    (report,) = await running_bot.api.wait_for("sendMessage", where=to_chat(ADMIN_ID))

    assert report["text"].startswith(f"Not reloaded; still serving {SHIPPED_ENTRIES} entries.")
    for entry_id in ("isis-k-founded-when", "isis-k-founded-where", "isis-k-founders"):
        line = line_of(qa_text, "    quote:", after=f"id: {entry_id}")
        assert f"{shipped_copy}:{line}" in report["text"], entry_id
    assert engine.knowledge.fingerprint == fingerprint
    assert quoted in await ask(running_bot, "when was isis-k formed?")
    running_bot.api.assert_no_errors()


async def test_tab_indented_item_tells_admin_to_use_spaces(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """A tab before a list item (a common editor slip) gets the tab fix in the admin message."""
    text = shipped_copy.read_text(encoding="utf-8")
    bad = text.replace(
        "  - id: what-is-isis-k\n", "  - id: what-is-isis-k\n    tags:\n\t- slip\n", 1
    )
    shipped_copy.write_text(bad, encoding="utf-8")
    (report,) = await running_bot.api.wait_for("sendMessage", where=to_chat(ADMIN_ID))
    assert f"{shipped_copy}:{line_of(bad, chr(9) + '- slip')}" in report["text"]
    assert OLD_ANSWER in await ask(running_bot, "What is ISIS-K?")
    assert "indent with spaces, not tabs" in report["text"]


# --- 3. a half-written file is never loaded ----------------------------------------------


def _slow_save(path: Path, first: str, rest: str, chunks: int, pause: float) -> None:
    """Write `first`, then append `rest` in `chunks` pieces, `pause` seconds apart."""
    path.write_text(first, encoding="utf-8")
    size = -(-len(rest) // chunks)
    for i in range(0, len(rest), size):
        time.sleep(pause)
        with path.open("a", encoding="utf-8") as f:
            f.write(rest[i : i + size])


async def test_slow_save_never_serves_the_first_half(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """A save in progress (valid YAML with fewer entries at first) is never loaded."""
    engine = running_bot.engine
    text = shipped_copy.read_text(encoding="utf-8")
    starts = entry_starts(text)
    cut = starts[len(starts) // 2]
    first, rest = text[:cut], text[cut:]
    # The first half alone is a valid file with fewer entries: the dangerous case.
    assert len(yaml.safe_load(first)["entries"]) == len(starts) // 2
    # The finished file differs from the served one (so "loaded" is observable).
    last_answer = (
        "No. The article concludes that keeping a dialogue with the Taliban is not the same"
        " as saying the threat of international terrorism is under control."
    )
    final_answer = "Final version 93be: far from it, says its last paragraph."
    assert last_answer in rest
    rest = rest.replace(last_answer, final_answer, 1)
    old = engine.knowledge.fingerprint
    served = len(engine.knowledge.entries)

    seen: set[str] = set()
    fewest = served
    writer = asyncio.create_task(
        asyncio.to_thread(_slow_save, shipped_copy, first, rest, chunks=16, pause=0.03)
    )
    while not writer.done():
        knowledge = engine.knowledge
        fewest = min(fewest, len(knowledge.entries))
        seen.add(knowledge.fingerprint)
        await asyncio.sleep(0.002)
    await writer

    assert fewest == served, f"served only {fewest} entries mid-save"
    assert seen <= {old} | {engine.knowledge.fingerprint}
    await until(
        lambda: final_answer in engine.knowledge.by_id["terrorism-under-control"].answer,
        what="the finished file",
    )
    assert len(engine.knowledge.entries) == served
    assert engine.knowledge.fingerprint == load_knowledge(shipped_copy).fingerprint
    assert final_answer in await ask(running_bot, "is international terrorism under control")
    assert admin_texts(running_bot) == [], "a save in progress was reported as broken"
    running_bot.api.assert_no_errors()


async def test_file_truncated_mid_entry_is_not_loaded(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """A file cut inside an entry (no answer, no quote) is refused; restoring it recovers."""
    engine = running_bot.engine
    text = shipped_copy.read_text(encoding="utf-8")
    start = text.index("  - id: what-is-isis-k")
    cut = text.index("    answer:", start)  # id, question, alternates; no answer or quote
    truncated = text[:cut]
    probe = shipped_copy.with_name("probe.yaml")  # not watched: only qa.yaml and article.md
    probe.write_text(truncated, encoding="utf-8")
    with pytest.raises(KnowledgeError):  # the bot's own validator refuses it too
        load_knowledge(probe, shipped_copy.parent / "article.md")
    fingerprint = engine.knowledge.fingerprint

    shipped_copy.write_text(truncated, encoding="utf-8")
    (report,) = await running_bot.api.wait_for("sendMessage", where=to_chat(ADMIN_ID))

    assert f"still serving {SHIPPED_ENTRIES} entries" in report["text"]
    assert "'answer' is missing" in report["text"]
    assert engine.knowledge.fingerprint == fingerprint
    assert len(engine.knowledge.entries) == SHIPPED_ENTRIES
    assert OLD_ANSWER in await ask(running_bot, "What is ISIS-K?")

    shipped_copy.write_text(text, encoding="utf-8")
    await until(lambda: engine.last_problems == (), what="the restored file")
    assert engine.knowledge.fingerprint == fingerprint
    running_bot.api.assert_no_errors()


# --- 4. /reload ----------------------------------------------------------------------------


async def test_admin_reload_replies_with_entry_count(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """/reload from the admin answers with the number of entries now loaded."""
    reply = await ask_in_chat(running_bot, "/reload", ADMIN_ID, user_id=ADMIN_ID)
    assert re.search(rf"\b{SHIPPED_ENTRIES} entries loaded\b", reply["text"]), reply["text"]

    add_entry(shipped_copy)
    # Whether the watcher or /reload gets there first, the reply counts the new entry.
    reply = await ask_in_chat(running_bot, "/reload", ADMIN_ID, user_id=ADMIN_ID)
    assert re.search(rf"\b{SHIPPED_ENTRIES + 1} entries loaded\b", reply["text"]), reply["text"]
    assert len(running_bot.engine.knowledge.entries) == SHIPPED_ENTRIES + 1
    assert "made-up entry" in await ask(running_bot, "zanzibar marmalade protocol")
    running_bot.api.assert_no_errors()


async def test_admin_reload_of_broken_file_lists_errors(
    running_bot: BotUnderTest, shipped_copy: Path
) -> None:
    """/reload with a broken file replies with file:line; users still get the old answers."""
    engine = running_bot.engine
    fingerprint = engine.knowledge.fingerprint
    text = shipped_copy.read_text(encoding="utf-8")
    bad = text.replace(f"      {ISIS_K_QUOTE}", "      Words the article never said.", 1)
    where = f"{shipped_copy}:{line_of(bad, '    quote:', after='id: what-is-isis-k')}"
    shipped_copy.write_text(bad, encoding="utf-8")
    # Let the watcher report it first, so the next message to the admin is /reload's reply.
    await running_bot.api.wait_for("sendMessage", where=to_chat(ADMIN_ID))

    reply = await ask_in_chat(running_bot, "/reload", ADMIN_ID, user_id=ADMIN_ID)

    assert reply["text"].startswith(f"Not reloaded; still serving {SHIPPED_ENTRIES} entries.")
    assert where in reply["text"]
    assert "the quote is not in article.md" in reply["text"]
    assert engine.knowledge.fingerprint == fingerprint
    assert OLD_ANSWER in await ask(running_bot, "What is ISIS-K?")
    stats = await ask_in_chat(running_bot, "/stats", ADMIN_ID, user_id=ADMIN_ID)
    assert f"Entries loaded: {SHIPPED_ENTRIES}" in stats["text"]
    assert "Last reload failed" in stats["text"]
    running_bot.api.assert_no_errors()
