"""Masking personal data out of questions: pure functions, the same for every back end
(what reaches a database is checked in test_store.py, on both)."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.store import mask_personal_data

MASKED = [
    # e-mail addresses, also inside text, with odd local parts and in other scripts
    ("my email is john.doe@example.com", "my email is [email]"),
    ("Write to JOHN_DOE+news@mail.example.co.uk.", "Write to [email]."),
    ("contact: иван.петров@пример.рф please", "contact: [email] please"),
    ("x(jane@ex.org)", "x([email])"),
    ("email:a@b.io,thanks", "email:[email],thanks"),
    ("mailto:bob@example.org", "mailto:[email]"),
    ("two: a@x.com b%c@y.org", "two: [email] [email]"),
    # phone numbers: international and local, spaces, dashes, dots, parentheses
    ("call +44 20 7946 0958 now", "call [phone] now"),
    ("+1 (555) 123-4567", "[phone]"),
    ("(555) 123-4567", "[phone]"),
    ("(555)123-4567", "[phone]"),
    ("555-123-4567", "[phone]"),
    ("555.123.4567", "[phone]"),
    ("123-4567", "[phone]"),
    ("+7 912 345-67-89", "[phone]"),
    ("+49 (0)30 1234567", "[phone]"),
    ("+93 70 123 4567", "[phone]"),
    ("0093 70 123 4567", "[phone]"),
    ("+33 6 12 34 56 78", "[phone]"),
    ("06 12 34 56 78", "[phone]"),
    ("(0791) 234567", "[phone]"),
    ("+12345678", "[phone]"),
    ("tel.+44 20 7946 0958", "tel.[phone]"),
    ("Tel:555-123-4567!", "Tel:[phone]!"),
    ("+1 555 123 4567 or +1 555 765 4321", "[phone] or [phone]"),
    ("+٩٣ ٧٠ ١٢٣ ٤٥٦٧", "[phone]"),  # Arabic-Indic digits
    ("شماره من ۰۷۹ ۱۲۳ ۴۵۶۷ است", "شماره من [phone] است"),  # Persian digits
    # @usernames
    ("ask @john_doe about it", "ask [user] about it"),
    ("@Durov?", "[user]?"),
    ("cc @user1, @user2", "cc [user], [user]"),
    ("medium.com/@someone/post", "medium.com/[user]/post"),
    # links that carry a query, a fragment or a password
    ("https://example.com/page?id=42&token=abc", "[url]"),
    ("see www.example.com/a?ref=me.", "see [url]."),
    ("(https://t.co/x?s=20)", "([url])"),
    ("https://example.com/#access_token=xyz", "[url]"),
    ("https://user:pw@example.com/", "[url]"),
    ("tg://resolve?domain=somebody", "[url]"),
    # long digit runs and long digit groups
    ("my id is 123456789", "my id is [number]"),
    ("1234567", "[number]"),
    ("id12345678", "id[number]"),
    ("card 4111 1111 1111 1111", "card [number]"),
    ("۰۷۹۱۲۳۴۵۶۷", "[number]"),
    ("ｔｅｓｔ１２３４５６７", "ｔｅｓｔ[number]"),  # fullwidth digits
    ("2015 1234567", "2015 [number]"),
    ("https://bbc.com/news/world-asia-58333533", "https://bbc.com/news/world-asia-[number]"),
]

KEPT = [
    "what happened in 2014?",
    "how many died, 170 or 13?",
    "13 US troops and 170 Afghans",
    "15 august 2021",
    "on 26 August 2021 at 18:00",
    "between 2014-2015",
    "2014–2015",
    "1996-2001",
    "2014 2015 2016",
    "on 26.08.2021",
    "2021-08-26",
    "26/08/2021",
    "26 08 2021",
    "9/11",
    "at 15:00",
    "123456",
    "1,000,000 dollars",
    "1 000 000 people",
    "1.000.000",
    "2 500 000",
    "in 2014 170 people died",
    "(2014) 170 died",
    "ISIS-K 2015 10000 fighters",
    "covid-19 2020 2021",
    "K2 3000",
    "ISIS-K vs al-Qaeda?",
    "what is isis-k?",
    "C++ a+b=7 + 5",
    "email me",
    "meet @ 5pm",
    "price @1.5",
    "isis@kabul",
    "https://www.bbc.com/news/world-asia",
    "what is https://x.com?",
    "Wie viele Menschen starben 2021?",
    "داعش خراسان ۲۰۱۵",
    "۲۰۱۴-۲۰۱۵",
    "x²³⁴⁵⁶⁷⁸",
    "",
]


@pytest.mark.parametrize(("text", "masked"), MASKED)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked
    assert mask_personal_data(masked) == masked


@pytest.mark.parametrize("text", KEPT)
def test_what_people_ask_about_is_kept(text: str) -> None:
    assert mask_personal_data(text) == text


@given(st.text(alphabet=st.sampled_from("ab1٣@.-+ ()?#/:_é]x0"), max_size=40) | st.text())
def test_masking_is_idempotent_and_leaves_no_long_digit_run(text: str) -> None:
    masked = mask_personal_data(text)
    assert mask_personal_data(masked) == masked
    assert not re.search(r"\d{7}", masked)


def test_masking_stays_linear_on_hostile_input() -> None:
    """A guard against catastrophic backtracking: each takes ~5 ms; 1 s would be a bug."""
    hostile = ["1-" * 2000, "a@" * 2000, "+1 " * 1400, "a." * 2000 + "@", "(1)" * 1300]
    hostile += ["1 " * 2000 + "x", "www." + "a" * 4000, "x@" + "a." * 2000, "a-" * 2000 + "://"]
    started = time.perf_counter()
    for text in hostile:
        mask_personal_data(text)
    assert time.perf_counter() - started < 1.0
