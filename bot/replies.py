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

from bot.callbacks import Action, Pick, ShowAnswer, ShowTopics, Vote
from bot.conversation import Turn
from bot.knowledge import Entry, Knowledge
from bot.matching import MatchResult, Verdict
from bot.messages import say, say_lines
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
    """The full source (title and date), said once in /source and the terminal."""
    article = knowledge.article
    return f"{article.title} ({article.date})" if article.date else article.title


def short_source(knowledge: Knowledge) -> str:
    """The source under each answer: short, because the full title is in /source."""
    date, lang = knowledge.article.date, knowledge.language
    return say(lang, "answer.source", date=date) if date else say(lang, "answer.source_undated")


EXPANDABLE_OVER = 200
"""Quotes longer than this many characters are folded (Telegram's expandable blockquote)."""
SAME_WORDS = 0.75
"""Share of the answer's words the quote must contain for the two to say the same thing."""
_VERDICT = re.compile(r"^(yes|no)\b[.,!]?\s*", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")


def says_the_same(answer: str, quote: str) -> bool:
    """Whether the quote already says what the answer says, so showing both repeats it.

    The answer's words (after a leading "Yes."/"No.") must mostly appear in the quote, and
    the quote must not be much longer: a long quote around a short answer still needs the
    answer as its lead-in."""
    rest = _VERDICT.sub("", answer)
    words = {w.lower() for w in _WORD.findall(rest) if len(w) > 2}
    if not words:
        return False
    quoted = {w.lower() for w in _WORD.findall(quote)}
    shared = len(words & quoted) / len(words)
    return shared >= SAME_WORDS and len(quote) <= 1.6 * len(rest) + 40


def answer_reply(
    knowledge: Knowledge,
    entry: Entry,
    links: Links | None = None,
    *,
    feedback: bool = True,
    related: bool = True,
    note: bool = False,
) -> Reply:
    """The answer, then the article's exact passage as a blockquote, then a short source.

    Sized for a phone: when the quote says the same as the answer, only the quote is shown
    (after a "Yes."/"No." the answer starts with); a long quote is folded; at most two rows
    of buttons (one related question; the votes and the share link). `note`: say that the
    quote is the article's own text when it is in another language than the answer."""
    links = links or Links()
    source = short_source(knowledge)
    remark = say(knowledge.language, "answer.quote_note") if note else ""
    room = MAX_MESSAGE - utf16_len(source) - utf16_len(remark) - 10
    lead, quoted = _answer_body(knowledge, entry, room)
    body = f"{lead}{quoted}\n<i>— {esc(source)}</i>"
    if remark:
        body += f"\n<i>{esc(remark)}</i>"
    quote = knowledge.quote_of(entry)
    plain_lead = html.unescape(lead).strip()
    plain = (
        (f"{plain_lead}\n" if plain_lead else "")
        + textwrap.fill(f"“{quote}”", width=78, initial_indent="  > ", subsequent_indent="  > ")
        + f"\n  — {source_line(knowledge)}"
        + (f"\n  ({remark})" if remark else "")
    )
    rows: list[tuple[Button, ...]] = []
    follow_ups = [knowledge.entry(r) for r in entry.related] if related else []
    first = next((e for e in follow_ups if e is not None), None)
    if first is not None:
        rows.append((Button(f"➕ {first.button_label}", action=ShowAnswer(first.id)),))
    last: list[Button] = []
    if feedback:
        last += [
            Button("👍", action=Vote(entry.id, up=True)),
            Button("👎", action=Vote(entry.id, up=False)),
        ]
    link = links.share_link(entry)
    if link:
        last.append(Button(say(knowledge.language, "answer.share"), url=link))
    if last:
        rows.append(tuple(last))
    return Reply(_fit(body), plain, tuple(rows))


def _answer_body(knowledge: Knowledge, entry: Entry, room: int) -> tuple[str, str]:
    """The answer's lead-in (HTML, with its line break; empty when the quote says it all)
    and the quote as a blockquote, together within `room` UTF-16 units."""
    quote = knowledge.quote_of(entry)
    same = says_the_same(entry.answer, quote)
    verdict = _VERDICT.match(entry.answer)
    lead = (f"{verdict.group(1).capitalize()}." if verdict else "") if same else entry.answer
    clipped = _clip(quote, room - utf16_len(lead) - 1)
    fold = " expandable" if len(clipped) > EXPANDABLE_OVER else ""
    head = f"{esc(lead)}\n" if lead else ""
    return head, f"<blockquote{fold}>{esc(clipped)}</blockquote>"


def several_reply(knowledge: Knowledge, turn: Turn, *, note: bool = False) -> Reply:
    """Several questions in one message: each answered with its own quote, in one reply;
    a question that cannot be answered is named, with a button for a near guess."""
    source, lang = short_source(knowledge), knowledge.language
    room = (MAX_MESSAGE - 200) // max(len(turn.parts), 1)
    html_parts, plain_parts, rows = [], [], []
    for n, (question, result) in enumerate(turn.parts, 1):
        title = f"{n}. {cut(question.strip(), 120)}"
        if result.verdict is Verdict.ANSWER and result.best:
            lead, quoted = _answer_body(knowledge, result.best.entry, room)
            html_parts.append(f"<b>{esc(title)}</b>\n{lead}{quoted}")
            quote = knowledge.quote_of(result.best.entry)
            plain_parts.append(f"{title}\n{result.best.entry.answer}\n  > “{quote}”")
            continue
        if result.verdict is Verdict.UNSURE and result.suggestions:
            guess = result.suggestions[0].entry
            line = say(lang, "several.unsure")
            rows.append((Button(guess.button_label, action=Pick(guess.id)),))
            plain_line = say(lang, "several.unsure_plain", question=guess.question)
        else:
            line = plain_line = say(lang, "several.unanswered")
        html_parts.append(f"<b>{esc(title)}</b>\n{esc(line)}")
        plain_parts.append(f"{title}\n{plain_line}")
    if turn.dropped:
        more = say(lang, "several.more", count=len(turn.parts))
        html_parts.append(esc(more))
        plain_parts.append(more)
    remark = say(lang, "answer.quote_note") if note else ""
    html_text = "\n\n".join(html_parts) + f"\n<i>— {esc(source)}</i>"
    plain = "\n\n".join(plain_parts) + f"\n  — {source_line(knowledge)}"
    if remark:
        html_text += f"\n<i>{esc(remark)}</i>"
        plain += f"\n  ({remark})"
    return Reply(_fit(html_text), plain, tuple(rows[:2]))


def turn_reply(
    knowledge: Knowledge, turn: Turn, links: Links | None = None, *, note: bool = False
) -> Reply:
    """The one reply to a message: its answer, or the answers to each of its questions.
    `note`: say once that quotes are the article's own text (see `answer_reply`)."""
    if turn.several:
        return several_reply(knowledge, turn, note=note)
    return result_reply(knowledge, turn.results[0], links, note=note)


def result_reply(
    knowledge: Knowledge, result: MatchResult, links: Links | None = None, *, note: bool = False
) -> Reply:
    """Whatever the verdict, the one reply every front end sends for it."""
    if result.verdict is Verdict.ANSWER and result.best:
        return answer_reply(knowledge, result.best.entry, links, note=note)
    if result.verdict is Verdict.SMALL_TALK and result.small_talk:
        return small_talk_reply(knowledge, result.small_talk)
    if result.verdict is Verdict.UNSURE and result.suggestions:
        return did_you_mean_reply(result, knowledge.language)
    return decline_reply(knowledge, result.gap.topic if result.gap else None)


def did_you_mean_reply(result: MatchResult, language: str = "en") -> Reply:
    """ "Did you mean" said once: the buttons carry the choices (the terminal, which has
    no buttons, lists them)."""
    choices = result.suggestions
    intro = say(language, "answer.more_on_this" if result.more else "answer.did_you_mean")
    plain_lines = [intro, *(f"  {n}. {c.entry.question}" for n, c in enumerate(choices, 1))]
    rows = tuple((Button(c.entry.button_label, action=Pick(c.entry.id)),) for c in choices)
    return Reply(esc(intro), "\n".join(plain_lines), rows)


def decline_reply(knowledge: Knowledge, gap_topic: str | None = None) -> Reply:
    """An honest "I don't know", with what the bot can answer instead; when the question
    is a known gap of the article, it says so by name."""
    examples, lang = example_entries(knowledge), knowledge.language
    if gap_topic:
        intro = say(lang, "decline.gap", topic=gap_topic.rstrip(".?"))
    else:
        intro = say(lang, "decline.unknown", title=knowledge.article.title)
    html_text = esc(intro) + "\n" + "\n".join(f"• {esc(e.question)}" for e in examples)
    html_text += "\n\n" + say(lang, "decline.topics")
    plain = intro + "\n" + "\n".join(f"  • {e.question}" for e in examples)
    plain += "\n\n" + say(lang, "decline.topics_plain")
    rows = tuple((Button(e.button_label, action=ShowAnswer(e.id)),) for e in examples)
    return Reply(_fit(html_text), plain, rows)


def small_talk_reply(knowledge: Knowledge, kind: SmallTalk) -> Reply:
    examples = example_entries(knowledge)
    text = say(
        knowledge.language,
        f"small_talk.{kind.value}",
        title=knowledge.article.title,
        count=len(knowledge.entries),
        example=examples[0].question if examples else "",
    )
    return Reply(esc(text), text)


def welcome_reply(knowledge: Knowledge) -> Reply:
    """The /start greeting: what the bot knows and three questions to try."""
    examples, lang = example_entries(knowledge), knowledge.language
    title = knowledge.article.title
    lines = [
        say(lang, "welcome.hello", title=title, date=knowledge.article.date),
        say(lang, "welcome.evidence"),
        "",
        say(lang, "welcome.try"),
        *(f"• {e.question}" for e in examples),
        "",
        say(lang, "welcome.commands"),
    ]
    rows = tuple((Button(e.button_label, action=ShowAnswer(e.id)),) for e in examples)
    return Reply(_fit(esc("\n".join(lines))), "\n".join(lines), rows)


def bot_description(knowledge: Knowledge) -> str:
    """What Telegram shows in the empty chat before /start (at most 512 characters)."""
    text = say(knowledge.language, "about_bot.description", title=knowledge.article.title)
    return cut(text, 512)


def bot_short_description(knowledge: Knowledge) -> str:
    """The profile line and the text under shared links (at most 120 characters)."""
    text = say(knowledge.language, "about_bot.short_description", title=knowledge.article.title)
    return cut(text, 120)


def help_reply(knowledge: Knowledge) -> Reply:
    lines = say_lines(knowledge.language, "help", title=knowledge.article.title)
    return Reply(esc("\n".join(lines)), "\n".join(lines))


def source_reply(knowledge: Knowledge) -> Reply:
    article = knowledge.article
    text = say(
        knowledge.language,
        "source",
        title=article.title,
        date=article.date,
        count=len(knowledge.entries),
    )
    return Reply(esc(text), text)


def topics_reply(knowledge: Knowledge, page: int = 0) -> Reply:
    """Every question as a button, `TOPICS_PER_PAGE` at a time, with paging buttons."""
    entries = knowledge.entries
    pages = max(1, -(-len(entries) // TOPICS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    chunk = entries[page * TOPICS_PER_PAGE : (page + 1) * TOPICS_PER_PAGE]
    lang = knowledge.language
    head = say(lang, "topics.head", page=page + 1, pages=pages)
    rows: list[tuple[Button, ...]] = [(Button(e.question, action=ShowAnswer(e.id)),) for e in chunk]
    nav = []
    if page > 0:
        nav.append(Button(say(lang, "topics.previous"), action=ShowTopics(page - 1)))
    if page < pages - 1:
        nav.append(Button(say(lang, "topics.next"), action=ShowTopics(page + 1)))
    if nav:
        rows.append(tuple(nav))
    plain = say(lang, "topics.plain_head") + "\n" + "\n".join(f"  • {e.question}" for e in entries)
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


COLLAPSED_CHARS = 120
"""About what a folded blockquote shows before it is expanded: three lines on a phone."""


def visible_before_expanding(html_text: str) -> int:
    """The characters a reader sees before tapping anything: a folded (expandable)
    blockquote counts as the lines it shows."""
    folded = re.compile(r"<blockquote expandable>(.*?)</blockquote>", re.DOTALL)
    shown = folded.sub(
        lambda m: html.unescape(_strip_tags(m.group(1)))[:COLLAPSED_CHARS], html_text
    )
    return len(html.unescape(_strip_tags(shown)))


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
