"""Turn free text into the tokens the matcher compares: one function, `tokens`.

Steps, each because users type that way: fold case and accents; merge the many spellings
of the same name (ISIS-K / ISKP / IS-K / EI-K, al-Qaeda / al Qaida, US / USA / United
States) into one token; split into words; drop stop words but keep question words (who,
when, where, how many), which tell facts apart; stem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import snowballstemmer

_stemmer = snowballstemmer.stemmer("english")

# Order matters: the longer, more specific names are merged before their parts.
_CASE_SENSITIVE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bU\.?S\.?A?\b\.?"), " usa "),
    (re.compile(r"\bU\.?N\b\.?"), " un "),
    (re.compile(r"\bIS\s*-?\s*(?:KP?|Kh?[ou]rass?an)\b"), " isisk "),
]

_ISIS = r"(?:isis|isil|daesh|daish|ei|islamic\s+state|estado\s+islamico)"
_KHORASAN = r"(?:khorasan|khurasan|korasan|khorassan|khorosan|khorsan)"

_ALIASES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            rf"\b{_ISIS}(?:\s+in)?(?:\s+(?:the|of))?\s*{_KHORASAN}(?:\s+province)?\b"
            rf"|\b(?:isis|isil|daesh|daish|ei|is)\s*-\s*(?:k|kp|{_KHORASAN})\b"
            r"|\b(?:isis|isil|daesh|daish|ei)\s*(?:k|kp)s?\b"
            r"|\biskp?\b|\bisisk\b"
        ),
        " isisk ",
    ),
    (re.compile(r"\b(?:isil|daesh|daish|islamic\s+state)\b"), " isis "),
    (
        re.compile(r"\b(?:al\W{0,2})?(?:q|k)u?a\W?[ei]{1,2}d+a?h?\b|\balqu?a[ei]{1,2}da\b"),
        " alqaeda ",
    ),
    (re.compile(r"\btal[ei]b[ae]n+s?\b|\btalib[ae]s\b"), " taliban "),
    (
        re.compile(
            r"\bunited\s+states(?:\s+of\s+america)?\b|\bamerica(?:n|ns)?\b|\bwashington\b"
            r"|\busa\b|\bthe\s+us\b"
            r"|\bus(?=\s+(?:troops?|forces?|army|military|president|government|intelligence"
            r"|withdrawal|pullout|exit|deal|agreement|talks|soldiers?|taliban|and))"
        ),
        " usa ",
    ),
    (re.compile(r"\bunited\s+nations\b|\bu\s*n\s+report\b"), " un "),
    (re.compile(r"\b(?:joe\s+)?b[iy]d[ea]n'?s?\b"), " biden "),
    (
        re.compile(
            r"\b(?:vs|v|versus|compared?\s+(?:to|with)|differ(?:s|ent|ence|ences)?"
            r"|distinguish(?:es)?|contrast)\b"
        ),
        " differ ",
    ),
    (re.compile(r"\bhow\s+many\b|\bnumber\s+of\b"), " howmany "),
    (re.compile(r"\bhow\s+much\b"), " howmuch "),
    (re.compile(r"\bdeath\s+toll\b|\bdeaths?\b|\bkilled\b|\bdead\b|\bfatalit\w*"), " die "),
]

_SYNONYMS: list[tuple[str, str]] = [
    # Everyday words for the same idea, so a question need not use the article's word.
    (
        r"set\s+up|establish(?:ed|es|ment)?|creat(?:e|ed|es|ion)"
        r"|form(?:ed|s|ation)?|found(?:ed|ing|ation)?|began|begin|born|birth"
        r"|origins?|originated?|emerged?|launched",
        "found",
    ),
    (r"founders?|creators?|founding\s+fathers", "founder"),
    (r"casualt(?:y|ies)|victims?|lives\s+lost|died|dies|die", "die"),
    (r"bomb(?:s|ing|ings|ed)?|blasts?|explosions?|exploded|assault|attacks?|attacked", "attack"),
    (r"goals?|aims?|objectives?|wants?|wanted|purpose|agenda|intend(?:s|ed)?|seeks?", "goal"),
    (r"all(?:y|ies|ied|iance|iances)|partners?|same\s+(?:side|team)|teamed\s+up", "ally"),
    (r"enem(?:y|ies)|foes?|rivals?|rivalry|rivalries|opponents?|adversar(?:y|ies)", "rival"),
    (r"cit(?:y|ies)|urban|towns?", "city"),
    (r"locat(?:ion|ed)|whereabouts", "where"),
    (
        r"(?:take|takes|took|taken|taking)\s+place|occur(?:s|red|ring)?|happen(?:s|ed|ing)?",
        "happen",
    ),
    (r"stands?\s+for|acronym|abbreviation|full\s+name|long\s+name", "fullname"),
    (r"call(?:s|ed|ing)?|named?|names", "name"),
    (r"soft(?:er)?|lenient|mild(?:er)?|liberal|moderates?", "moderate"),
    (r"betray(?:al|ed|s)?|treason|traitors?|sell\s*out|sold\s+out", "betray"),
    (r"apostas(?:y|ies)|apostates?|infidels?|unbelievers?|heretics?|renegades?", "apostate"),
    (r"troops?|soldiers?|forces|military|army", "troop"),
    (r"withdraw(?:al|als|n|ing|s)?|pull(?:ing)?[\s-]*out|pullout|retreat", "withdraw"),
    (r"agreements?|deals?|accords?|treat(?:y|ies)|pacts?", "agreement"),
    (r"weekday|day\s+of\s+the\s+week", "day"),
]
"""Applied after the names are merged; each pattern is matched as whole words."""

_ALIASES += [(re.compile(rf"\b(?:{pattern})\b"), f" {word} ") for pattern, word in _SYNONYMS]

STOP_WORDS = frozenset(
    """
    a about above after again all am an and any are aren't as at be because been
    before being below between both but by can could did do does doing don't down during
    each few for from further had has have having he her here hers herself him himself his
    i i'm if in into is isn't it it's its itself just let's me more most my myself no nor
    not of off on once only or other ought our ours ourselves out over own same she should
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

