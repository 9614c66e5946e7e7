"""What every store back end promises: the `Store` protocol, the values it returns, its
errors and the rules both back ends share (masking, ballots, vote order, expiry).

The bot codes against `Store` only; `bot.store.open_store` picks SQLite or PostgreSQL.
Privacy is part of the contract, not of one back end: an unanswered question is stored
without any user id, name or chat id (there is no parameter for them) and masked
(`mask_personal_data`); a vote is stored as an HMAC of (message, voter) under a key that
is not in the database, so the database alone cannot tell who voted. A conversation's
context is ids only (the key the Telegram layer builds, the entry last answered), never
the question, and later writes delete it once it is a day old (`CONTEXT_MEMORY`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from bot.errors import BotError
from bot.store.budget import Rate, SendRates
from bot.store.masking import MAX_TEXT_CHARS, clean_question, mask_personal_data

__all__ = [
    "CHAT_TYPES",
    "CONTEXT_MEMORY",
    "CONTEXT_PRUNE_BATCH",
    "HOLDER_TIMEOUT",
    "KNOWLEDGE_CHANNEL",
    "KNOWLEDGE_KEPT",
    "MAX_TEXT_CHARS",
    "PRUNE_EVERY",
    "SCHEMA_VERSION",
    "UPDATE_MEMORY",
    "PublishedKnowledge",
    "Rate",
    "SendRates",
    "Store",
    "StoreError",
    "UnansweredQuestion",
    "VoteCount",
    "VoteOutcome",
    "ballot_hash",
    "clean_question",
    "mask_personal_data",
    "utc",
    "vote_applies",
]

SCHEMA_VERSION = 6
"""Both back ends reach the same version through the same numbered steps (SQLite keeps it
in `PRAGMA user_version`, PostgreSQL in the table `bot_schema`)."""

CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel", "inline", "cli"})
"""Where a question can come from; anything else is stored as "other"."""

UPDATE_MEMORY = timedelta(hours=24)
"""How long a claimed update id is remembered. Telegram stops re-sending an update after
24 hours, so an older id cannot come back; a cap by count instead could forget an id
that still can (a busy day), and one by id order breaks when Telegram restarts its ids."""

HOLDER_TIMEOUT = timedelta(seconds=3)
"""A bot process whose heartbeat (`Store.heartbeat`, every second) is older than this is
taken for dead, and its unfinished update claims may be taken over. A time limit on the
claim itself would be wrong: a live process may hold an update for SEND_DEADLINE while it
waits for send tokens. Three missed beats, so a slow write or a busy loop is no death."""

PRUNE_EVERY = timedelta(minutes=1)
"""Writes delete expired rows at most this often (by the clock they are given), so a busy
bot does not pay for it on every message; reads always do."""

CONTEXT_MEMORY = timedelta(days=1)
"""How long a conversation's last answer is kept at all. A follow-up reads it only within
its caller's (much shorter) `max_age`; this bounds the table, not what a follow-up sees."""

CONTEXT_PRUNE_BATCH = 100
"""At most this many context rows older than `CONTEXT_MEMORY` are deleted per
`remember_context`: one short index range, however long the bot was idle, and no clock
kept per replica. Each write adds at most one row and removes up to this many expired
ones, so expired rows cannot pile up while the bot answers, and while it is idle none are
added; the table stays about the size of a day's conversations."""

KNOWLEDGE_CHANNEL = "bot_knowledge"
"""PostgreSQL's NOTIFY channel for a published knowledge version (payload: its number)."""

KNOWLEDGE_KEPT = 10
"""Published versions kept (older ones are deleted on publish): enough to roll back."""


