"""Short callbacks: take the text out of an update, ask the core, send what it rendered.

Every reply goes through `_send`, which applies the keyboard and the reply rules (in
groups, answer the asker's message). Nothing here decides what to answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.config import Settings
from bot.engine import Engine
from bot.matching import MatchResult, Verdict
from bot.replies import (
    ANSWER_PREFIX,
    TOPICS_PREFIX,
    VOTE_PREFIX,
    Links,
    Reply,
    answer_reply,
    esc,
    example_entries,
    fit_plain,
    help_reply,
    result_reply,
    source_reply,
    topics_reply,
    welcome_reply,
)
from bot.store import Store
from bot.telegram.markup import keyboard

log = logging.getLogger(__name__)

INLINE_RESULTS = 5
INLINE_CACHE_SECONDS = 30
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
GROUPS = {ChatType.GROUP, ChatType.SUPERGROUP}

NOT_TEXT = "I can only read text. Ask me a question about the article in words, or send /topics."
NOT_ADMIN = "This command is for the bot's maintainers."
ADMIN_IN_PRIVATE = "Maintainers' commands work in a private chat with me, not in groups."
VOTE_THANKS = {
    "counted": "Thanks for the feedback!",
    "switched": "Vote changed. Thanks!",
    "already counted": "You already voted on this answer.",
}
GONE = "That question is no longer in my list. Send /topics to see what I know now."


@dataclass
class Handlers:
    """The callbacks, sharing the engine (answers), the store (logs, votes) and settings."""

    engine: Engine
    store: Store
    settings: Settings

    # --- messages ----------------------------------------------------------------------

    async def private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a private chat, any text is a question (an edited one is answered again)."""
        message = update.effective_message
        if message and message.text:
            await self._answer_question(message, message.text, context)

    async def group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a group, answer only when addressed: a mention of the bot or a reply to it."""
        message = update.effective_message
        if not message or not message.text:
            return
        username = context.bot.username
        mentioned = _mentions(message, username)
        replied = (
            message.reply_to_message is not None
            and message.reply_to_message.from_user is not None
            and message.reply_to_message.from_user.id == context.bot.id
        )
        if not (mentioned or replied):
            return
        question = _strip_mention(message.text, username)
        if not question.strip():
            await self._send(message, help_reply(self.engine.knowledge))
            return
        await self._answer_question(message, question, context)

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice... in a private chat: say what the bot can read."""
        message = update.effective_message
        if message:
            await self._send(message, Reply(esc(NOT_TEXT), NOT_TEXT))

    # --- commands ----------------------------------------------------------------------

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start, or /start <entry id> from a shared t.me link: answer that entry."""
        message = update.effective_message
        if not message:
            return
        knowledge = self.engine.knowledge
        payload = context.args[0] if context.args else ""
        entry = knowledge.entry(payload) if payload else None
        if entry is not None:
            await self._send(message, answer_reply(knowledge, entry, self._links(context)))
        elif payload == "help":
            await self._send(message, help_reply(knowledge))
        else:
            await self._send(message, welcome_reply(knowledge))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message:
            await self._send(update.effective_message, help_reply(self.engine.knowledge))

    async def topics(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message:
            await self._send(update.effective_message, topics_reply(self.engine.knowledge))

    async def source(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message:
            await self._send(update.effective_message, source_reply(self.engine.knowledge))

    async def ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/ask <question>: works everywhere, and is how groups ask in privacy mode."""
        message = update.effective_message
        if not message:
            return
        question = " ".join(context.args or [])
        if not question.strip():
            text = "Ask like this: /ask who claimed the Kabul attack?"
            await self._send(message, Reply(esc(text), text))
            return
        await self._answer_question(message, question, context)

    # --- admin commands ----------------------------------------------------------------

    async def reload(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reload: load the knowledge files again now, and say what happened."""
        message = update.effective_message
        if not message or not await self._admin_only(update):
            return
        outcome = await asyncio.to_thread(self.engine.reload)
        text = outcome.summary()
        await self._send(message, Reply(fit_plain(text), text))

    async def unanswered(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/unanswered: the ten most frequent questions the bot could not answer."""
        message = update.effective_message
        if not message or not await self._admin_only(update):
            return
        from bot.maintainers import unanswered_summary

        text = await asyncio.to_thread(unanswered_summary, self.store, self.engine, 10)
        await self._send(message, Reply(esc(text), text))

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats: what is loaded and what has been recorded."""
        message = update.effective_message
        if not message or not await self._admin_only(update):
            return
        stats = await asyncio.to_thread(self.store.stats)
        knowledge = self.engine.knowledge
        lines = [
            f"Entries loaded: {len(knowledge.entries)} (version {knowledge.fingerprint})",
            *(f"{key.replace('_', ' ').capitalize()}: {value}" for key, value in stats.items()),
        ]
        if self.engine.last_problems:
            count = len(self.engine.last_problems)
            lines.append(f"Last reload failed: {count} problem{'s' * (count != 1)} (/reload).")
        text = "\n".join(lines)
        await self._send(message, Reply(esc(text), text))

    # --- buttons -----------------------------------------------------------------------

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A pressed inline button: a suggested question, a topics page, or a vote."""
        query = update.callback_query
        if query is None:
            return
        data = query.data or ""
        knowledge = self.engine.knowledge
        message = query.message if isinstance(query.message, Message) else None
        if data.startswith(ANSWER_PREFIX):
            entry = knowledge.entry(data.removeprefix(ANSWER_PREFIX))
            if entry is None:
                await query.answer(GONE, show_alert=True)
                return
            await query.answer()
            if message is not None:
                reply = answer_reply(knowledge, entry, self._links(context))
                await self._send(message, reply, quote=False)
        elif data.startswith(TOPICS_PREFIX) and message is not None:
            page = data.removeprefix(TOPICS_PREFIX)
            reply = topics_reply(knowledge, int(page) if page.isdigit() else 0)
            await query.answer()
            try:
                await message.edit_text(reply.html, reply_markup=keyboard(reply))
            except BadRequest as exc:  # a double tap: the page is already shown
                if "not modified" not in exc.message.lower():
                    raise
        elif data.startswith(VOTE_PREFIX):
            await self._vote(update, data.removeprefix(VOTE_PREFIX))
        else:
            await query.answer()

    async def _vote(self, update: Update, payload: str) -> None:
        """Count a 👍/👎 once per person and answer message (who voted is not stored)."""
        query = update.callback_query
        assert query is not None
        entry_id, _, direction = payload.rpartition(":")
        where = query.message
        if where is None:  # too old for Telegram to say which message it was
            await query.answer("Thanks for the feedback!")
            return
        outcome = await asyncio.to_thread(
            self.store.vote,
            entry_id,
            message_key=f"{where.chat.id}:{where.message_id}",
            voter=str(query.from_user.id),
            up=direction == "+",
        )
        await query.answer(VOTE_THANKS[outcome.status])

    # --- inline mode -------------------------------------------------------------------

    async def inline_query(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`@bot question` in any chat: up to five ranked answers to pick from."""
        query = update.inline_query
        if query is None:
            return
        matcher = self.engine.matcher  # one snapshot for ranking and rendering
        knowledge = matcher.knowledge
        text = query.query.strip()
        if text:
            result = matcher.match(text)
            entries = _ranked_entries(result)
        else:
            entries = example_entries(knowledge, INLINE_RESULTS)
            entries += [e for e in knowledge.entries if e not in entries]
        results = []
        links = self._links(context)
        for entry in entries[:INLINE_RESULTS]:
            # Only the share link travels with an inline answer: votes and follow-ups need
            # a chat with the bot, which the share link opens.
            reply = answer_reply(knowledge, entry, links, feedback=False, related=False)
            results.append(
                InlineQueryResultArticle(
                    id=entry.id,
                    title=entry.question,
                    description=entry.answer[:200],
                    input_message_content=InputTextMessageContent(
                        reply.html, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
                    ),
                    reply_markup=keyboard(reply),
                )
            )
        button = None
        if not results:
            button = InlineQueryResultsButton(
                text="No answer found. Tap to see what I know", start_parameter="help"
            )
        await query.answer(
            results, cache_time=INLINE_CACHE_SECONDS, is_personal=False, button=button
        )

    # --- errors ------------------------------------------------------------------------

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log every failure once, with the update's id; never show it to the user."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("Error while handling update %s", update_id, exc_info=context.error)

    # --- helpers -----------------------------------------------------------------------

    async def _answer_question(
        self, message: Message, question: str, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        matcher = self.engine.matcher  # one snapshot: a reload cannot land in between
        result = matcher.match(question)
        if result.verdict in {Verdict.NONE, Verdict.UNSURE}:
            await self._record_unanswered(result, message.chat.type)
        reply = result_reply(matcher.knowledge, result, self._links(context))
        await self._send(message, reply)

    async def _record_unanswered(self, result: MatchResult, chat_type: str) -> None:
        """Log what could not be answered (the text, never who asked), for maintainers."""
        try:
            await asyncio.to_thread(
                self.store.record_unanswered,
                result.question,
                score=result.score,
                chat_type=str(chat_type),
                closest_id=result.best.entry.id if result.best else None,
            )
        except Exception:  # the log must never cost the user an answer
            log.exception("Could not record an unanswered question")

    async def _send(self, message: Message, reply: Reply, *, quote: bool | None = None) -> None:
        """Send `reply` in the message's chat; in groups it answers the asker's message."""
        in_group = message.chat.type in GROUPS
        await message.reply_html(
            reply.html,
            reply_markup=keyboard(reply),
            link_preview_options=NO_PREVIEW,
            do_quote=in_group if quote is None else quote and in_group,
        )

    async def _admin_only(self, update: Update) -> bool:
        """Admin commands answer admins, and only in private: a group must not see the log."""
        user, chat, message = update.effective_user, update.effective_chat, update.effective_message
        if user is None or user.id not in self.settings.admin_ids:
            refusal = NOT_ADMIN
        elif chat is not None and chat.type != ChatType.PRIVATE:
            refusal = ADMIN_IN_PRIVATE
        else:
            return True
        if message:
            await self._send(message, Reply(esc(refusal), refusal))
        return False

    def _links(self, context: ContextTypes.DEFAULT_TYPE) -> Links:
        return Links(bot_username=context.bot.username)


def _ranked_entries(result: MatchResult) -> list:
    """Entries worth offering inline, best first: the answer, then plausible runners-up."""
    if result.verdict is Verdict.SMALL_TALK or result.best is None:
        return []
    if result.verdict is Verdict.NONE:
        return []
    seen = [result.best.entry]
    seen += [c.entry for c in result.suggestions if c.entry not in seen]
    return seen


def _mentions(message: Message, username: str | None) -> bool:
    """Whether the message @mentions this bot (by username entity, case-insensitively)."""
    if not username:
        return False
    target = f"@{username}".casefold()
    for entity, text in message.parse_entities([MessageEntity.MENTION]).items():
        if entity.type == MessageEntity.MENTION and text.casefold() == target:
            return True
    return False


def _strip_mention(text: str, username: str | None) -> str:
    if not username:
        return text
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()
