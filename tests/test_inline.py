"""Inline mode while typing: results that narrow as letters are added instead of vanishing
(`bot.inline`), descriptions cut between words, and the articles as Telegram receives them
(`bot.telegram.inline`, through a tiny Application polling the Bot API stand-in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.botapi import BotApiStandin
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults, InlineQueryHandler

from bot.engine import Engine
from bot.inline import MAX_COMPLETIONS, completions, cut_at_word, inline_entries
from bot.matching import Matcher
from bot.replies import Links, answer_reply, example_entries
from bot.telegram.inline import (
    DESCRIPTION_CHARS,
    INLINE_CACHE_SECONDS,
    INLINE_RESULTS,
    answer_inline_query,
)
from bot.telegram.markup import keyboard

ROOT = Path(__file__).resolve().parent.parent
JSONDict = dict[str, Any]


SHIPPED = Engine(ROOT / "knowledge" / "qa.yaml")
"""The shipped knowledge, read only (module level: hypothesis tests take no fixtures)."""


@pytest.fixture(scope="module")
def engine() -> Engine:
    return SHIPPED


@pytest.fixture(scope="module")
def matcher(engine: Engine) -> Matcher:
    return engine.matcher


def ids(matcher: Matcher, text: str) -> list[str]:
    return [e.id for e in inline_entries(matcher, text)]


def prefixes(text: str) -> list[str]:
    """Every text Telegram may send while `text` is typed, one letter at a time."""
    return [text[:i] for i in range(1, len(text) + 1)]


# --- typing sequences ------------------------------------------------------------------

TYPING = [
    # (keystrokes shown, the entry meant, the first of them that must offer it)
    (["w", "wh", "who", "who c", "who cl", "who claimed"], "attack-claimed-by", "who cl"),
    (
        ["when", "when was", "when was isis", "when was isis k", "when was isis k f"],
        "isis-k-founded-when",
        "when was isis k",
    ),
    (
        ["taliban", "taliban vs", "taliban vs al", "taliban vs al q", "taliban vs al qaeda"],
        "taliban-al-qaeda-relationship",
        "taliban vs al q",
    ),
]


@pytest.mark.parametrize(("typed", "meant", "by"), TYPING)
def test_results_never_vanish_and_the_meant_entry_appears_and_stays(
    matcher: Matcher, typed: list[str], meant: str, by: str
) -> None:
    seen = False
    for text in typed:
        found = ids(matcher, text)
        assert found, f"nothing offered for {text!r}"
        assert len(found) == len(set(found)) <= INLINE_RESULTS
        seen = seen or text == by
        if seen:
            assert meant in found, f"{meant} not offered for {text!r}: {found}"


@pytest.mark.parametrize(
    "question", ["who claimed the attack", "when was isis k formed", "taliban vs al qaeda"]
)
def test_every_keystroke_offers_something(matcher: Matcher, question: str) -> None:
    """Also right after a space ("when was isis "), which the matcher alone declines:
    the article does not say when ISIS itself was founded, but ISIS-K may be coming."""
    empty = [text for text in prefixes(question) if not inline_entries(matcher, text)]
    assert empty == []


def test_typing_any_shipped_question_offers_something_at_every_keystroke(
    matcher: Matcher,
) -> None:
    """Every canonical question, letter by letter: never an empty list on the way, and
    its own entry offered once it is typed out."""
    empty, missed = [], []
    for entry in matcher.knowledge.entries:
        empty += [t for t in prefixes(entry.question) if not inline_entries(matcher, t)]
        if entry.id not in ids(matcher, entry.question):
            missed.append(entry.id)
    assert empty == []
    assert missed == []


def test_a_partial_word_keeps_what_the_finished_words_showed(matcher: Matcher) -> None:
    """ "who c" narrows towards "who claimed…" and still shows the best of "who"."""
    before = ids(matcher, "who")
    after = ids(matcher, "who c")
    assert before
    assert "attack-claimed-by" in ids(matcher, "who cl")
    assert before[0] in after


def test_the_finished_question_puts_its_answer_first(matcher: Matcher) -> None:
    assert ids(matcher, "who claimed the attack")[0] == "attack-claimed-by"
    assert ids(matcher, "who claimed ")[0] == "attack-claimed-by"
    assert ids(matcher, "when was isis k formed")[0] == "isis-k-founded-when"


@pytest.mark.parametrize(
    "text", ["", " ", "w", "wh", "zz", "the", "is it ", "?!", "tell me abo", "doe"]
)
def test_empty_or_very_short_text_offers_the_examples_first(matcher: Matcher, text: str) -> None:
    knowledge = matcher.knowledge
    examples = [e.id for e in example_entries(knowledge, INLINE_RESULTS)]
    found = ids(matcher, text)
    assert found[: len(examples)] == examples
    assert len(found) == min(INLINE_RESULTS, len(knowledge.entries))


@pytest.mark.parametrize(
    "text",
    [
        "hi",  # small talk alone
        "asdfgh qwerty",  # no word or prefix the knowledge has
        "what is the weather",  # an everyday word the article never uses
        "what is the weather in kabul",  # a question the article is known not to answer
        "who is the president of france ",
    ],
)
def test_nothing_plausible_offers_nothing(matcher: Matcher, text: str) -> None:
    assert inline_entries(matcher, text) == []


def test_each_knowledge_completes_with_its_own_words(matcher: Matcher, small_kb: Path) -> None:
    """The vocabulary is cached per loaded snapshot: a reload (here, another file) is
    completed with the new words, and the old snapshot still with its own."""
    small = Engine(small_kb).matcher
    assert completions(small, "how many ", "vic") == ["victims"]
    assert ids(small, "how many vic")[0] == "death-toll"
    assert "attack-claimed-by" in ids(matcher, "who cl")
    assert completions(small, "who ", "cl") == []


def test_the_limit_is_respected(matcher: Matcher) -> None:
    assert len(inline_entries(matcher, "isis", limit=2)) == 2
    assert inline_entries(matcher, "", limit=0) == []


def test_completions_prefer_words_asked_with_the_earlier_ones(matcher: Matcher) -> None:
    assert "claimed" in completions(matcher, "who ", "cl")
    assert completions(matcher, "when was isis k ", "f")[0] == "founded"
    assert completions(matcher, "taliban vs al ", "q")[0] == "qaeda"
    assert completions(matcher, "", "zzqx") == []


def test_a_finished_word_that_starts_a_lexicon_phrase_is_completed(matcher: Matcher) -> None:
    """ "security" alone is no term (the lexicon reads "security council" as one): after a
    space, the phrase it starts is what is matched; "ei-" goes on as "ei k", ISIS-K."""
    assert completions(matcher, "", "security ") == ["security council"]
    assert "un-security-council-report" in ids(matcher, "security ")
    assert "what-is-isis-k" in ids(matcher, "is ei-")
    assert "taliban-al-qaeda-relationship" in ids(matcher, "taliban vs al ")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_short_list_without_repeats(text: str) -> None:
    found = [e.id for e in inline_entries(SHIPPED.matcher, text)]
    assert len(found) == len(set(found)) <= INLINE_RESULTS


def test_completions_offer_one_word_per_stem(matcher: Matcher) -> None:
    found = completions(matcher, "who ", "cla")
    assert 1 <= len(found) <= MAX_COMPLETIONS
    assert found.count("claimed") + found.count("claim") + found.count("claims") == 1


# --- cut_at_word -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short answer", 20, "short answer"),
        ("exactly twenty chars", 20, "exactly twenty chars"),
        ("The Taliban's rival is ISIS-K", 20, "The Taliban's rival…"),
        ("The Taliban's rival is ISIS-K", 18, "The Taliban's…"),
        ("one, two, three", 10, "one, two…"),
        ("first. Second", 8, "first…"),
        ("  spaced\n  out   text ", 11, "spaced out…"),
        ("  spaced\n  out   text ", 20, "spaced out text"),
        ("Supercalifragilistic", 8, "Superca…"),  # no boundary at all: cut short
        ("anything", 1, "…"),
        ("anything", 0, ""),
    ],
)
def test_cut_at_word(text: str, limit: int, expected: str) -> None:
    assert cut_at_word(text, limit) == expected


@given(st.text(alphabet="ab ,.", max_size=40), st.integers(min_value=2, max_value=45))
def test_cut_at_word_never_cuts_inside_a_word(text: str, limit: int) -> None:
    folded = " ".join(text.split())
    cut = cut_at_word(text, limit)
    assert len(cut) <= limit
    if cut == folded:
        return
    kept = cut.removesuffix("…")
    assert cut.endswith("…") and folded.startswith(kept)
    if " " in folded[:limit]:  # a boundary existed: the cut is at one
        assert folded[len(kept)] in " ,." or not kept


def test_every_shipped_description_ends_at_a_word(matcher: Matcher) -> None:
    for entry in matcher.knowledge.entries:
        answer = " ".join(entry.answer.split())
        description = cut_at_word(entry.answer, DESCRIPTION_CHARS)
        assert len(description) <= DESCRIPTION_CHARS
        kept = description.removesuffix("…")
        assert answer.startswith(kept)
        assert kept == answer or answer[len(kept)] in " ,;:.-"


# --- through Telegram: a tiny Application on the Bot API stand-in ----------------------


@dataclass
class InlineBot:
    api: BotApiStandin
    engine: Engine

    async def type(self, text: str) -> JSONDict:
        """Type `@bot text`; return the answerInlineQuery params."""
        update = self.api.push_inline_query(text)
        query_id = update["inline_query"]["id"]
        (answer,) = await self.api.wait_for(
            "answerInlineQuery", where=lambda p: p.get("inline_query_id") == query_id
        )
        return answer


@pytest.fixture(scope="module")
async def inline_bot(engine: Engine) -> AsyncIterator[InlineBot]:
    """Only an InlineQueryHandler calling `answer_inline_query`, with the bot's Defaults
    (HTML, no link previews), polling the stand-in over real HTTP."""

    async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        links = Links(bot_username=context.bot.username)
        await answer_inline_query(update, context, engine, links)

    async with BotApiStandin() as api:
        app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(api.token)
            .base_url(api.api_base_url)
            .defaults(
                Defaults(
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
            .build()
        )
        app.add_handler(InlineQueryHandler(on_inline))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                yield InlineBot(api, engine)
            finally:
                await app.updater.stop()
                await app.stop()


async def test_typing_through_telegram_never_empties_the_list(inline_bot: InlineBot) -> None:
    knowledge = inline_bot.engine.knowledge
    links = Links(bot_username=inline_bot.api.bot_user["username"])
    for text in ["w", "wh", "who", "who c", "who cl", "who claimed"]:
        answer = await inline_bot.type(text)
        results = answer["results"]
        assert 1 <= len(results) <= INLINE_RESULTS, text
        assert answer["cache_time"] == INLINE_CACHE_SECONDS
        # answered in the asker's language when the text does not tell: cached per person
        assert answer["is_personal"] is (len(knowledge.languages) > 1)
        assert "button" not in answer
        for result in results:
            entry = knowledge.entry(result["id"])
            assert entry is not None
            assert result["type"] == "article"
            assert result["title"] == entry.question
            assert result["description"] == cut_at_word(entry.answer, DESCRIPTION_CHARS)
            # the answer as `answer_reply` renders it, without votes or follow-ups
            reply = answer_reply(knowledge, entry, links, feedback=False, related=False)
            content = result["input_message_content"]
            assert content["message_text"] == reply.html
            assert "<blockquote" in content["message_text"]
            assert content["parse_mode"] == "HTML"
            markup = keyboard(reply)
            assert markup is not None
            assert result["reply_markup"] == markup.to_dict()
            buttons = [b for row in result["reply_markup"]["inline_keyboard"] for b in row]
            assert buttons and all("url" in b for b in buttons)  # sharing only: no votes
    assert "attack-claimed-by" in [r["id"] for r in results]
    inline_bot.api.assert_no_errors()


async def test_nothing_plausible_shows_the_help_button(inline_bot: InlineBot) -> None:
    answer = await inline_bot.type("what is the weather in kabul")
    assert answer["results"] == []
    assert answer["button"]["start_parameter"] == "help"
    assert answer["button"]["text"]
    inline_bot.api.assert_no_errors()
