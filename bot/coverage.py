"""What the article says that no entry quotes: the maintainers' list of gaps to fill.

`coverage` returns data; `bot.cli` prints it (`python -m bot coverage`). Nothing here
prints or imports `telegram`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from bot.knowledge import Article, Knowledge, normalise_text

MIN_QUOTE_WORDS = 5
"""A quote this long inside a sentence counts as covering that sentence."""
MIN_SHARED_SPAN = 0.6
"""Share of a sentence's characters a quote must cover in one piece to count."""


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of the article and the paragraph it is in (1 = the first after the date)."""

    text: str
    paragraph: int


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the article the entries quote, and what they leave out."""

    total: int
    covered: int
    uncovered: tuple[Sentence, ...]

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0


def coverage(knowledge: Knowledge) -> Coverage:
    """Which of the article's sentences some entry quotes (see `_covered` for the rule)."""
    text, sentences = _locate_sentences(knowledge.article)
    spans = [
        span
        for entry in knowledge.entries
        for span in _spans(text, normalise_text(knowledge.quote_of(entry)))
    ]
    uncovered = tuple(sentence for sentence, where in sentences if not _covered(text, where, spans))
    return Coverage(len(sentences), len(sentences) - len(uncovered), uncovered)


def uncovered_sentences(knowledge: Knowledge) -> list[str]:
    """The article's sentences that no entry's quote covers, in article order."""
    return [sentence.text for sentence in coverage(knowledge).uncovered]


def _locate_sentences(
    article: Article,
) -> tuple[str, list[tuple[Sentence, tuple[int, int] | None]]]:
    """The normalised article text, and each body sentence with its paragraph and span.

    Positions let a quote count only where it really is, not wherever its words recur;
    the sentence keeps the article's own characters (curly quotes) for display.
    """
    parts = [normalise_text(p) for p in (article.title, article.date, *article.paragraphs)]
    starts, offset = [], 0
    for part in parts:
        starts.append(offset)
        offset += len(part) + 1
    text = " ".join(parts)
    located: list[tuple[Sentence, tuple[int, int] | None]] = []
    cursor = starts[2] if len(starts) > 2 else 0
    for raw in article.sentences():
        needle = normalise_text(raw)
        start = text.find(needle, cursor)
        where = (start, start + len(needle)) if start >= 0 else None
        cursor = where[1] if where else cursor
        paragraph = bisect_right(starts, where[0] if where else cursor) - 2
        located.append((Sentence(" ".join(raw.split()), paragraph), where))
    return text, located


def _spans(text: str, quote: str) -> list[tuple[int, int]]:
    """Every place `quote` occurs in `text`, as (start, end)."""
    found, start = [], text.find(quote) if quote else -1
    while start >= 0:
        found.append((start, start + len(quote)))
        start = text.find(quote, start + 1)
    return found


def _covered(text: str, where: tuple[int, int] | None, spans: list[tuple[int, int]]) -> bool:
    """A quote covers a sentence when it holds most of it (≥ 60 % in one piece, which
    includes containing it whole) or is a passage of at least five words inside it."""
    if where is None:  # not found in the article text (a splitting bug): report it uncovered
        return False
    start, end = where
    need = MIN_SHARED_SPAN * (end - start)
    for q_start, q_end in spans:
        if min(end, q_end) - max(start, q_start) >= need:
            return True
        inside = start <= q_start and q_end <= end
        if inside and len(text[q_start:q_end].split()) >= MIN_QUOTE_WORDS:
            return True
    return False
