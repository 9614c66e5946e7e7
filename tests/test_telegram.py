"""End-to-end tests: the whole bot polling the Bot API stand-in over real HTTP.

Nothing of python-telegram-bot is patched: every reply below went through PTB's
serialisation and HTTP, and the stand-in validated it as Telegram would (HTML entities,
4096-character limit, callback data, keyboards). To prove the bot ignored something, the
ignored update is pushed first and an addressed one after it: updates are handled in
order, so once the second reply arrives the first one has been dealt with.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from helpers.botapi import parse_html, utf16_len
from helpers.running import ADMIN_ID, BotUnderTest
from pydantic import SecretStr
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from bot.logs import REDACTED, Redactor, install_redactor
from bot.matching import Verdict
from bot.replies import answer_reply, example_entries, short_source
from bot.telegram.handlers import (
    ADMIN_IN_PRIVATE,
    ALREADY_ANSWERED,
    GONE,
    MOVED,
    NOT_TEXT,
)
from bot.telegram.inline import INLINE_RESULTS
from bot.telegram.webhook import SECRET_HEADER, Door, web_app

BOT_USERNAME = "article_qa_bot"
JSONDict = dict[str, Any]


# --- helpers ---------------------------------------------------------------------------


def keyboard(params: JSONDict) -> list[list[JSONDict]]:
    """The inline keyboard rows of a sendMessage/editMessageText call (or [])."""
    markup = params.get("reply_markup") or {}
    return markup.get("inline_keyboard", [])


def flat_buttons(params: JSONDict) -> list[JSONDict]:
    return [button for row in keyboard(params) for button in row]


def callback_data(params: JSONDict) -> list[str]:
    return [b["callback_data"] for b in flat_buttons(params) if "callback_data" in b]


def visible(params: JSONDict) -> str:
    """The text as a reader sees it (the stand-in's tdlib-style HTML parser)."""
    text, _ = parse_html(params["text"])
    return text


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def sends_after(
    bot: BotUnderTest, push: Callable[[], object], count: int = 1
) -> list[JSONDict]:
    """Run `push` (which queues updates) and wait for `count` more sendMessage calls."""
    before = len(bot.api.sent("sendMessage"))
    push()
    sent = await bot.api.wait_for("sendMessage", count=before + count)
    return sent[before:]


async def press(bot: BotUnderTest, data: str, **kwargs: Any) -> tuple[str, JSONDict]:
    """Press a button; return the query id and the answerCallbackQuery params."""
    update = bot.api.push_callback_query(data, **kwargs)
    query_id = update["callback_query"]["id"]
    (answer,) = await bot.api.wait_for(
        "answerCallbackQuery", where=lambda p: p.get("callback_query_id") == query_id
    )
    return query_id, answer


async def inline(bot: BotUnderTest, query: str) -> JSONDict:
    """Type `@bot query`; return the answerInlineQuery params."""
    update = bot.api.push_inline_query(query)
    query_id = update["inline_query"]["id"]
    (answer,) = await bot.api.wait_for(
        "answerInlineQuery", where=lambda p: p.get("inline_query_id") == query_id
    )
    return answer


def assert_is_answer(bot: BotUnderTest, params: JSONDict, entry_id: str) -> None:
    """`params` is the answer of `entry_id` as the core renders it: the answer (or only its
    "Yes."/"No." when the quote says the rest), the quote as a blockquote, a short source."""
    knowledge = bot.engine.knowledge
    entry = knowledge.entry(entry_id)
    assert entry is not None
    text = params["text"]
    assert text == answer_reply(knowledge, entry).html, text
    quote_html = html.escape(knowledge.quote_of(entry), quote=False)
    assert re.search(rf"<blockquote(?: expandable)?>{re.escape(quote_html)}</blockquote>", text)
    assert params["parse_mode"] == "HTML"


# --- 1. private answers ----------------------------------------------------------------


async def test_private_answer_is_answer_then_blockquote_then_source(
    shared_bot: BotUnderTest,
) -> None:
    sent = await shared_bot.ask("What is ISIS-K?")
    assert_is_answer(shared_bot, sent, "what-is-isis-k")
    source = short_source(shared_bot.engine.knowledge)
    assert sent["text"].endswith(f"— {html.escape(source, False)}</i>")  # short: see /source
    assert len(keyboard(sent)) <= 2
    assert sent["parse_mode"] == "HTML"
    assert sent["link_preview_options"] == {"is_disabled": True}
    assert "reply_parameters" not in sent  # private chats are not quoted
    shared_bot.api.assert_no_errors()


async def test_answer_has_vote_buttons_and_share_link_with_start_payload(
    shared_bot: BotUnderTest,
) -> None:
    assert shared_bot.app.bot.username == BOT_USERNAME  # from getMe
    sent = await shared_bot.ask("What is ISIS-K?")
    buttons = flat_buttons(sent)
    by_label = {b["text"]: b for b in buttons}
    assert by_label["👍"]["callback_data"] == "v:what-is-isis-k:+"
    assert by_label["👎"]["callback_data"] == "v:what-is-isis-k:-"
    (share,) = [b for b in buttons if "url" in b]
    assert "Share" in share["text"]
    assert "t.me/share/url" in share["url"]
    start = f"https://t.me/{BOT_USERNAME}?start=what-is-isis-k"
    assert quote(start, safe="") in share["url"]
    shared_bot.api.assert_no_errors()


async def test_votes_are_acknowledged_once_per_message(shared_bot: BotUnderTest) -> None:
    sent = await shared_bot.ask("What is ISIS-K?")
    message_id = shared_bot.api.results("sendMessage")[-1]["message_id"]
    up = next(d for d in callback_data(sent) if d.endswith(":+"))
    down = next(d for d in callback_data(sent) if d.endswith(":-"))
    _, first = await press(shared_bot, up, message_id=message_id)
    _, again = await press(shared_bot, up, message_id=message_id)
    _, changed = await press(shared_bot, down, message_id=message_id)
    assert first["text"] == "Thanks for the feedback!"
    assert again["text"] == "You already voted on this answer."
    assert changed["text"] == "Vote changed. Thanks!"
    shared_bot.api.assert_no_errors()


# --- 2. off-topic and small talk -------------------------------------------------------


@pytest.mark.parametrize("question", ["what's the weather in Paris", "asdfgh"])
async def test_off_topic_gets_a_friendly_decline_pointing_to_topics(
    shared_bot: BotUnderTest, question: str
) -> None:
    sent = await shared_bot.ask(question)
    assert "I don't know that one" in sent["text"]
    assert "/topics" in sent["text"]
    assert "<blockquote>" not in sent["text"]
    examples = example_entries(shared_bot.engine.knowledge)
    assert callback_data(sent) == [f"a:{e.id}" for e in examples]
    shared_bot.api.assert_no_errors()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("hi", "Hello! Ask me anything about the article"), ("thanks", "You're welcome!")],
)
async def test_small_talk_gets_a_short_reply_without_quote(
    shared_bot: BotUnderTest, text: str, expected: str
) -> None:
    sent = await shared_bot.ask(text)
    assert sent["text"].startswith(expected)
    assert "<blockquote>" not in sent["text"]
    assert len(visible(sent)) < 300
    shared_bot.api.assert_no_errors()


