"""Rendering unit tests: what `bot.replies` builds from the knowledge, without Telegram.

Every reply is checked the way Telegram would read it: HTML parsed by the stand-in's port
of tdlib's parser, visible text within 4096 characters, callback data within 64 bytes.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from helpers.botapi import parse_html, utf16_len

from bot.callbacks import Pick, ShowAnswer
from bot.knowledge import Entry, Knowledge, load_knowledge
from bot.matching import Matcher, Verdict
from bot.replies import (
    EXAMPLE_COUNT,
    MAX_MESSAGE,
    TOPICS_PER_PAGE,
    Button,
    Links,
    Reply,
    answer_reply,
    decline_reply,
    did_you_mean_reply,
    example_entries,
    help_reply,
    result_reply,
    says_the_same,
    short_source,
    small_talk_reply,
    source_reply,
    topics_reply,
    visible_before_expanding,
    welcome_reply,
)
from bot.smalltalk import SmallTalk

ANSWER_PREFIX, TOPICS_PREFIX, VOTE_PREFIX = "a:", "t:", "v:"
"""The wire format of callback data (bot.callbacks), as Telegram carries it."""

SHIPPED_QA = Path(__file__).resolve().parent.parent / "knowledge" / "qa.yaml"
LINKS = Links(bot_username="article_qa_bot")
MAX_CALLBACK_BYTES = 64


# --- helpers ---------------------------------------------------------------------------


def visible(html_text: str) -> str:
    """What a reader sees: tags stripped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def buttons(reply: Reply) -> list[Button]:
    return [b for row in reply.buttons for b in row]


def callback_data(reply: Reply) -> list[str]:
    return [b.data for b in buttons(reply) if b.data is not None]


def blockquote_of(html_text: str) -> str:
    (inner,) = re.findall(
        r"<blockquote(?: expandable)?>(.*?)</blockquote>", html_text, flags=re.DOTALL
    )
    return html.unescape(inner)


def assert_telegram_accepts(reply: Reply) -> None:
    """The HTML parses like tdlib parses it, and fits Telegram's limits."""
    text, _ = parse_html(reply.html)  # raises ValueError on HTML Telegram would refuse
    assert text.strip(), "Telegram refuses an empty message"
    assert len(visible(reply.html)) <= MAX_MESSAGE
    assert utf16_len(text) <= MAX_MESSAGE
    for data in callback_data(reply):
        assert 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES, data


def write_knowledge(
    folder: Path, paragraphs: list[str], entries: list[dict[str, Any]], title: str = "A test"
) -> Knowledge:
    """A knowledge folder of our own (article + qa.yaml), loaded and checked."""
    folder.mkdir(parents=True, exist_ok=True)
    article = f"# {title}\n\nMonday, September 20\n\n" + "\n\n".join(paragraphs) + "\n"
    (folder / "article.md").write_text(article, encoding="utf-8")
    qa = folder / "qa.yaml"
    qa.write_text(yaml.safe_dump({"entries": entries}, allow_unicode=True), encoding="utf-8")
    return load_knowledge(qa)


@pytest.fixture(scope="module")
def shipped() -> Knowledge:
    """The shipped knowledge (read only)."""
    return load_knowledge(SHIPPED_QA)


@pytest.fixture
def longest(tmp_path: Path) -> Knowledge:
    """Entries at the model's limits: 48-char id, 200-char question, 1000/1500-char texts."""
    quote = ("The longest quote the model allows, repeated to its limit. " * 30)[:1499] + "."
    big_id = "a" * 48
    entries = [
        {
            "id": big_id,
            "question": "Q" * 199 + "?",
            "answer": "A" * 1000,
            "quote": quote,
            "related": ["b" * 48],
        },
        {
            "id": "b" * 48,
            "question": "What is the second entry?",
            "answer": "The second.",
            "quote": "The second paragraph.",
            "related": [big_id],
        },
    ]
    return write_knowledge(tmp_path / "longest", [quote, "The second paragraph."], entries)


