"""The shared back end: PostgreSQL through psycopg 3 and its connection pool, for several
replicas on several machines (`DATABASE_URL=postgresql://...`).

Everything replicas must agree on is decided by the database in one statement or one
transaction, never by a replica's memory: an update id is claimed by one INSERT ... ON
CONFLICT DO NOTHING; a person's stored click only moves to a greater update_id (the row is
locked, and the UPDATE's WHERE repeats the rule); a send token is reserved by one UPSERT
... RETURNING on the scope's bucket, timed by the database's clock; a conversation's last
answer is one UPSERT, so any replica reads a follow-up in context; a published
knowledge version is announced by NOTIFY on `KNOWLEDGE_CHANNEL` when it commits.
Housekeeping (expiry, the row cap) runs under an advisory lock that only one replica
takes at a time; the others skip it rather than wait or deadlock.

The API is blocking, like the SQLite back end's, with a `psycopg_pool.ConnectionPool`
behind it (the bot calls it through `asyncio.to_thread`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, LiteralString

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.store.base import (
    CHAT_TYPES,
    CONTEXT_MEMORY,
    CONTEXT_PRUNE_BATCH,
    HOLDER_TIMEOUT,
    KNOWLEDGE_CHANNEL,
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
from bot.store.budget import IDLE_FORGET, SendRates, wait_after
from bot.store.migrations import migrate_postgres

CONNECT_TIMEOUT = 10
"""Seconds to wait for the server when opening the store (and for a pooled connection)."""

POOL_MAX = 10
"""Connections per process: the bot's worker threads rarely hold more at once."""

_PUBLISH_LOCK = 0x626F74_0002
_PRUNE_LOCK = 0x626F74_0003
"""Advisory lock keys: publishing, and housekeeping, one replica at a time."""

_TAKE_TOKEN = """
WITH clock AS (SELECT COALESCE(%(now)s::float8, extract(epoch FROM clock_timestamp())::float8)
               AS now)
INSERT INTO send_budget AS b (scope, tokens, updated_at)
SELECT %(scope)s, %(burst)s::float8 - 1, clock.now FROM clock
ON CONFLICT (scope) DO UPDATE SET
    tokens = LEAST(%(burst)s::float8,
                   b.tokens + GREATEST(0, excluded.updated_at - b.updated_at) * %(rate)s::float8)
             - 1,
    updated_at = GREATEST(b.updated_at, excluded.updated_at)
RETURNING tokens, updated_at, (SELECT now FROM clock)
"""
"""One atomic reservation (see `bot.store.budget.take`, the same arithmetic in SQL)."""


_CLAIM_UPDATE = """
INSERT INTO handled_updates AS u (update_id, claimed_at, holder, finished_at)
VALUES (%(id)s, %(at)s, %(holder)s::text,
        CASE WHEN %(holder)s::text IS NULL THEN %(at)s::timestamptz END)
ON CONFLICT (update_id) DO UPDATE SET
    holder = excluded.holder, claimed_at = excluded.claimed_at, finished_at = excluded.finished_at
WHERE u.finished_at IS NULL AND u.holder IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM replicas r
    WHERE r.instance = u.holder
      AND r.seen_at > COALESCE(%(now)s::timestamptz, clock_timestamp()) - %(timeout)s)
RETURNING update_id
"""
"""A new claim, or the takeover of a dead holder's unfinished one; no row otherwise. A
claim without a holder (a caller with no heartbeat) is finished at once."""