# --- 3. did you mean -------------------------------------------------------------------


def unsure_question(bot: BotUnderTest) -> str:
    candidates = ["isis k", "khorasan", "taliban", "what does isis-k think", "who", "attack"]
    for question in candidates:
        if bot.engine.ask(question).verdict is Verdict.UNSURE:
            return question
    raise AssertionError(f"none of {candidates} is UNSURE any more: pick another")


async def test_unsure_question_offers_up_to_three_suggestions_as_buttons(
    shared_bot: BotUnderTest,
) -> None:
    question = unsure_question(shared_bot)
    result = shared_bot.engine.ask(question)
    sent = await shared_bot.ask(question)
    assert "Did you mean" in sent["text"]
    assert "<blockquote>" not in sent["text"]
    for c in result.suggestions:  # said once: by the buttons, not repeated in the text
        assert html.escape(c.entry.question, False) not in sent["text"]
    rows = keyboard(sent)
    assert 1 <= len(rows) <= 3
    assert all(len(row) == 1 for row in rows)
    assert callback_data(sent) == [f"p:{c.entry.id}" for c in result.suggestions]
    shared_bot.api.assert_no_errors()


async def test_pressing_a_suggestion_replaces_the_question_with_that_answer_once(
    shared_bot: BotUnderTest,
) -> None:
    """The chosen answer takes the "did you mean" message's place (edited, keyboard and
    all); pressing again, or another choice, only gets a toast: one answer per question."""
    sent = await shared_bot.ask(unsure_question(shared_bot))
    message_id = shared_bot.api.results("sendMessage")[-1]["message_id"]
    data = callback_data(sent)
    sends = len(shared_bot.api.sent("sendMessage"))
    edits = len(shared_bot.api.sent("editMessageText"))
    _, answer = await press(shared_bot, data[0], message_id=message_id)
    assert not answer.get("show_alert")
    edit = (await shared_bot.api.wait_for("editMessageText", count=edits + 1))[-1]
    assert edit["message_id"] == message_id
    assert_is_answer(shared_bot, edit, data[0].removeprefix("p:"))
    assert not any(d.startswith("p:") for d in callback_data(edit))  # choices are gone
    for again in (data[0], data[-1]):
        _, toast = await press(shared_bot, again, message_id=message_id)
        assert toast["text"] == ALREADY_ANSWERED
    assert len(shared_bot.api.sent("sendMessage")) == sends
    assert len(shared_bot.api.sent("editMessageText")) == edits + 1
    shared_bot.api.assert_no_errors()


async def test_stale_suggestion_gets_an_alert_and_no_message(shared_bot: BotUnderTest) -> None:
    await shared_bot.ask("hi")
    before = len(shared_bot.api.sent("sendMessage"))
    _, answer = await press(shared_bot, "a:no-such-entry")
    assert answer["show_alert"] is True
    assert answer["text"] == GONE
    follow_up = await shared_bot.ask("What is ISIS-K?")  # still alive
    assert len(shared_bot.api.sent("sendMessage")) == before + 1
    assert_is_answer(shared_bot, follow_up, "what-is-isis-k")
    shared_bot.api.assert_no_errors()


