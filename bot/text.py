"""Turn free text into the tokens the matcher compares: `words` and `tokens`.

Steps, each because users type that way: split into words (hyphens and accents ignored);
spell out chat shorthand; fix typos (`correct`); merge every way of writing one thing into
one term (the lexicon: NATO / N.A.T.O. / North Atlantic Treaty Organization); drop stop
words but keep question words (who, when, where, how many), which tell facts apart; stem.

Everything specific to one article lives in its lexicon (`knowledge/lexicon.yaml`); the
language's own stemmer, stop words and question words come from `bot.language`, through
the lexicon (each lexicon says which language it reads).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from bot.language import ENGLISH, ENGLISH_STOP_WORDS
from bot.lexicon import EMPTY, Lexicon, is_shouted, split_words

STOP_WORDS = ENGLISH_STOP_WORDS
"""English's (see `bot.language`); each lexicon says its language."""

_WORD = re.compile(r"[a-z0-9]+")


def strip_accents(text: str) -> str:
    """ "Islámico" -> "Islamico"; plain ASCII (nearly every message) passes untouched."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def words(
    text: str, lexicon: Lexicon = EMPTY, correct: Callable[[str], str] | None = None
) -> list[str]:
    """The words of `text`, shorthand spelled out, typos fixed, lexicon terms merged,
    stop words removed, not stemmed."""
    language = lexicon.language
    as_typed = split_words(text)
    spelled: list[str] = []
    for word in as_typed:
        low = word.lower()
        spelled.extend(lexicon.expand(low) if low in lexicon.shorthand else (word,))
    typed: list[str] = []
    for word in language.read_question_words(spelled):
        low = word.lower()
        fixed = correct(low) if correct is not None else low
        typed.append(word if fixed == low else fixed)
    merged = lexicon.merge(typed, shouted=is_shouted(as_typed))
    return [w for w in merged if w not in language.stop_words]


def plain(text: str) -> str:
    """Lowercase words without punctuation or accents, names as typed: for fuzzy compare."""
    return " ".join(_WORD.findall(strip_accents(text).casefold()))


def stem(word: str) -> str:
    """Snowball's English stem (cached); `Lexicon.language.stem` for the lexicon's own."""
    return ENGLISH.stem(word)


def tokens(
    text: str, lexicon: Lexicon = EMPTY, correct: Callable[[str], str] | None = None
) -> list[str]:
    """The stemmed content tokens of `text`, in order, duplicates kept."""
    language = lexicon.language
    return [language.stem(w) for w in words(text, lexicon, correct)]
