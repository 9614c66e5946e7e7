"""The schema of both back ends, as numbered steps: each database records the version it
reached (SQLite in `PRAGMA user_version`, PostgreSQL in the table `bot_schema`) and runs
the steps above it once, in one transaction, on open. Both reach `SCHEMA_VERSION` through
the same numbers, so a change is one new step per back end, side by side here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, LiteralString

from bot.store.base import SCHEMA_VERSION, StoreError
from bot.store.masking import clean_question

if TYPE_CHECKING:
    import psycopg

MIGRATE_LOCK = 0x626F74_0001
"""PostgreSQL advisory lock key: replicas starting together migrate once, in turn."""


# --- SQLite --------------------------------------------------------------------------------


def _mask_stored_questions(conn: sqlite3.Connection) -> None:
    """Version 1 stored questions unmasked: mask the personal data already in the file."""
    rows = conn.execute("SELECT id, text FROM unanswered").fetchall()
    masked = [(clean, id_) for id_, text in rows if (clean := clean_question(text)) != text]
    conn.executemany("UPDATE unanswered SET text = ? WHERE id = ?", masked)


SQLiteStep = str | Callable[[sqlite3.Connection], None]
"""A schema step: one SQL statement, or a function for what SQL cannot do (masking)."""

SQLITE_STEPS: dict[int, tuple[SQLiteStep, ...]] = {
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
    3: (
        "ALTER TABLE votes ADD COLUMN update_id INTEGER",  # NULL: cast before ids were kept
        """
        CREATE TABLE knowledge_versions (
            version INTEGER PRIMARY KEY AUTOINCREMENT,
            fingerprint TEXT NOT NULL,
            published_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE knowledge_files (
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            content TEXT NOT NULL,
            PRIMARY KEY (version, name)
        ) WITHOUT ROWID
        """,
    ),
    4: (
        """
        CREATE TABLE claims (
            key TEXT PRIMARY KEY,
            claimed_at TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    ),
    5: (  # who holds an update's claim, and whether it finished (old claims: finished)
        "ALTER TABLE handled_updates ADD COLUMN holder TEXT",
        "ALTER TABLE handled_updates ADD COLUMN finished_at TEXT",
        "UPDATE handled_updates SET finished_at = claimed_at",
        """
        CREATE TABLE replicas (
            instance TEXT PRIMARY KEY,
            seen_at TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    ),
    6: (  # each conversation's last answer, for follow-ups: ids only, never the question
        """
        CREATE TABLE conversation_context (
            key TEXT PRIMARY KEY,
            entry_id TEXT NOT NULL,
            answered_at TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        "CREATE INDEX conversation_context_by_time ON conversation_context (answered_at)",
    ),
}
"""Schema steps by the version they lead to; each runs once, in one transaction."""


def migrate_sqlite(conn: sqlite3.Connection, path: Path) -> None:
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
            for statement in SQLITE_STEPS[step]:
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


# --- PostgreSQL ----------------------------------------------------------------------------

POSTGRES_STEPS: dict[int, tuple[LiteralString, ...]] = {
    1: (
        """
        CREATE TABLE unanswered (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            text text NOT NULL,
            asked_at timestamptz NOT NULL,
            score double precision NOT NULL,
            chat_type text NOT NULL,
            closest_id text
        )
        """,
        "CREATE INDEX unanswered_by_time ON unanswered (asked_at, id)",
        """
        CREATE TABLE votes (
            ballot text PRIMARY KEY,
            entry_id text NOT NULL,
            up boolean NOT NULL
        )
        """,
        "CREATE INDEX votes_by_entry ON votes (entry_id)",
    ),
    2: (  # SQLite's step 2 also masks version 1's rows; no PostgreSQL database ever had any
        """
        CREATE TABLE handled_updates (
            update_id bigint PRIMARY KEY,
            claimed_at timestamptz NOT NULL
        )
        """,
        "CREATE INDEX handled_updates_by_time ON handled_updates (claimed_at)",
    ),
    3: (
        "ALTER TABLE votes ADD COLUMN update_id bigint",
        """
        CREATE TABLE knowledge_versions (
            version bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            fingerprint text NOT NULL,
            published_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE knowledge_files (
            version bigint NOT NULL REFERENCES knowledge_versions ON DELETE CASCADE,
            name text NOT NULL,
            content text NOT NULL,
            PRIMARY KEY (version, name)
        )
        """,
        # Unlogged: a crash empties it, which only means full buckets.
        """
        CREATE UNLOGGED TABLE send_budget (
            scope text PRIMARY KEY,
            tokens double precision NOT NULL,
            updated_at double precision NOT NULL
        )
        """,
    ),
    4: (
        """
        CREATE TABLE claims (
            key text PRIMARY KEY,
            claimed_at timestamptz NOT NULL DEFAULT now()
        )
        """,
    ),
    5: (
        "ALTER TABLE handled_updates ADD COLUMN holder text",
        "ALTER TABLE handled_updates ADD COLUMN finished_at timestamptz",
        "UPDATE handled_updates SET finished_at = claimed_at",
        """
        CREATE TABLE replicas (
            instance text PRIMARY KEY,
            seen_at timestamptz NOT NULL
        )
        """,
    ),
    6: (
        """
        CREATE TABLE conversation_context (
            key text PRIMARY KEY,
            entry_id text NOT NULL,
            answered_at timestamptz NOT NULL
        )
        """,
        "CREATE INDEX conversation_context_by_time ON conversation_context (answered_at)",
    ),
}
"""Schema steps by the version they lead to (the same numbers as SQLite's)."""


def migrate_postgres(conn: psycopg.Connection[Any], where: str) -> None:
    """Run the schema steps this database has not had yet, in one transaction, under a
    lock: replicas starting together migrate once, and the others wait for it."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS bot_schema (version integer NOT NULL)")
        row = conn.execute("SELECT version FROM bot_schema").fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {where} has schema version {version}, newer than this bot "
                f"understands ({SCHEMA_VERSION}). Fix: update the bot, or point DATABASE_URL "
                "at another database"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in POSTGRES_STEPS[step]:
                conn.execute(statement)
        if row is None:
            conn.execute("INSERT INTO bot_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
        elif version < SCHEMA_VERSION:
            conn.execute("UPDATE bot_schema SET version = %s", (SCHEMA_VERSION,))