# --- answers ---------------------------------------------------------------------------


def test_every_answer_has_exactly_one_blockquote_with_the_articles_exact_words(
    shipped: Knowledge,
) -> None:
    for entry in shipped.entries:
        reply = answer_reply(shipped, entry, LINKS)
        assert len(re.findall(r"<blockquote(?: expandable)?>", reply.html)) == 1, entry.id
        assert reply.html.count("</blockquote>") == 1, entry.id
        quoted = blockquote_of(reply.html)
        assert quoted == shipped.quote_of(entry), entry.id
        assert quoted in shipped.article.text, entry.id
        outside = re.sub(r"<blockquote.*?</blockquote>", "", reply.html, flags=re.DOTALL)
        if says_the_same(entry.answer, quoted):  # the quote alone, after any "Yes."/"No."
            assert html.escape(entry.answer, quote=False) not in outside, entry.id
        else:
            assert reply.html.startswith(html.escape(entry.answer, quote=False)), entry.id
        assert visible(reply.html).endswith(short_source(shipped)), entry.id
        assert shipped.article.title not in visible(outside), entry.id  # that is /source


def test_a_quote_that_repeats_the_answer_is_shown_once(tmp_path: Path) -> None:
    paragraph = "The group was formed in 2014 on the border with Pakistan. It grew later."
    knowledge = write_knowledge(
        tmp_path / "same",
        [paragraph],
        [
            {
                "id": "formed",
                "question": "When was the group formed?",
                "answer": "The group was formed in 2014 on the border with Pakistan.",
                "quote": "The group was formed in 2014 on the border with Pakistan.",
            },
            {
                "id": "border",
                "question": "Was it formed on the border?",
                "answer": "Yes. It was formed on the border with Pakistan.",
                "quote": "The group was formed in 2014 on the border with Pakistan.",
            },
            {
                "id": "grew",
                "question": "Did it grow?",
                "answer": "Yes, later.",
                "quote": "It grew later.",
            },
        ],
    )
    formed, border, grew = knowledge.entries
    shown = visible(answer_reply(knowledge, formed).html)
    assert shown.count("formed in 2014") == 1
    assert shown.startswith("The group was formed in 2014")  # the article's words lead
    shown = visible(answer_reply(knowledge, border).html)
    assert shown.startswith("Yes.\nThe group was formed")  # the verdict stays
    assert shown.count("border with Pakistan") == 1
    shown = visible(answer_reply(knowledge, grew).html)
    assert shown.startswith("Yes.\nIt grew later.")  # "later" is in the quote


def test_long_quotes_fold_and_short_ones_do_not(longest: Knowledge, shipped: Knowledge) -> None:
    entry = longest.entries[0]
    assert "<blockquote expandable>" in answer_reply(longest, entry).html
    short = next(e for e in shipped.entries if len(shipped.quote_of(e)) < 100)
    assert "<blockquote>" in answer_reply(shipped, short).html
    _, entities = parse_html(answer_reply(longest, entry).html)
    assert [e["type"] for e in entities].count("expandable_blockquote") == 1


