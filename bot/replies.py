"""Turn a match into what a person reads: HTML for Telegram, plain text for the terminal.

Buttons are plain data (`Button`), so the Telegram layer only translates them into
`InlineKeyboardButton`s and this module never imports `telegram`. All text that comes from
a user or from the knowledge files is HTML-escaped here, and every message is cut to fit
Telegram's 4096-character limit.
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote as url_quote

from bot.callbacks import Action, ShowAnswer, ShowTopics, Vote
from bot.knowledge import Entry, Knowledge
from bot.matching import MatchResult, Verdict
from bot.smalltalk import SmallTalk

if TYPE_CHECKING:
    from bot.maintainers import Report

MAX_MESSAGE = 4096
"""Telegram's limit on a message's text, counted after entities are parsed."""
TOPICS_PER_PAGE = 8
EXAMPLE_COUNT = 3


@dataclass(frozen=True, slots=True)
class Button:
    """One inline button: `action` comes back as a callback query; `url` opens a link."""

    label: str
    action: Action | None = None
    url: str | None = None

    @property
    def data(self) -> str | None:
        """The callback data Telegram carries for `action` (see `bot.callbacks`)."""
        return self.action.encode() if self.action is not None else None


@dataclass(frozen=True, slots=True)
class Reply:
    """A message to send, in the two forms the front ends need."""

    html: str
    plain: str
    buttons: tuple[tuple[Button, ...], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Links:
    """What the front end knows that the core does not (the bot's @username)."""

    bot_username: str | None = None

    def start_link(self, entry_id: str) -> str | None:
        """A t.me deep link that opens the bot and answers `entry_id` at once."""
        if not self.bot_username:
            return None
        return f"https://t.me/{self.bot_username}?start={entry_id}"

    def share_link(self, entry: Entry) -> str | None:
        """Telegram's share dialog, prefilled with the question and its start link."""
        link = self.start_link(entry.id)
        if link is None:
            return None
        text = url_quote(entry.question)
        return f"https://t.me/share/url?url={url_quote(link, safe='')}&text={text}"


def esc(text: str) -> str:
    """Escape text for Telegram's HTML parse mode (it is never put inside an attribute)."""
    return html.escape(text, quote=False)


def source_line(knowledge: Knowledge) -> str:
    article = knowledge.article
    return f"{article.title} ({article.date})" if article.date else article.title


def answer_reply(
    knowledge: Knowledge,
    entry: Entry,
    links: Links | None = None,
    *,
    feedback: bool = True,
    related: bool = True,
) -> Reply:
    """The answer, the article's exact passage as a blockquote, and the source."""
    links = links or Links()
    quote = knowledge.quote_of(entry)
    source = source_line(knowledge)
    head = esc(entry.answer)
    tail = f"\n\n— <i>{esc(source)}</i>"
    room = MAX_MESSAGE - utf16_len(entry.answer) - utf16_len(source) - 8
    body = f"{head}\n\n<blockquote>{esc(_clip(quote, room))}</blockquote>{tail}"
    plain = (
        f"{entry.answer}\n\n"
        + textwrap.fill(f"“{quote}”", width=78, initial_indent="  > ", subsequent_indent="  > ")
        + f"\n  — {source}"
    )
    rows: list[tuple[Button, ...]] = []
    follow_ups = [knowledge.entry(r) for r in entry.related] if related else []
    for rel in follow_ups[:3]:
        if rel is not None:
            rows.append((Button(f"➕ {rel.button_label}", action=ShowAnswer(rel.id)),))
    last: list[Button] = []
    if feedback:
        last += [
            Button("👍", action=Vote(entry.id, up=True)),
            Button("👎", action=Vote(entry.id, up=False)),
        ]
    link = links.share_link(entry)
    if link:
        last.append(Button("↗ Share", url=link))
    if last:
        rows.append(tuple(last))
    return Reply(_fit(body), plain, tuple(rows))


def result_reply(knowledge: Knowledge, result: MatchResult, links: Links | None = None) -> Reply:
    """Whatever the verdict, the one reply every front end sends for it."""
    if result.verdict is Verdict.ANSWER and result.best:
        return answer_reply(knowledge, result.best.entry, links)
    if result.verdict is Verdict.SMALL_TALK and result.small_talk:
        return small_talk_reply(knowledge, result.small_talk)
    if result.verdict is Verdict.UNSURE and result.suggestions:
        return did_you_mean_reply(result)
    return decline_reply(knowledge, result.gap.topic if result.gap else None)


def did_you_mean_reply(result: MatchResult) -> Reply:
    choices = result.suggestions
    html_lines = ["I'm not sure which you mean. Did you mean:"]
    plain_lines = list(html_lines)
    for n, c in enumerate(choices, 1):
        html_lines.append(f"{n}. {esc(c.entry.question)}")
        plain_lines.append(f"  {n}. {c.entry.question}")
    rows = tuple((Button(c.entry.button_label, action=ShowAnswer(c.entry.id)),) for c in choices)
    return Reply(_fit("\n".join(html_lines)), "\n".join(plain_lines), rows)


def decline_reply(knowledge: Knowledge, gap_topic: str | None = None) -> Reply:
    """An honest "I don't know", with what the bot can answer instead; when the question
    is a known gap of the article, it says so by name."""
    examples = example_entries(knowledge)
    if gap_topic:
        intro = (
            f"The article doesn't say {gap_topic.rstrip('.?')}, so I can't answer that. "
            "Here is what it does answer, for example:"
        )
    else:
        intro = (
            "I don't know that one: I only answer questions about the article "
            f"“{knowledge.article.title}”. Here is what I can answer, for example:"
        )
    html_text = esc(intro) + "\n" + "\n".join(f"• {esc(e.question)}" for e in examples)
    html_text += "\n\nSend /topics for every question I know."
    plain = intro + "\n" + "\n".join(f"  • {e.question}" for e in examples)
    plain += "\n\nType /topics for every question I know."
    rows = tuple((Button(e.button_label, action=ShowAnswer(e.id)),) for e in examples)
    return Reply(_fit(html_text), plain, rows)


_SMALL_TALK = {
    SmallTalk.GREETING: "Hello! Ask me anything about the article “{title}”.",
    SmallTalk.THANKS: "You're welcome! Ask me anything else about the article.",
    SmallTalk.GOODBYE: "Goodbye! Come back with more questions any time.",
    SmallTalk.ACK: "Anything else you'd like to know about the article?",
    SmallTalk.ABOUT: (
        "I'm a bot that answers questions about one article, “{title}”, and quotes the "
        "passage behind every answer. I know {count} questions: send /topics to see them."
    ),
    SmallTalk.HELP: (
        "Ask a question about the article “{title}” in your own words, e.g. “{example}”. "
        "I reply with the answer and the passage it comes from. /topics lists what I know."
    ),
}


def small_talk_reply(knowledge: Knowledge, kind: SmallTalk) -> Reply:
    examples = example_entries(knowledge)
    text = _SMALL_TALK[kind].format(
        title=knowledge.article.title,
        count=len(knowledge.entries),
        example=examples[0].question if examples else "",
    )
    return Reply(esc(text), text)


def welcome_reply(knowledge: Knowledge) -> Reply:
    """The /start greeting: what the bot knows and three questions to try."""
    examples = example_entries(knowledge)
    title = knowledge.article.title
    lines = [
        f"Hi! I answer questions about the article “{title}” ({knowledge.article.date}).",
        "Every answer comes with the exact passage of the article it rests on.",
        "",
        "Try asking:",
        *(f"• {e.question}" for e in examples),
        "",
        "/topics lists everything I know · /help explains how I work",
    ]
    rows = tuple((Button(e.button_label, action=ShowAnswer(e.id)),) for e in examples)
    return Reply(_fit(esc("\n".join(lines))), "\n".join(lines), rows)


def help_reply(knowledge: Knowledge) -> Reply:
    lines = [
        f"I answer questions about one article: “{knowledge.article.title}”.",
        "",
        "• Ask in your own words, typos welcome. I reply with the answer and the quoted "
        "passage it comes from.",
        "• If I'm unsure, I offer the questions you may have meant.",
        "• In a group, mention me, reply to me, or use /ask <question>.",
        "• In any chat, type @ and my name, then your question (inline mode).",
        "",
        "/topics: every question I know",
        "/source: where the answers come from",
        "/ask <question>: ask (handy in groups)",
    ]
    return Reply(esc("\n".join(lines)), "\n".join(lines))


def source_reply(knowledge: Knowledge) -> Reply:
    article = knowledge.article
    text = (
        f"All answers come from the article “{article.title}”, dated {article.date}. "
        f"Each answer quotes the article's own words; the {len(knowledge.entries)} "
        "questions I know were written from it by hand and every quote is checked against "
        "the text when it loads."
    )
    return Reply(esc(text), text)


def topics_reply(knowledge: Knowledge, page: int = 0) -> Reply:
    """Every question as a button, `TOPICS_PER_PAGE` at a time, with paging buttons."""
    entries = knowledge.entries
    pages = max(1, -(-len(entries) // TOPICS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    chunk = entries[page * TOPICS_PER_PAGE : (page + 1) * TOPICS_PER_PAGE]
    head = f"Questions I can answer (page {page + 1} of {pages}). Tap one:"
    rows: list[tuple[Button, ...]] = [(Button(e.question, action=ShowAnswer(e.id)),) for e in chunk]
    nav = []
    if page > 0:
        nav.append(Button("◀ Previous", action=ShowTopics(page - 1)))
    if page < pages - 1:
        nav.append(Button("Next ▶", action=ShowTopics(page + 1)))
    if nav:
        rows.append(tuple(nav))
    plain = "Questions I can answer:\n" + "\n".join(f"  • {e.question}" for e in entries)
    return Reply(esc(head), plain, tuple(rows))


def unanswered_reply(report: Report) -> Reply:
    """/unanswered: the most frequent questions the bot could not answer (escaped: they
    are what users typed)."""
    if not report.groups:
        text = "No unanswered questions recorded yet."
        return Reply(esc(text), text)
    lines = [f"Top {len(report.groups)} unanswered (of {report.unanswered_total} recorded):"]
    for n, g in enumerate(report.groups, 1):
        closest = f" → closest: {g.closest.entry_id} ({g.closest.score:.0f})" if g.closest else ""
        lines.append(f"{n}. {cut(g.text, 80)} ×{g.count}{closest}")
    text = "\n".join(lines)
    return Reply(fit_plain(text), text)


def cut(text: str, width: int) -> str:
    """`text` shortened to `width` characters, with an ellipsis when anything was cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def example_entries(knowledge: Knowledge, count: int = EXAMPLE_COUNT) -> list[Entry]:
    """The entries to show as examples: those tagged `example`, else the first ones."""
    tagged = [e for e in knowledge.entries if "example" in e.tags]
    return (tagged or list(knowledge.entries))[:count]


def fit_plain(text: str) -> str:
    """Plain text as a safe HTML message: escaped, and cut before escaping, not after."""
    return esc(_clip(text, MAX_MESSAGE))


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji is often two)."""
    return len(text.encode("utf-16-le")) // 2


def _clip(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 units, with an ellipsis when anything was cut."""
    if utf16_len(text) <= limit:
        return text
    kept, used = [], 0
    for char in text:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit - 1:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "…"


def _fit(html_text: str) -> str:
    """A last guard: HTML whose visible text is too long becomes plain text, cut to fit."""
    visible = html.unescape(_strip_tags(html_text))
    if utf16_len(visible) <= MAX_MESSAGE:
        return html_text
    return esc(_clip(visible, MAX_MESSAGE))


def _strip_tags(html_text: str) -> str:
    return re.sub(r"<[^>]+>", "", html_text)