class PostgresStore:
    """The bot's PostgreSQL database; open it once per process, close it on shutdown."""

    def __init__(
        self,
        url: str,
        *,
        max_rows: int = 10_000,
        retention_days: int | None = None,
        vote_key: bytes,
        send_rates: SendRates | None = None,
        pool_size: int = POOL_MAX,
    ) -> None:
        check_limits(max_rows, retention_days, vote_key)
        self.where = describe(url)
        self.max_rows = max_rows
        self.retention_days = retention_days
        self.send_rates = send_rates or SendRates()
        self._url = url
        self._retention = retention_span(retention_days)
        self._vote_key = bytes(vote_key)
        self._pruned_at: datetime | None = None
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        self._closed = False
        with self._translated("open"):
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as conn:
                migrate_postgres(conn, self.where)
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max(1, pool_size),
                open=False,
                name="bot-store",
                timeout=CONNECT_TIMEOUT,
                check=ConnectionPool.check_connection,  # a restarted server costs no error
                kwargs={"connect_timeout": CONNECT_TIMEOUT},
            )
            try:
                self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            except BaseException:
                self._pool.close()
                raise

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the pool and the listening connection; safe to call twice."""
        self._closed = True
        if self._listen_lock.acquire(timeout=CONNECT_TIMEOUT):  # a waiter is done by then
            try:
                self._drop_listener()
            finally:
                self._listen_lock.release()
        self._pool.close()

    def __enter__(self) -> PostgresStore:
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
            f"PostgresStore({self.where!r}, max_rows={self.max_rows},"
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
        """Remember a declined question, masked; the newest `max_rows` are kept (a replica
        that finds another trimming skips it, so the cap may be passed by a few rows until
        the next question) and none older than `retention_days`."""
        text = clean_question(question)
        if not text:
            return
        at = utc(when)
        row = (
            text,
            at,
            round(float(score), 1),
            chat_type if chat_type in CHAT_TYPES else "other",
            closest_id or None,
        )
        with self._transaction("record a question") as conn:
            conn.execute(
                "INSERT INTO unanswered (text, asked_at, score, chat_type, closest_id)"
                " VALUES (%s, %s, %s, %s, %s)",
                row,
            )
            if _try_lock(conn, _PRUNE_LOCK):
                self._prune_now_and_then(conn, at)
                conn.execute(
                    "DELETE FROM unanswered WHERE id IN (SELECT id FROM unanswered"
                    " ORDER BY asked_at DESC, id DESC OFFSET %s)",
                    (self.max_rows,),
                )

    def unanswered(
        self, limit: int | None = None, *, now: datetime | None = None
    ) -> list[UnansweredQuestion]:
        """The stored questions, newest first; expired ones are deleted first."""
        with self._unexpired(now) as conn:
            rows = conn.execute(
                "SELECT text, asked_at, score, chat_type, closest_id FROM unanswered"
                " ORDER BY asked_at DESC, id DESC LIMIT %s",
                (None if limit is None else max(limit, 0),),
            ).fetchall()
        return [
            UnansweredQuestion(text, utc(at), score, chat_type, closest)
            for text, at, score, chat_type, closest in rows
        ]

    def count_unanswered(self, *, now: datetime | None = None) -> int:
        with self._unexpired(now) as conn:
            return _int(conn, "SELECT count(*) FROM unanswered")

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
        """One person's 👍/👎 on one answer message; their click with the greatest
        `update_id` wins, whichever replica commits last (None: newest, for old callers)."""
        ballot = ballot_hash(self._vote_key, message_key, voter)
        new_id = None if update_id is None else int(update_id)
        with self._transaction("record a vote") as conn:
            inserted = conn.execute(
                "INSERT INTO votes (ballot, entry_id, up, update_id) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (ballot) DO NOTHING",
                (ballot, entry_id, up, new_id),
            ).rowcount
            old = None
            applies = bool(inserted)
            if not inserted:  # this person voted here before: lock their row, then decide
                old = conn.execute(
                    "SELECT up, update_id FROM votes WHERE ballot = %s FOR UPDATE", (ballot,)
                ).fetchone()
                assert old is not None  # votes are never deleted
                applies = vote_applies(old[1], new_id)
                if applies:
                    conn.execute(
                        "UPDATE votes SET entry_id = %(entry)s, up = %(up)s, update_id = %(id)s"
                        " WHERE ballot = %(ballot)s AND (%(id)s::bigint IS NULL"
                        " OR update_id IS NULL OR update_id < %(id)s)",
                        {"entry": entry_id, "up": up, "id": new_id, "ballot": ballot},
                    )
            up_count, down_count = conn.execute(
                "SELECT count(*) FILTER (WHERE up), count(*) FILTER (WHERE NOT up)"
                " FROM votes WHERE entry_id = %s",
                (entry_id,),
            ).fetchone() or (0, 0)
        counted = applies and (old is None or old[0] != up)
        superseded = not applies and old is not None and old[1] != new_id  # not a re-delivery
        return VoteOutcome(
            entry_id, counted, counted and old is not None, up_count, down_count, superseded
        )

    def votes(self) -> dict[str, VoteCount]:
        """Every voted entry's totals, by entry id."""
        with self._transaction("read votes") as conn:
            rows = conn.execute(
                "SELECT entry_id, count(*) FILTER (WHERE up), count(*) FILTER (WHERE NOT up)"
                " FROM votes GROUP BY entry_id ORDER BY entry_id"
            ).fetchall()
        return {entry_id: VoteCount(up, down) for entry_id, up, down in rows}

    def stats(self, *, now: datetime | None = None) -> dict[str, int]:
        """Totals for an admin's /stats command."""
        with self._unexpired(now) as conn:
            unanswered = _int(conn, "SELECT count(*) FROM unanswered")
            up, down, entries = conn.execute(
                "SELECT count(*) FILTER (WHERE up), count(*) FILTER (WHERE NOT up),"
                " count(DISTINCT entry_id) FROM votes"
            ).fetchone() or (0, 0, 0)
        return {
            "unanswered": unanswered,
            "max_rows": self.max_rows,
            "votes_up": up,
            "votes_down": down,
            "entries_voted": entries,
        }

    # --- handled updates ---------------------------------------------------------------

    def claim_update(
        self, update_id: int, *, holder: str | None = None, now: datetime | None = None
    ) -> bool:
        """True for the one caller, across all replicas, that may handle `update_id` now:
        the first to claim it, or the one taking over an unfinished claim whose holder is
        dead (`Store.claim_update`), in one INSERT ... ON CONFLICT DO UPDATE ... WHERE
        (the row lock makes competing takeovers wait, and the loser's WHERE sees the winner).
        Ids are remembered for `UPDATE_MEMORY`."""
        at = utc(now)
        params = {"id": int(update_id), "at": at, "holder": holder, "now": now}
        with self._transaction("claim an update") as conn:
            claimed = conn.execute(_CLAIM_UPDATE, {**params, "timeout": HOLDER_TIMEOUT}).rowcount
            if self._prune_due(at) and _try_lock(conn, _PRUNE_LOCK):
                self._prune_now_and_then(conn, at)
        return claimed == 1

    def update_held(self, update_id: int, *, now: datetime | None = None) -> bool:
        """True while `update_id`'s claim is unfinished and its holder alive."""
        with self._transaction("look at an update") as conn:
            row = conn.execute(
                "SELECT 1 FROM handled_updates u JOIN replicas r ON r.instance = u.holder"
                " WHERE u.update_id = %(id)s AND u.finished_at IS NULL"
                " AND r.seen_at > COALESCE(%(now)s::timestamptz, clock_timestamp()) - %(timeout)s",
                {"id": int(update_id), "now": now, "timeout": HOLDER_TIMEOUT},
            ).fetchone()
        return row is not None

    def finish_update(self, update_id: int, *, now: datetime | None = None) -> None:
        """The update was handled: its claim is never taken over."""
        with self._transaction("finish an update") as conn:
            conn.execute(
                "UPDATE handled_updates SET finished_at = %s"
                " WHERE update_id = %s AND finished_at IS NULL",
                (utc(now), int(update_id)),
            )

    def forget_update(self, update_id: int) -> None:
        """Release a claim (the handler failed before replying), so a re-delivery is handled."""
        with self._transaction("release an update") as conn:
            conn.execute("DELETE FROM handled_updates WHERE update_id = %s", (int(update_id),))

    def heartbeat(self, instance: str, now: datetime | None = None) -> None:
        """`instance` is alive (see `HOLDER_TIMEOUT`), by the database's clock unless `now`
        is given, so replicas on machines whose clocks differ still agree."""
        with self._transaction("beat the heart") as conn:
            conn.execute(
                "INSERT INTO replicas (instance, seen_at)"
                " VALUES (%(instance)s, COALESCE(%(now)s::timestamptz, clock_timestamp()))"
                " ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at",
                {"instance": instance, "now": now},
            )

    def leave(self, instance: str) -> None:
        """`instance` stops: its unfinished claims are free at once."""
        with self._transaction("leave") as conn:
            conn.execute("DELETE FROM replicas WHERE instance = %s", (instance,))

    def claim_once(self, key: str) -> bool:
        """True for the one caller, across all replicas, that claims `key` first: one
        INSERT ... ON CONFLICT DO NOTHING; kept for ever."""
        with self._transaction("claim a notice") as conn:
            claimed = conn.execute(
                "INSERT INTO claims (key) VALUES (%s) ON CONFLICT (key) DO NOTHING", (key,)
            ).rowcount
        return claimed == 1

    # --- published knowledge -----------------------------------------------------------

    def publish_knowledge(self, fingerprint: str, files: Mapping[str, str]) -> int:
        """Store the files as a new version and NOTIFY `KNOWLEDGE_CHANNEL` with its number
        when it commits (the latest's number, and no notice, if it has this fingerprint)."""
        with self._transaction("publish knowledge") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PUBLISH_LOCK,))
            latest = conn.execute(
                "SELECT version, fingerprint FROM knowledge_versions ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if latest is not None and latest[1] == fingerprint:
                return int(latest[0])
            version = _int(
                conn,
                "INSERT INTO knowledge_versions (fingerprint) VALUES (%s) RETURNING version",
                (fingerprint,),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO knowledge_files (version, name, content) VALUES (%s, %s, %s)",
                    [(version, name, text) for name, text in files.items()],
                )
            conn.execute(
                "DELETE FROM knowledge_versions WHERE version <= %s", (version - KNOWLEDGE_KEPT,)
            )
            conn.execute("SELECT pg_notify(%s, %s)", (KNOWLEDGE_CHANNEL, str(version)))
        return version

    def latest_knowledge(self) -> PublishedKnowledge | None:
        """The newest published version with its files, or None before the first publish."""
        with self._transaction("read knowledge") as conn:
            head = conn.execute(
                "SELECT version, fingerprint, published_at FROM knowledge_versions"
                " ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if head is None:
                return None
            files = conn.execute(
                "SELECT name, content FROM knowledge_files WHERE version = %s ORDER BY name",
                (head[0],),
            ).fetchall()
        return PublishedKnowledge(int(head[0]), head[1], dict(files), utc(head[2]))

    def wait_for_publish(self, timeout: float, *, after: int = 0) -> int | None:
        """The newest version number above `after` as soon as there is one, woken by NOTIFY
        (a dedicated connection LISTENs from the first call on; the table is read first, so
        a version published before then is found too); None after `timeout` seconds."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._listen_lock, self._translated("wait for a published version"):
            try:
                conn = self._listening()
                newest = _int(conn, "SELECT COALESCE(max(version), 0) FROM knowledge_versions")
                if newest > after:
                    return newest
                while (left := deadline - time.monotonic()) > 0:
                    for notice in conn.notifies(timeout=left, stop_after=1):
                        if notice.payload.isdigit() and int(notice.payload) > after:
                            return int(notice.payload)
                return None
            except psycopg.Error:
                self._drop_listener()  # the next call connects afresh
                if self._closed:
                    return None
                raise
            finally:
                if self._closed:
                    self._drop_listener()

    # --- send budget -------------------------------------------------------------------

    def take_send_tokens(self, scope: str, now: float | None = None) -> float:
        """Reserve one message in `scope`'s budget, shared by every replica; seconds to wait
        before sending it (0: send now). `now` (seconds) defaults to the database's clock,
        so replicas on machines whose clocks differ still share one timeline; a test passes
        Unix time."""
        rate = self.send_rates.for_scope(scope)
        if rate is None:
            return 0.0
        params = {"scope": scope, "now": now, "burst": rate.burst, "rate": rate.per_second}
        with self._transaction("take a send token") as conn:
            left, at, clock = conn.execute(_TAKE_TOKEN, params).fetchone() or (0.0, 0.0, 0.0)
        return wait_after(left, at, clock, rate)

    # --- conversation context ----------------------------------------------------------

    def remember_context(self, key: str, entry_id: str, *, now: datetime | None = None) -> None:
        """Conversation `key` was last answered with `entry_id` at `now`, for every replica:
        one UPSERT (the last write wins). Then, in the same transaction, up to
        `CONTEXT_PRUNE_BATCH` rows older than `CONTEXT_MEMORY` are deleted, skipping rows
        another replica holds (SKIP LOCKED): the UPSERT is the only statement that can
        wait, and it runs first, holding nothing, so replicas never deadlock over this."""
        at = utc(now)
        with self._transaction("remember a conversation") as conn:
            conn.execute(
                "INSERT INTO conversation_context (key, entry_id, answered_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (key) DO UPDATE"
                " SET entry_id = excluded.entry_id, answered_at = excluded.answered_at",
                (key, entry_id, at),
            )
            if cutoff := before(at, CONTEXT_MEMORY):
                conn.execute(
                    "DELETE FROM conversation_context WHERE key IN (SELECT key"
                    " FROM conversation_context WHERE answered_at < %s ORDER BY answered_at"
                    " LIMIT %s FOR UPDATE SKIP LOCKED)",
                    (cutoff, CONTEXT_PRUNE_BATCH),
                )

    def recall_context(
        self, key: str, *, max_age: timedelta, now: datetime | None = None
    ) -> str | None:
        """The entry last answered in conversation `key` (by any replica), if at most
        `max_age` before `now`; else None (an older row is left for `remember_context`)."""
        cutoff = context_cutoff(now, max_age)
        with self._transaction("recall a conversation") as conn:
            row = conn.execute(
                "SELECT entry_id FROM conversation_context WHERE key = %s"
                " AND answered_at >= COALESCE(%s::timestamptz, '-infinity')",
                (key, cutoff),
            ).fetchone()
        return None if row is None else str(row[0])

    def forget_context(self, key: str) -> None:
        """Conversation `key` has no context any more, on every replica."""
        with self._transaction("forget a conversation") as conn:
            conn.execute("DELETE FROM conversation_context WHERE key = %s", (key,))

    # --- private -----------------------------------------------------------------------

    def _prune_due(self, at: datetime) -> bool:
        last = self._pruned_at
        return last is None or not last <= at < last + PRUNE_EVERY

    def _prune_now_and_then(self, conn: psycopg.Connection[Any], at: datetime) -> None:
        """Delete expired rows if `PRUNE_EVERY` has passed on this clock (or it went back)."""
        if not self._prune_due(at):
            return
        self._pruned_at = at
        _delete_expired(conn, at, self._retention)

    @contextmanager
    def _unexpired(self, now: datetime | None) -> Iterator[psycopg.Connection[Any]]:
        """For reading the unanswered log: expired questions are deleted first (waiting for
        a replica that is pruning, so none is ever shown past its retention)."""
        with self._transaction("read questions") as conn:
            if self._retention is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PRUNE_LOCK,))
                _delete_expired(conn, utc(now), self._retention)
            yield conn

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in one transaction: committed at the end, rolled back on error."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        with self._translated(doing), self._pool.connection() as conn:
            yield conn

    def _listening(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._listener is None:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
            conn.execute(f"LISTEN {KNOWLEDGE_CHANNEL}")
            self._listener = conn
        return self._listener

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """The server's and the network's failures (not the program's) as a StoreError."""
        try:
            yield
        except (psycopg.OperationalError, psycopg.errors.InsufficientPrivilege) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(
                f"cannot {doing} in the PostgreSQL database {self.where} ({reason}). Fix: "
                "check that the server is running and DATABASE_URL (host, port, database, "
                "user, password) is right"
            ) from None
        except PoolTimeout:
            raise StoreError(
                f"cannot {doing}: no connection to the PostgreSQL database {self.where} within"
                f" {CONNECT_TIMEOUT} s. Fix: check that the server is up and reachable"
            ) from None


# --- schema and helpers -----------------------------------------------------------------


def describe(url: str) -> str:
    """The database a URL names, for messages: user@host:port/dbname, never the password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise StoreError(
            "DATABASE_URL is not a valid PostgreSQL URL. Fix: use the form "
            "postgresql://user:password@host:5432/dbname"
        ) from None
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"{user}{host}{port}/{parts.get('dbname') or ''}"


def _try_lock(conn: psycopg.Connection[Any], key: int) -> bool:
    """Take a transaction-long advisory lock if nobody holds it; never waits."""
    return bool(_int(conn, "SELECT pg_try_advisory_xact_lock(%s)", (key,)))


def _delete_expired(
    conn: psycopg.Connection[Any], at: datetime, retention: timedelta | None
) -> None:
    """Delete questions older than the retention and update claims older than
    `UPDATE_MEMORY` (each an index range, so cheap when nothing expired)."""
    if retention is not None and (cutoff := before(at, retention)):
        conn.execute("DELETE FROM unanswered WHERE asked_at < %s", (cutoff,))
    if claims := before(at, UPDATE_MEMORY):
        conn.execute("DELETE FROM handled_updates WHERE claimed_at < %s", (claims,))
        conn.execute("DELETE FROM replicas WHERE seen_at < %s", (claims,))
    conn.execute(  # idle buckets have refilled: dropping them changes nothing
        "DELETE FROM send_budget WHERE updated_at < extract(epoch FROM clock_timestamp()) - %s",
        (IDLE_FORGET,),
    )


def _int(conn: psycopg.Connection[Any], query: LiteralString, params: Any = None) -> int:
    """The first column of the first row, a number (every such query returns one row)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])
