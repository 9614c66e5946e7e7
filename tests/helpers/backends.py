"""The store's two back ends as the tests see them: a real SQLite file or a real PostgreSQL
database, and how to open it or read it directly."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bot.store import SQLiteStore, Store
from bot.store.postgres import PostgresStore

KEY = b"test-vote-key-0123456789"
"""The ballot key every test store uses."""


@dataclass
class Backend:
    """One database: `open()` makes a new Store on it each time (a restart, or another
    replica); `raw` reads or writes it directly, as someone holding only the database."""

    name: str
    spec: str
    """The SQLite file's path, or the PostgreSQL URL: what a child process opens."""

    def open(self, **options: Any) -> Store:
        options.setdefault("vote_key", KEY)
        if self.name == "sqlite":
            return SQLiteStore(Path(self.spec), **options)
        return PostgresStore(self.spec, **options)

    def raw(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run `sql` (placeholders written `%s`) and return its rows; writes are kept."""
        if self.name == "sqlite":
            with closing(sqlite3.connect(self.spec)) as conn:
                rows = list(conn.execute(sql.replace("%s", "?"), params).fetchall())
                conn.commit()
                return rows
        with psycopg.connect(self.spec) as conn:
            cursor = conn.execute(sql.encode(), params)
            return list(cursor.fetchall()) if cursor.description else []

    def columns(self, table: str) -> set[str]:
        if self.name == "sqlite":
            return {row[1] for row in self.raw(f"PRAGMA table_info({table})")}
        query = "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        return {row[0] for row in self.raw(query, (table,))}

    def schema_version(self) -> int:
        query = "PRAGMA user_version" if self.name == "sqlite" else "SELECT version FROM bot_schema"
        ((version,),) = self.raw(query)
        return int(version)
