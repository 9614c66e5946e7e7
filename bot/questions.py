"""Split a message that asks several questions into its questions: `split_questions`.

The matcher answers one question at a time: "What is NATO? And who founded it?" read
as one question gets one answer, and the second question is silently lost. So a message
is cut at sentence ends (?, !, ., new lines, list markers) and at "and", "also" and ";",
but at those joiners only between two questions: "the difference between NATO and the
EU" and "who founded it and when" stay whole. Greetings and statements are no questions
and are left out; a message with no part that reads as a question is returned whole, for
the matcher to make of it what it can.

Later parts are returned as typed, pronouns and all ("who founded it?"): the caller
reads each part in the context of the answer to the part before. Nothing here knows the
article; this module only knows English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.smalltalk import detect_small_talk

MAX_QUESTIONS = 3
"""Answer at most this many questions of one message: more replies would flood the chat."""
MIN_JOINED_WORDS = 3
"""What follows an "and" must be this long (up to a comma) to be a question of its own:
"who founded it and when" asks one thing, "who founded it and when did it start" two."""

_WH = (
    r"who|whom|whose|who'?s|what|what'?s|wat|wats|wht|when|wen|where|wher|why|how|how'?s|hw"
    r"|which|wich"
)
"""Question words, with the apostrophes dropped and the misspellings people type."""
_AUXILIARY = (
    r"is|isn'?t|are|aren'?t|was|wasn'?t|were|weren'?t|do|does|doesn'?t|did|didn'?t|don'?t"
    r"|can|can'?t|could|couldn'?t|will|won'?t|would|should|has|hasn'?t|have|haven'?t|had"
)
"""Verbs that open a yes/no question ("is it…", "did they…"). "may" is left out: it is
also a month."""
_SUBJECT = r"i|you|u|he|she|it|we|they|there|this|that|these|those|the|a|an|any|its|their|his|her"
"""Words that start a yes/no question's subject: "is IT…", "did THEY…"."""
_OPENS_QUESTION = re.compile(rf"^\W*(?:{_WH}|{_AUXILIARY}|tell|explain)\b", re.IGNORECASE)
"""What a question starts with: "what is…", "did they…", "tell me who…"."""
_OPENS_WH = re.compile(rf"^\W*(?:{_WH})\b", re.IGNORECASE)
"""A question word first: after an "and", it starts a question of its own."""
_OPENS_YES_NO = re.compile(rf"^\W*(?:{_AUXILIARY})\s+(?:{_SUBJECT})\b", re.IGNORECASE)
"""A yes/no question after an "and" needs its subject: "and is it still active" asks,
"and don't know the area" goes on with the sentence before."""
_HAS_QUESTION_WORD = re.compile(rf"\b(?:{_WH})\b", re.IGNORECASE)
"""A question word anywhere: "ok so who founded it" asks, though it starts otherwise."""

_LIST_MARKER = re.compile(
    r"(?:^|(?<=\s))\(?\d{1,2}\)\s+|^[ \t]*(?:\d{1,2}\.|[-*•])[ \t]+", re.MULTILINE
)
"""Numbered or bulleted items: "1) … 2) …" anywhere, "1." and "- " at a line's start."""
_NUMBERED_INLINE = re.compile(r"(?<=\s)\d{1,2}\.\s+")
"""In a message that starts "1.", a later " 2. " is the next item, not a sentence end."""
_SENTENCE_END = re.compile(r"(?<=[?!])(?![?!])\s*|(?<=\.)\s+|\s*\n\s*")
"""Where a sentence ends: after ? or ! (typed spaces or not), after a full stop and a
space (so "2.5" and "example.com" stay whole), at a new line."""
_ABBREVIATION = re.compile(
    r"(?:(?:\b[a-z]\.){2,}|\b(?:mr|mrs|ms|dr|st|vs|jr|sr|prof|gen)\.)$", re.I
)
"""A full stop that ends an abbreviation, not a sentence: "U.S.", "Dr.", "vs."."""
_JOINER = re.compile(r"(\s*;\s*|,?\s+(?:and\s+also|and|also)\s+)", re.IGNORECASE)
"""Where one sentence may hold two questions: "what is it and who founded it"."""
_LEADING_JOINER = re.compile(r"^(?:and|also)\b[\s,]*", re.IGNORECASE)
"""A sentence that starts "And who…" or "Also, when…": the word only joins."""


