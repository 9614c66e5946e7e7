"""Short callbacks: take the text out of an update, ask the core, send what it rendered.

Which update reaches which callback is decided by the filters and patterns in
`bot.telegram.app`; parse mode and link previews come from the application's `Defaults`.
Every reply goes through `_send`, which adds the keyboard (in groups, Telegram's default
quotes the asker's message). Nothing here decides what to answer.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta

from telegram import CallbackQuery, Message, Update, User
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes

from bot.callbacks import Pick, ShowAnswer, ShowTopics, Vote, decode
from bot.conversation import RecentAnswers, take_turn
from bot.engine import Engine
from bot.knowledge import Entry, Knowledge
from bot.language import pick_language
from bot.maintainers import build_report
from bot.matching import MatchResult, Verdict
from bot.messages import say
from bot.publishing import publish_local
from bot.replies import (
    Button,
    Links,
    Reply,
    answer_reply,
    esc,
    fit_plain,
    help_reply,
    source_reply,
    topics_reply,
    turn_reply,
    unanswered_reply,
    welcome_reply,
)
from bot.settings import Settings
from bot.store import Store
from bot.telegram.inline import answer_inline_query
from bot.telegram.markup import keyboard
from bot.telegram.ordering import mark_failed

log = logging.getLogger(__name__)

NOT_TEXT = say("en", "chat.not_text")
NOT_ADMIN = "This command is for the bot's maintainers."
ADMIN_IN_PRIVATE = "Maintainers' commands work in a private chat with me, not in groups."
GONE = say("en", "chat.gone")
SLOW_DOWN = say("en", "chat.slow_down")
ALREADY_ANSWERED = say("en", "chat.already_answered")
MOVED = say("en", "chat.moved")
"""What people read comes from the catalogues (bot/locales); these are the English texts,
for tests and logs. Maintainers' replies stay in English."""
EDIT_WINDOW = 48 * 3600
"""Telegram lets a bot edit its own messages for 48 hours; an older reply is sent anew."""
REMEMBERED_REPLIES = 5_000
"""Replies remembered for edited questions (in memory: an edit that reaches another replica
gets a new reply, which is still a right one)."""