async def test_suggestion_on_an_old_message_is_still_answered(shared_bot: BotUnderTest) -> None:
    """Telegram sends date 0 for messages the bot can no longer see (too old)."""
    user = {"id": 1001, "is_bot": False, "first_name": "Alice"}
    old = {"message_id": 77, "date": 0, "chat": {"id": 1001, "type": "private"}}
    shared_bot.api.callback_query_ids.add("555")
    query = {"id": "555", "from": user, "chat_instance": "1", "data": "a:what-is-isis-k"}
    sent = await sends_after(
        shared_bot,
        lambda: shared_bot.api.push_update({"callback_query": {**query, "message": old}}),
    )
    assert_is_answer(shared_bot, sent[0], "what-is-isis-k")
    assert shared_bot.api.sent("answerCallbackQuery")
    shared_bot.api.assert_no_errors()


# --- 4. related entries ----------------------------------------------------------------


async def test_related_entries_are_offered_as_plus_buttons(shared_bot: BotUnderTest) -> None:
    entry = shared_bot.engine.knowledge.entry("attack-claimed-by")
    assert entry is not None and entry.related
    sent = await shared_bot.ask("who claimed the attack")
    assert_is_answer(shared_bot, sent, "attack-claimed-by")
    plus = [b for b in flat_buttons(sent) if b["text"].startswith("➕ ")]
    assert [b["callback_data"] for b in plus] == [f"a:{entry.related[0]}"]  # one row
    first = shared_bot.engine.knowledge.entry(entry.related[0])
    assert first is not None
    assert plus[0]["text"] == f"➕ {first.button_label}"
    before = len(shared_bot.api.sent("sendMessage"))
    await press(shared_bot, plus[0]["callback_data"])
    new = (await shared_bot.api.wait_for("sendMessage", count=before + 1))[-1]
    assert_is_answer(shared_bot, new, first.id)
    shared_bot.api.assert_no_errors()


# --- 5. commands -----------------------------------------------------------------------


async def test_start_without_payload_welcomes_with_three_example_buttons(
    shared_bot: BotUnderTest,
) -> None:
    sent = await shared_bot.ask("/start")
    assert sent["text"].startswith("Hi! I answer questions about the article")
    examples = example_entries(shared_bot.engine.knowledge)
    assert len(examples) == 3
    assert callback_data(sent) == [f"a:{e.id}" for e in examples]
    assert [b["text"] for b in flat_buttons(sent)] == [e.button_label for e in examples]
    shared_bot.api.assert_no_errors()


async def test_start_with_an_entry_id_answers_it_directly(shared_bot: BotUnderTest) -> None:
    sent = await shared_bot.ask("/start attack-claimed-by")
    assert_is_answer(shared_bot, sent, "attack-claimed-by")
    shared_bot.api.assert_no_errors()


async def test_a_stale_share_link_says_the_answer_moved_and_offers_the_closest(
    shared_bot: BotUnderTest,
) -> None:
    sent = await shared_bot.ask("/start who-claimed-the-kabul-attack")
    assert sent["text"] == html.escape(MOVED, False)
    assert "p:attack-claimed-by" in callback_data(sent)
    assert 1 <= len(keyboard(sent)) <= 3
    hint = await shared_bot.ask("/start help")  # the inline "no answer" button's payload
    assert hint["text"].startswith("I answer questions about one article")
    shared_bot.api.assert_no_errors()


@pytest.mark.parametrize("command", ["/help", f"/help@{BOT_USERNAME}"])
async def test_help_explains_how_to_ask(shared_bot: BotUnderTest, command: str) -> None:
    sent = await shared_bot.ask(command)
    assert sent["text"].startswith("I answer questions about one article")
    assert "/topics" in sent["text"] and "/ask" in sent["text"]
    shared_bot.api.assert_no_errors()


async def test_source_names_the_article_and_its_date(shared_bot: BotUnderTest) -> None:
    article = shared_bot.engine.knowledge.article
    sent = await shared_bot.ask("/source")
    assert article.title in visible(sent)
    assert article.date in visible(sent)
    shared_bot.api.assert_no_errors()


@pytest.mark.parametrize("command", ["/ask", f"/ask@{BOT_USERNAME}"])
async def test_ask_command_answers_its_question(shared_bot: BotUnderTest, command: str) -> None:
    sent = await shared_bot.ask(f"{command} who claimed the attack")
    assert_is_answer(shared_bot, sent, "attack-claimed-by")
    shared_bot.api.assert_no_errors()


async def test_ask_without_a_question_gives_the_usage(shared_bot: BotUnderTest) -> None:
    sent = await shared_bot.ask("/ask")
    assert sent["text"].startswith("Ask like this: /ask ")
    shared_bot.api.assert_no_errors()


