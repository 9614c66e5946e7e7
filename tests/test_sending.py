"""bot.telegram.sending: what is retried, what is not, and within which deadline, through
python-telegram-bot's real Bot and HTTP stack against the stand-in's injected faults."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from helpers.botapi import BotApiStandin
from helpers.faults import Fault
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.telegram.sending import RetryingRequest, tidy_error_body

CHAT = 1001


@pytest.fixture
async def bot(standin: BotApiStandin) -> AsyncIterator[Bot]:
    """A Bot whose requests retry for 3 s at most, with quick backoff and a short read
    timeout (so a held answer is a read timeout within the test's time)."""
    request = RetryingRequest(
        deadline=3.0, backoff=0.01, max_backoff=0.05, jitter=0.01, read_timeout=0.5
    )
    async with Bot(standin.token, base_url=standin.api_base_url, request=request) as bot:
        standin.reset()
        yield bot


@pytest.mark.parametrize(
    "fault",
    [
        Fault.error(500),
        Fault.error(502, "Bad Gateway"),
        Fault.html(502),
        Fault.html(503),
        Fault.reset(),
        Fault.hold(0.1, applied=False),  # dropped without an answer, before the timeout
    ],
    ids=str,
)
async def test_a_transient_fault_is_retried_and_the_message_arrives_once(
    bot: Bot, standin: BotApiStandin, fault: Fault
) -> None:
    standin.faults.script("sendMessage", fault, times=2)
    message = await bot.send_message(CHAT, "hello")
    assert message.text == "hello"
    assert [m["text"] for m in standin.delivered(CHAT)] == ["hello"]
    assert len(standin.faults.log) == 2


async def test_a_flood_answer_is_waited_out_for_its_retry_after(
    bot: Bot, standin: BotApiStandin
) -> None:
    standin.faults.script("sendMessage", Fault.flood(1))
    start = time.monotonic()
    await bot.send_message(CHAT, "hello")
    assert time.monotonic() - start >= 1.0
    assert len(standin.delivered(CHAT)) == 1


async def test_a_flood_wait_beyond_the_deadline_is_not_waited(
    bot: Bot, standin: BotApiStandin
) -> None:
    standin.faults.script("sendMessage", Fault.flood(60))
    start = time.monotonic()
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "hello")
    assert time.monotonic() - start < 1.0
    assert standin.delivered(CHAT) == []


async def test_a_message_held_past_the_read_timeout_is_not_sent_again(
    bot: Bot, standin: BotApiStandin, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram had the whole request: it most likely sent it, late. No second copy."""
    standin.faults.script("sendMessage", Fault.hold(1, applied=True))
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "hello")
    assert len(standin.delivered(CHAT)) == 1
    assert [c.method for c in standin.calls].count("sendMessage") == 1
    assert "not sent again" in caplog.text


async def test_an_edit_held_past_the_read_timeout_is_repeated(
    bot: Bot, standin: BotApiStandin
) -> None:
    """Repeating an edit is harmless (at worst 'not modified'), so a read timeout retries."""
    sent = await bot.send_message(CHAT, "page 1")
    standin.faults.script("editMessageText", Fault.hold(1, applied=False))
    edited = await bot.edit_message_text("page 2", chat_id=CHAT, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "page 2"
    assert [c.method for c in standin.calls].count("editMessageText") == 2


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (400, "Bad Request: can't parse entities", BadRequest),
        (400, "Bad Request: chat not found", BadRequest),
        (403, "Forbidden: bot was blocked by the user", Forbidden),
    ],
)
async def test_a_refusal_is_not_retried(
    bot: Bot, standin: BotApiStandin, status: int, description: str, error: type[Exception]
) -> None:
    standin.faults.script("sendMessage", Fault.error(status, description))
    with pytest.raises(error):
        await bot.send_message(CHAT, "hello")
    assert [c.method for c in standin.calls].count("sendMessage") == 1


async def test_an_outage_is_given_up_within_the_deadline(
    bot: Bot, standin: BotApiStandin, caplog: pytest.LogCaptureFixture
) -> None:
    standin.faults.script("sendMessage", Fault.html(502), times=1000)
    start = time.monotonic()
    with pytest.raises(NetworkError) as raised:
        await bot.send_message(CHAT, "hello")
    assert time.monotonic() - start < 3.5
    assert "<html>" not in str(raised.value) and "\n" not in str(raised.value)
    assert [c.method for c in standin.calls].count("sendMessage") > 5
    assert "not retried further" in caplog.text


async def test_an_html_page_leaves_no_traceback_or_page_in_the_log(
    bot: Bot, standin: BotApiStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="telegram")
    standin.faults.script("sendMessage", Fault.html(502), times=3)
    await bot.send_message(CHAT, "hello")
    assert "Can not load invalid JSON" not in caplog.text
    assert "<html>" not in caplog.text and "nginx" not in caplog.text
    assert not any(r.exc_info for r in caplog.records)


def test_tidy_error_body_keeps_json_and_replaces_pages() -> None:
    telegram = b'{"ok":false,"error_code":500,"description":"Internal Server Error"}'
    assert tidy_error_body(500, telegram) == telegram
    assert tidy_error_body(200, b"<html>") == b"<html>"
    page = tidy_error_body(502, b"<html><body>Bad Gateway</body></html>")
    assert b"Bad Gateway (not a JSON answer)" in page and b"<html>" not in page