def test_answers_fit_a_phone_screen(shipped: Knowledge) -> None:
    """The issue's target, measured by bench/answer_length.py: the median answer at most
    350 visible characters before expanding, none over 700, at most two rows of buttons."""
    lengths = []
    for entry in shipped.entries:
        reply = answer_reply(shipped, entry, LINKS)
        lengths.append(visible_before_expanding(reply.html))
        assert len(reply.buttons) <= 2, entry.id
    lengths.sort()
    assert lengths[len(lengths) // 2] <= 350, lengths
    assert lengths[-1] <= 700, lengths


def test_answer_blockquote_parses_as_one_blockquote_entity(shipped: Knowledge) -> None:
    entry = shipped.entries[0]
    text, entities = parse_html(answer_reply(shipped, entry, LINKS).html)
    kinds = [e["type"] for e in entities]
    assert kinds.count("blockquote") == 1
    assert shipped.quote_of(entry) in text


def test_answer_text_from_the_knowledge_is_html_escaped(tmp_path: Path) -> None:
    paragraph = "Tags like <b>& co</b> are plain words in this article & nothing more."
    knowledge = write_knowledge(
        tmp_path / "esc",
        [paragraph],
        [
            {
                "id": "tags",
                "question": "Are <b> tags & co bold?",
                "answer": "No: <b>& stays text.",
                "quote": paragraph,
            }
        ],
        title="Bold <b> & friends",
    )
    (entry,) = knowledge.entries
    reply = answer_reply(knowledge, entry, LINKS)
    assert "No: &lt;b&gt;&amp; stays text." in reply.html
    assert "<b>" not in reply.html
    text, _ = parse_html(reply.html)  # strict: a bare & or <b> would be refused
    assert "No: <b>& stays text." in text
    assert "<b>& co</b> are plain words" in text
    assert "Bold <b> & friends" in parse_html(source_reply(knowledge).html)[0]
    for render in (
        welcome_reply(knowledge),
        decline_reply(knowledge),
        topics_reply(knowledge),
        help_reply(knowledge),
        source_reply(knowledge),
        *(small_talk_reply(knowledge, kind) for kind in SmallTalk),
    ):
        assert "<b>" not in render.html
        assert_telegram_accepts(render)


def test_answer_buttons_related_votes_and_share(shipped: Knowledge) -> None:
    entry = next(e for e in shipped.entries if len(e.related) >= 2)
    reply = answer_reply(shipped, entry, LINKS)
    related = [b for b in buttons(reply) if b.data and b.data.startswith(ANSWER_PREFIX)]
    assert [b.data for b in related] == [ANSWER_PREFIX + entry.related[0]]  # one row
    for b, rel in zip(related, entry.related, strict=False):
        other = shipped.entry(rel)
        assert other is not None
        assert b.label == f"➕ {other.button_label}"
    last = reply.buttons[-1]
    assert [b.label for b in last[:2]] == ["👍", "👎"]
    assert [b.data for b in last[:2]] == [
        f"{VOTE_PREFIX}{entry.id}:+",
        f"{VOTE_PREFIX}{entry.id}:-",
    ]
    assert last[2].url == LINKS.share_link(entry)


def test_answer_without_feedback_or_username_has_no_vote_or_share_buttons(
    shipped: Knowledge,
) -> None:
    entry = shipped.entries[0]
    reply = answer_reply(shipped, entry, Links(), feedback=False)
    assert all(b.url is None for b in buttons(reply))
    assert not any(d.startswith(VOTE_PREFIX) for d in callback_data(reply))


def test_share_link_is_none_without_a_username(shipped: Knowledge) -> None:
    entry = shipped.entries[0]
    assert Links().share_link(entry) is None
    assert Links().start_link(entry.id) is None
    assert Links(bot_username="").share_link(entry) is None


def test_share_link_prefills_the_encoded_start_link_and_question(shipped: Knowledge) -> None:
    entry = shipped.entries[0]
    link = LINKS.share_link(entry)
    assert link is not None
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "t.me", "/share/url")
    query = parse_qs(parts.query)
    assert query["url"] == [f"https://t.me/article_qa_bot?start={entry.id}"]
    assert query["text"] == [entry.question]
    assert "start%3D" + entry.id in link  # the start link is encoded inside `url`


# --- limits ----------------------------------------------------------------------------