@dataclass
class Handlers:
    """The callbacks, sharing the engine (answers), the store (logs, votes) and settings."""

    engine: Engine
    store: Store
    settings: Settings
    _replies: OrderedDict[tuple[int, int], tuple[int, float]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    """(chat, question message) -> (the bot's reply, when sent): edits update the reply."""
    _answers: OrderedDict[tuple[int, int], str] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    """(chat, the bot's reply) -> the entry it answered: replying to an answer continues
    that answer's thread, whatever was asked since."""
    _recent: RecentAnswers = field(init=False, repr=False)
    """Each conversation's last answer, when this process is the only one (no shared
    database): kept in memory, which costs no database write per message."""

    def __post_init__(self) -> None:
        self._recent = RecentAnswers(max_age=self.settings.follow_up_minutes * 60)

    def forget_conversations(self) -> None:
        """Every conversation starts afresh (tests; a database's rows expire on their own)."""
        self._recent.clear()

    # --- messages ----------------------------------------------------------------------

    async def private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a private chat, any text is a question (an edited one edits its reply)."""
        message = update.effective_message
        if message and message.text:
            await self._answer_question(message, message.text, context)

    async def group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a group, a message addressed to the bot (a mention, or a reply to it)."""
        message = update.effective_message
        if not message or not message.text:
            return
        question = _strip_mention(message.text, context.bot.username)
        if not question.strip():
            await self._send(message, help_reply(self._knowledge(message.from_user)))
            return
        await self._answer_question(message, question, context)

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice... in a private chat: say what the bot can read."""
        message = update.effective_message
        if message:
            await self._send(message, self._line(message.from_user, "chat.not_text"))

    # --- commands ----------------------------------------------------------------------

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start, or /start <entry id> from a shared t.me link: answer that entry."""
        message = update.effective_message
        if not message:
            return
        knowledge = self._knowledge(message.from_user)
        payload = context.args[0] if context.args else ""
        entry = knowledge.entry(payload) if payload else None
        if entry is not None:
            await self._send(message, answer_reply(knowledge, entry, self._links(context)))
        elif payload == "help":
            await self._send(message, help_reply(knowledge))
        elif payload:  # a share link to an entry that was renamed or removed
            await self._send(message, self._moved_reply(payload, knowledge.language))
        else:
            await self._send(message, welcome_reply(knowledge))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if message := update.effective_message:
            await self._send(message, help_reply(self._knowledge(update.effective_user)))

    async def topics(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if message := update.effective_message:
            await self._send(message, topics_reply(self._knowledge(update.effective_user)))

    async def source(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if message := update.effective_message:
            await self._send(message, source_reply(self._knowledge(update.effective_user)))

    async def ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/ask <question>: works everywhere, and is how groups ask in privacy mode."""
        message = update.effective_message
        if not message:
            return
        question = " ".join(context.args or [])
        if not question.strip():
            await self._send(message, self._line(message.from_user, "chat.ask_usage"))
            return
        await self._answer_question(message, question, context)

    # --- admin commands ----------------------------------------------------------------

    async def reload(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reload: load the knowledge files again now (with a shared database: publish
        them, so every replica serves them), and say what happened."""
        if message := update.effective_message:
            if self.settings.shared:  # publish what this replica sees; all follow it
                outcome = await asyncio.to_thread(publish_local, self.engine, self.store)
            else:
                outcome = await asyncio.to_thread(self.engine.reload)
            text = outcome.summary()
            await self._send(message, Reply(fit_plain(text), text))

    async def unanswered(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/unanswered: the ten most frequent questions the bot could not answer."""
        if message := update.effective_message:
            report = await asyncio.to_thread(build_report, self.store, self.engine, 10)
            await self._send(message, unanswered_reply(report))

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats: what is loaded and what has been recorded."""
        message = update.effective_message
        if not message:
            return
        stats = await asyncio.to_thread(self.store.stats)
        knowledge = self.engine.knowledge
        lines = [
            f"Entries loaded: {len(knowledge.entries)} (version {knowledge.fingerprint})",
            *([f"Published knowledge version: {v}"] if (v := self.engine.version) else []),
            *(f"{key.replace('_', ' ').capitalize()}: {value}" for key, value in stats.items()),
        ]
        if self.engine.last_problems:
            count = len(self.engine.last_problems)
            lines.append(f"Last reload failed: {count} problem{'s' * (count != 1)} (/reload).")
        text = "\n".join(lines)
        await self._send(message, Reply(esc(text), text))

    async def admin_in_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A maintainer's command in a group: the log is not for the group to see."""
        if message := update.effective_message:
            await self._send(message, Reply(esc(ADMIN_IN_PRIVATE), ADMIN_IN_PRIVATE))

    async def not_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A maintainer's command from anyone else: a one-line refusal, nothing more."""
        if message := update.effective_message:
            await self._send(message, Reply(esc(NOT_ADMIN), NOT_ADMIN))

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command the bot does not have: say so in one line and point to /help."""
        message = update.effective_message
        if not message or not message.text:
            return
        command = message.text.split()[0].split("@")[0][:40]
        await self._send(
            message, self._line(message.from_user, "chat.unknown_command", command=command)
        )

    # --- buttons (routed by the patterns of bot.callbacks) -----------------------------

    async def show_answer(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A suggested, related or example question: send its answer (no quote)."""
        chosen = await self._chosen(update, context, ShowAnswer)
        if chosen is None:
            return
        query, knowledge, entry = chosen
        await _answer(query)
        if isinstance(query.message, Message):
            reply = answer_reply(knowledge, entry, self._links(context))
            if query.message.chat.type == "private":
                await self._send(query.message, reply, quote=False)
            else:  # in a group, say whom it answers: a reply naming the presser
                named = f"{query.from_user.mention_html()}\n{reply.html}"
                await self._send(query.message, Reply(named, reply.plain, reply.buttons))
            await self._remember(query.message, entry.id, query.from_user.id)

    async def pick(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A "did you mean" choice: the answer replaces the question's message, once.

        The first press (on any replica) edits the message into the answer and its
        keyboard; any other press on the same message only gets a short toast, so three
        taps in a group post one answer, not three."""
        chosen = await self._chosen(update, context, Pick)
        if chosen is None:
            return
        query, knowledge, entry = chosen
        message = query.message
        if not isinstance(message, Message):  # too old for Telegram to say which message
            await _answer(query)
            return
        key = f"pick:{message.chat.id}:{message.message_id}"
        try:
            first = await asyncio.to_thread(self.store.claim_once, key)
        except Exception as exc:  # the store is down: answering twice beats not at all
            log.warning("Could not claim a pick: %s", exc)
            first = True
        if not first:
            await _answer(query, say(knowledge.language, "chat.already_answered"))
            return
        await _answer(query)
        reply = answer_reply(knowledge, entry, self._links(context))
        try:
            await message.edit_text(reply.html, reply_markup=keyboard(reply))
        except BadRequest as exc:  # gone or too old to edit: the answer as a new message
            log.info("Could not edit a did-you-mean message (%s); sending anew", exc.message)
            await self._send(message, reply, quote=False)
        await self._remember(message, entry.id, query.from_user.id)

    async def _chosen(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        kind: type[ShowAnswer] | type[Pick],
    ) -> tuple[CallbackQuery, Knowledge, Entry] | None:
        """The entry a question button names, in the presser's language; None when the
        press is already dealt with (odd data: answered and ignored; an entry that is
        gone: an alert)."""
        query = update.callback_query
        action = decode(query.data) if query else None
        if query is None or not isinstance(action, kind):
            await self.unknown_button(update, context)  # e.g. no data at all: still answered
            return None
        knowledge = self._knowledge(query.from_user)
        entry = knowledge.entry(action.entry_id)
        if entry is None:
            await _answer(query, say(knowledge.language, "chat.gone"), alert=True)
            return None
        return query, knowledge, entry

    async def show_topics(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """◀ / ▶ on the topics list: edit the message to show that page."""
        query = update.callback_query
        action = decode(query.data) if query else None
        if query is None or not isinstance(action, ShowTopics):
            await self.unknown_button(update, context)  # e.g. no data at all: still answered
            return
        await _answer(query)
        if not isinstance(query.message, Message):
            return
        reply = topics_reply(self._knowledge(query.from_user), action.page)
        try:
            await query.message.edit_text(reply.html, reply_markup=keyboard(reply))
        except BadRequest as exc:
            if "not modified" in exc.message.lower():  # a double tap: already shown
                return
            # The message is gone or too old to edit: show the page as a new message.
            log.info("Could not edit the topics list (%s); sending it anew", exc.message)
            await self._send(query.message, reply, quote=False)

    async def vote(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Count a 👍/👎 once per person and answer message (who voted is not stored)."""
        query = update.callback_query
        action = decode(query.data) if query else None
        if query is None or not isinstance(action, Vote):
            await self.unknown_button(update, context)  # e.g. no data at all: still answered
            return
        where, lang = query.message, self._language(query.from_user)
        if where is None:  # too old for Telegram to say which message it was
            await _answer(query, say(lang, "chat.vote_counted"))
            return
        try:
            outcome = await asyncio.to_thread(
                self.store.vote,
                action.entry_id,
                message_key=f"{where.chat.id}:{where.message_id}",
                voter=str(query.from_user.id),
                up=action.up,
                update_id=update.update_id,  # the last click wins, whichever replica got it
            )
        except Exception as exc:  # the button must stop spinning whatever happened
            log.warning("Could not record a vote: %s", exc)
            await _answer(query, say(lang, "chat.not_counted"))
            return
        await _answer(query, say(lang, f"chat.vote_{outcome.status.replace(' ', '_')}"))

    async def unknown_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Data no pattern knows (an old keyboard, a tampered client): stop the spinner."""
        if query := update.callback_query:
            log.info("A button with unknown data was pressed; answered and ignored")
            await _answer(query)

    # --- inline mode -------------------------------------------------------------------

    async def inline_query(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`@bot question` in any chat: answers that narrow as the question is typed."""
        await answer_inline_query(update, context, self.engine, self._links(context))

    # --- errors ------------------------------------------------------------------------

    async def slow_down(self, update: Update) -> None:
        """The first message over its sender's budget: one short line, the rest is dropped."""
        if message := update.effective_message:
            await self._send(message, self._line(message.from_user, "chat.slow_down"))

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log every failure once, with the update's id; never show it to the user.

        Telegram's refusals and outages are conditions, not bugs: one line, no traceback.
        An outage that outlasted the retries marks the update failed, so a webhook
        re-delivery gets another try.
        """
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        if isinstance(error, TelegramError):
            if _worth_redelivery(error):
                mark_failed()
            log.warning(
                "Update %s not fully handled: %s: %s",
                update_id,
                type(error).__name__,
                _one_line(error.message),
            )
            return
        log.error("Error while handling update %s", update_id, exc_info=error)

    # --- helpers -----------------------------------------------------------------------

    async def _answer_question(
        self, message: Message, question: str, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        """Answer a message (each of its questions), read after this conversation's last
        answer; an edited question edits the reply it got, when that is recent."""
        whole = self.engine.matcher  # one snapshot: a reload cannot land in between
        user = message.from_user
        user_id = user.id if user else 0
        code = pick_language(question, user.language_code if user else None, whole.languages)
        matcher = whole.in_language(code)
        previous = self._replied_to(message) or await self._recall(message, user_id)
        turn = take_turn(matcher, question, previous)
        first_in_language = previous is None and code != whole.knowledge.language
        reply = turn_reply(matcher.knowledge, turn, self._links(context), note=first_in_language)
        try:
            answered = turn.context_after(None)
            await self._reply_or_edit(message, reply, answered)
        finally:  # logged after the reply: a process killed before it logs nothing, and
            # the replica that takes its claim over logs the question once
            after = turn.context_after(previous)
            if after is not None and after != previous:
                await self._remember(message, after, user_id)
            for result in turn.results:
                if result.verdict in {Verdict.NONE, Verdict.UNSURE} and result.context is None:
                    await self._record_unanswered(result, message.chat.type)

    async def _reply_or_edit(
        self, message: Message, reply: Reply, answered: str | None = None
    ) -> None:
        """Send `reply`, or, for an edited question whose reply is recent, edit that.
        `answered`: the entry the reply answers, for follow-ups sent as replies to it."""
        key = (message.chat.id, message.message_id)
        earlier = self._replies.get(key)
        if message.edit_date is not None and earlier and time.time() - earlier[1] < EDIT_WINDOW:
            try:
                await message.get_bot().edit_message_text(
                    reply.html,
                    chat_id=message.chat.id,
                    message_id=earlier[0],
                    reply_markup=keyboard(reply),
                )
                return
            except BadRequest as exc:
                if "not modified" in exc.message.lower():  # same answer: nothing to change
                    return
                log.info("Could not edit the reply to an edited question: %s", exc.message)
        sent = await self._send(message, reply)
        self._replies[key] = (sent.message_id, time.time())
        self._replies.move_to_end(key)
        while len(self._replies) > REMEMBERED_REPLIES:
            self._replies.popitem(last=False)
        if answered is not None:
            self._answers[(message.chat.id, sent.message_id)] = answered
            while len(self._answers) > REMEMBERED_REPLIES:
                self._answers.popitem(last=False)

    def _conversation(self, message: Message, user_id: int) -> str:
        """Whose follow-ups these are: the chat in private; in a group, one person in one
        topic thread (two people asking at once must not continue each other). Stored as
        a keyed hash: the database never holds who talked to the bot."""
        if message.chat.type == "private":
            raw = f"chat:{message.chat.id}"
        else:
            raw = f"chat:{message.chat.id}:user:{user_id}:thread:{message.message_thread_id or 0}"
        return hmac.new(self.settings.ballot_key, raw.encode(), "sha256").hexdigest()[:32]

    def _replied_to(self, message: Message) -> str | None:
        """The entry of the answer this message replies to, if it replies to one: in a
        group, "and when?" sent as a reply to an answer is about that answer."""
        target = message.reply_to_message
        if target is None:
            return None
        return self._answers.get((message.chat.id, target.message_id))

    async def _recall(self, message: Message, user_id: int) -> str | None:
        """The entry this conversation's last answer was about, if recent enough."""
        if not self.settings.shared:
            return self._recent.recall(self._conversation(message, user_id))
        try:
            return await asyncio.to_thread(
                self.store.recall_context,
                self._conversation(message, user_id),
                max_age=timedelta(minutes=self.settings.follow_up_minutes),
            )
        except Exception as exc:  # without context a question is still answered
            log.warning("Could not recall the conversation: %s", exc)
            return None

    async def _remember(self, message: Message, entry_id: str, user_id: int) -> None:
        if not self.settings.shared:
            self._recent.remember(self._conversation(message, user_id), entry_id)
            return
        try:
            await asyncio.to_thread(
                self.store.remember_context, self._conversation(message, user_id), entry_id
            )
        except Exception as exc:  # a lost context only costs a later follow-up
            log.warning("Could not remember the conversation: %s", exc)

    def _moved_reply(self, payload: str, language: str) -> Reply:
        """A stale share link: say the answer moved, and offer the closest entries."""
        words = payload.replace("-", " ").replace("_", " ")[:100]
        ranking = self.engine.matcher.match(words).ranking[:3]
        view = self.engine.knowledge.in_language(language)
        labels = {c.entry.id: (view.entry(c.entry.id) or c.entry).button_label for c in ranking}
        rows = tuple((Button(labels[c.entry.id], action=Pick(c.entry.id)),) for c in ranking)
        text = say(language, "chat.moved")
        return Reply(esc(text), text, rows)

    def _language(self, user: User | None) -> str:
        """The language to speak to `user` when there is no text to tell (a command, a
        button): their Telegram language if the bot speaks it, else its own."""
        languages = self.engine.matcher.languages
        return pick_language("", user.language_code if user else None, languages)

    def _knowledge(self, user: User | None) -> Knowledge:
        """The served knowledge in `user`'s language."""
        return self.engine.knowledge.in_language(self._language(user))

    def _line(self, user: User | None, key: str, **values: object) -> Reply:
        """One line of the catalogue, in `user`'s language."""
        text = say(self._language(user), key, **values)
        return Reply(esc(text), text)

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

    async def _send(self, message: Message, reply: Reply, *, quote: bool | None = None) -> Message:
        """Send `reply` in the message's chat; `quote=None` is Telegram's default (groups
        quote the asker's message, so an answer is linked to its question; private chats
        do not)."""
        return await message.reply_text(reply.html, reply_markup=keyboard(reply), do_quote=quote)

    def _links(self, context: ContextTypes.DEFAULT_TYPE) -> Links:
        return Links(bot_username=context.bot.username)


async def _answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Stop a button's spinner; an answer Telegram no longer takes (too old, already
    answered after a retry) is one log line, not an error."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        log.info("Could not answer a button press: %s", exc.message)


def _worth_redelivery(error: TelegramError) -> bool:
    """Telegram was unreachable or overloaded (not a refusal, not a reply that may have
    arrived late): handling the update again later may succeed."""
    if isinstance(error, RetryAfter):
        return True
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest | TimedOut)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _strip_mention(text: str, username: str | None) -> str:
    """The question without the bot's @username (which filters.Mention found)."""
    if not username:
        return text
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()
