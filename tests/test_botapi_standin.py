"""Proves the Bot API stand-in against python-telegram-bot's real HTTP stack.

If these pass, end-to-end tests built on ``BotApiStandin`` exercise what production
does: PTB serialises parameters, httpx posts them, and the answers (or Telegram-style
rejections) come back through PTB's own error mapping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from helpers.botapi import BotApiStandin, parse_html, utf16_len
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import BadRequest, EndPointNotFound, InvalidToken, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

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
