"""What the bot remembers between restarts: unanswered questions and answer votes.

One embedded SQLite file (stdlib `sqlite3`), so there is no server to run. Privacy is
built into the schema rather than promised: an unanswered question is stored without
any user id, name or chat id (there is no parameter for them), and a vote is stored as
an HMAC of (message, voter) under a key that is not in the database, so the file alone
cannot tell who voted, only that the same person cannot vote twice.

Safe to call from several threads (one lock around one connection; the async bot calls
it through `asyncio.to_thread`) and from two processes at once (WAL journal, a busy
timeout, and `BEGIN IMMEDIATE` for every write). Nothing here imports `telegram`.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from bot.errors import BotError

SCHEMA_VERSION = 1
"""Stored in `PRAGMA user_version`; bump it and add a step to `_MIGRATIONS` to change it."""

MAX_TEXT_CHARS = 500
"""Same cut as the matcher's: nothing longer is a real question."""

BUSY_TIMEOUT_MS = 5_000
"""How long a write waits for another process's write before giving up."""

CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel", "inline", "cli"})
"""Where a question can come from; anything else is stored as "other"."""

_MIGRATIONS: dict[int, tuple[str, ...]] = {
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

    def __init__(self, path: Path, *, max_rows: int = 10_000, vote_key: bytes) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        if not vote_key:
            raise ValueError("vote_key must not be empty")
        self.path = Path(path)
        self.max_rows = max_rows
        self._vote_key = bytes(vote_key)
        self._lock = threading.Lock()
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
        return f"Store({str(self.path)!r}, max_rows={self.max_rows})"

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
        """Remember a question the bot declined, keeping only the newest `max_rows`."""
        text = " ".join(question.split())[:MAX_TEXT_CHARS].strip()
        if not text:
            return
        row = (
            text,
            _timestamp(when or datetime.now(UTC)),
            round(float(score), 1),
            chat_type if chat_type in CHAT_TYPES else "other",
            closest_id or None,
        )
        with self._write() as conn:
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

    def unanswered(self, limit: int | None = None) -> list[UnansweredQuestion]:
        """The stored questions, newest first (all of them when `limit` is None)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT text, asked_at, score, chat_type, closest_id FROM unanswered"
                " ORDER BY asked_at DESC, id DESC LIMIT ?",
                (-1 if limit is None else max(limit, 0),),
            ).fetchall()
        return [
            UnansweredQuestion(text, datetime.fromisoformat(at), score, chat_type, closest)
            for text, at, score, chat_type, closest in rows
        ]

    def count_unanswered(self) -> int:
        with self._read() as conn:
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

    def stats(self) -> dict[str, int]:
        """Totals for an admin's /stats command."""
        with self._read() as conn:
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

    # --- private -----------------------------------------------------------------------

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


def _timestamp(when: datetime) -> str:
    """UTC, fixed width, so text order is time order (a naive time is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _count_for(conn: sqlite3.Connection, entry_id: str) -> VoteCount:
    up, down = conn.execute(
        "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(1 - up), 0) FROM votes WHERE entry_id = ?",
        (entry_id,),
    ).fetchone()
    return VoteCount(int(up), int(down))
