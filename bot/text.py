"""Turn free text into the tokens the matcher compares: `words` and `tokens`.

Steps, each because users type that way: split into words (hyphens and accents ignored);
spell out chat shorthand; fix typos (`correct`); merge every way of writing one thing into
one term (the lexicon: NATO / N.A.T.O. / North Atlantic Treaty Organization); drop stop
words but keep question words (who, when, where, how many), which tell facts apart; stem.

Everything specific to one article lives in its lexicon (`knowledge/lexicon.yaml`); this
module only knows English.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import snowballstemmer

from bot.lexicon import EMPTY, Lexicon, is_shouted, split_words

_stemmer = snowballstemmer.stemmer("english")

STOP_WORDS = frozenset(
    """
    a about above again all am an and any are aren't as at be because been
    being below between both but by can could did do does doing don't down during
    each few for from further had has have having he her here hers herself him himself his
    i i'm if in into is isn't it it's its itself just let's me more most my myself no nor
    not of off on once only or ought our ours ourselves out over own she should
    so some such than that that's the their theirs them themselves then there there's
    these they this those through to too under until up very was we were
    while whom with would you your yours yourself yourselves s t d ll m re ve y
    also tell please know say says said explain mean means meant according really
    ok okay us actually exactly basically anyway anyways anyone someone something thing
    things kind sort like guess wonder wondering curious quick question questions
    today nowadays currently now anymore
    aren isn don doesn didn wasn weren haven hasn won wouldn can cant
    """.split()
)
"""Words that carry no fact. Question words (who, what, when, where, why, how, which) are
absent on purpose: "who" and "when" are what tell two facts about the same group apart."""

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
    typed: list[str] = []
    as_typed = split_words(text)
    for word in as_typed:
        low = word.lower()
        if low in lexicon.shorthand:
            typed.extend(lexicon.expand(low))
            continue
        fixed = correct(low) if correct is not None else low
        typed.append(word if fixed == low else fixed)
    merged = lexicon.merge(typed, shouted=is_shouted(as_typed))
    return [w for w in merged if w not in STOP_WORDS]


def plain(text: str) -> str:
    """Lowercase words without punctuation or accents, names as typed: for fuzzy compare."""
    return " ".join(_WORD.findall(strip_accents(text).casefold()))


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """Snowball's English stem, cached: the same few thousand words recur."""
    stemmed: str = _stemmer.stemWord(word)
    return stemmed


def tokens(
    text: str, lexicon: Lexicon = EMPTY, correct: Callable[[str], str] | None = None
) -> list[str]:
    """The stemmed content tokens of `text`, in order, duplicates kept."""
    return [stem(w) for w in words(text, lexicon, correct)]