@dataclass(frozen=True, slots=True)
class Questions:
    """The questions a message asks, in order, and how many more were left unanswered."""

    parts: tuple[str, ...]
    """At least one: the whole message when no part of it reads as a question."""
    dropped: int = 0
    """Questions beyond the limit: the caller can say it answered only the first few."""

    @property
    def several(self) -> bool:
        """Whether the message asks more than one question (else match it whole)."""
        return len(self.parts) > 1


def split_questions(text: str, limit: int = MAX_QUESTIONS) -> Questions:
    """The separate questions `text` asks, the first `limit` of them, in order."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    found: list[str] = []
    for sentence in _sentences(text):
        for part in _split_joined(sentence):
            if _reads_as_question(part) and not _repeats(part, found):
                found.append(part)
    if not found:
        return Questions((text.strip(),))
    return Questions(tuple(found[:limit]), max(0, len(found) - limit))


def _sentences(text: str) -> list[str]:
    """The sentences and list items of `text`, each stripped of a leading "and"/"also"."""
    text = text.replace("’", "'")
    numbered = re.match(r"\s*\(?1[.)]\s", text) is not None
    text = _LIST_MARKER.sub("\n", text)
    if numbered:
        text = _NUMBERED_INLINE.sub("\n", text)
    pieces: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if pieces and _ABBREVIATION.search(pieces[-1]):
            pieces[-1] = f"{pieces[-1]} {piece}"  # "the U.S. said" is one sentence
        elif piece.strip():
            pieces.append(piece)
    return [_LEADING_JOINER.sub("", p.strip()) for p in pieces if p.strip()]


def _split_joined(sentence: str) -> list[str]:
    """Cut `sentence` at an "and", "also" or ";" only between two questions; elsewhere the
    joiner is kept ("between NATO and the EU", "I live far and don't know…")."""
    pieces = _JOINER.split(sentence)  # text, joiner, text, joiner, text…
    parts = [pieces[0]]
    for joiner, follower in zip(pieces[1::2], pieces[2::2], strict=True):
        if _asks_on_its_own(follower) and _reads_as_question(parts[-1]):
            parts.append(follower)
        else:
            parts[-1] += joiner + follower
    return [p.strip(" ,;") for p in parts if p.strip(" ,;")]


def _asks_on_its_own(follower: str) -> bool:
    """Whether what follows an "and" is a question of its own: a question word with words
    of its own ("and where did it start", not "and when" nor "and where, can you help"),
    or a yes/no question ("and is it still active", "and did NATO agree?")."""
    clause = re.split(r"[,;:]", follower)[0]
    if len(clause.split()) < MIN_JOINED_WORDS:
        return False
    if _OPENS_WH.match(clause) or _OPENS_YES_NO.match(clause):
        return True
    return bool(_OPENS_QUESTION.match(clause)) and follower.rstrip().endswith("?")


def _reads_as_question(part: str) -> bool:
    """Whether `part` asks something: a question mark, a question word or a question's
    opening verb, and more than a greeting ("how are you?") or thanks."""
    remainder, talk = detect_small_talk(part)
    if talk is not None and not re.search(r"\w", remainder):
        return False
    if "?" in part or _OPENS_QUESTION.match(part):
        return True
    # "My teacher asked which countries it covered." tells; "ok so who founded it" asks.
    return not part.endswith(".") and bool(_HAS_QUESTION_WORD.search(part))


def _repeats(part: str, found: list[str]) -> bool:
    """Whether the same question was already asked (the same words, case and marks aside)."""
    key = re.sub(r"\W+", " ", part).strip().casefold()
    return any(re.sub(r"\W+", " ", f).strip().casefold() == key for f in found)
