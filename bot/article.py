"""The cleaned article: the text every quote is checked against, and its sentences.

Quotes are matched ignoring whitespace and quote style, but what a user sees is always
the article's own characters, found through an index from the normalised text back to
the original.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import KnowledgeError, Problem
from bot.textfile import read_text

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'"})
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")


def normalise_text(text: str) -> str:
    """Fold what a quote may differ in from the article: whitespace, quote style."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text)).translate(_QUOTES)
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Article:
    """The cleaned article: the text every quote is checked against."""

    path: Path
    title: str
    date: str
    paragraphs: tuple[str, ...]
    _normalised: str = field(repr=False, default="")
    _index: tuple[int, ...] = field(repr=False, default=())

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def text(self) -> str:
        """Everything a quote may come from: title, date line and body."""
        return "\n\n".join((self.title, self.date, *self.paragraphs))

    def find(self, quote: str) -> str | None:
        """The article's own words for `quote`, or None when it is not in the article.

        Matching ignores whitespace and quote style; what is returned is the article's
        exact characters, so a user always sees the author's words.
        """
        needle = normalise_text(quote)
        start = self._normalised.find(needle) if needle else -1
        if start < 0:
            return None
        end = start + len(needle) - 1
        return self.text[self._index[start] : self._index[end] + 1]

    def sentences(self) -> Iterator[str]:
        """Each sentence of the body (for coverage), split on end punctuation."""
        for paragraph in self.paragraphs:
            if paragraph.startswith("#"):
                continue
            yield from (s for s in _SENTENCE_END.split(paragraph) if s.strip())


_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][”’\"]))\s+(?=[“‘\"A-Z])")


def _normalise_with_index(text: str) -> tuple[str, tuple[int, ...]]:
    """`normalise_text`, plus for each output character its position in `text`."""
    out: list[str] = []
    index: list[int] = []
    pending_space = False
    for pos, char in enumerate(text):
        if _INVISIBLE.match(char):
            continue
        if char.isspace():
            pending_space = bool(out)
            continue
        if pending_space:
            out.append(" ")
            index.append(pos - 1)
            pending_space = False
        out.append(char.translate(_QUOTES))
        index.append(pos)
    return "".join(out), tuple(index)


def load_article(path: Path) -> Article:
    """Read `article.md`: a `# title` line, a date line, then paragraphs."""
    text = unicodedata.normalize("NFC", read_text(path))
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    if not blocks or not blocks[0].startswith("# "):
        raise KnowledgeError(
            [Problem(str(path), 1, "the article must start with a '# Title' line", "add one")]
        )
    title = blocks[0][2:].strip()
    date = blocks[1] if len(blocks) > 1 else ""
    paragraphs = tuple(blocks[2:])
    if not paragraphs:
        raise KnowledgeError(
            [
                Problem(
                    str(path),
                    None,
                    "the article has no paragraphs after its title and date",
                    "paste the article's text below the date line",
                )
            ]
        )
    article = Article(path, title, date, paragraphs)
    normalised, index = _normalise_with_index(article.text)
    return Article(path, title, date, paragraphs, normalised, index)
