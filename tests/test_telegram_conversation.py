"""Conversation through Telegram: follow-ups, several questions, short fitting replies.

Each test talks from chats and users of its own, so the follow-up context one test
leaves behind never reaches another."""

from __future__ import annotations

import html
import re

from helpers.running import BotUnderTest

from bot.replies import answer_reply

BOT = "article_qa_bot"


def is_answer(bot: BotUnderTest, text: str, entry_id: str) -> bool:
    entry = bot.engine.knowledge.entry(entry_id)
    assert entry is not None
    return text == answer_reply(bot.engine.knowledge, entry).html


async def test_a_private_follow_up_is_read_after_the_last_answer(
    shared_bot: BotUnderTest,
) -> None:
    first = await shared_bot.ask("who founded isis k", user_id=2001)
    assert is_answer(shared_bot, first["text"], "isis-k-founders")
    then = await shared_bot.ask("and when?", user_id=2001)
    assert is_answer(shared_bot, then["text"], "isis-k-founded-when")
    more = await shared_bot.ask("tell me more", user_id=2001)
    assert more["text"].startswith("More on this:")
    alone = await shared_bot.ask("and when?", user_id=2002)  # a new chat: no context
    assert not is_answer(shared_bot, alone["text"], "isis-k-founded-when")
    shared_bot.api.assert_no_errors()


async def test_in_a_group_each_person_has_their_own_follow_ups(
    shared_bot: BotUnderTest,
) -> None:
    group = {"chat_type": "supergroup", "chat_id": -100777}
    await shared_bot.ask(f"@{BOT} who founded isis k", user_id=2011, **group)
    await shared_bot.ask(f"@{BOT} who claimed the kabul attack", user_id=2012, **group)
    mine = await shared_bot.ask(f"@{BOT} and when?", user_id=2011, **group)
    assert is_answer(shared_bot, mine["text"], "isis-k-founded-when")
    shared_bot.api.assert_no_errors()


async def test_two_questions_in_one_message_get_one_reply_with_both_answers(
    shared_bot: BotUnderTest,
) -> None:
    before = len(shared_bot.api.sent("sendMessage"))
    sent = await shared_bot.ask("What is ISIS-K? And who founded it?", user_id=2021)
    await shared_bot.settle()
    assert len(shared_bot.api.sent("sendMessage")) == before + 1  # one reply
    text = sent["text"]
    knowledge = shared_bot.engine.knowledge
    for entry_id in ("what-is-isis-k", "isis-k-founders"):
        entry = knowledge.entry(entry_id)
        assert entry is not None
        assert html.escape(knowledge.quote_of(entry), False) in text
    assert len(re.findall(r"<blockquote", text)) == 2
    assert "<b>1. What is ISIS-K?</b>" in text and "<b>2. who founded it?</b>" in text
    shared_bot.api.assert_no_errors()


async def test_messages_that_are_no_question_get_short_fitting_replies(
    shared_bot: BotUnderTest,
) -> None:
    replies = {
        text: (await shared_bot.ask(text, user_id=2031))["text"]
        for text in ("🤔", "you are useless", "wer ist der Anführer der Taliban", "thanks!")
    }
    assert replies["🤔"].startswith("🙂 Ask me a question about the article in words")
    assert replies["you are useless"].startswith("Sorry I couldn't help.")
    assert replies["wer ist der Anführer der Taliban"].startswith(
        "Sorry, I can't read that language"
    )
    assert replies["thanks!"].startswith("You're welcome!")
    for text in replies.values():
        assert "I don't know that one" not in text
        assert len(text) < 200
    shared_bot.api.assert_no_errors()


async def test_a_reply_to_an_earlier_answer_follows_up_on_that_answer(
    shared_bot: BotUnderTest,
) -> None:
    """In a group, "and when?" sent as a reply to an answer is about that answer, even
    when the person asked something else since."""
    group = {"chat_type": "supergroup", "chat_id": -100778, "user_id": 2041}
    await shared_bot.ask(f"@{BOT} who founded isis k", **group)
    founders_reply = shared_bot.api.results("sendMessage")[-1]["message_id"]
    await shared_bot.ask(f"@{BOT} how many people died in the attack", **group)
    then = await shared_bot.ask("and when?", reply_to_message_id=founders_reply, **group)
    assert is_answer(shared_bot, then["text"], "isis-k-founded-when")
    shared_bot.api.assert_no_errors()
