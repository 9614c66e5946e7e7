"""The languages the matcher reads: their stemmer, stop words and question words.

The pipeline in `bot.text` is the same for every language; what differs is here. A
question word of another language is read as the English token the matcher already knows
("quién" -> who, "cuántos" -> howmany), so the decision's signals ("asks for a number",
"the word after the question word") work in both. `detect_language` tells which language
a message is written in, from the message alone: the small words of each language it
uses, and marks only Spanish has (¿, ¡, ñ, accented vowels). Nothing here knows the
article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import snowballstemmer

from bot.wordlist import is_common_word, zipf

ENGLISH_STOP_WORDS = frozenset(
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

SPANISH_STOP_WORDS = frozenset(
    """
    a al algo algun alguna algunas alguno algunos ante antes asi aun aunque bajo bien cada
    casi con contra de del desde donde dos durante e el ella ellas ello ellos en entre era
    eran eres es esa esas ese eso esos esta estaba estaban estan estar estas este esto estos
    estoy fue fueron fui ha habia han has hasta hay he la las le les lo los mas me mi mis
    mucho muy nada ni no nos nosotros o os otra otras otro otros para pero poco por porfa
    pues que se sea segun ser si sido siempre sin sobre solo son soy su sus tal tambien
    tan tanto te tenia tiene tienen todo todos tu tus un una unas uno unos usted ustedes
    vos y ya yo
    decime dime contame cuentame explicame explica sabes sabe sabés sabias puedes podes
    podrias quiero quisiera saber favor hola gracias che oye mira bueno entonces osea
    realmente exactamente
    """.split()
)
"""Spanish words that carry no fact, accents off as the pipeline sees them ("también" ->
tambien). The question words are not here: they become English question tokens."""

SPANISH_QUESTION_WORDS = {
    "quien": "who",
    "quienes": "who",
    "cuando": "when",
    "donde": "where",
    "adonde": "where",
    "porque": "why",
    "xq": "why",
    "pq": "why",
    "cuantos": "howmany",
    "cuantas": "howmany",
    "cuanto": "howmuch",
    "cuanta": "howmuch",
    "cual": "which",
    "cuales": "which",
}
"""Accent-free Spanish question words -> the English tokens the matcher reads."""
SPANISH_PAIRS = {("por", "que"): "why", ("para", "que"): "why", ("en", "que"): "which"}
"""Two-word Spanish question words ("por qué", "¿en qué año…?")."""
SPANISH_OPENERS = {"que": "what", "q": "what", "como": "how", "k": "what"}
"""Words that ask only when they open the message: "qué es…" asks, "dijo que…" does not
(without accents the two are spelled alike)."""


@dataclass(frozen=True)
class Language:
    """What the text pipeline needs to know about one language."""

    code: str
    name: str
    stop_words: frozenset[str]
    question_words: dict[str, str] = field(default_factory=dict)
    """Typed word (lowercase, accents off) -> the English question token it stands for."""
    question_pairs: dict[tuple[str, str], str] = field(default_factory=dict)
    question_openers: dict[str, str] = field(default_factory=dict)
    date_words: tuple[str, ...] = ("when", "year")
    """Words that ask for a time: an answer that states none does not answer them."""
    stemmer_name: str = "english"

    def stem(self, word: str) -> str:
        """Snowball's stem in this language (cached: the same few thousand words recur)."""
        return _stem(self.stemmer_name, word)

    def is_common(self, word: str) -> bool:
        """Whether `word` is a real, common word of this language (wordfreq's list)."""
        return is_common_word(word, self.code)

    def zipf(self, word: str) -> float:
        return zipf(word, self.code)

    def read_question_words(self, words: list[str]) -> list[str]:
        """Question words of this language as the English tokens the matcher knows."""
        if not self.question_words and not self.question_pairs:
            return words
        out: list[str] = []
        i = 0
        while i < len(words):
            low = words[i].lower()
            if i == 0 and low in self.question_openers:
                out.append(self.question_openers[low])
                i += 1
                continue
            pair = (
                self.question_pairs.get((low, words[i + 1].lower())) if i + 1 < len(words) else None
            )
            if pair:
                out.append(pair)
                i += 2
                continue
            out.append(self.question_words.get(low, words[i]))
            i += 1
        return out


@lru_cache(maxsize=131_072)
def _stem(stemmer_name: str, word: str) -> str:
    stemmed: str = _stemmers(stemmer_name).stemWord(word)
    return stemmed


@lru_cache(maxsize=8)
def _stemmers(name: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(name)


ENGLISH = Language("en", "English", ENGLISH_STOP_WORDS)
SPANISH = Language(
    "es",
    "Spanish",
    SPANISH_STOP_WORDS,
    SPANISH_QUESTION_WORDS,
    SPANISH_PAIRS,
    SPANISH_OPENERS,
    date_words=("when", "ano", "fecha"),
    stemmer_name="spanish",
)
LANGUAGES = {language.code: language for language in (ENGLISH, SPANISH)}

_SPANISH_MARKS = re.compile(r"[¿¡ñÑáéíóúÁÉÍÓÚ]")
_WORDS = re.compile(r"[^\W\d_]+", re.UNICODE)
_ENGLISH_HINTS = frozenset(
    "the is are was were what who when where why how which did does do of and in to it they"
    " about with from this that have has many much".split()
)
_SPANISH_HINTS = frozenset(
    "el la los las del que qué quien quién quienes cuando cuándo donde dónde por porque como"
    " cómo cual cuál cuantos cuántos cuantas cuántas es son fue fueron en y con una para"
    " se su sus lo le les ataque atentado murieron muertos fundó fundo grupo entre"
    " sobre hay dice dijo vos sabés decime".split()
)


def detect_language(text: str) -> str | None:
    """ "es" or "en" when the message's own words say which, else None (too short or
    only names: then the asker's Telegram language decides)."""
    words = [w.lower() for w in _WORDS.findall(text)]
    marks = len(_SPANISH_MARKS.findall(text))
    if len(words) < 2 and not marks:
        return None  # "y?" is Spanish "and?" and English "why?": the asker's language decides
    spanish = sum(w in _SPANISH_HINTS for w in words) + 2 * marks
    english = sum(w in _ENGLISH_HINTS for w in words)
    if spanish > english:
        return "es"
    if english > spanish:
        return "en"
    return None


def pick_language(text: str, fallback: str | None, available: tuple[str, ...]) -> str:
    """The language to read and answer `text` in: the message's own if the bot speaks it,
    else the asker's (Telegram's `language_code`, e.g. "es-AR"), else the first available."""
    detected = detect_language(text)
    if detected in available:
        return detected
    short = (fallback or "").split("-")[0].lower()
    return short if short in available else available[0]
