"""What an inline button says when pressed: encoded and decoded here, and only here.

Telegram hands a button's `callback_data` (at most 64 bytes) back verbatim when it is
pressed, from any client, so decoding is strict and never raises: anything that is not
exactly one of these comes back as None.

    a:<entry id>            ShowAnswer    a related or example question (a new message)
    p:<entry id>            Pick          a "did you mean" choice (replaces the question)
    t:<page>                ShowTopics    a page of the /topics list (0-based)
    v:<entry id>:<+ or ->   Vote          👍 or 👎 on an answer

Each kind's `PATTERN` is what the Telegram adapter routes on (one
`CallbackQueryHandler(pattern=...)` per kind). Nothing here imports `telegram`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

MAX_BYTES = 64
"""Telegram's limit on callback data."""
_ENTRY_ID = r"[a-z0-9]+(?:-[a-z0-9]+)*"
"""The ids the Q&A file allows (ASCII only: `re.ASCII` keeps `²` from passing as a digit)."""


def _checked(data: str) -> str:
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data {data!r} is over Telegram's {MAX_BYTES} bytes")
    return data


@dataclass(frozen=True, slots=True)
class ShowAnswer:
    """Answer this entry."""

    entry_id: str
    PATTERN: ClassVar[re.Pattern[str]] = re.compile(rf"a:(?P<id>{_ENTRY_ID})\Z", re.ASCII)

    def encode(self) -> str:
        return _checked(f"a:{self.entry_id}")


@dataclass(frozen=True, slots=True)
class Pick:
    """Answer this entry in place of the "did you mean" message the button is on."""

    entry_id: str
    PATTERN: ClassVar[re.Pattern[str]] = re.compile(rf"p:(?P<id>{_ENTRY_ID})\Z", re.ASCII)

    def encode(self) -> str:
        return _checked(f"p:{self.entry_id}")


@dataclass(frozen=True, slots=True)
class ShowTopics:
    """Show this page of the topics list."""

    page: int
    PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"t:(?P<page>[0-9]{1,4})\Z", re.ASCII)

    def encode(self) -> str:
        return _checked(f"t:{self.page}")


@dataclass(frozen=True, slots=True)
class Vote:
    """A 👍 (`up`) or 👎 on the answer of this entry."""

    entry_id: str
    up: bool
    PATTERN: ClassVar[re.Pattern[str]] = re.compile(
        rf"v:(?P<id>{_ENTRY_ID}):(?P<direction>[+-])\Z", re.ASCII
    )

    def encode(self) -> str:
        return _checked(f"v:{self.entry_id}:{'+' if self.up else '-'}")


Action = ShowAnswer | Pick | ShowTopics | Vote


def decode(data: object) -> Action | None:
    """The action a button's data stands for, or None for anything else (never raises)."""
    if not isinstance(data, str):
        return None
    if match := ShowAnswer.PATTERN.match(data):
        return ShowAnswer(match["id"])
    if match := Pick.PATTERN.match(data):
        return Pick(match["id"])
    if match := ShowTopics.PATTERN.match(data):
        return ShowTopics(int(match["page"]))
    if match := Vote.PATTERN.match(data):
        return Vote(match["id"], up=match["direction"] == "+")
    return None
