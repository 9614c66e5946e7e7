"""The embedded back end: one SQLite file (stdlib `sqlite3`), so there is no server to run.

The zero-setup default for one process. Safe to call from several threads (one lock
around one connection; the async bot calls it through `asyncio.to_thread`) and from two
processes on one machine (WAL journal, a busy timeout, and `BEGIN IMMEDIATE` for every
write). Deleted rows are overwritten (`secure_delete`), not left in the file's free
pages. Replicas on several machines need `bot.store.postgres` instead: this back end has
no NOTIFY (publishes are found by polling) and keeps the send budget in memory.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from bot.store.base import (
    CHAT_TYPES,
    CONTEXT_MEMORY,
    CONTEXT_PRUNE_BATCH,
    HOLDER_TIMEOUT,
    KNOWLEDGE_KEPT,
    PRUNE_EVERY,
    UPDATE_MEMORY,
    PublishedKnowledge,
    StoreError,
    UnansweredQuestion,
    VoteCount,
    VoteOutcome,
    ballot_hash,
    before,
    check_limits,
    clean_question,
    context_cutoff,
    retention_span,
    utc,
    vote_applies,
)
from bot.store.budget import LocalBudget, SendRates
from bot.store.migrations import migrate_sqlite

BUSY_TIMEOUT_MS = 5_000
"""How long a write waits for another process's write before giving up."""

POLL_EVERY = 0.2
"""Seconds between looks for a new knowledge version (SQLite has no NOTIFY)."""