_SLANG = {
    "ppl": "people",
    "pple": "people",
    "abt": "about",
    "govt": "government",
    "gov": "government",
    "wat": "what",
    "whats": "what",
    "whatre": "what",
    "wut": "what",
    "wht": "what",
    "wen": "when",
    "whn": "when",
    "whr": "where",
    "hw": "how",
    "y": "why",
    "whos": "who",
    "btw": "",
    "pls": "",
    "plz": "",
    "thx": "thanks",
    "bc": "because",
    "cuz": "because",
    "yrs": "years",
    "yr": "year",
    "afghan": "afghanistan",
    "afghans": "afghanistan",
    "afg": "afghanistan",
}
"""Chat shorthand spelled out, so it is matched rather than weighed as an unknown word."""


ALIAS_WORDS = frozenset(
    "difference differences different versus compared taliban qaeda qaida khorasan "
    "islamic state united states america american nations death deaths killed "
    "isisk iskp alqaeda usa".split()
)
"""Words the aliases rewrite, so the spelling corrector still knows them as words."""

NAME_TOKENS = frozenset({"isisk", "isi", "alqaeda", "taliban", "usa", "un", "biden"})
"""The tokens the aliases produce: the names of the actors."""

COMMON_WORDS = frozenset(
    """
    right think thinks thought about which there their would could should other where these
    those first after world still great years people before being never going point since
    while under found place made make makes making given given again always every might
    maybe whole today tomorrow yesterday weather recipe price money movie music sport sports
    football soccer player score number numbers capital population currency language
    """.split()
)
"""Everyday words the spelling corrector must leave alone: "right" is not a typo of "fight"."""

_LETTERS = re.compile(r"[a-z]+")


def strip_accents(text: str) -> str:
    """ "Islámico" -> "Islamico"; plain ASCII (nearly every message) passes untouched."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def fold(text: str, correct: Callable[[str], str] | None = None) -> str:
    """Lowercase, strip accents, fix spelling (`correct`), merge name variants."""
    if not text.isupper():  # in a shouted "WHAT IS KHORASAN", case tells nothing
        for pattern, repl in _CASE_SENSITIVE:
            text = pattern.sub(repl, text)
    text = strip_accents(text).casefold().replace("’", "'").replace("‘", "'")
    if correct is not None:
        text = _LETTERS.sub(lambda m: correct(m.group()), text)
    for pattern, repl in _ALIASES:
        text = pattern.sub(repl, text)
    return text


def words(text: str, correct: Callable[[str], str] | None = None) -> list[str]:
    """The folded words of `text`, shorthand spelled out, stop words removed, not stemmed."""
    out = []
    for word in _WORD.findall(fold(text, correct)):
        word = _SLANG.get(word, word)
        if word and word not in STOP_WORDS:
            out.append(word)
    return out


def plain(text: str) -> str:
    """Lowercase words without punctuation or accents, names as typed: for fuzzy compare."""
    return " ".join(_WORD.findall(strip_accents(text).casefold()))


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """Snowball's English stem, cached: the same few thousand words recur."""
    return _stemmer.stemWord(word)


def tokens(text: str, correct: Callable[[str], str] | None = None) -> list[str]:
    """The stemmed content tokens of `text`, in order, duplicates kept."""
    return [stem(w) for w in words(text, correct)]
