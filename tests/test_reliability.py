"""End to end, through python-telegram-bot's real stack and the stand-in's fault layer:
odd input never reaches a traceback, generated updates never break a handler or a
Telegram limit, and a fault-ridden Telegram still gets every question answered once."""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.botapi import MAX_MESSAGE_LENGTH, BotApiStandin, utf16_len
from helpers.faults import Fault
from helpers.running import BotUnderTest, bot_settings, serve
from helpers.waiting import until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.logs import OneLine

ROOT = Path(__file__).resolve().parent.parent
BOT_USERNAME = "article_qa_bot"
JSONDict = dict[str, Any]


@pytest.fixture
def one_line(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog with the filter production installs on its log handlers (bot.logs.OneLine)."""
    keep = OneLine()
    caplog.handler.addFilter(keep)
    try:
        yield caplog
    finally:
        caplog.handler.removeFilter(keep)


def no_trouble_logged(caplog: pytest.LogCaptureFixture) -> None:
    """No error, no traceback, no line over a few hundred characters."""
    for record in caplog.records:
        assert record.levelno < logging.ERROR, record.getMessage()
        assert not record.exc_info and not record.exc_text, record.getMessage()
    assert "Traceback" not in caplog.text


# --- odd input: a one-line log at most, and every button answered ---------------------


@pytest.mark.parametrize("data", ["t:²", "t:99999", "a:NOPE", "v:x:?", "", "x" * 64, "a:"])
async def test_odd_callback_data_is_answered_and_logged_once_at_most(
    shared_bot: BotUnderTest, one_line: pytest.LogCaptureFixture, data: str
) -> None:
    update = shared_bot.api.push_callback_query(data)
    query_id = update["callback_query"]["id"]
    await shared_bot.api.wait_for(
        "answerCallbackQuery", where=lambda p: p.get("callback_query_id") == query_id
    )
    await shared_bot.settle()
    no_trouble_logged(one_line)
    assert len([r for r in one_line.records if r.name.startswith("bot.")]) <= 1
    shared_bot.api.assert_no_errors()


async def test_a_mention_that_splits_a_surrogate_pair_is_read_from_the_text(
    shared_bot: BotUnderTest, one_line: pytest.LogCaptureFixture
) -> None:
    text = f"😀@{BOT_USERNAME} who claimed the attack"
    broken = [{"type": "mention", "offset": 1, "length": len(BOT_USERNAME) + 1}]  # mid-😀
    shared_bot.api.push_message(text, chat_type="group", entities=broken)
    (sent,) = await shared_bot.api.wait_for("sendMessage")
    assert "claimed responsibility" in sent["text"]
    no_trouble_logged(one_line)


async def test_entities_beyond_the_text_do_not_break_a_handler(
    shared_bot: BotUnderTest, one_line: pytest.LogCaptureFixture
) -> None:
    far = [
        {"type": "mention", "offset": 500, "length": 20},
        {"type": "bold", "offset": 2, "length": 0},
    ]
    shared_bot.api.push_message(f"@{BOT_USERNAME} who died", chat_type="group", entities=far)
    shared_bot.api.push_message("what is isis-k", entities=far)
    await shared_bot.api.wait_for("sendMessage", count=2)
    no_trouble_logged(one_line)


@pytest.mark.parametrize(
    "description",
    ["Bad Request: message to edit not found", "Bad Request: message can't be edited"],
)
async def test_a_page_button_on_a_message_that_cannot_be_edited_sends_the_page(
    shared_bot: BotUnderTest, one_line: pytest.LogCaptureFixture, description: str
) -> None:
    api = shared_bot.api
    await shared_bot.ask("/topics")
    api.faults.script("editMessageText", Fault.error(400, description))
    update = api.push_callback_query("t:1")
    query_id = update["callback_query"]["id"]
    await api.wait_for("answerCallbackQuery", where=lambda p: p["callback_query_id"] == query_id)
    (page,) = (await api.wait_for("sendMessage", count=2))[1:]
    assert "page 2 of" in page["text"]
    no_trouble_logged(one_line)


async def test_a_button_answer_telegram_no_longer_takes_is_one_line(
    shared_bot: BotUnderTest, one_line: pytest.LogCaptureFixture
) -> None:
    api = shared_bot.api
    one_line.set_level(logging.INFO, logger="bot")
    api.faults.script(
        "answerCallbackQuery",
        Fault.error(400, "Bad Request: query is too old and response timeout expired"),
    )
    api.push_callback_query("a:what-is-isis-k")
    (sent,) = await api.wait_for("sendMessage")  # the answer is still sent
    assert "Islamic State" in sent["text"]
    await shared_bot.settle()
    no_trouble_logged(one_line)
    assert "query is too old" in one_line.text.lower()


async def test_a_blocked_user_is_one_line_and_nothing_else(
    shared_bot: BotUnderTest, one_line: pytest.LogCaptureFixture
) -> None:
    api = shared_bot.api
    api.faults.script("sendMessage", Fault.error(403, "Forbidden: bot was blocked by the user"))
    api.push_message("What is ISIS-K?")
    await shared_bot.settle()
    no_trouble_logged(one_line)
    lines = [r.getMessage() for r in one_line.records if "blocked" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert [e.method for e in api.exchanges].count("sendMessage") == 1  # not retried


def test_python_telegram_bots_own_error_logs_are_one_short_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from telegram.error import TelegramError

    caplog.handler.addFilter(OneLine())
    page = "<html>\r\n<head><title>502 Bad Gateway</title></head>" + "x" * 5000
    try:
        raise TelegramError("Invalid server response")
    except TelegramError:
        logging.getLogger("telegram.request.BaseRequest").exception(
            'Can not load invalid JSON data: "%s"', page
        )
    (record,) = caplog.records
    assert record.exc_info is None and record.exc_text is None
    assert "\n" not in record.getMessage() and len(record.getMessage()) <= 300
    assert "Traceback" not in caplog.text


# --- a property: generated updates never break a handler or a Telegram limit -----------

texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
entity = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["mention", "bot_command", "bold", "url", "text_mention"]),
        "offset": st.integers(0, 320),
        "length": st.integers(0, 40),
    }
)
callback_data = st.one_of(
    st.sampled_from(["a:what-is-isis-k", "t:0", "t:1", "t:²", "v:death-toll:+", "a:gone"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20).filter(
        lambda s: 1 <= len(s.encode()) <= 64
    ),
)


@st.composite
def updates(draw: st.DrawFn) -> JSONDict:
    """One update as a (modified) client could make Telegram send it."""
    kind = draw(st.sampled_from(["private", "group", "command", "callback", "inline", "other"]))
    text = draw(texts)
    if kind == "command":
        text = draw(st.sampled_from(["/ask ", "/start ", "/topics", "/help", "/x "])) + text
    if kind == "group" and draw(st.booleans()):
        text = f"@{BOT_USERNAME} {text}"
    return {
        "kind": kind,
        "text": text,
        "entities": draw(st.none() | st.lists(entity, max_size=3)),
        "data": draw(callback_data),
        "user": draw(st.integers(2000, 2005)),
    }


def push(api: BotApiStandin, spec: JSONDict) -> JSONDict:
    kind, text, user = spec["kind"], spec["text"], spec["user"]
    chat = {"user_id": user, "chat_id": user} if kind != "group" else {"user_id": user}
    if kind == "callback":
        return api.push_callback_query(spec["data"], **chat)
    if kind == "inline":
        return api.push_inline_query(text[:256], user_id=user)
    if kind == "other":
        return api.push_sticker(**chat)
    chat_type = "supergroup" if kind == "group" else "private"
    return api.push_message(text or None, chat_type=chat_type, entities=spec["entities"], **chat)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(updates(), min_size=1, max_size=6))
async def test_generated_updates_never_break_a_handler_or_a_limit(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture, batch: list[JSONDict]
) -> None:
    api = shared_bot.api
    api.reset()
    caplog.clear()
    pushed = [push(api, spec) for spec in batch]
    await shared_bot.settle()
    for record in caplog.records:
        assert record.levelno < logging.ERROR, record.getMessage()
    api.assert_no_errors()  # every call within Telegram's limits (text, HTML, buttons)
    for params in api.sent("sendMessage"):
        assert utf16_len(params["text"]) <= MAX_MESSAGE_LENGTH
    answered = {p["callback_query_id"] for p in api.sent("answerCallbackQuery")}
    for update in pushed:
        if "callback_query" in update:
            assert update["callback_query"]["id"] in answered  # always answered


# --- ≥ 200 questions under a 20 % fault mix: every one answered exactly once -----------

FAULT_MIX = {
    Fault.error(500): 0.05,
    Fault.html(502): 0.05,
    Fault.flood(1): 0.05,
    Fault.reset(): 0.03,
    Fault.hold(1.0, applied=True): 0.02,
}
QUESTIONS = [
    "What is ISIS-K?",
    "who claimed the attack",
    "how many people died",
    "when was the article published",
    "what is the difference between isis-k and the taliban",
    "what does al qaeda want",
    "where is khorasan",
    "is isis-k at war with the taliban",
]


async def test_every_question_is_answered_once_under_a_fault_mix(
    tmp_path: Path, one_line: pytest.LogCaptureFixture
) -> None:
    qa = Path(shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")) / "qa.yaml"
    async with BotApiStandin() as api:
        base = bot_settings(api, qa, tmp_path / "data")
        quick = base.model_copy(update={"send_read_timeout": 0.5, "send_rate_limit": 0})
        async with serve(api, quick) as bot:
            api.faults.randomly(["sendMessage"], FAULT_MIX, seed=9)
            # python-telegram-bot pauses polling a second after a failed getUpdates: one.
            api.faults.script("getUpdates", Fault.html(502))
            rng = random.Random(9)
            questions = [
                api.push_message(rng.choice(QUESTIONS), user_id=user, chat_id=user)
                for _ in range(8)
                for user in range(3000, 3030)
            ]
            assert len(questions) == 240
            await until(lambda: len(api.delivered()) >= 240, timeout=30, what="240 answers")
            await bot.settle()
            api.assert_answered_once(questions)
            injected = api.faults.counts()
    assert sum(injected.values()) >= 40, injected  # about 20 % of 240 replies, and polls
    assert {"500", "html 502", "429", "reset", "hold"} <= set(injected), injected
    assert injected["html 502"] > 1  # sendMessage's, and the one getUpdates
    no_trouble_logged(one_line)
