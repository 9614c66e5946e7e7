"""Inline mode (`@bot question` in any chat): Telegram's side of `bot.inline`.

`bot.inline` decides which entries to offer for a half-typed query; this turns them into
InlineQueryResultArticles (full question as the title, the answer cut between words as the
description, the answer with its quote and the share button as the message sent) and
answers the query. `Handlers.inline_query` delegates here.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.engine import Engine
from bot.inline import INLINE_LIMIT, cut_at_word, inline_entries
from bot.knowledge import Entry, Knowledge
from bot.language import pick_language
from bot.messages import say
from bot.replies import Links, answer_reply
from bot.telegram.markup import keyboard

log = logging.getLogger(__name__)

INLINE_RESULTS = INLINE_LIMIT
"""Results per query: about what a phone shows without scrolling."""
INLINE_CACHE_SECONDS = 15
"""How long Telegram may reuse our results for the same query text; kept short
so a knowledge reload shows within seconds, while still sparing the bot the burst of
identical prefixes ("w", "wh", "who") that many people typing send."""
DESCRIPTION_CHARS = 120
"""Telegram shows about two lines of description under the title; more is cut anyway,
and mid-word."""
NO_ANSWER = say("en", "chat.inline_none")
_TOO_OLD = ("query is too old", "query id is invalid")
"""Telegram's refusals of an answer that came after the person typed on: expected."""


def inline_results(
    knowledge: Knowledge, entries: list[Entry], links: Links
) -> list[InlineQueryResultArticle]:
    """One article per entry. Only the share link travels with an inline answer: votes
    and follow-ups need a chat with the bot, which the share link opens."""
    results = []
    for entry in entries:
        reply = answer_reply(knowledge, entry, links, feedback=False, related=False)
        results.append(
            InlineQueryResultArticle(
                id=entry.id,
                title=entry.question,
                description=cut_at_word(entry.answer, DESCRIPTION_CHARS),
                input_message_content=InputTextMessageContent(reply.html),
                reply_markup=keyboard(reply),
            )
        )
    return results


async def answer_inline_query(
    update: Update, context: ContextTypes.DEFAULT_TYPE, engine: Engine, links: Links
) -> None:
    """Answer `@bot <text as typed so far>` with up to `INLINE_RESULTS` articles, or, when
    nothing fits, with no results and a button that opens the bot's help."""
    query = update.inline_query
    if query is None:
        return
    whole = engine.matcher  # one snapshot for ranking and rendering
    asker = query.from_user.language_code if query.from_user else None
    language = pick_language(query.query, asker, whole.languages)
    matcher = whole.in_language(language)
    # A few `match` calls per keystroke (and, after a reload, building the vocabulary
    # once): off the event loop, so other chats are not held up meanwhile.
    entries = await asyncio.to_thread(inline_entries, matcher, query.query, INLINE_RESULTS)
    results = inline_results(matcher.knowledge, entries, links)
    button = None
    if not results:
        button = InlineQueryResultsButton(
            text=say(language, "chat.inline_none"), start_parameter="help"
        )
    # With one language, results depend on the text alone and are shared; with several,
    # "isis k" is answered in the asker's language, so the cache must be theirs.
    personal = len(whole.languages) > 1
    try:
        await query.answer(
            results, cache_time=INLINE_CACHE_SECONDS, is_personal=personal, button=button
        )
    except BadRequest as exc:
        if not any(reason in exc.message.lower() for reason in _TOO_OLD):
            raise
        # The person typed on and Telegram already asked again: nobody sees this one.
        log.info("An inline query expired before its answer: %s", exc.message)
