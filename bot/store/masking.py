"""Personal data masked out of a question before it is stored, whatever the back end.

Pure functions (no database): both back ends store `clean_question(text)`, so a question
reads the same, and leaks the same nothing, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TEXT_CHARS = 500
"""Same cut as the matcher's: nothing longer is a real question."""

MASK_INPUT_CHARS = 4_096
"""Longest text masked (Telegram's message limit): bounds the regexes' work on odd input."""

_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]{0,31}://|www\.)\S+", re.IGNORECASE)
_URL_TAIL = ".,;:!?)]}'\"»›”’"
"""Punctuation that ends a sentence rather than the link."""
_URL_PRIVATE = re.compile(r"[?#]|://[^/\s]*@")
"""A query, a fragment or a user:password part: where links carry ids and tokens."""
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_][\w-]*")
_USER = re.compile(r"(?<![\w.%+@\]-])@[^\W\d]\w*")
_PHONE = re.compile(
    r"(?:(?P<plus>\+\s?)|(?<![\w+.-]))"  # a "+", or not the tail of a word or number
    r"(?>\(\d{1,6}\)|\d+)"  # digit groups (atomic: no backtracking within one)...
    r"(?:(?:[ .-]|(?<=\))|(?=\())(?>\(\d{1,6}\)|\d+))*"  # ...one separator apart
)
_LONG_NUMBER = re.compile(r"\d{7,}")
_YEARS = re.compile(r"(?:1\d|20)\d\d(?:[ .-](?:1\d|20)\d\d)*")
"""2014-2015, 2001 2021: years, not a phone."""
_DATE = re.compile(r"\d{1,2}([ .-])\d{1,2}\1\d{4}|\d{4}([ .-])\d{1,2}\2\d{1,2}")
"""26.08.2021, 2021-08-26."""
_THOUSANDS = re.compile(r"\d{1,3}(?: \d{3})* 000|\d{1,3}(?:\.\d{3})*\.000")
"""1 000 000 or 2.500.000: an amount (phone numbers seldom end in 000)."""
_PAIR = re.compile(r"(\d+) (\d+)")
"""Two numbers side by side ("in 2014 170 died"): kept when one is a year or both are short."""


def mask_personal_data(text: str) -> str:
    """Replace obvious personal data in a question with a mask, keeping what it asks about.

    Masked: links with a query, fragment or password (`[url]`; other links stay, they
    name sources), e-mail addresses (`[email]`), @usernames (`[user]`), phone numbers of
    7-15 digits written with spaces, dashes, dots or parentheses, or after a "+"
    (`[phone]`), and any other run of 7 or more digits, or longer digit groups such as a
    card number (`[number]`). Kept, because people ask about them: years and year ranges
    (2014, 2014-2015), dates (26.08.2021, 2021-08-26), short numbers (170, 15), amounts
    grouped in thousands (1 000 000), and two numbers side by side when one is a year or
    both have 8 digits or fewer ("in 2015 10000 joined"; a local phone such as 123 4567 is
    the price of that). Digits of any script count.
    Pure, and idempotent: masking masked text changes nothing.
    """
    text = _URL.sub(_mask_url, text)
    text = _EMAIL.sub("[email]", text)
    text = _USER.sub("[user]", text)
    text = _PHONE.sub(_mask_phone, text)
    return _LONG_NUMBER.sub("[number]", text)


def _mask_url(match: re.Match[str]) -> str:
    url = match.group()
    link = url.rstrip(_URL_TAIL)
    return "[url]" + url[len(link) :] if _URL_PRIVATE.search(link) else url


def _mask_phone(match: re.Match[str]) -> str:
    """A run of digit groups is a phone unless it reads as years, a date or an amount."""
    found = match.group()
    plain = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in found)
    digits = sum(c.isdecimal() for c in plain)
    if digits < 7 or plain.isdecimal():  # short, or one run that `_LONG_NUMBER` names
        return found
    if digits > 15:  # longer than any phone number (E.164): a card or account number
        return "[number]"
    if match.group("plus"):
        return "[phone]"
    bare = plain.replace("(", "").replace(")", "")  # "(2014) 170" reads as "2014 170"
    if any(pattern.fullmatch(bare) for pattern in (_YEARS, _DATE, _THOUSANDS)):
        return found
    pair = _PAIR.fullmatch(bare)
    if pair and (digits <= 8 or any(_YEARS.fullmatch(number) for number in pair.groups())):
        return found
    return "[phone]"


_MASKS = ("[email]", "[phone]", "[user]", "[url]", "[number]")


def clean_question(question: str) -> str:
    """What is stored of a question: one line, personal data masked, then capped (in that
    order, so the cut cannot leave half an address unmasked; nor does it leave half a mask)."""
    text = mask_personal_data(" ".join(question[:MASK_INPUT_CHARS].split()))
    capped = text[:MAX_TEXT_CHARS]
    start = capped.rfind("[")
    if len(text) > MAX_TEXT_CHARS and start >= 0:
        cut = next((len(mask) for mask in _MASKS if text.startswith(mask, start)), 0)
        if start + cut > MAX_TEXT_CHARS:
            capped = capped[:start]
    return capped.strip()
