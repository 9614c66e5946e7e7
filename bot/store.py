"""What the bot remembers between restarts: unanswered questions, answer votes, and the
update ids it has already handled.

One embedded SQLite file (stdlib `sqlite3`), so there is no server to run. Privacy is
built into the schema rather than promised: an unanswered question is stored without
any user id, name or chat id (there is no parameter for them), with obvious personal
data in its text masked (`mask_personal_data`), and for a bounded time and count; a vote
is stored as an HMAC of (message, voter) under a key that is not in the database, so the
file alone cannot tell who voted, only that the same person cannot vote twice. Deleted
rows are overwritten (`secure_delete`), not left in the file's free pages.

Safe to call from several threads (one lock around one connection; the async bot calls
it through `asyncio.to_thread`) and from two processes at once (WAL journal, a busy
timeout, and `BEGIN IMMEDIATE` for every write). Nothing here imports `telegram`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from bot.errors import BotError

SCHEMA_VERSION = 2
"""Stored in `PRAGMA user_version`; bump it and add a step to `_MIGRATIONS` to change it."""

MAX_TEXT_CHARS = 500
"""Same cut as the matcher's: nothing longer is a real question."""

BUSY_TIMEOUT_MS = 5_000
"""How long a write waits for another process's write before giving up."""

CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel", "inline", "cli"})
"""Where a question can come from; anything else is stored as "other"."""

UPDATE_MEMORY = timedelta(hours=24)
"""How long a claimed update id is remembered. Telegram stops re-sending an update after
24 hours, so an older id cannot come back; a cap by count instead could forget an id
that still can (a busy day), and one by id order breaks when Telegram restarts its ids."""

PRUNE_EVERY = timedelta(minutes=1)
"""Writes delete expired rows at most this often (by the clock they are given), so a busy
bot does not pay for it on every message; reads always do."""

MASK_INPUT_CHARS = 4_096
"""Longest text masked (Telegram's message limit): bounds the regexes' work on odd input."""


# --- masking personal data --------------------------------------------------------------

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


def _clean_question(question: str) -> str:
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


def _mask_stored_questions(conn: sqlite3.Connection) -> None:
    """Version 1 stored questions unmasked: mask the personal data already in the file."""
    rows = conn.execute("SELECT id, text FROM unanswered").fetchall()
    masked = [(clean, id_) for id_, text in rows if (clean := _clean_question(text)) != text]
    conn.executemany("UPDATE unanswered SET text = ? WHERE id = ?", masked)


# --- schema ------------------------------------------------------------------------------

Step = str | Callable[[sqlite3.Connection], None]
"""A schema step: one SQL statement, or a function for what SQL cannot do (masking)."""

