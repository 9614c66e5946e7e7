"""What the bot remembers and what its replicas share, behind one `Store` protocol.

    base.py        the protocol, the values it returns, StoreError, the shared rules
    masking.py     personal data masked out of questions before any back end stores them
    budget.py      the send budget's token-bucket arithmetic
    migrations.py  both back ends' schema, as numbered steps side by side
    sqlite.py      one embedded file: the zero-setup default for one process
    postgres.py    PostgreSQL: shared by replicas on several machines

`open_store(settings)` is the one place a back end is chosen: `DATABASE_URL` set to a
`postgresql://` URL selects PostgreSQL, otherwise the SQLite file at `DATABASE_PATH`.
Nothing here imports `telegram`; psycopg is imported only when PostgreSQL is chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bot.store.base import (
    CHAT_TYPES,
    HOLDER_TIMEOUT,
    KNOWLEDGE_CHANNEL,
    KNOWLEDGE_KEPT,
    MAX_TEXT_CHARS,
    PRUNE_EVERY,
    SCHEMA_VERSION,
    UPDATE_MEMORY,
    PublishedKnowledge,
    Rate,
    SendRates,
    Store,
    StoreError,
    UnansweredQuestion,
    VoteCount,
    VoteOutcome,
    mask_personal_data,
)
from bot.store.budget import overall_rate
from bot.store.sqlite import SQLiteStore

__all__ = [
    "CHAT_TYPES",
    "HOLDER_TIMEOUT",
    "KNOWLEDGE_CHANNEL",
    "KNOWLEDGE_KEPT",
    "MAX_TEXT_CHARS",
    "POSTGRES_SCHEMES",
    "PRUNE_EVERY",
    "SCHEMA_VERSION",
    "UPDATE_MEMORY",
    "PublishedKnowledge",
    "Rate",
    "SQLiteStore",
    "SendRates",
    "Store",
    "StoreError",
    "StoreSettings",
    "UnansweredQuestion",
    "VoteCount",
    "VoteOutcome",
    "mask_personal_data",
    "open_store",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class Secret(Protocol):
    def get_secret_value(self) -> str: ...


class StoreSettings(Protocol):
    """The settings `open_store` reads (`bot.settings.Settings` has them all)."""

    @property
    def database_url(self) -> Secret: ...
    @property
    def database_path(self) -> Path: ...
    @property
    def unanswered_max_rows(self) -> int: ...
    @property
    def unanswered_retention_days(self) -> int: ...
    @property
    def send_rate_limit(self) -> int: ...
    @property
    def ballot_key(self) -> bytes: ...


def open_store(settings: StoreSettings, *, vote_key: bytes | None = None) -> Store:
    """The store the settings ask for, opened and migrated; StoreError if it cannot be.

    `vote_key` overrides the ballot key (the report only reads votes and needs none).
    """
    url = settings.database_url.get_secret_value().strip()
    key = settings.ballot_key if vote_key is None else vote_key
    rates = SendRates(overall=overall_rate(settings.send_rate_limit))
    max_rows, days = settings.unanswered_max_rows, settings.unanswered_retention_days
    if url.startswith(POSTGRES_SCHEMES):
        from bot.store.postgres import PostgresStore

        return PostgresStore(
            url, max_rows=max_rows, retention_days=days, vote_key=key, send_rates=rates
        )
    if url:
        raise StoreError(
            "DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host/dbname). "
            "Fix: correct it, or unset it to use the SQLite file at DATABASE_PATH"
        )
    return SQLiteStore(
        settings.database_path,
        max_rows=max_rows,
        retention_days=days,
        vote_key=key,
        send_rates=rates,
    )
