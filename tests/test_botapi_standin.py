"""Proves the Bot API stand-in against python-telegram-bot's real HTTP stack.

If these pass, end-to-end tests built on ``BotApiStandin`` exercise what production
does: PTB serialises parameters, httpx posts them, and the answers (or Telegram-style
rejections) come back through PTB's own error mapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from helpers.botapi import BotApiStandin, parse_html, utf16_len
from helpers.faults import SECRET_HEADER, Fault, WebhookDelivery
from helpers.waiting import until
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

TOKEN = "123456:TEST-token"


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(standin: BotApiStandin) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=standin.api_base_url) as client:
        yield client


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d or "?", callback_data=d) for d in data]])


# -- plain Bot -----------------------------------------------------------------


async def test_get_me_describes_the_bot(bot: Bot, standin: BotApiStandin) -> None:
    me = await bot.get_me()
    assert me.username == "article_qa_bot"
    assert me.is_bot and me.id == 123456
    assert me.can_join_groups and me.supports_inline_queries
    assert not me.can_read_all_group_messages
    assert standin.calls[0] == ("getMe", {})  # from Bot.initialize()


async def test_send_message_html_is_parsed_like_telegram(bot: Bot, standin: BotApiStandin) -> None:
    first = await bot.send_message(42, "<b>Answer</b> &amp; <i>quote</i>", parse_mode="HTML")
    second = await bot.send_message(42, "plain")
    assert first.text == "Answer & quote"
    assert [(e.type, e.offset, e.length) for e in first.entities] == [
        ("bold", 0, 6),
        ("italic", 9, 5),
    ]
    assert first.from_user.username == "article_qa_bot"
    assert first.chat.id == 42 and first.chat.type == "private"
    assert second.message_id == first.message_id + 1
    assert standin.sent("sendMessage")[0] == {
        "chat_id": 42,
        "text": "<b>Answer</b> &amp; <i>quote</i>",
        "parse_mode": "HTML",
    }
    assert standin.texts(42) == ["<b>Answer</b> &amp; <i>quote</i>", "plain"]
    standin.assert_no_errors()


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<br>line", 'Unsupported start tag "br" at byte offset 0'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("Tom & Jerry", 'Character "&" must be escaped as "&amp;" at byte offset 4'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_bad_html_is_rejected(
    bot: Bot, standin: BotApiStandin, html: str, reason: str
) -> None:
    # PTB strips "Bad Request: " and capitalize()s the rest; the record keeps Telegram's text.
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(42, html, parse_mode="HTML")
    (error,) = standin.errors
    assert error.method == "sendMessage" and error.status == 400
    assert error.description.startswith(f"Bad Request: can't parse entities: {reason}")


@pytest.mark.parametrize(
    "html",
    [
        '<a href="https://example.org/?a=1&amp;b=2">source</a>',
        "<blockquote expandable>long quote</blockquote>",
        '<span class="tg-spoiler">x</span> <tg-spoiler>y</tg-spoiler>',
        '<pre><code class="language-python">print("hi")</code></pre>',
        "<s>a</s><strike>b</strike><del>c</del><u>d</u><ins>e</ins><em>f</em><strong>g</strong>",
        "2 &gt; 1 &lt; 3 &quot;q&quot; &#128512; &#x1F600; 1 > 0",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
    ],
)
async def test_valid_html_is_accepted(bot: Bot, html: str) -> None:
    message = await bot.send_message(42, html, parse_mode="HTML")
    assert message.text == parse_html(html)[0]


async def test_ampersand_strictness_can_match_telegram_exactly() -> None:
    async with (
        BotApiStandin(token=TOKEN, strict_ampersand=False) as lenient,
        Bot(TOKEN, base_url=lenient.api_base_url) as client,
    ):
        message = await client.send_message(1, "Tom & Jerry", parse_mode="HTML")
    assert message.text == "Tom & Jerry"


async def test_length_limit_counts_visible_utf16(bot: Bot, standin: BotApiStandin) -> None:
    await bot.send_message(42, "a" * 4096)
    await bot.send_message(42, f"<b>{'a' * 4096}</b>", parse_mode="HTML")  # tags are free
    await bot.send_message(42, "😀" * 2048)  # 2 UTF-16 units each
    assert utf16_len("😀" * 2048) == 4096
    for text in ("a" * 4097, "😀" * 2049, "&amp;" * 4097):
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(42, text, parse_mode="HTML")
    for text in ("", "   \n ", "<b></b>"):
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(42, text, parse_mode="HTML")
    assert len(standin.errors) == 6


async def test_unknown_method_and_wrong_token(bot: Bot, standin: BotApiStandin) -> None:
    with pytest.raises(EndPointNotFound, match="'fooBar' not found"):
        await bot.do_api_request("fooBar")
    assert standin.errors[-1].response == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }
    assert await bot.do_api_request("GETME") == (await bot.get_me()).to_dict()

    intruder = Bot("654321:WRONG-token", base_url=standin.api_base_url)
    try:
        with pytest.raises(InvalidToken, match="rejected by the server"):
            await intruder.initialize()
    finally:
        await intruder.shutdown()
    assert standin.errors[-1].status == 401
    assert standin.errors[-1].description == "Unauthorized"


async def test_inline_keyboards_edits_and_not_modified(bot: Bot, standin: BotApiStandin) -> None:
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(7, "pick", reply_markup=keyboard("x" * 65))
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(7, "pick", reply_markup=keyboard(""))
    sent = await bot.send_message(7, "pick", reply_markup=keyboard("a" * 64, "b"))
    assert sent.reply_markup == keyboard("a" * 64, "b")

    edited = await bot.edit_message_text("picked", chat_id=7, message_id=sent.message_id)
    assert edited.text == "picked" and edited.reply_markup is None  # keyboard dropped
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("picked", chat_id=7, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=7, message_id=999)


async def test_answer_inline_query_validation(bot: Bot, standin: BotApiStandin) -> None:
    query_id = standin.push_inline_query("article")["inline_query"]["id"]

    def article(result_id: str, text: str = "<b>ok</b>") -> InlineQueryResultArticle:
        content = InputTextMessageContent(text, parse_mode="HTML")
        return InlineQueryResultArticle(result_id, "title", content)

    with pytest.raises(BadRequest, match="Results_too_much"):
        await bot.answer_inline_query(query_id, [article(str(i)) for i in range(51)])
    with pytest.raises(BadRequest, match="Result_id_duplicate"):
        await bot.answer_inline_query(query_id, [article("1"), article("1")])
    with pytest.raises(BadRequest, match="Result_id_invalid"):
        await bot.answer_inline_query(query_id, [article("x" * 65)])
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.answer_inline_query(query_id, [article("1", "<b>unclosed")])
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.answer_inline_query(query_id, [article("1", "a" * 4097)])
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_inline_query("nonsense", [article("1")])
    assert await bot.answer_inline_query(query_id, [article(str(i)) for i in range(50)])
    assert len(standin.sent("answerInlineQuery")[0]["results"]) == 50


async def test_commands_and_webhook_bookkeeping(bot: Bot, standin: BotApiStandin) -> None:
    assert await bot.set_my_commands([("start", "Start"), ("ask", "Ask about the article")])
    assert [c["command"] for c in standin.commands[('{"type": "default"}', "")]] == ["start", "ask"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Bad-Name", "x")])

    assert await bot.set_webhook("https://example.org/hook")
    assert standin.webhook is not None and standin.webhook["url"] == "https://example.org/hook"
    with pytest.raises(Exception, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_get_updates_long_poll_and_offsets(bot: Bot, standin: BotApiStandin) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=0.2) == ()
    assert time.monotonic() - started >= 0.2  # it waited for the timeout

    asyncio.get_running_loop().call_later(0.1, standin.push_message, "/start@article_qa_bot hi")
    started = time.monotonic()
    (update,) = await bot.get_updates(timeout=3)
    assert time.monotonic() - started < 1.0  # returned early, on arrival
    assert update.message.text == "/start@article_qa_bot hi"
    command = update.message.entities[0]
    assert (command.type, command.offset, command.length) == ("bot_command", 0, 21)

    assert len(await bot.get_updates()) == 1  # not confirmed yet: delivered again
    assert await bot.get_updates(offset=update.update_id + 1) == ()


async def test_every_pushed_update_parses_in_ptb(bot: Bot, standin: BotApiStandin) -> None:
    welcome = await bot.send_message(-4001, "Ask me about the article.")
    standin.push_message("@article_qa_bot who wrote it?", chat_type="group", user_id=7)
    standin.push_message("and when?", chat_type="group", user_id=7, reply_to_bot=True)
    standin.push_edited_message("and where?", chat_type="group", user_id=7)
    standin.push_channel_post("news")
    standin.push_callback_query("more", chat_type="group", user_id=7)
    standin.push_inline_query("author")
    standin.push_sticker(chat_type="supergroup")
    standin.push_photo(caption="look")
    standin.push_voice()
    reactions = {"chat": {"id": -4001, "type": "group", "title": "Test Group"}}
    reactions |= {"message_id": welcome.message_id, "date": 1, "reactions": []}
    standin.push_update({"message_reaction_count": reactions})  # opt-in type: held back

    updates = await bot.get_updates()
    assert len(updates) == 9
    mention, reply, edit, post, press, inline, sticker, photo, voice = updates
    assert mention.message.chat.title == "Test Group" and mention.message.from_user.id == 7
    assert mention.message.parse_entities({"mention"}) == {
        mention.message.entities[0]: "@article_qa_bot"
    }
    assert reply.message.reply_to_message.message_id == welcome.message_id
    assert edit.edited_message.text == "and where?"
    assert edit.edited_message.message_id == reply.message.message_id
    assert post.channel_post.sender_chat.type == "channel"
    assert press.callback_query.message.message_id == welcome.message_id
    assert inline.inline_query.query == "author"
    assert sticker.message.sticker.emoji == "👍"
    assert sticker.message.chat.type == "supergroup"
    assert photo.message.caption == "look" and len(photo.message.photo) == 2
    assert voice.message.voice.mime_type == "audio/ogg"  # .duration warns unless PTB_TIMEDELTA
    assert [u.update_id for u in updates] == sorted(u.update_id for u in updates)

    (counted,) = await bot.get_updates(offset=-1, allowed_updates=["message_reaction_count"])
    assert counted.message_reaction_count.message_id == welcome.message_id


async def test_raw_http_forms_json_query_and_keep_alive(standin: BotApiStandin) -> None:
    url = f"{standin.api_base_url}{TOKEN}"
    async with httpx.AsyncClient() as client:
        as_json = await client.post(f"{url}/SENDMESSAGE", json={"chat_id": 5, "text": "a"})
        as_form = await client.post(f"{url}/sendmessage", data={"chat_id": "5", "text": "b"})
        as_query = await client.get(f"{url}/sendMessage?chat_id=5&text=d")
        nowhere = await client.get(f"{standin.base_url}/index.html")
    assert [r.json()["result"]["text"] for r in (as_json, as_form, as_query)] == ["a", "b", "d"]
    assert nowhere.status_code == 404
    assert [p["chat_id"] for p in standin.sent("sendMessage")] == [5, 5, 5]
    assert standin.connection_count == 1  # httpx reused one keep-alive connection


@pytest.fixture
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns (PTBDeprecationWarning) whenever a RetryAfter is built unless this is set."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.mark.usefixtures("timedelta_periods")
async def test_rate_limit_answers_429(bot: Bot, standin: BotApiStandin) -> None:
    standin.rate_limit("sendMessage")
    with pytest.raises(RetryAfter, match="Retry in"):
        await bot.send_message(42, "too fast")
    (error,) = standin.errors
    assert error.injected and error.status == 429
    assert error.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    assert (await bot.send_message(42, "later")).text == "later"
    standin.assert_no_errors()  # injected failures are not the bot's fault


async def test_application_polls_and_answers(standin: BotApiStandin) -> None:
    app = ApplicationBuilder().token(TOKEN).base_url(standin.api_base_url).build()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_html("<b>Hi!</b> Ask me.", reply_markup=keyboard("more"))

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"echo: {update.message.text}")

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"chose {update.callback_query.data}")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(button))

    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        standin.push_message("hello")
        (reply,) = await standin.wait_for("sendMessage")
        assert reply["chat_id"] == 1001 and reply["text"] == "echo: hello"

        standin.push_message("/start")
        welcome = (await standin.wait_for("sendMessage", count=2))[-1]
        assert welcome["parse_mode"] == "HTML"
        assert welcome["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "more"

        standin.push_callback_query("more")  # on the bot's latest message: the welcome
        (edit,) = await standin.wait_for("editMessageText")
        assert edit["text"] == "chose more"
        assert edit["message_id"] == standin.results("sendMessage")[-1]["message_id"]
        await standin.wait_for("answerCallbackQuery")

        standin.push_message("hi all", chat_type="group", user_id=2002, first_name="Bob")
        group = await standin.wait_for("sendMessage", where=lambda p: p["chat_id"] == -4001)
        assert group[0]["text"] == "echo: hi all"
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    async with Bot(TOKEN, base_url=standin.api_base_url) as after:
        assert await after.get_updates() == ()  # the updater confirmed what it handled
    assert standin.sent("deleteWebhook")  # start_polling's bootstrap
    standin.assert_no_errors()


async def test_wait_for_timeout_explains_what_happened(standin: BotApiStandin) -> None:
    async with Bot(TOKEN, base_url=standin.api_base_url) as client:
        with pytest.raises(BadRequest):
            await client.send_message(1, "")
    with pytest.raises(AssertionError, match=r"sendMessage -> 400 Bad Request: message text"):
        await standin.wait_for("sendMessage", timeout=0.05)


# -- injected faults, through PTB's real HTTPXRequest --------------------------------


async def test_json_500_is_a_network_error_and_nothing_is_stored(
    bot: Bot, standin: BotApiStandin
) -> None:
    standin.faults.script("sendMessage", Fault.error(500))
    with pytest.raises(NetworkError, match="Internal Server Error") as raised:
        await bot.send_message(42, "lost")
    assert type(raised.value) is NetworkError
    (error,) = standin.errors
    assert error.injected and error.status == 500 and not error.applied
    assert error.response == {
        "ok": False,
        "error_code": 500,
        "description": "Internal Server Error",
    }
    assert (await bot.send_message(42, "again")).text == "again"  # the script is used up
    assert [m["text"] for m in standin.delivered(42)] == ["again"]
    standin.assert_no_errors()


async def test_html_502_page_is_a_network_error(
    bot: Bot, standin: BotApiStandin, caplog: pytest.LogCaptureFixture
) -> None:
    standin.faults.script("sendMessage", Fault.html(), times=2)
    async with httpx.AsyncClient() as client:
        raw = await client.post(f"{standin.api_base_url}{TOKEN}/sendMessage", json={})
    assert raw.status_code == 502 and raw.headers["content-type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in raw.text and "nginx" in raw.text
    with pytest.raises(NetworkError, match=r"Bad Gateway \(502\)\. Parsing the server response"):
        await bot.send_message(42, "lost")
    assert "Can not load invalid JSON data" in caplog.text  # PTB's own traceback
    assert [(e.status, e.response, e.fault) for e in standin.errors] == [
        (502, None, Fault.html())
    ] * 2


@pytest.mark.usefixtures("timedelta_periods")
async def test_429_is_retry_after_with_its_delay(bot: Bot, standin: BotApiStandin) -> None:
    standin.faults.script("sendMessage", Fault.flood(retry_after=7))
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(42, "too fast")
    assert raised.value.retry_after == timedelta(seconds=7)
    assert standin.errors[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }


@pytest.mark.parametrize("applied", [False, True])
async def test_reset_is_a_network_error_applied_or_not(
    bot: Bot, standin: BotApiStandin, applied: bool
) -> None:
    standin.faults.script("sendMessage", Fault.reset(applied=applied))
    with pytest.raises(NetworkError) as raised:
        await bot.send_message(42, "maybe")
    assert type(raised.value) is NetworkError
    exchange = standin.exchanges[-1]
    assert exchange.status is None and exchange.fault == Fault.reset(applied=applied)
    assert exchange.applied is applied
    assert len(standin.delivered(42)) == int(applied)  # stored though the bot never heard
    assert standin.sent("sendMessage") == []  # no answer reached the client
    assert (await bot.send_message(42, "next")).text == "next"  # a new connection works


@pytest.mark.parametrize("applied", [False, True])
async def test_hold_past_the_read_timeout_is_timed_out(
    standin: BotApiStandin, applied: bool
) -> None:
    standin.faults.script("sendMessage", Fault.hold(2.0, applied=applied))
    async with Bot(
        TOKEN, base_url=standin.api_base_url, request=HTTPXRequest(read_timeout=0.2)
    ) as b:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await b.send_message(42, "slow")
        assert time.monotonic() - started < 1.0
        assert len(standin.delivered(42)) == int(applied)
        assert standin.faults.log[-1].fault.applied is applied
        held = standin.exchanges[-1]
        await until(lambda: held.abandoned, timeout=1, what="the stand-in saw the client go")
        assert (await b.send_message(42, "next")).text == "next"


async def test_short_hold_is_slow_success_if_applied_else_dropped(
    bot: Bot, standin: BotApiStandin
) -> None:
    standin.faults.script("sendMessage", Fault.hold(0.3, applied=True), Fault.hold(0.1))
    started = time.monotonic()
    assert (await bot.send_message(42, "late")).text == "late"
    assert time.monotonic() - started >= 0.3
    with pytest.raises(NetworkError):
        await bot.send_message(42, "never")
    assert [m["text"] for m in standin.delivered(42)] == ["late"]


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("getMe", lambda b: b.get_me()),
        ("getUpdates", lambda b: b.get_updates()),
        ("deleteWebhook", lambda b: b.delete_webhook()),
        ("setWebhook", lambda b: b.set_webhook("https://example.org/hook")),
        ("setMyCommands", lambda b: b.set_my_commands([("start", "Start")])),
        ("editMessageText", lambda b: b.edit_message_text("x", chat_id=42, message_id=1)),
        ("answerCallbackQuery", lambda b: b.answer_callback_query("1")),
        ("answerInlineQuery", lambda b: b.answer_inline_query("1", [])),
    ],
)
async def test_any_method_can_fail(
    bot: Bot, standin: BotApiStandin, method: str, call: Callable[[Bot], Awaitable[object]]
) -> None:
    standin.faults.script(method.lower(), Fault.error(503, "Service Unavailable"))
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await call(bot)
    assert standin.faults.counts() == {"503": 1}
    assert standin.errors[-1].method == method


async def test_random_faults_are_reproducible_per_chat(standin: BotApiStandin) -> None:
    mix = {Fault.error(500): 0.2, Fault.html(): 0.1, Fault.flood(1): 0.1, Fault.reset(): 0.1}
    url = f"{standin.api_base_url}{TOKEN}/sendMessage"

    async def run(chats: list[int]) -> dict[int, list[str]]:
        standin.reset()
        standin.faults.randomly(["sendMessage", "editMessageText"], mix, seed=11)
        async with httpx.AsyncClient() as client:
            for chat in chats:
                with contextlib.suppress(httpx.TransportError):
                    await client.post(url, json={"chat_id": chat, "text": "q"})
        seen: dict[int, list[str]] = {}
        for e in standin.exchanges:
            seen.setdefault(e.params["chat_id"], []).append(str(e.fault or "ok"))
        return seen

    first = await run([1, 2] * 30)
    second = await run([2] * 30 + [1] * 30)  # another interleaving, the same faults
    assert first == second
    drawn = [f for faults in first.values() for f in faults if f != "ok"]
    assert 10 <= len(drawn) <= 50 and set(drawn) == {"500", "html 502", "429", "reset"}
    assert sum(standin.faults.counts().values()) == len(standin.faults.log) == len(drawn)
    assert len(standin.delivered()) == 60 - len(drawn)


async def test_answers_map_updates_to_their_replies(bot: Bot, standin: BotApiStandin) -> None:
    q1, q2, q3 = (standin.push_message(q, user_id=1) for q in ("a?", "b?", "c?"))
    (q4,) = [standin.push_message("d?", user_id=2)]
    (q5,) = [standin.push_message("e?", user_id=3)]
    press = standin.push_callback_query("x", user_id=1)
    query = standin.push_inline_query("f")
    await bot.send_message(1, "to a")
    await bot.send_message(1, "to b", reply_parameters=ReplyParameters(q2["message"]["message_id"]))
    await bot.send_message(1, "to c")
    await bot.send_message(3, "to e")
    await bot.send_message(3, "to e, twice")
    await bot.answer_callback_query(press["callback_query"]["id"])
    standin.faults.script("answerInlineQuery", Fault.reset(applied=True))
    with pytest.raises(NetworkError):  # answered, but the bot does not know...
        await bot.answer_inline_query(query["inline_query"]["id"], [])
    await bot.answer_inline_query(query["inline_query"]["id"], [])  # ...so it answers again

    found = standin.answers([q1, q2, q3, q4, q5, press, query])
    texts = {uid: [r.get("text", "answer") for r in replies] for uid, replies in found.items()}
    assert list(texts.values()) == [
        ["to a"],
        ["to b"],
        ["to c"],
        [],
        ["to e", "to e, twice"],
        ["answer"],
        ["answer"] * 2,
    ]
    assert standin.assert_answered_once([q1, q2, q3, press]) == {
        u["update_id"]: found[u["update_id"]] for u in (q1, q2, q3, press)
    }
    with pytest.raises(AssertionError, match=r"1 unanswered \[\d+\], 2 answered more than once"):
        standin.assert_answered_once([q4, q5, query])


# -- Telegram-style webhook delivery ------------------------------------------------


class Hook:
    """A webhook endpoint on loopback: the n-th POST of an update gets ``script[n]``, then 200.

    A script item is a status, "reset" (close without an answer) or "hold" (answer 200
    after 0.5 s). ``only``: script just that update. Records each POST's update_id and
    secret header, and the most POSTs in flight at once.
    """

    def __init__(self, *script: int | str, only: int | None = None, port: int = 0) -> None:
        self.script, self.only = script, only
        self.received: list[tuple[int, str | None]] = []
        self.in_flight = self.peak = 0
        self.port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Hook:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode().lower().split("\r\n")
                headers = dict(line.split(": ", 1) for line in head[1:] if line)
                body = await reader.readexactly(int(headers["content-length"]))
                uid = json.loads(body)["update_id"]
                tries = sum(1 for seen, _ in self.received if seen == uid)
                self.received.append((uid, headers.get(SECRET_HEADER.lower())))
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                scripted = self.only in (None, uid) and tries < len(self.script)
                action = self.script[tries] if scripted else 200
                if action == "hold":
                    await asyncio.sleep(0.5)
                self.in_flight -= 1
                if action == "reset":
                    break
                status = 200 if action == "hold" else action
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        writer.close()


async def test_webhook_resends_until_acknowledged(standin: BotApiStandin) -> None:
    update = standin.push_message("hello")
    async with (
        Hook(500, "reset", 502, "hold") as hook,
        WebhookDelivery(standin, hook.url, secret="s3cret", timeout=0.2, backoff=0.01) as wd,
    ):
        await wd.wait_idle(timeout=5)
    uid = update["update_id"]
    assert wd.acknowledged == {uid: 5} and not wd.given_up and not standin.pending
    assert [(a.status, a.error) for a in wd.log] == [
        (500, None),
        (None, "RemoteProtocolError"),
        (502, None),
        (None, "ReadTimeout"),  # held past the timeout: "not delivered", though it arrived
        (200, None),
    ]
    assert hook.received == [(uid, "s3cret")] * 5


async def test_webhook_gives_up_after_the_bound(standin: BotApiStandin) -> None:
    standin.push_message("doomed")
    async with (
        Hook(*[503] * 10) as hook,
        WebhookDelivery(standin, hook.url, attempts=3, backoff=0.01) as wd,
    ):
        await wd.wait_idle(timeout=5)
    assert len(hook.received) == 3 and wd.given_up == [hook.received[0][0]]
    assert not wd.acknowledged and not standin.pending


async def test_webhook_keeps_each_chat_in_order(standin: BotApiStandin) -> None:
    slow = [standin.push_message(f"a{i}", user_id=1)["update_id"] for i in range(3)]
    fast = [standin.push_message(f"b{i}", user_id=2)["update_id"] for i in range(3)]
    async with (
        Hook(500, 500, only=slow[0]) as hook,
        WebhookDelivery(standin, hook.url, backoff=0.05) as wd,
    ):
        await wd.wait_idle(timeout=5)
    order = [uid for uid, _ in hook.received]
    assert order[:2] == [slow[0], fast[0]] and order.count(slow[0]) == 3
    assert [u for u in order if u in fast] == fast  # chat 2 went on while chat 1 waited
    assert [u for u in dict.fromkeys(order) if u in slow] == slow
    assert order.index(fast[-1]) < order.index(slow[1])
    assert list(wd.acknowledged) == [*fast, *slow] and hook.peak <= 2


async def test_webhook_unordered_sends_all_at_once(standin: BotApiStandin) -> None:
    for i in range(5):
        standin.push_message(f"q{i}", user_id=1)
    async with Hook("hold") as hook, WebhookDelivery(standin, hook.url, ordered=False) as wd:
        await wd.wait_idle(timeout=5)
    assert hook.peak == 5 and len(wd.acknowledged) == 5


async def test_webhook_rides_out_a_dead_bot(standin: BotApiStandin) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    update = standin.push_message("anyone there?")
    url = f"http://127.0.0.1:{port}/telegram"
    async with WebhookDelivery(standin, url, backoff=0.02, max_backoff=0.05) as wd:
        await until(lambda: len(wd.log) >= 2, what="failed POSTs")
        assert {a.error for a in wd.log} == {"ConnectError"} and not wd.acknowledged
        async with Hook(port=port) as hook:  # the bot is back, on the same port
            await wd.wait_idle(timeout=5)
    assert wd.acknowledged == {update["update_id"]: len(wd.log)}
    assert hook.received == [(update["update_id"], None)]
