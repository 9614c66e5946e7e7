"""The smallest end-to-end check: a private question gets the answer with its quote."""

from __future__ import annotations

from helpers.running import BotUnderTest


async def test_private_question_is_answered_with_blockquote(running_bot: BotUnderTest) -> None:
    sent = await running_bot.ask("What is ISIS-K?")
    assert "<blockquote>ISIS-K is how the branch" in sent["text"]
    assert sent["parse_mode"] == "HTML"
    running_bot.api.assert_no_errors()