async def test_topics_pages_forward_by_editing_the_message(shared_bot: BotUnderTest) -> None:
    sent = await shared_bot.ask("/topics")
    assert "(page 1 of " in sent["text"]
    assert "t:1" in callback_data(sent)
    first_page = [d for d in callback_data(sent) if d.startswith("a:")]
    message_id = shared_bot.api.results("sendMessage")[-1]["message_id"]
    query_id, _ = await press(shared_bot, "t:1", message_id=message_id)
    (edit,) = await shared_bot.api.wait_for("editMessageText")
    assert edit["message_id"] == message_id
    assert "(page 2 of " in edit["text"]
    assert "t:0" in callback_data(edit)
    second_page = [d for d in callback_data(edit) if d.startswith("a:")]
    assert second_page and not set(second_page) & set(first_page)
    assert [p["callback_query_id"] for p in shared_bot.api.sent("answerCallbackQuery")] == [
        query_id
    ]
    shared_bot.api.assert_no_errors()


async def test_tapping_the_same_topics_page_twice_is_not_an_error(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    await shared_bot.ask("/topics")
    message_id = shared_bot.api.results("sendMessage")[-1]["message_id"]
    await press(shared_bot, "t:1", message_id=message_id)
    await press(shared_bot, "t:1", message_id=message_id)  # both presses are answered
    await shared_bot.ask("hi")  # and handled, once this is answered
    assert not errors_logged(caplog)
    # Telegram refuses the second, identical edit; the bot must shrug it off.
    refused = [e.description or "" for e in shared_bot.api.errors]
    assert all("message is not modified" in d for d in refused), refused
    assert len(shared_bot.api.sent("editMessageText")) == 1


@pytest.mark.parametrize("data", ["t:²", "t:-1", "a:NOT AN ID", "v:x:*", "noop", "z"])
async def test_odd_button_data_only_stops_the_spinner(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture, data: str
) -> None:
    """Data no button of this bot carries (a tampered client, an old keyboard)."""
    _, answer = await press(shared_bot, data)
    assert answer.get("text") is None and not answer.get("show_alert")
    await shared_bot.ask("hi")  # still answering
    assert shared_bot.api.sent("editMessageText") == []
    assert len(shared_bot.api.sent("sendMessage")) == 1
    assert not errors_logged(caplog)
    shared_bot.api.assert_no_errors()


async def test_maintainer_command_in_a_group_points_to_a_private_chat(
    shared_bot: BotUnderTest,
) -> None:
    sent = await shared_bot.ask("/stats", chat_type="group", user_id=ADMIN_ID)
    assert sent["text"] == ADMIN_IN_PRIVATE
    assert "Entries loaded" not in sent["text"]
    shared_bot.api.assert_no_errors()


async def test_unknown_command_says_so_in_one_line(shared_bot: BotUnderTest) -> None:
    sent = await shared_bot.ask("/foo")
    assert sent["text"] == "I don't know the command /foo. Send /help to see what I can do."
    group = await shared_bot.ask(f"/bar@{BOT_USERNAME}", chat_type="supergroup")
    assert group["text"].startswith("I don't know the command /bar.")
    shared_bot.api.assert_no_errors()


# --- 6. groups -------------------------------------------------------------------------

GROUP_TYPES = pytest.mark.parametrize("chat_type", ["group", "supergroup"])


@GROUP_TYPES
async def test_group_ignores_what_is_not_addressed_to_the_bot(
    shared_bot: BotUnderTest, chat_type: str
) -> None:
    api = shared_bot.api
    api.push_message("What is ISIS-K?", chat_type=chat_type)
    api.push_message("@someone_else what is isis-k", chat_type=chat_type)
    api.push_message("/help@other_bot", chat_type=chat_type)
    api.push_message("/foo", chat_type=chat_type)
    addressed = api.push_message(f"@{BOT_USERNAME} who claimed the attack", chat_type=chat_type)
    sent = await api.wait_for("sendMessage")
    await shared_bot.settle()  # handled everything, so a late extra reply would be here
    assert len(api.sent("sendMessage")) == 1
    assert sent[0]["reply_parameters"]["message_id"] == addressed["message"]["message_id"]
    api.assert_no_errors()


@GROUP_TYPES
async def test_group_mention_is_answered_as_a_reply_to_the_asker(
    shared_bot: BotUnderTest, chat_type: str
) -> None:
    sent = await sends_after(
        shared_bot,
        lambda: shared_bot.api.push_message(
            f"@{BOT_USERNAME} who claimed the attack?", chat_type=chat_type
        ),
    )
    asked = shared_bot.api.updates[-1]["message"]
    assert sent[0]["chat_id"] == asked["chat"]["id"]
    assert sent[0]["reply_parameters"]["message_id"] == asked["message_id"]
    assert_is_answer(shared_bot, sent[0], "attack-claimed-by")
    shared_bot.api.assert_no_errors()


@GROUP_TYPES
async def test_group_reply_to_the_bot_is_answered(shared_bot: BotUnderTest, chat_type: str) -> None:
    await shared_bot.ask(f"@{BOT_USERNAME} hi", chat_type=chat_type)
    sent = await shared_bot.ask("who claimed the attack", chat_type=chat_type, reply_to_bot=True)
    asked = shared_bot.api.updates[-1]["message"]
    assert asked["reply_to_message"]["from"]["username"] == BOT_USERNAME
    assert sent["reply_parameters"]["message_id"] == asked["message_id"]
    assert_is_answer(shared_bot, sent, "attack-claimed-by")
    shared_bot.api.assert_no_errors()


@GROUP_TYPES
@pytest.mark.parametrize("command", ["/ask", f"/ask@{BOT_USERNAME}"])
async def test_group_ask_command_answers_replying_to_the_asker(
    shared_bot: BotUnderTest, chat_type: str, command: str
) -> None:
    sent = await shared_bot.ask(f"{command} who claimed the attack", chat_type=chat_type)
    asked = shared_bot.api.updates[-1]["message"]
    assert sent["reply_parameters"]["message_id"] == asked["message_id"]
    assert_is_answer(shared_bot, sent, "attack-claimed-by")
    shared_bot.api.assert_no_errors()


async def test_group_bare_mention_gets_help(shared_bot: BotUnderTest) -> None:
    sent = await shared_bot.ask(f"@{BOT_USERNAME}", chat_type="supergroup")
    assert sent["text"].startswith("I answer questions about one article")
    shared_bot.api.assert_no_errors()


async def test_group_suggestion_taps_post_one_answer_in_place(shared_bot: BotUnderTest) -> None:
    """Three taps by three people on a group's "did you mean": one edit, two toasts."""
    question = unsure_question(shared_bot)
    sent = await shared_bot.ask(f"@{BOT_USERNAME} {question}", chat_type="group")
    assert "reply_parameters" in sent  # the choices answer the asker's message
    message_id = shared_bot.api.results("sendMessage")[-1]["message_id"]
    data = callback_data(sent)[0]
    sends = len(shared_bot.api.sent("sendMessage"))
    edits = len(shared_bot.api.sent("editMessageText"))
    toasts = []
    for user_id in (1001, 1002, 1003):
        _, answer = await press(
            shared_bot, data, chat_type="group", message_id=message_id, user_id=user_id
        )
        toasts.append(answer.get("text"))
    assert toasts == [None, ALREADY_ANSWERED, ALREADY_ANSWERED]
    (edit,) = shared_bot.api.sent("editMessageText")[edits:]
    assert_is_answer(shared_bot, edit, data.removeprefix("p:"))
    assert len(shared_bot.api.sent("sendMessage")) == sends
    shared_bot.api.assert_no_errors()


async def test_group_related_button_answers_the_presser_by_name(shared_bot: BotUnderTest) -> None:
    sent = await shared_bot.ask(f"@{BOT_USERNAME} who claimed the attack", chat_type="group")
    plus = next(d for d in callback_data(sent) if d.startswith("a:"))
    message_id = shared_bot.api.results("sendMessage")[-1]["message_id"]
    before = len(shared_bot.api.sent("sendMessage"))
    await press(
        shared_bot,
        plus,
        chat_type="group",
        message_id=message_id,
        user_id=1007,
        first_name="Bea",
    )
    new = (await shared_bot.api.wait_for("sendMessage", count=before + 1))[-1]
    assert new["reply_parameters"]["message_id"] == message_id  # under the answer pressed
    assert new["text"].startswith('<a href="tg://user?id=1007">Bea</a>\n')
    shared_bot.api.assert_no_errors()


# --- 7. inline mode --------------------------------------------------------------------


async def test_inline_query_offers_ranked_articles_with_quoted_answers(
    shared_bot: BotUnderTest,
) -> None:
    answer = await inline(shared_bot, "who claimed the attack")
    results = answer["results"]
    assert 1 <= len(results) <= INLINE_RESULTS
    knowledge = shared_bot.engine.knowledge
    assert results[0]["id"] == "attack-claimed-by"
    for result in results:
        entry = knowledge.entry(result["id"])
        assert entry is not None
        assert result["type"] == "article"
        assert result["title"] == entry.question
        description = result["description"]
        assert description and entry.answer.startswith(description.removesuffix("…"))
        content = result["input_message_content"]
        assert "<blockquote>" in content["message_text"]
        assert content["parse_mode"] == "HTML"
    assert answer["cache_time"] > 0
    shared_bot.api.assert_no_errors()


async def test_empty_inline_query_lists_the_examples_first(shared_bot: BotUnderTest) -> None:
    answer = await inline(shared_bot, "")
    ids = [r["id"] for r in answer["results"]]
    examples = [e.id for e in example_entries(shared_bot.engine.knowledge)]
    assert 1 <= len(ids) <= INLINE_RESULTS
    assert ids[: len(examples)] == examples
    assert len(set(ids)) == len(ids)
    shared_bot.api.assert_no_errors()


@pytest.mark.parametrize("query", ["asdfgh qwerty", "hi"])
async def test_inline_query_without_an_answer_shows_the_hint_button(
    shared_bot: BotUnderTest, query: str
) -> None:
    answer = await inline(shared_bot, query)
    assert answer["results"] == []
    assert answer["button"]["start_parameter"] == "help"
    assert answer["button"]["text"]
    shared_bot.api.assert_no_errors()


# --- 8. robustness ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "photo with caption"])
async def test_non_text_in_private_gets_i_can_only_read_text(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    api = shared_bot.api
    push = {
        "sticker": api.push_sticker,
        "photo": api.push_photo,
        "voice": api.push_voice,
        "photo with caption": lambda: api.push_photo(caption="What is ISIS-K?"),
    }[kind]
    sent = await sends_after(shared_bot, push)
    assert sent[0]["text"] == NOT_TEXT
    assert not errors_logged(caplog)
    api.assert_no_errors()


async def test_an_edited_question_edits_its_reply(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    first = await shared_bot.ask("What is ISIS-K?")
    assert_is_answer(shared_bot, first, "what-is-isis-k")
    reply_id = shared_bot.api.results("sendMessage")[-1]["message_id"]
    sends = len(shared_bot.api.sent("sendMessage"))
    edits = len(shared_bot.api.sent("editMessageText"))
    shared_bot.api.push_edited_message("who claimed the attack")
    edit = (await shared_bot.api.wait_for("editMessageText", count=edits + 1))[-1]
    assert edit["message_id"] == reply_id
    assert_is_answer(shared_bot, edit, "attack-claimed-by")
    await shared_bot.settle()
    assert len(shared_bot.api.sent("sendMessage")) == sends  # no second reply
    assert not errors_logged(caplog)
    shared_bot.api.assert_no_errors()


async def test_an_edit_of_a_question_never_answered_gets_a_reply(
    shared_bot: BotUnderTest,
) -> None:
    sent = await sends_after(
        shared_bot,
        lambda: shared_bot.api.push_edited_message("who claimed the attack", message_id=9999),
    )
    assert_is_answer(shared_bot, sent[0], "attack-claimed-by")
    shared_bot.api.assert_no_errors()


async def test_channel_posts_are_ignored(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    api = shared_bot.api
    api.push_channel_post("What is ISIS-K?")
    api.push_channel_post("/help")
    api.push_channel_post(f"@{BOT_USERNAME} who claimed the attack")
    sent = await shared_bot.ask("hi")
    assert [p["chat_id"] for p in api.sent("sendMessage")] == [sent["chat_id"]]
    assert sent["chat_id"] > 0
    assert not errors_logged(caplog)
    api.assert_no_errors()


async def test_a_4096_character_message_gets_a_reply_that_fits(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    long_text = ("who claimed the attack at kabul airport " * 120)[:4096]
    assert len(long_text) == 4096
    await shared_bot.ask(long_text)
    await shared_bot.ask("🔥" * 2048)  # 4096 UTF-16 units too
    for params in shared_bot.api.sent("sendMessage"):
        assert utf16_len(visible(params)) <= 4096
    assert not errors_logged(caplog)
    shared_bot.api.assert_no_errors()


MARKUP_SOUP = "<b>x</b> & <script> *bold* _it_ [a](b) ``` `"


async def test_html_and_markdown_characters_are_harmless(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    sent = await shared_bot.ask(MARKUP_SOUP)
    assert "<script>" not in sent["text"] and "<b>x</b>" not in sent["text"]
    visible(sent)  # parses
    await shared_bot.ask(f"@{BOT_USERNAME} {MARKUP_SOUP}", chat_type="group")
    await shared_bot.ask(f"/ask {MARKUP_SOUP}")
    assert not errors_logged(caplog)
    shared_bot.api.assert_no_errors()


async def test_user_text_is_escaped_when_echoed_to_maintainers(
    running_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """/unanswered repeats what users typed: it must arrive escaped, not as markup.

    A bot of its own: /unanswered lists the ten most frequent, and other tests' questions
    must not crowd this one out."""
    await running_bot.ask(MARKUP_SOUP)
    sent = await running_bot.ask("/unanswered", user_id=ADMIN_ID)
    assert html.escape(MARKUP_SOUP, quote=False) in sent["text"]
    assert MARKUP_SOUP in visible(sent)
    assert not errors_logged(caplog)
    running_bot.api.assert_no_errors()


async def test_maintainer_commands_are_refused_to_others(shared_bot: BotUnderTest) -> None:
    sent = await shared_bot.ask("/unanswered")
    assert sent["text"] == "This command is for the bot's maintainers."
    shared_bot.api.assert_no_errors()


@pytest.mark.parametrize(
    "text",
    ["🙂🙂🙂", "🔥🔥", "ما هو داعش خراسان؟", "מה זה דאעש?", "\u202ewho claimed the attack"],
)
async def test_emoji_and_right_to_left_text_get_a_reply(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    sent = await shared_bot.ask(text)
    assert visible(sent).strip()
    assert not errors_logged(caplog)
    shared_bot.api.assert_no_errors()


# --- 10. flood limits ------------------------------------------------------------------


async def test_flood_limit_is_retried_and_the_answer_arrives(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    shared_bot.api.rate_limit("sendMessage", times=1, retry_after=1)
    started = time.monotonic()
    sent = await shared_bot.ask("What is ISIS-K?")
    assert time.monotonic() - started >= 1.0  # it did wait for retry_after
    assert_is_answer(shared_bot, sent, "what-is-isis-k")
    limited = [e for e in shared_bot.api.errors if e.error_code == 429]
    assert len(limited) == 1 and limited[0].method == "sendMessage"
    assert not errors_logged(caplog)
    shared_bot.api.assert_no_errors()


# --- 11. the token never reaches the logs ----------------------------------------------


@pytest.fixture
def redactor(shared_bot: BotUnderTest) -> Iterator[Redactor]:
    """The redactor production installs (bot.logs.configure_logging), undone afterwards."""
    previous = logging.getLogRecordFactory()
    installed = install_redactor(shared_bot.settings.token)
    yield installed
    logging.setLogRecordFactory(previous)


async def test_token_never_appears_in_debug_logs(
    shared_bot: BotUnderTest, redactor: Redactor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram"):  # whatever other tests left behind
        caplog.set_level(logging.DEBUG, logger=name)
    token = shared_bot.settings.token.get_secret_value()
    api = shared_bot.api
    await shared_bot.ask("What is ISIS-K?")
    await shared_bot.ask(f"@{BOT_USERNAME} who claimed the attack", chat_type="group")
    await inline(shared_bot, "kabul")
    await press(shared_bot, "a:what-is-isis-k")
    api.fail_next("sendMessage", error_code=400, description=f"Bad Request: see /bot{token}/x")
    await shared_bot.ask("hi")  # fails: logged (one line) with a description naming the token
    await shared_bot.ask("thanks")
    await shared_bot.settle()  # every update handled, and its errors logged
    assert any(r.name.startswith("httpx") for r in caplog.records)  # URLs were logged...
    assert REDACTED in caplog.text  # ...with the token scrubbed
    refusals = [r.getMessage() for r in caplog.records if "not fully handled" in r.getMessage()]
    assert refusals and all(REDACTED in line for line in refusals)  # logged, scrubbed
    for record in caplog.records:  # python-telegram-bot lower-cases error descriptions
        assert token.lower() not in record.getMessage().lower(), record.name
        assert token.lower() not in (record.exc_text or "").lower(), record.name
    assert token.lower() not in caplog.text.lower()


def test_redactor_scrubs_message_arguments_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "987654:SECRET-value"
    previous = logging.getLogRecordFactory()
    install_redactor(SecretStr(secret), SecretStr(""))
    try:
        log = logging.getLogger("test.redactor")
        log.warning(f"in msg {secret}")
        log.warning("in args %s and %r", secret, {"url": f"/bot{secret}/getMe"})
        try:
            raise RuntimeError(f"boom {secret}")
        except RuntimeError:
            log.exception("in traceback")
    finally:
        logging.setLogRecordFactory(previous)
    assert len(caplog.records) == 3
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert REDACTED in record.getMessage() or REDACTED in (record.exc_text or "")
    assert caplog.records[1].getMessage() == (
        f"in args {REDACTED} and {{'url': '/bot{REDACTED}/getMe'}}"
    )
    assert f"RuntimeError: boom {REDACTED}" in (caplog.records[2].exc_text or "")
    assert secret not in caplog.text
    assert logging.getLogRecordFactory() is previous


def test_installing_the_redactor_twice_does_not_stack(caplog: pytest.LogCaptureFixture) -> None:
    previous = logging.getLogRecordFactory()
    try:
        install_redactor(SecretStr("first-secret"))
        install_redactor(SecretStr("second-secret"))
        assert logging.getLogRecordFactory().previous is previous  # type: ignore[attr-defined]
        logging.getLogger("test.redactor").warning("second-secret first-secret")
    finally:
        logging.setLogRecordFactory(previous)
    assert caplog.records[0].getMessage() == f"{REDACTED} first-secret"


def make_record(msg: str, *args: object) -> logging.LogRecord:
    """A record as `Logger.makeRecord` builds it: through the installed record factory."""
    factory = logging.getLogRecordFactory()
    return factory("test.redactor", logging.WARNING, __file__, 1, msg, args, None)


def test_redactor_never_makes_a_log_call_raise() -> None:
    """A log call with mismatched %-arguments must not raise from the record factory."""
    previous = logging.getLogRecordFactory()
    install_redactor(SecretStr("987654:SECRET-value"))
    try:
        record = make_record("%d items", "not a number")
    finally:
        logging.setLogRecordFactory(previous)
    assert record.getMessage() == "%d items ('not a number',)"


def test_redactor_scrubs_records_whose_arguments_do_not_format() -> None:
    secret = "987654:SECRET-value"
    previous = logging.getLogRecordFactory()
    install_redactor(SecretStr(secret))
    try:
        record = make_record("%d failed for %s", "oops", f"/bot{secret}/getMe")
    finally:
        logging.setLogRecordFactory(previous)
    assert secret not in f"{record.msg} {record.args!r}"


# --- 12. the error handler -------------------------------------------------------------


async def test_a_failing_handler_is_logged_once_and_the_bot_keeps_answering(
    shared_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    api = shared_bot.api
    api.fail_next("sendMessage", error_code=400, description="Bad Request: something")
    failing = api.push_message("What is ISIS-K?")
    sent = await shared_bot.ask("who claimed the attack")
    assert_is_answer(shared_bot, sent, "attack-claimed-by")
    await shared_bot.settle()  # every update handled, and its errors logged
    records = [r for r in caplog.records if r.name == "bot.telegram.handlers"]
    assert len(records) == 1
    (record,) = records  # Telegram's refusal is a condition, not a bug: one line
    assert record.levelno == logging.WARNING
    assert str(failing["update_id"]) in record.getMessage()
    assert "BadRequest: Something" in record.getMessage()
    assert record.exc_info is None and "\n" not in record.getMessage()
    for params in api.sent("sendMessage"):
        assert "Traceback" not in params["text"] and "something" not in params["text"].lower()
    assert [e.description for e in api.errors] == ["Bad Request: something"]
    api.assert_no_errors()  # the injected failure aside


# --- 13. webhook -----------------------------------------------------------------------

WEBHOOK_SECRET = "s3cret"


@pytest.fixture
async def webhook(shared_bot: BotUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    """bot.telegram.webhook served on a free loopback port, and a client for it."""
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    door = Door(secret=WEBHOOK_SECRET, max_body=1 << 20, max_requests=40, deadline=10)
    server = HTTPServer(web_app(shared_bot.app, door))
    server.add_sockets(sockets)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=5
        ) as client:
            yield client
    finally:
        server.stop()
        await server.close_all_connections()


def webhook_update(text: str, update_id: int = 900_001, user_id: int = 777) -> JSONDict:
    """A message update as Telegram POSTs it (the shape push_message queues)."""
    user = {"id": user_id, "is_bot": False, "first_name": "Webhook", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Webhook"},
            "from": user,
            "text": text,
        },
    }


async def test_webhook_refuses_requests_without_the_right_secret(
    shared_bot: BotUnderTest, webhook: httpx.AsyncClient
) -> None:
    body = webhook_update("What is ISIS-K?", update_id=900_010)
    missing = await webhook.post("/telegram", json=body)
    wrong = await webhook.post("/telegram", json=body, headers={SECRET_HEADER: "wrong"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    right = await webhook.post(
        "/telegram",
        json=webhook_update("who claimed the attack", update_id=900_011),
        headers={SECRET_HEADER: WEBHOOK_SECRET},
    )
    assert right.status_code == 200
    (sent,) = await shared_bot.api.wait_for("sendMessage")
    await shared_bot.settle()  # handled everything, so a late extra reply would be here
    assert len(shared_bot.api.sent("sendMessage")) == 1  # only the authorised update
    assert_is_answer(shared_bot, sent, "attack-claimed-by")
    shared_bot.api.assert_no_errors()


async def test_webhook_update_is_answered_through_the_bot_api(
    shared_bot: BotUnderTest, webhook: httpx.AsyncClient
) -> None:
    response = await webhook.post(
        "/telegram",
        content=json.dumps(webhook_update("What is ISIS-K?")),
        headers={SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    (sent,) = await shared_bot.api.wait_for("sendMessage")
    assert sent["chat_id"] == 777
    assert_is_answer(shared_bot, sent, "what-is-isis-k")
    shared_bot.api.assert_no_errors()


async def test_webhook_health_check_reports_the_entries(
    shared_bot: BotUnderTest, webhook: httpx.AsyncClient
) -> None:
    response = await webhook.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    health = response.json()
    assert health["status"] == "ok"
    assert health["entries"] == len(shared_bot.engine.knowledge.entries)
    assert health["version"] == shared_bot.engine.knowledge.fingerprint
    assert health["running"] is True


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe",
        b"{}",
        b"[1, 2]",
        b"42",
        b"null",
        b'{"update_id": 5, "message": 3}',
    ],
)
async def test_webhook_rejects_bodies_that_are_not_updates_with_400(
    shared_bot: BotUnderTest,
    webhook: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    response = await webhook.post(
        "/telegram",
        content=body,
        headers={SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert not errors_logged(caplog)


# --- 9. every call of the suite was accepted --------------------------------------------


async def test_a_whole_conversation_leaves_no_rejected_call(shared_bot: BotUnderTest) -> None:
    """A mixed session; then every Bot API call the bot made must have been accepted."""
    api = shared_bot.api
    for text in ["/start", "What is ISIS-K?", "isis k", "asdfgh", "/topics", "/source", "hi"]:
        await shared_bot.ask(text)
    await press(shared_bot, "a:attack-claimed-by")
    await inline(shared_bot, "kabul")
    await shared_bot.ask(f"@{BOT_USERNAME} how many people died", chat_type="supergroup")
    for params in api.sent("sendMessage"):
        parse_html(params["text"])
        assert re.search(r"\S", visible(params))
    assert not api.errors
    api.assert_no_errors()