_MIGRATIONS: dict[int, tuple[Step, ...]] = {
    1: (
        """
        CREATE TABLE unanswered (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            text TEXT NOT NULL,
            asked_at TEXT NOT NULL,
            score REAL NOT NULL,
            chat_type TEXT NOT NULL,
            closest_id TEXT
        )
        """,
        "CREATE INDEX unanswered_by_time ON unanswered (asked_at, id)",
        """
        CREATE TABLE votes (
            ballot TEXT PRIMARY KEY,
            entry_id TEXT NOT NULL,
            up INTEGER NOT NULL CHECK (up IN (0, 1))
        ) WITHOUT ROWID
        """,
        "CREATE INDEX votes_by_entry ON votes (entry_id)",
    ),
    2: (
        """
        CREATE TABLE handled_updates (
            update_id INTEGER PRIMARY KEY,
            claimed_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX handled_updates_by_time ON handled_updates (claimed_at)",
        _mask_stored_questions,
    ),
}
"""Schema steps by the version they lead to; each runs once, in one transaction."""


class StoreError(BotError):
    """The database cannot be opened or written; the message names the file and the fix."""


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
    """False when this person already voted this way on this message."""
    changed: bool
    """True when the vote replaced this person's opposite vote."""
    up: int
    down: int

    @property
    def status(self) -> str:
        """A word for the reply: "counted", "switched" or "already counted"."""
        if not self.counted:
            return "already counted"
        return "switched" if self.changed else "counted"


class Store:
    """The bot's SQLite database; open it once and share it, close it on shutdown."""

    def __init__(
        self,
        path: Path,
        *,
        max_rows: int = 10_000,
        retention_days: int | None = None,
        vote_key: bytes,
    ) -> None:
        """`retention_days`: unanswered questions older than this are deleted (None: kept
        until `max_rows` pushes them out)."""
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        if retention_days is not None and retention_days < 1:
            raise ValueError("retention_days must be at least 1 (or None)")
        if not vote_key:
            raise ValueError("vote_key must not be empty")
        self.path = Path(path)
        self.max_rows = max_rows
        self.retention_days = retention_days
        self._retention = (
            None if retention_days is None else timedelta(min(retention_days, timedelta.max.days))
        )
        self._vote_key = bytes(vote_key)
        self._lock = threading.Lock()
        self._pruned_at: datetime | None = None
        self._conn: sqlite3.Connection | None = _open(self.path)

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Store({str(self.path)!r}, max_rows={self.max_rows},"
            f" retention_days={self.retention_days})"
        )

    # --- unanswered questions ------------------------------------------------------------

    def record_unanswered(
        self,
        question: str,
        *,
        score: float,
        chat_type: str,
        closest_id: str | None = None,
        when: datetime | None = None,
    ) -> None:
        """Remember a question the bot declined, masked (`mask_personal_data`), keeping only
        the newest `max_rows` and none older than `retention_days`.

        `when` is also the clock expiry is measured by (tests pass it; the bot does not).
        """
        text = _clean_question(question)
        if not text:
            return
        at = _utc(when)
        row = (
            text,
            _timestamp(at),
            round(float(score), 1),
            chat_type if chat_type in CHAT_TYPES else "other",
            closest_id or None,
        )
        with self._write() as conn:
            self._prune_now_and_then(conn, at)
            conn.execute(
                "INSERT INTO unanswered (text, asked_at, score, chat_type, closest_id)"
                " VALUES (?, ?, ?, ?, ?)",
                row,
            )
            conn.execute(
                "DELETE FROM unanswered WHERE id IN (SELECT id FROM unanswered"
                " ORDER BY asked_at DESC, id DESC LIMIT -1 OFFSET ?)",
                (self.max_rows,),
            )

    def unanswered(
        self, limit: int | None = None, *, now: datetime | None = None
    ) -> list[UnansweredQuestion]:
        """The stored questions, newest first (all of them when `limit` is None); expired
        ones are deleted first, so none is ever shown past its retention."""
        with self._unexpired(now) as conn:
            rows = conn.execute(
                "SELECT text, asked_at, score, chat_type, closest_id FROM unanswered"
                " ORDER BY asked_at DESC, id DESC LIMIT ?",
                (-1 if limit is None else max(limit, 0),),
            ).fetchall()
        return [
            UnansweredQuestion(text, datetime.fromisoformat(at), score, chat_type, closest)
            for text, at, score, chat_type, closest in rows
        ]

    def count_unanswered(self, *, now: datetime | None = None) -> int:
        with self._unexpired(now) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM unanswered").fetchone()[0])

    # --- votes -------------------------------------------------------------------------

    def vote(self, entry_id: str, *, message_key: str, voter: str, up: bool) -> VoteOutcome:
        """Count one person's 👍/👎 on one answer message; a repeat is ignored, a switch moves.

        `message_key` identifies the answer message (e.g. "chat:message"); neither it nor
        `voter` is stored, only their keyed hash.
        """
        ballot = self._ballot(message_key, voter)
        with self._write() as conn:
            row = conn.execute("SELECT up FROM votes WHERE ballot = ?", (ballot,)).fetchone()
            counted = row is None or bool(row[0]) != up
            if counted:
                conn.execute(
                    "INSERT INTO votes (ballot, entry_id, up) VALUES (?, ?, ?)"
                    " ON CONFLICT (ballot) DO UPDATE SET entry_id = excluded.entry_id,"
                    " up = excluded.up",
                    (ballot, entry_id, int(up)),
                )
            count = _count_for(conn, entry_id)
        return VoteOutcome(entry_id, counted, counted and row is not None, count.up, count.down)

    def votes(self) -> dict[str, VoteCount]:
        """Every voted entry's totals, by entry id."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT entry_id, SUM(up), SUM(1 - up) FROM votes GROUP BY entry_id"
                " ORDER BY entry_id"
            ).fetchall()
        return {entry_id: VoteCount(int(up), int(down)) for entry_id, up, down in rows}

    def stats(self, *, now: datetime | None = None) -> dict[str, int]:
        """Totals for an admin's /stats command."""
        with self._unexpired(now) as conn:
            unanswered = conn.execute("SELECT COUNT(*) FROM unanswered").fetchone()[0]
            up, down, entries = conn.execute(
                "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(1 - up), 0),"
                " COUNT(DISTINCT entry_id) FROM votes"
            ).fetchone()
        return {
            "unanswered": int(unanswered),
            "max_rows": self.max_rows,
            "votes_up": int(up),
            "votes_down": int(down),
            "entries_voted": int(entries),
        }

    # --- handled updates ---------------------------------------------------------------

    def claim_update(self, update_id: int, *, now: datetime | None = None) -> bool:
        """True the first time `update_id` is claimed, False for a re-delivered one.

        Telegram re-sends a webhook update it saw no answer to, possibly to another replica:
        the claim is one INSERT OR IGNORE in a write transaction, so of any processes
        sharing the file exactly one wins. Ids are remembered for `UPDATE_MEMORY`.
        """
        at = _utc(now)
        with self._write() as conn:
            self._prune_now_and_then(conn, at)
            inserted = conn.execute(
                "INSERT OR IGNORE INTO handled_updates (update_id, claimed_at) VALUES (?, ?)",
                (int(update_id), _timestamp(at)),
            )
            return inserted.rowcount == 1

    def forget_update(self, update_id: int) -> None:
        """Release a claim (the handler failed before replying), so a re-delivery is handled."""
        with self._write() as conn:
            conn.execute("DELETE FROM handled_updates WHERE update_id = ?", (int(update_id),))

    # --- private -----------------------------------------------------------------------

    def _prune_now_and_then(self, conn: sqlite3.Connection, at: datetime) -> None:
        """Delete expired rows if `PRUNE_EVERY` has passed on this clock (or it went back)."""
        last = self._pruned_at
        if last is not None and last <= at < last + PRUNE_EVERY:
            return
        self._pruned_at = at
        _delete_expired(conn, at, self._retention)

    @contextmanager
    def _unexpired(self, now: datetime | None) -> Iterator[sqlite3.Connection]:
        """For reading the unanswered log: expired questions are deleted first (a write)."""
        if self._retention is None:
            with self._read() as conn:
                yield conn
            return
        with self._write() as conn:
            _delete_expired(conn, _utc(now), self._retention)
            yield conn

    def _ballot(self, message_key: str, voter: str) -> str:
        """Who voted on what, as a keyed hash: stable per person and message, not reversible."""
        message = f"{message_key}|{voter}".encode()
        return hmac.new(self._vote_key, message, hashlib.sha256).hexdigest()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated(self.path):
            yield self._connection()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: takes the write lock up front, so it waits, not fails."""
        with self._lock, _translated(self.path):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.commit()
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._conn


# --- opening and errors -----------------------------------------------------------------


def _open(path: Path) -> sqlite3.Connection:
    """Connect, switch to WAL and bring the schema up to date, or raise StoreError."""
    if path.is_dir():
        raise StoreError(
            f"the database path {path} is a folder, not a file. Fix: set DATABASE_PATH to a "
            f"file name, e.g. {path / 'bot.sqlite3'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder for the database {path} ({exc.strerror}). Fix: set "
            "DATABASE_PATH to a file in a folder this user can write to"
        ) from None
    conn: sqlite3.Connection | None = None
    with _translated(path):
        try:
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA secure_delete = ON")  # deleted text is zeroed, not left behind
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            _migrate(conn, path)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Run the schema steps this file has not had yet (inside one write transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {path} has schema version {version}, newer than this bot "
                f"understands ({SCHEMA_VERSION}). Fix: update the bot, or point "
                "DATABASE_PATH at another file"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.commit()
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    """Turn SQLite's failures (not the program's mistakes) into a StoreError with a fix."""
    try:
        yield
    except sqlite3.ProgrammingError:
        raise
    except sqlite3.Error as exc:
        raise _store_error(path, exc) from None


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    reason = str(exc)
    lowered = reason.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        fix = (
            "move the file aside (the bot creates a new one on start), or set DATABASE_PATH "
            "to another file"
        )
    elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        fix = "make the file and its folder writable by this user, or set DATABASE_PATH"
    elif "locked" in lowered or "busy" in lowered:
        fix = "another process is holding the database; stop it or try again"
    elif "disk" in lowered or "full" in lowered:
        fix = "free some disk space, or set DATABASE_PATH to a file on another disk"
    else:
        fix = "check the file, or set DATABASE_PATH to another file"
    return StoreError(f"the database {path} cannot be used ({reason}). Fix: {fix}")


def _utc(when: datetime | None) -> datetime:
    """`when` as an aware UTC time (a naive one is taken as UTC); None is now."""
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _timestamp(when: datetime) -> str:
    """UTC, fixed width, so text order is time order (a naive time is taken as UTC)."""
    return _utc(when).isoformat(timespec="microseconds")


def _delete_expired(conn: sqlite3.Connection, at: datetime, retention: timedelta | None) -> None:
    """Delete questions older than `retention` and update claims older than `UPDATE_MEMORY`
    (each an index range, so cheap when nothing expired)."""
    if retention is not None and (cutoff := _before(at, retention)):
        conn.execute("DELETE FROM unanswered WHERE asked_at < ?", (cutoff,))
    if cutoff := _before(at, UPDATE_MEMORY):
        conn.execute("DELETE FROM handled_updates WHERE claimed_at < ?", (cutoff,))


def _before(at: datetime, span: timedelta) -> str | None:
    """The timestamp `span` before `at`, or None when that is before the calendar begins."""
    try:
        return _timestamp(at - span)
    except OverflowError:
        return None


def _count_for(conn: sqlite3.Connection, entry_id: str) -> VoteCount:
    up, down = conn.execute(
        "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(1 - up), 0) FROM votes WHERE entry_id = ?",
        (entry_id,),
    ).fetchone()
    return VoteCount(int(up), int(down))
