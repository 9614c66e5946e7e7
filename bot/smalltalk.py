"""Recognise greetings, thanks and questions about the bot itself, so they get a friendly
reply of their own instead of the article entry that happens to share a word."""

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


def detect_small_talk(text: str) -> tuple[str, SmallTalk | None]:
    """The first kind of small talk in `text`, and the text as typed with it cut out.

    The remainder keeps the person's own words (not folded), so "hi, what's EI-K?" is
    then matched exactly as "what's EI-K?" would be.
    """
    remainder = unicodedata.normalize("NFC", text).replace("’", "'")
    found: SmallTalk | None = None
    for kind, pattern in _PATTERNS:
        if pattern.search(remainder):
            found = found or kind
            remainder = pattern.sub(" ", remainder)
    return (remainder if found else text), found