def all_replies(knowledge: Knowledge, matcher: Matcher) -> list[Reply]:
    """Every kind of reply the bot can render from this knowledge."""
    replies = [answer_reply(knowledge, e, LINKS) for e in knowledge.entries]
    replies += [answer_reply(knowledge, e, LINKS, feedback=False) for e in knowledge.entries]
    pages = -(-len(knowledge.entries) // TOPICS_PER_PAGE)
    replies += [topics_reply(knowledge, p) for p in range(pages)]
    replies += [welcome_reply(knowledge), help_reply(knowledge), source_reply(knowledge)]
    replies += [decline_reply(knowledge)]
    replies += [small_talk_reply(knowledge, kind) for kind in SmallTalk]
    for e in knowledge.entries:
        replies.append(result_reply(knowledge, matcher.match(e.question), LINKS))
    return replies


def test_every_shipped_reply_fits_telegrams_limits(shipped: Knowledge) -> None:
    for reply in all_replies(shipped, Matcher(shipped)):
        assert_telegram_accepts(reply)


def test_replies_at_the_models_limits_fit_and_keep_their_blockquote(longest: Knowledge) -> None:
    for reply in all_replies(longest, Matcher(longest)):
        assert_telegram_accepts(reply)
    entry = longest.entries[0]
    reply = answer_reply(longest, entry, LINKS)
    assert blockquote_of(reply.html) == longest.quote_of(entry)  # nothing clipped
    assert max(len(d.encode()) for d in callback_data(reply)) == len(f"v:{entry.id}:+")


def test_astral_characters_at_the_models_limits_still_fit_4096_utf16(tmp_path: Path) -> None:
    """Telegram counts UTF-16 code units: an emoji counts twice."""
    quote = "🔥" * 1500
    knowledge = write_knowledge(
        tmp_path / "emoji",
        [quote],
        [{"id": "fire", "question": "What burns?", "answer": "🔥" * 1000, "quote": quote}],
    )
    (entry,) = knowledge.entries
    reply = answer_reply(knowledge, entry, LINKS)
    text, _ = parse_html(reply.html)
    assert utf16_len(text) <= MAX_MESSAGE
    assert text.startswith(entry.answer)  # the answer is never cut...
    quoted = blockquote_of(reply.html)  # ...the quote is, and stays a blockquote
    assert quoted.endswith("…") and quote.startswith(quoted.removesuffix("…"))


def test_callback_data_fits_64_bytes_for_every_button(shipped: Knowledge) -> None:
    matcher = Matcher(shipped)
    for reply in all_replies(shipped, matcher):
        for data in callback_data(reply):
            assert 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES, data
    for question in ("isis k", "who", "attack"):
        result = matcher.match(question)
        assert result.verdict is Verdict.UNSURE, question
        for data in callback_data(did_you_mean_reply(result)):
            assert len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES


# --- topics ----------------------------------------------------------------------------


def test_topics_pages_cover_every_entry_exactly_once(shipped: Knowledge) -> None:
    seen: list[str] = []
    page, pages_seen = 0, 0
    while True:
        reply = topics_reply(shipped, page)
        pages_seen += 1
        ids = [d.removeprefix(ANSWER_PREFIX) for d in callback_data(reply) if d[:2] == "a:"]
        assert 1 <= len(ids) <= TOPICS_PER_PAGE
        seen += ids
        assert f"(page {page + 1} of " in reply.html
        nav = [d for d in callback_data(reply) if d.startswith(TOPICS_PREFIX)]
        if page > 0:
            assert f"{TOPICS_PREFIX}{page - 1}" in nav
        following = f"{TOPICS_PREFIX}{page + 1}"
        if following not in nav:
            break
        page += 1
    assert pages_seen == -(-len(shipped.entries) // TOPICS_PER_PAGE)
    assert seen == [e.id for e in shipped.entries]
    assert len(set(seen)) == len(seen)


def test_topics_page_numbers_out_of_range_are_clamped(shipped: Knowledge) -> None:
    pages = -(-len(shipped.entries) // TOPICS_PER_PAGE)
    assert topics_reply(shipped, -5) == topics_reply(shipped, 0)
    assert topics_reply(shipped, 999) == topics_reply(shipped, pages - 1)
    assert "Next ▶" not in [b.label for b in buttons(topics_reply(shipped, pages - 1))]


# --- did you mean, decline, welcome -------------------------------------------------------


def test_did_you_mean_buttons_match_the_suggestions(shipped: Knowledge) -> None:
    result = Matcher(shipped).match("isis k")
    assert result.verdict is Verdict.UNSURE
    reply = did_you_mean_reply(result)
    assert 1 <= len(result.suggestions) <= 3
    assert reply.buttons == tuple(
        (Button(c.entry.button_label, action=Pick(c.entry.id)),) for c in result.suggestions
    )
    for n, c in enumerate(result.suggestions, 1):  # said once: by the buttons, not the text
        assert html.escape(c.entry.question, quote=False) not in reply.html
        assert f"{n}. {c.entry.question}" in reply.plain  # the terminal has no buttons
    assert "<blockquote>" not in reply.html
    assert result_reply(shipped, result, LINKS) == reply


def test_decline_lists_three_examples_and_topics(shipped: Knowledge) -> None:
    reply = decline_reply(shipped)
    examples = example_entries(shipped)
    assert len(examples) == EXAMPLE_COUNT == 3
    assert [e.id for e in examples] == [e.id for e in shipped.entries if "example" in e.tags][:3]
    for e in examples:
        assert f"• {html.escape(e.question, quote=False)}" in reply.html
    assert callback_data(reply) == [ANSWER_PREFIX + e.id for e in examples]
    assert "/topics" in reply.html
    assert "<blockquote>" not in reply.html
    assert shipped.article.title in visible(reply.html)


def test_welcome_offers_the_three_examples_as_buttons(shipped: Knowledge) -> None:
    reply = welcome_reply(shipped)
    examples = example_entries(shipped)
    assert callback_data(reply) == [ANSWER_PREFIX + e.id for e in examples]
    assert "/topics" in reply.html and "/help" in reply.html


def test_examples_fall_back_to_the_first_entries_without_tags(longest: Knowledge) -> None:
    assert example_entries(longest) == list(longest.entries[:EXAMPLE_COUNT])


def test_result_reply_dispatches_on_the_verdict(shipped: Knowledge) -> None:
    matcher = Matcher(shipped)
    answered = matcher.match("What is ISIS-K?")
    assert answered.verdict is Verdict.ANSWER and answered.best is not None
    assert result_reply(shipped, answered, LINKS) == answer_reply(
        shipped, answered.best.entry, LINKS
    )
    assert result_reply(shipped, matcher.match("asdfgh")) == decline_reply(shipped)
    hello = matcher.match("hi")
    assert hello.verdict is Verdict.SMALL_TALK and hello.small_talk is not None
    assert result_reply(shipped, hello) == small_talk_reply(shipped, hello.small_talk)


def test_small_talk_replies_are_short_and_quote_nothing(shipped: Knowledge) -> None:
    for kind in SmallTalk:
        reply = small_talk_reply(shipped, kind)
        assert "<blockquote>" not in reply.html
        assert len(visible(reply.html)) < 400
        assert not reply.buttons


def test_source_names_the_title_date_and_entry_count(shipped: Knowledge) -> None:
    text = visible(source_reply(shipped).html)
    assert shipped.article.title in text
    assert shipped.article.date in text
    assert str(len(shipped.entries)) in text


def _entry(knowledge: Knowledge, entry_id: str) -> Entry:
    found = knowledge.entry(entry_id)
    assert found is not None
    return found


def test_related_ids_render_as_follow_up_buttons_in_order(longest: Knowledge) -> None:
    first = _entry(longest, "a" * 48)
    reply = answer_reply(longest, first, LINKS)
    follow_up = Button("➕ What is the second entry?", action=ShowAnswer("b" * 48))
    assert reply.buttons[0] == (follow_up,)
