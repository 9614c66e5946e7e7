"""Which words are real words of the language, from a maintained word-frequency list.

The spelling corrector asks this before it "corrects" anything: "weather", "wounded" and
"price" are English, so they stay what the person typed, a word the knowledge does not
cover, instead of turning into the nearest article word. The list is wordfreq's (shipped
inside the package: nothing is downloaded).
"""

from __future__ import annotations

import math
from functools import lru_cache

import wordfreq

MIN_ZIPF = 3.0
"""A word seen at least once per million words of text (Zipf 3) is a real word."""


@lru_cache(maxsize=4)
def zipf_table(language: str = "en") -> dict[str, float]:
    """Zipf frequency of the language's words seen at least once per million words
    (~29,000 for English): 3 is rare, 5 common, 7 "the"."""
    frequencies = wordfreq.get_frequency_dict(language, wordlist="small")
    floor = 10 ** (MIN_ZIPF - 9)
    return {
        w: round(math.log10(f) + 9, 2) for w, f in frequencies.items() if f >= floor and w.isalpha()
    }


def zipf(word: str, language: str = "en") -> float:
    """How common `word` (lowercase) is: 0 for a word not in the list (a typo, a name)."""
    return zipf_table(language).get(word, 0.0)


def is_common_word(word: str, language: str = "en") -> bool:
    """Whether `word` (lowercase) is a real, common word of `language`."""
    return word in zipf_table(language)