class StoreError(BotError):
    """The database cannot be opened or written; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    """One question the bot could not answer, as stored (no one's identity in it)."""

    text: str
    asked_at: datetime
    score: float
    """The best entry's confidence (0-100) when it was asked."""
    chat_type: str
    closest_id: str | None = None


@dataclass(frozen=True, slots=True)
class VoteCount:
    """An entry's 👍 and 👎 totals."""

    up: int = 0
    down: int = 0

    @property
    def weak(self) -> bool:
        """More people found the answer unhelpful than helpful: worth rewriting."""
        return self.down > self.up


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    """What a vote did, and the entry's totals afterwards (to show on the buttons)."""

    entry_id: str
    counted: bool
    """False when this person already voted this way on this message, or clicked since."""
    changed: bool
    """True when the vote replaced this person's opposite vote."""
    up: int
    down: int
    superseded: bool = False
    """True when a later click of this person (a greater update_id) was already stored."""

    @property
    def status(self) -> str:
        """A word for the reply: "counted", "switched" or "already counted"."""
        if not self.counted:
            return "already counted"
        return "switched" if self.changed else "counted"


@dataclass(frozen=True, slots=True)
class PublishedKnowledge:
    """One published knowledge version: the files (name → text) and their fingerprint."""

    version: int
    fingerprint: str
    files: Mapping[str, str]
    published_at: datetime


class Store(Protocol):
    """The bot's shared memory: unanswered questions, votes, handled update ids, published
    knowledge, the send budget and each conversation's last answer. Methods are blocking
    (async code calls them through `asyncio.to_thread`) and safe from several threads; open
    one per process, close it."""

    @property
    def max_rows(self) -> int:
        """The unanswered log keeps this many newest questions."""
        ...

    def close(self) -> None:
        """Release connections; safe to call twice."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def record_unanswered(
        self,
        question: str,
        *,
        score: float,
        chat_type: str,
        closest_id: str | None = None,
        when: datetime | None = None,
    ) -> None:
        """Remember a declined question, masked, within `max_rows` and the retention;
        `when` is also the clock expiry is measured by (tests pass it)."""
        ...

    def unanswered(
        self, limit: int | None = None, *, now: datetime | None = None
    ) -> list[UnansweredQuestion]:
        """The stored questions, newest first; expired ones are deleted first."""
        ...

    def count_unanswered(self, *, now: datetime | None = None) -> int: ...

    def vote(
        self,
        entry_id: str,
        *,
        message_key: str,
        voter: str,
        up: bool,
        update_id: int | None = None,
    ) -> VoteOutcome:
        """One person's 👍/👎 on one answer message; their click with the greatest
        `update_id` wins whatever order replicas commit in (None: newest, for old callers)."""
        ...

    def votes(self) -> dict[str, VoteCount]:
        """Every voted entry's totals, by entry id."""
        ...

    def stats(self, *, now: datetime | None = None) -> dict[str, int]:
        """Totals for an admin's /stats: unanswered, max_rows, votes_up, votes_down,
        entries_voted."""
        ...

    def claim_update(
        self, update_id: int, *, holder: str | None = None, now: datetime | None = None
    ) -> bool:
        """True for the one caller, across all replicas, that may handle `update_id` now:
        the first to claim it, or the one taking over the unfinished claim of a dead holder
        (no heartbeat within `HOLDER_TIMEOUT`), atomically. False when the update was
        finished, or its holder is alive (`update_held` tells the two apart).

        `holder` is the caller's instance id, kept alive by `heartbeat`; a claim without
        one (a caller with no heartbeat) counts as finished at once, as do claims stored
        before holders were recorded."""
        ...

    def update_held(self, update_id: int, *, now: datetime | None = None) -> bool:
        """True while `update_id` is claimed, unfinished, by a live holder (someone else is
        handling it: ask again later); False when it is finished, or free to claim."""
        ...

    def finish_update(self, update_id: int, *, now: datetime | None = None) -> None:
        """The update was handled: its claim is never taken over (for `UPDATE_MEMORY`)."""
        ...

    def forget_update(self, update_id: int) -> None:
        """Release a claim (the handler failed before replying), so a re-delivery is handled."""
        ...

    def heartbeat(self, instance: str, now: datetime | None = None) -> None:
        """`instance` (a bot process) is alive: its claims are not taken over until
        `HOLDER_TIMEOUT` after the last beat."""
        ...

    def leave(self, instance: str) -> None:
        """`instance` stops (a clean shutdown): its unfinished claims are free at once."""
        ...

    def claim_once(self, key: str) -> bool:
        """True for the one caller, across all replicas and for ever, that claims `key`
        first (e.g. "knowledge-refused:7": one message to the admins, not one per replica)."""
        ...

    def publish_knowledge(self, fingerprint: str, files: Mapping[str, str]) -> int:
        """Store a knowledge version and announce it; its number (the latest's number when
        the latest has this fingerprint already)."""
        ...

    def latest_knowledge(self) -> PublishedKnowledge | None:
        """The newest published version, or None before the first publish."""
        ...

    def wait_for_publish(self, timeout: float, *, after: int = 0) -> int | None:
        """The newest version number above `after`, as soon as there is one; None after
        `timeout` seconds without."""
        ...

    def take_send_tokens(self, scope: str, now: float | None = None) -> float:
        """Reserve one message in `scope`'s budget ("global", "chat:<id>", "group:<id>");
        seconds to wait before sending it (0: send now)."""
        ...

    def remember_context(self, key: str, entry_id: str, *, now: datetime | None = None) -> None:
        """The conversation `key` (opaque, built by the Telegram layer, e.g. "chat:123") was
        last answered with `entry_id` at `now`, so a follow-up ("and when was it formed?")
        can be read in context by whichever replica gets it. The last write wins; rows
        older than `CONTEXT_MEMORY` are deleted on the way, `CONTEXT_PRUNE_BATCH` at most."""
        ...

    def recall_context(
        self, key: str, *, max_age: timedelta, now: datetime | None = None
    ) -> str | None:
        """The entry last answered in conversation `key`, if that was at most `max_age`
        before `now` (an older answer is no context for a new question); else None."""
        ...

    def forget_context(self, key: str) -> None:
        """The conversation `key` has no context any more (e.g. the user changed topic)."""
        ...


def utc(when: datetime | None) -> datetime:
    """`when` as an aware UTC time (a naive one is taken as UTC); None is now."""
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def before(at: datetime, span: timedelta) -> datetime | None:
    """`span` before `at`, or None when that is before the calendar begins."""
    try:
        return at - span
    except OverflowError:
        return None


def context_cutoff(now: datetime | None, max_age: timedelta) -> datetime | None:
    """The oldest answer time `recall_context` accepts (None: any, when `max_age` reaches
    before the calendar); a negative `max_age` is the caller's mistake, not "nothing"."""
    if max_age < timedelta(0):
        raise ValueError("max_age must not be negative")
    return before(utc(now), max_age)


def ballot_hash(key: bytes, message_key: str, voter: str) -> str:
    """Who voted on what, as a keyed hash: stable per person and message, not reversible."""
    return hmac.new(key, f"{message_key}|{voter}".encode(), hashlib.sha256).hexdigest()


def vote_applies(stored: int | None, new: int | None) -> bool:
    """Whether a click replaces the stored one: a greater update_id wins; a click without
    one (an old caller) counts as the newest, and so is overtaken by any numbered click."""
    return new is None or stored is None or new > stored


def retention_span(retention_days: int | None) -> timedelta | None:
    """`retention_days` as a span (None: no retention; a huge one is capped, not an error)."""
    if retention_days is None:
        return None
    return timedelta(min(retention_days, timedelta.max.days))


def check_limits(max_rows: int, retention_days: int | None, vote_key: bytes) -> None:
    """The constructor arguments every back end refuses alike."""
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    if retention_days is not None and retention_days < 1:
        raise ValueError("retention_days must be at least 1 (or None)")
    if not vote_key:
        raise ValueError("vote_key must not be empty")
