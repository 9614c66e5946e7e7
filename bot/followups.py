"""Short messages that only make sense after the previous answer: follow-ups.

"and when was it formed?", "why?", "who founded them?", "tell me more" mean nothing on
their own; after an answer about a group they ask about that group. This module only
recognises the form of such a message; the matcher reads it in the previous entry's
context. English only; nothing here knows the article.
"""

from __future__ import annotations

import re
from enum import StrEnum

MAX_WORDS = 8
"""A follow-up is short: a longer message carries its own context."""
TERSE_WORDS = 3
"""After an answer, a message this short ("year?", "source?", "by whom?", "leader") is read
in its context too; the matcher keeps the reading on its own when that one is sure."""


class FollowUp(StrEnum):
    MORE = "more"
    """"tell me more", "what else": offer what is related to the previous answer."""
    CONTEXT = "context"
    """A question with a pronoun, an "and …" or a bare question word: read it in context."""


_MORE = re.compile(
    r"^\W*(?:(?:and\s+|ok\s+|okay\s+|so\s+)?(?:tell\s+me\s+more|more|more\s+please|go\s+on"
    r"|what\s+else|anything\s+else|and\s+then|continue|keep\s+going|more\s+info"
    r"|more\s+details?|details?|and)\W*)$",
    re.IGNORECASE,
)
_PRONOUN = re.compile(
    r"\b(?:it|its|it's|they|them|their|theirs|he|him|his|she|her|this\s+group|that\s+group"
    r"|the\s+group|this|that|those|these|there)\b|\bso\W*$",
    re.IGNORECASE,
)
_AND_START = re.compile(r"^\W*(?:and|but|so|also|what\s+about|how\s+about)\b", re.IGNORECASE)
_BARE_QUESTION = re.compile(
    r"^\W*(?:why|when|where|who|how|how\s+many|how\s+much|what\s+for|since\s+when"
    r"|really|is\s+that\s+true|how\s+come)\W*$",
    re.IGNORECASE,
)


def follow_up(text: str) -> FollowUp | None:
    """Whether `text` reads as a follow-up to the previous answer, and of which kind."""
    if len(text.split()) > MAX_WORDS:
        return None
    if _MORE.match(text):
        return FollowUp.MORE
    if _BARE_QUESTION.match(text) or _AND_START.match(text) or _PRONOUN.search(text):
        return FollowUp.CONTEXT
    if len(text.split()) <= TERSE_WORDS:
        return FollowUp.CONTEXT
    return None
