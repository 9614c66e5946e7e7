"""Which words are real words of the language, from a maintained word-frequency list.

The spelling corrector asks this before it "corrects" anything: "weather", "wounded" and
"price" are English, so they stay what the person typed, a word the knowledge does not
cover, instead of turning into the nearest article word. The list is wordfreq's "small"
list, shipped inside that package (nothing is downloaded). Its data file is read directly
(gzip + msgpack, wordfreq's documented "cBpack" format) because importing wordfreq itself
costs more start-up time than the whole rest of the bot.
"""

from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

import msgpack

MIN_ZIPF = 3.0
"""A word seen at least once per million words of text (Zipf 3) is a real word."""


def _data_file(language: str) -> Path:
    """wordfreq's data file for `language`, found without importing the package."""
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the wordfreq package is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / "data" / f"small_{language}.msgpack.gz"


@lru_cache(maxsize=4)
def zipf_table(language: str = "en") -> dict[str, float]:
    """Zipf frequency of the language's words seen at least once per million words
    (~29,000 for English): 3 is rare, 5 common, 7 "the"."""
    with gzip.open(_data_file(language), "rb") as file:
        data = msgpack.load(file, raw=False)
    header = data[0]
    if not isinstance(header, dict) or header.get("format") != "cB":
        raise RuntimeError(f"unexpected wordfreq data format: {header!r}")
    table: dict[str, float] = {}
    for centibels, bucket in enumerate(data[1:]):
        value = round(9 - centibels / 100, 2)  # 10 ** (-cB / 100) as a Zipf number
        if value < MIN_ZIPF:
            break
        for word in bucket:
            if word.isalpha():
                table.setdefault(word, value)
    return table


def zipf(word: str, language: str = "en") -> float:
    """How common `word` (lowercase) is: 0 for a word not in the list (a typo, a name)."""
    return zipf_table(language).get(word, 0.0)


def is_common_word(word: str, language: str = "en") -> bool:
    """Whether `word` (lowercase) is a real, common word of `language`."""
    return word in zipf_table(language)
