"""Recognise greetings, thanks and questions about the bot itself, so they get a friendly
reply of their own instead of the article entry that happens to share a word; and whole
messages that are no question at all (emoji only, an insult, another language), so they
get a short fitting line instead of the long "I don't know that one"."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class SmallTalk(StrEnum):
    GREETING = "greeting"
    THANKS = "thanks"
    ABOUT = "about"
    HELP = "help"
    GOODBYE = "goodbye"
    ACK = "ack"
    EMOJI = "emoji"
    INSULT = "insult"
    OTHER_LANGUAGE = "other_language"


_PATTERNS: list[tuple[SmallTalk, re.Pattern[str]]] = [
    (
        SmallTalk.ABOUT,
        re.compile(
            r"\b(?:who|what)\s+(?:are|r)\s+(?:you|u)\b|\bwhat\s+(?:can|do)\s+(?:you|u)\s+"
            r"(?:do|know|answer)\b|\bare\s+(?:you|u)\s+(?:a\s+)?(?:bot|robot|human|real|ai)\b"
            r"|\bwho\s+(?:made|built|created)\s+(?:you|u|this\s+bot)\b|\byour\s+name\b"
        ),
    ),
    (
        SmallTalk.HELP,
        re.compile(
            r"^\W*(?:help|help\s+me|how\s+does\s+this\s+work|how\s+do\s+i\s+use\s+(?:you|this))\W*$"
        ),
    ),
    (
        SmallTalk.THANKS,
        re.compile(
            r"\b(?:thanks?|thank\s+(?:you|u)|thx|ty|cheers|gracias|merci|much\s+appreciated)\b|🙏"
        ),
    ),
    (
        SmallTalk.GOODBYE,
        re.compile(
            r"^\W*(?:bye|goodbye|good\s+bye|see\s+(?:you|ya)(?:\s+later)?|cya|good\s+night"
            r"|later)\b|\b(?:bye|goodbye|good\s+bye|see\s+(?:you|ya)(?:\s+later)?|cya"
            r"|good\s+night)\W*$"
        ),
    ),
    (
        SmallTalk.GREETING,
        re.compile(
            r"^\W*(?:(?:hi+|hello+|hey+|hiya|howdy|yo|hola|greetings"
            r"|good\s+(?:morning|afternoon|evening|day)|how\s+are\s+(?:you|u)(?:\s+doing)?"
            r"|what'?s\s+up|sup)\b\W*)+|👋"
        ),
    ),
    (
        SmallTalk.ACK,
        re.compile(
            r"^\W*(?:(?:ok(?:ay)?|k|cool|nice|great|got\s+it|i\s+see|alright|awesome|perfect"
            r"|wow|interesting|good|fine|sure|yes|no|yep|nope|lol|haha|understood|makes\s+sense)"
            r"\W*){1,3}$|^\s*[👍👌🙂😊😀]+\s*$"
        ),
    ),
]


_PATTERNS = [(kind, re.compile(p.pattern, re.IGNORECASE)) for kind, p in _PATTERNS]


_INSULT = re.compile(
    r"\b(?:stupid|idiot(?:ic)?|dumb|useless|moron(?:ic)?|suck(?:s|y)?|shut\s+up|wtf|crap"
    r"|trash|garbage|pathetic|f+u+c+k\w*|shit\w*|screw\s+(?:you|u)|hate\s+(?:you|u)"
    r"|bullshit|dumbass|loser)\b",
    re.IGNORECASE,
)
INSULT_MAX_WORDS = 6
"""Longer messages with a swear word in them are questions and are matched as such."""
_LATIN_STOPWORDS = {
    # Short function words that English never uses, per language: a message made mostly
    # of them is written in that language even when its names are the article's.
    "es": {
        "que",
        "el",
        "los",
        "las",
        "del",
        "es",
        "por",
        "con",
        "una",
        "para",
        "como",
        "qué",
        "quién",
        "cuándo",
        "dónde",
        "cómo",
        "por qué",
        "pero",
        "más",
        "fue",
        "son",
        "hola",
        "quien",
        "cuando",
        "donde",
        "sobre",
        "entre",
        "y",
        "la",
    },
    "fr": {
        "le",
        "les",
        "des",
        "est",
        "une",
        "qui",
        "que",
        "quoi",
        "pourquoi",
        "avec",
        "pour",
        "dans",
        "sont",
        "bonjour",
        "du",
        "et",
        "ce",
        "qu'est",
    },
    "de": {
        "der",
        "die",
        "das",
        "und",
        "ist",
        "wer",
        "wie",
        "warum",
        "nicht",
        "mit",
        "ein",
        "eine",
        "den",
        "dem",
        "hallo",
        "wann",
        "sind",
    },
    "pt": {
        "o",
        "os",
        "não",
        "uma",
        "quem",
        "porque",
        "quando",
        "onde",
        "com",
        "para",
        "são",
        "foi",
        "olá",
        "e",
        "da",
        "do",
    },
    "it": {
        "il",
        "gli",
        "che",
        "chi",
        "perché",
        "quando",
        "dove",
        "sono",
        "è",
        "una",
        "ciao",
        "di",
        "per",
        "della",
    },
}
_ENGLISH_HINTS = {
    "the",
    "is",
    "are",
    "what",
    "who",
    "when",
    "where",
    "why",
    "how",
    "which",
    "did",
    "does",
    "do",
    "was",
    "were",
    "of",
    "and",
    "in",
    "to",
    "it",
    "they",
    "about",
    "with",
    "from",
}
_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def whole_message_kind(text: str) -> SmallTalk | None:
    """What a message is when it is no question at all: emoji only, a short insult, or
    written in another language (another script, or mostly another language's small
    words and no English ones)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        symbols = [c for c in text if unicodedata.category(c) in {"So", "Sk"}]
        acknowledged = any(kind is SmallTalk.ACK and p.search(text) for kind, p in _PATTERNS)
        return SmallTalk.EMOJI if symbols and not acknowledged else None
    latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
    if latin / len(letters) < 0.5:
        return SmallTalk.OTHER_LANGUAGE
    words = [w.lower() for w in _WORDS.findall(text)]
    if _INSULT.search(text) and len(words) <= INSULT_MAX_WORDS:
        return SmallTalk.INSULT
    if len(words) >= 3 and not any(w in _ENGLISH_HINTS for w in words):
        for stopwords in _LATIN_STOPWORDS.values():
            found = [w for w in words if w in stopwords]
            if len(found) * 3 >= len(words) and len(set(found)) >= 2:
                return SmallTalk.OTHER_LANGUAGE
    return None


def detect_small_talk(text: str) -> tuple[str, SmallTalk | None]:
    """The first kind of small talk in `text`, and the text as typed with it cut out.

    The remainder keeps the person's own words (not folded), so "hi, what's EI-K?" is
    then matched exactly as "what's EI-K?" would be. A whole message that is no question
    (`whole_message_kind`) leaves nothing to match.
    """
    if whole := whole_message_kind(text):
        return "", whole
    remainder = unicodedata.normalize("NFC", text).replace("’", "'")
    found: SmallTalk | None = None
    for kind, pattern in _PATTERNS:
        if pattern.search(remainder):
            found = found or kind
            remainder = pattern.sub(" ", remainder)
    return (remainder if found else text), found
