"""What inline mode offers while someone is still typing `@bot question`.

Telegram sends an inline query on nearly every keystroke, so the text is usually
unfinished: "who c" is "who c…", not a question about "c". Matched as a finished question,
results flickered ("who" → three answers, "who c" → none). Here a last word with no space
after it is read as a prefix: it is completed to the knowledge's own words (those asked
most often with the words before it first), and the entries offered are those of the text
as typed and of each completion, alternating with what the finished words alone offered.
So the list narrows as letters are added instead of emptying; it is empty only when no
reading is plausible (small talk, an everyday word the article never uses, a question the
article is known not to answer).

Pure Python over `Matcher`: nothing here imports `telegram` (see `bot.telegram.inline`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from bot.knowledge import Entry, Knowledge
from bot.language import Language
from bot.matching import Matcher, MatchResult, Verdict
from bot.replies import example_entries
from bot.smalltalk import detect_small_talk
from bot.text import plain, tokens

INLINE_LIMIT = 5
"""Results offered by default: a phone shows about five without scrolling."""
MIN_CHARS = 3
"""Texts shorter than this ("w", "wh") say too little to rank: the examples are offered."""
MAX_COMPLETIONS = 3
"""How many completions of a partial word are matched: each costs one `match` call."""
PLAUSIBLE_WITHIN = 0.8
"""From a declined reading, entries scoring at least this share of its best are offered
(the matcher's own "did you mean" threshold): inline, a person picks, nothing is asserted."""

_PARTIAL = re.compile(r"(\w+)$")
_LAST_WORD = re.compile(r"(\w+)\W*$")


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """The knowledge's words and lexicon phrases, for completing a prefix; built once per
    `Knowledge`."""

    surfaces: list[str]
    """Every word (`plain`, stop words left out) and every phrase of several words the
    lexicon merges into one term ("ei k", "security council"), sorted: a prefix is a range."""
    token_of: dict[str, str]
    """Surface -> the token the matcher reads it as (a word's stem, a phrase's term)."""
    uses: dict[str, int]
    """Surface -> how often the phrasings, answers, quotes and article write it."""
    postings: dict[str, list[int]]
    """Token, or lexicon phrase as written -> the phrasings (by position) that use it: a
    phrase is as likely as it is written ("capital city"), not as its term is ("kabul")."""
    phrasings: list[frozenset[str]]
    """Each phrasing's tokens: merged lexicon terms as the matcher sees them, and the
    stem of every word as typed (so the "k" of "isis k" counts for "k…" too)."""
    text_count: dict[str, int]
    """Stem -> uses in answers, quotes and the article: words nobody has asked with yet."""
    language: Language
    """The knowledge's language: its stop words, stems and everyday words."""

    def key_of(self, surface: str) -> str:
        """Where `surface`'s phrasings are listed in `postings`."""
        return surface if " " in surface else self.token_of[surface]

    def completes(self, prefix: str) -> bool:
        """Whether `prefix` (as typed) starts a word of the knowledge (or is one)."""
        start = plain(prefix)
        return bool(start) and next(iter(self.starting_with(start)), None) is not None

    def starting_with(self, prefix: str) -> Iterable[str]:
        """The surfaces that start with `prefix`, in alphabetical order."""
        at = bisect_left(self.surfaces, prefix)
        while at < len(self.surfaces) and self.surfaces[at].startswith(prefix):
            yield self.surfaces[at]
            at += 1


_cache: dict[str, tuple[Knowledge, _Vocabulary]] = {}
"""Per language: the snapshot served and its vocabulary (English and Spanish queries
alternate; one slot would rebuild a vocabulary at every switch)."""


def inline_entries(matcher: Matcher, text: str, limit: int = INLINE_LIMIT) -> list[Entry]:
    """The entries to offer for `text` as typed so far, best first, at most `limit`.

    Empty, very short or only little words ("is it", "tell me abo"): the examples, then
    every other entry. Small talk alone ("hi") or text no reading matches plausibly: []
    (the caller shows its hint button).
    """
    knowledge = matcher.knowledge
    stripped = text.strip()
    remainder, talk = detect_small_talk(stripped) if stripped else ("", None)
    if talk is not None and not remainder.strip():
        return []
    vocabulary = _vocabulary(knowledge)
    partial = _PARTIAL.search(text)  # no space after the last word yet: unfinished
    word = partial[1] if partial else ""
    before = text[: partial.start()] if partial else ""
    language = knowledge.lexicon.language
    little = bool(word) and _starts_stop_word(word, language)  # "doe…" may be "does"
    only_little = little and not vocabulary.completes(word)
    if len(stripped) < MIN_CHARS or not matcher.query_tokens(before if only_little else stripped):
        entries = example_entries(knowledge, limit)
        entries += [e for e in knowledge.entries if e not in entries]
        return entries[:limit]
    if partial:
        found = completions(matcher, before, word)
        offered = _offered(matcher, vocabulary, [text, *(before + w for w in found)])
        if (found or little) and before.strip():
            # alternate: what the text narrows to, and what the finished words showed
            offered = _alternate(offered, _offered(matcher, vocabulary, [before]))
        return offered[:limit]
    offered = _offered(matcher, vocabulary, [text])
    last = _LAST_WORD.search(text)
    if offered or last is None:
        return offered[:limit]
    # Declined after a space, but maybe not finished: "security " → "security council"
    # (a phrase the lexicon reads as one term), "when was isis " → "when was isis-k…".
    before = text[: last.start()]
    phrases = completions(matcher, before, f"{last[1]} ")
    offered = _offered(matcher, vocabulary, [before + p for p in phrases])
    if not offered and vocabulary.completes(last[1]):
        offered = _offered(matcher, vocabulary, [before])
    return offered[:limit]


def completions(matcher: Matcher, before: str, prefix: str) -> list[str]:
    """Up to `MAX_COMPLETIONS` words (or lexicon phrases) of the knowledge that `prefix`
    may be the start of, most likely first: those asked most often together with the words
    `before` it (in the entries' phrasings), then the most used. One per token ("claim",
    "claimed"), written as the knowledge most often writes it."""
    vocabulary = _vocabulary(matcher.knowledge)
    start = plain(prefix)
    if not start:
        return []
    if prefix[-1:].isspace():  # a finished word: only phrases that go on from it
        start += " "
    context = set(matcher.query_tokens(before)) if before.strip() else set()
    shared: dict[int, int] = {}  # phrasing -> how many of the earlier words it uses
    likelihood: dict[str, float] = {}
    form: dict[str, str] = {}  # token -> its likeliest surface starting with `prefix`
    for surface in vocabulary.starting_with(start):
        weight = 0.0
        for p in vocabulary.postings.get(vocabulary.key_of(surface), ()):
            if p not in shared:
                shared[p] = len(context & vocabulary.phrasings[p])
            weight += (1 + shared[p]) ** 2  # asked together with the earlier words
        token = vocabulary.token_of[surface]
        if " " not in surface:  # a word only stated so far; a phrase's term is not it
            weight += 0.1 * vocabulary.text_count.get(token, 0)
        seen = form.get(token)
        if seen is None or (weight, vocabulary.uses[surface]) > (
            likelihood[token],
            vocabulary.uses[seen],
        ):
            form[token], likelihood[token] = surface, weight
    ranked = sorted(likelihood, key=lambda t: (-likelihood[t], form[t]))
    return [form[t] for t in ranked[:MAX_COMPLETIONS]]


def cut_at_word(text: str, limit: int) -> str:
    """`text` (whitespace folded) in at most `limit` characters, cut between words with "…"
    when too long: a description cut mid-word ("the Taliban's riv…") reads as a typo."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit < 2:
        return "…"[:limit]
    room = text[: limit - 1]  # one character left for "…"
    if text[limit - 1] != " " and " " in room:  # the cut falls inside a word: drop it
        room = room[: room.rfind(" ")]
    # (a first word longer than the limit has no boundary to cut at: it is cut short)
    return room.rstrip(" ,;:.-–—") + "…"


def _offered(matcher: Matcher, vocabulary: _Vocabulary, readings: list[str]) -> list[Entry]:
    """The plausible entries of every reading, by their best score in any of them."""
    best: dict[str, float] = {}
    found: dict[str, Entry] = {}
    for reading in dict.fromkeys(readings):
        for entry, score in _plausible(matcher.match(reading), vocabulary):
            found.setdefault(entry.id, entry)
            best[entry.id] = max(score, best.get(entry.id, 0.0))
    # sorted() is stable: ties keep the order the readings found them in
    return [found[i] for i in sorted(found, key=lambda i: -best[i])]


def _alternate(first: list[Entry], second: list[Entry]) -> list[Entry]:
    """One from each list in turn, `first` leading, each entry once."""
    merged: list[Entry] = []
    for i in range(max(len(first), len(second))):
        for entries in (first, second):
            if i < len(entries) and entries[i] not in merged:
                merged.append(entries[i])
    return merged


def _plausible(result: MatchResult, vocabulary: _Vocabulary) -> list[tuple[Entry, float]]:
    """A reading's entries worth offering, with their scores.

    Answered or asked back: what the matcher would offer. Declined: its best few too (a
    half-typed question is seldom sure), unless it uses an everyday word the knowledge
    never does ("weather"), or is small talk, or a question the article is known not to
    answer. The knowledge's words are counted as typed: the "al" of "al q…" is one, even
    though the matcher reads "al qaeda" as one term.
    """
    if result.verdict is Verdict.SMALL_TALK or result.best is None or result.gap is not None:
        return []
    if result.verdict is Verdict.NONE:
        language = vocabulary.language
        foreign = [
            w
            for w in plain(result.question).split()
            if w not in language.stop_words
            and w not in vocabulary.token_of
            and language.is_common(w)
        ]
        if foreign:
            return []
        top = result.best.score
        return [(c.entry, c.score) for c in result.ranking if c.score >= PLAUSIBLE_WITHIN * top]
    return [(c.entry, c.score) for c in (result.best, *result.suggestions)]


def _vocabulary(knowledge: Knowledge) -> _Vocabulary:
    """The vocabulary of `knowledge`, cached for the snapshot being served (a reload
    brings a new `Knowledge`, whose vocabulary the next query builds, once)."""
    cached = _cache.get(knowledge.language)
    if cached is not None and cached[0] is knowledge:
        return cached[1]
    vocabulary = _build_vocabulary(knowledge)
    _cache[knowledge.language] = (knowledge, vocabulary)
    return vocabulary


def _build_vocabulary(knowledge: Knowledge) -> _Vocabulary:
    """Count the knowledge's words: by phrasing (what people ask), and in its texts."""
    lexicon = knowledge.lexicon
    language = lexicon.language
    token_of: dict[str, str] = {}
    uses: dict[str, int] = {}
    postings: dict[str, list[int]] = {}
    phrasings: list[frozenset[str]] = []
    text_count: dict[str, int] = {}
    runs: dict[tuple[str, ...], int] = {}  # word sequences written, for the phrases' uses

    def surface(text: str, asked: int | None = None) -> list[str]:
        """`text`'s words, counted; `asked`: the position of the phrasing it is."""
        typed = plain(text).split()
        for size in range(2, lexicon.longest + 1):
            for i in range(len(typed) - size + 1):
                run = tuple(typed[i : i + size])
                runs[run] = runs.get(run, 0) + 1
                if asked is not None and lexicon.phrases.get(run):
                    postings.setdefault(" ".join(run), []).append(asked)
        found = [w for w in typed if w not in language.stop_words]
        for word in found:
            token_of.setdefault(word, language.stem(word))
            uses[word] = uses.get(word, 0) + 1
        return found

    def count(text: str) -> None:
        for word in surface(text):
            text_count[token_of[word]] = text_count.get(token_of[word], 0) + 1

    for entry in knowledge.entries:
        for phrasing in entry.phrasings:
            typed = {token_of[w] for w in surface(phrasing, len(phrasings))}
            toks = frozenset(typed | set(tokens(phrasing, lexicon)))
            for token in toks:
                postings.setdefault(token, []).append(len(phrasings))
            phrasings.append(toks)
        count(entry.answer)
        count(knowledge.quote_of(entry))
    count(knowledge.article.title)
    count(knowledge.article.body)
    for seq, term in lexicon.phrases.items():
        if len(seq) < 2 or not term:  # one word is already a surface; '' is filler
            continue
        read_as = tokens(" ".join(seq), lexicon)
        if len(read_as) == 1:
            phrase = " ".join(seq)
            token_of[phrase] = read_as[0]
            uses[phrase] = runs.get(seq, 0)
    return _Vocabulary(sorted(token_of), token_of, uses, postings, phrasings, text_count, language)


def _starts_stop_word(prefix: str, language: Language) -> bool:
    """Whether `prefix` may be the start of a word that carries no fact ("doe", "abo")."""
    low = prefix.lower()
    return any(word.startswith(low) for word in language.stop_words)