class SQLiteStore:
    """The bot's SQLite database; open it once and share it, close it on shutdown."""

    def __init__(
        self,
        path: Path,
        *,
        max_rows: int = 10_000,
        retention_days: int | None = None,
        vote_key: bytes,
        send_rates: SendRates | None = None,
    ) -> None:
        """`retention_days`: unanswered questions older than this are deleted (None: kept
        until `max_rows` pushes them out)."""
        check_limits(max_rows, retention_days, vote_key)
        self.path = Path(path)
        self.max_rows = max_rows
        self.retention_days = retention_days
        self._retention = retention_span(retention_days)
        self._vote_key = bytes(vote_key)
        self._budget = LocalBudget(send_rates or SendRates())
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

    def __enter__(self) -> SQLiteStore:
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
            f"SQLiteStore({str(self.path)!r}, max_rows={self.max_rows},"
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
        text = clean_question(question)
        if not text:
            return
        at = utc(when)
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

    def vote(
        self,
        entry_id: str,
        *,
        message_key: str,
        voter: str,
        up: bool,
        update_id: int | None = None,
    ) -> VoteOutcome:
        """Count one person's 👍/👎 on one answer message; a repeat is ignored, a switch moves,
        and a click older than the stored one (smaller `update_id`) changes nothing.

        `message_key` identifies the answer message (e.g. "chat:message"); neither it nor
        `voter` is stored, only their keyed hash.
        """
        ballot = ballot_hash(self._vote_key, message_key, voter)
        new_id = None if update_id is None else int(update_id)
        with self._write() as conn:
            row = conn.execute(
                "SELECT up, update_id FROM votes WHERE ballot = ?", (ballot,)
            ).fetchone()
            applies = row is None or vote_applies(row[1], new_id)
            if applies:  # the WHERE repeats the rule, so the statement alone is safe too
                conn.execute(
                    "INSERT INTO votes (ballot, entry_id, up, update_id) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (ballot) DO UPDATE SET entry_id = excluded.entry_id,"
                    " up = excluded.up, update_id = excluded.update_id"
                    " WHERE excluded.update_id IS NULL OR votes.update_id IS NULL"
                    " OR excluded.update_id > votes.update_id",
                    (ballot, entry_id, int(up), new_id),
                )
            count = _count_for(conn, entry_id)
        counted = applies and (row is None or bool(row[0]) != up)
        superseded = not applies and row[1] != new_id  # not the same click re-delivered
        return VoteOutcome(
            entry_id, counted, counted and row is not None, count.up, count.down, superseded
        )

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

    def claim_update(
        self, update_id: int, *, holder: str | None = None, now: datetime | None = None
    ) -> bool:
        """True for the caller that may handle `update_id` now: the first to claim it, or
        the one taking over an unfinished claim whose holder is dead (`Store.claim_update`).

        Telegram re-sends a webhook update it saw no answer to, possibly to another process:
        the look and the write are one write transaction (BEGIN IMMEDIATE), so of any
        processes sharing the file exactly one wins. Ids are remembered for `UPDATE_MEMORY`.
        """
        at = utc(now)
        stamp = _timestamp(at)
        finished = None if holder is not None else stamp  # no heartbeat: finished at once
        with self._write() as conn:
            self._prune_now_and_then(conn, at)
            row = conn.execute(
                "SELECT holder, finished_at FROM handled_updates WHERE update_id = ?",
                (int(update_id),),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO handled_updates (update_id, claimed_at, holder, finished_at)"
                    " VALUES (?, ?, ?, ?)",
                    (int(update_id), stamp, holder, finished),
                )
                return True
            if row[1] is not None or row[0] is None or _alive(conn, row[0], at):
                return False
            conn.execute(
                "UPDATE handled_updates SET holder = ?, claimed_at = ?, finished_at = ?"
                " WHERE update_id = ?",
                (holder, stamp, finished, int(update_id)),
            )
            return True

    def update_held(self, update_id: int, *, now: datetime | None = None) -> bool:
        """True while `update_id`'s claim is unfinished and its holder alive."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT holder, finished_at FROM handled_updates WHERE update_id = ?",
                (int(update_id),),
            ).fetchone()
            return (
                row is not None
                and row[1] is None
                and row[0] is not None
                and _alive(conn, row[0], utc(now))
            )

    def finish_update(self, update_id: int, *, now: datetime | None = None) -> None:
        """The update was handled: its claim is never taken over."""
        with self._write() as conn:
            conn.execute(
                "UPDATE handled_updates SET finished_at = ?"
                " WHERE update_id = ? AND finished_at IS NULL",
                (_timestamp(utc(now)), int(update_id)),
            )

    def forget_update(self, update_id: int) -> None:
        """Release a claim (the handler failed before replying), so a re-delivery is handled."""
        with self._write() as conn:
            conn.execute("DELETE FROM handled_updates WHERE update_id = ?", (int(update_id),))

    def heartbeat(self, instance: str, now: datetime | None = None) -> None:
        """`instance` is alive (see `HOLDER_TIMEOUT`)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO replicas (instance, seen_at) VALUES (?, ?)"
                " ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at",
                (instance, _timestamp(utc(now))),
            )

    def leave(self, instance: str) -> None:
        """`instance` stops: its unfinished claims are free at once."""
        with self._write() as conn:
            conn.execute("DELETE FROM replicas WHERE instance = ?", (instance,))

    def claim_once(self, key: str) -> bool:
        """True the first time `key` is claimed in this file, False ever after."""
        with self._write() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO claims (key, claimed_at) VALUES (?, ?)",
                (key, _timestamp(utc(None))),
            )
            return inserted.rowcount == 1

    # --- published knowledge -----------------------------------------------------------

    def publish_knowledge(self, fingerprint: str, files: Mapping[str, str]) -> int:
        """Store the files as a new version (the latest's number if it has this fingerprint
        already), keeping the newest `KNOWLEDGE_KEPT`. Other processes poll for it."""
        with self._write() as conn:
            latest = conn.execute(
                "SELECT version, fingerprint FROM knowledge_versions ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if latest is not None and latest[1] == fingerprint:
                return int(latest[0])
            version = conn.execute(
                "INSERT INTO knowledge_versions (fingerprint, published_at) VALUES (?, ?)"
                " RETURNING version",
                (fingerprint, _timestamp(utc(None))),
            ).fetchone()[0]
            conn.executemany(
                "INSERT INTO knowledge_files (version, name, content) VALUES (?, ?, ?)",
                [(version, name, text) for name, text in files.items()],
            )
            oldest_kept = version - KNOWLEDGE_KEPT
            conn.execute("DELETE FROM knowledge_files WHERE version <= ?", (oldest_kept,))
            conn.execute("DELETE FROM knowledge_versions WHERE version <= ?", (oldest_kept,))
            return int(version)

    def latest_knowledge(self) -> PublishedKnowledge | None:
        """The newest published version with its files, or None before the first publish."""
        with self._read() as conn:
            head = conn.execute(
                "SELECT version, fingerprint, published_at FROM knowledge_versions"
                " ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if head is None:
                return None
            files = conn.execute(
                "SELECT name, content FROM knowledge_files WHERE version = ? ORDER BY name",
                (head[0],),
            ).fetchall()
        return PublishedKnowledge(
            int(head[0]), head[1], dict(files), datetime.fromisoformat(head[2])
        )

    def wait_for_publish(self, timeout: float, *, after: int = 0) -> int | None:
        """The newest version number above `after` as soon as there is one (polled every
        `POLL_EVERY` seconds); None after `timeout` seconds without."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            with self._read() as conn:
                newest = conn.execute("SELECT MAX(version) FROM knowledge_versions").fetchone()
            if newest[0] is not None and newest[0] > after:
                return int(newest[0])
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(POLL_EVERY, left))

    # --- send budget -------------------------------------------------------------------

    def take_send_tokens(self, scope: str, now: float | None = None) -> float:
        """Reserve one message in `scope`'s budget; seconds to wait before sending it.

        In this process's memory: one process's budget (`now`: Unix time, as on
        PostgreSQL). Replicas that share a budget need PostgreSQL.
        """
        return self._budget.take(scope, time.time() if now is None else now)

    # --- conversation context ----------------------------------------------------------

    def remember_context(self, key: str, entry_id: str, *, now: datetime | None = None) -> None:
        """Conversation `key` was last answered with `entry_id` at `now` (the last write
        wins). Rows older than `CONTEXT_MEMORY` are deleted first, `CONTEXT_PRUNE_BATCH` at
        most: one index range in the same transaction, so the write stays cheap."""
        at = utc(now)
        with self._write() as conn:
            if cutoff := before(at, CONTEXT_MEMORY):
                conn.execute(
                    "DELETE FROM conversation_context WHERE key IN (SELECT key"
                    " FROM conversation_context WHERE answered_at < ? ORDER BY answered_at"
                    " LIMIT ?)",
                    (_timestamp(cutoff), CONTEXT_PRUNE_BATCH),
                )
            conn.execute(
                "INSERT INTO conversation_context (key, entry_id, answered_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET entry_id = excluded.entry_id,"
                " answered_at = excluded.answered_at",
                (key, entry_id, _timestamp(at)),
            )

    def recall_context(
        self, key: str, *, max_age: timedelta, now: datetime | None = None
    ) -> str | None:
        """The entry last answered in conversation `key`, if at most `max_age` before
        `now`; else None (an older row is left for `remember_context` to delete)."""
        cutoff = context_cutoff(now, max_age)
        with self._read() as conn:
            row = conn.execute(
                "SELECT entry_id FROM conversation_context WHERE key = ? AND answered_at >= ?",
                (key, "" if cutoff is None else _timestamp(cutoff)),
            ).fetchone()
        return None if row is None else str(row[0])

    def forget_context(self, key: str) -> None:
        """Conversation `key` has no context any more."""
        with self._write() as conn:
            conn.execute("DELETE FROM conversation_context WHERE key = ?", (key,))

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
            _delete_expired(conn, utc(now), self._retention)
            yield conn

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
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate_sqlite(conn, path)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to the WAL journal. Processes opening a new file at once can each find the
    other mid-switch, which SQLite reports at once instead of waiting: retry a while."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


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
    return utc(when).isoformat(timespec="microseconds")


def _delete_expired(conn: sqlite3.Connection, at: datetime, retention: timedelta | None) -> None:
    """Delete questions older than the retention and update claims older than
    `UPDATE_MEMORY` (each an index range, so cheap when nothing expired)."""
    if retention is not None and (cutoff := before(at, retention)):
        conn.execute("DELETE FROM unanswered WHERE asked_at < ?", (_timestamp(cutoff),))
    if claims := before(at, UPDATE_MEMORY):
        conn.execute("DELETE FROM handled_updates WHERE claimed_at < ?", (_timestamp(claims),))
        conn.execute("DELETE FROM replicas WHERE seen_at < ?", (_timestamp(claims),))


def _alive(conn: sqlite3.Connection, instance: str, at: datetime) -> bool:
    """Whether `instance` beat its heart within `HOLDER_TIMEOUT` before `at`."""
    cutoff = before(at, HOLDER_TIMEOUT)
    seen = conn.execute(
        "SELECT 1 FROM replicas WHERE instance = ? AND seen_at > ?",
        (instance, "" if cutoff is None else _timestamp(cutoff)),
    ).fetchone()
    return seen is not None


def _count_for(conn: sqlite3.Connection, entry_id: str) -> VoteCount:
    up, down = conn.execute(
        "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(1 - up), 0) FROM votes WHERE entry_id = ?",
        (entry_id,),
    ).fetchone()
    return VoteCount(int(up), int(down))
