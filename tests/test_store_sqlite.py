"""What only the SQLite back end has: a file whose bytes hold no secret, SQLite's own
failures as StoreErrors, and upgrades of files earlier versions wrote. The behaviour
both back ends share is tested on both in test_store.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import BotError, ConfigError
from bot.settings import Settings
from bot.store import SCHEMA_VERSION, SQLiteStore, StoreError

KEY = b"test-vote-key-0123456789"
T0 = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(db_path, vote_key=KEY) as opened:
        yield opened


def raw_rows(path: Path, sql: str) -> list[tuple]:
    """Read the file directly, as someone holding only the database would."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def raw_bytes(path: Path) -> bytes:
    """Every byte on disk for this database: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_the_file_and_its_folder_are_created_and_times_stored_as_utc_text(
    store: SQLiteStore, db_path: Path
) -> None:
    store.record_unanswered("who founded isis-k", score=30, chat_type="supergroup", when=T0)
    assert db_path.is_file()
    assert raw_rows(db_path, "SELECT asked_at FROM unanswered") == [
        ("2024-09-20T12:00:00.000000+00:00",)
    ]


def test_personal_data_never_reaches_the_file(store: SQLiteStore, db_path: Path) -> None:
    question = (
        "is jane.roe@example.org right? call me on +44 20 7946 0958 or ask @jane_roe, "
        "https://x.example/a?uid=31337 id 98765432 - how many died in 2021, 170?"
    )
    store.record_unanswered(question, score=20, chat_type="private", when=T0)
    on_disk = raw_bytes(db_path)
    for secret in (b"jane.roe", b"example.org", b"7946", b"jane_roe", b"31337", b"98765432"):
        assert secret not in on_disk
    store.close()
    assert b"jane.roe" not in raw_bytes(db_path)


def test_who_voted_is_nowhere_in_the_file(store: SQLiteStore, db_path: Path) -> None:
    store.vote("who-founded", message_key="chat-4242:10", voter="user-777", up=True)
    assert b"user-777" not in raw_bytes(db_path)


def test_expired_questions_are_zeroed_not_left_in_free_pages(db_path: Path) -> None:
    with SQLiteStore(db_path, retention_days=30, vote_key=KEY) as store:
        store.record_unanswered("first secret question", score=0, chat_type="cli", when=T0)
        assert store.count_unanswered(now=T0.replace(year=2025)) == 0
    assert b"first secret question" not in raw_bytes(db_path)


# --- errors ------------------------------------------------------------------------------


def test_a_folder_as_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder") as caught:
        SQLiteStore(tmp_path, vote_key=KEY)
    assert str(tmp_path) in str(caught.value) and "Fix:" in str(caught.value)
    assert isinstance(caught.value, BotError)


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="not a database") as caught:
        SQLiteStore(path, vote_key=KEY)
    message = str(caught.value)
    assert str(path) in message and "move the file aside" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    SQLiteStore(db_path, vote_key=KEY).close()
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this bot"):
        SQLiteStore(db_path, vote_key=KEY)


def test_the_command_line_prints_a_store_error_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"garbage" * 1000)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(bad))
    assert main(["report"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the database") and "Traceback" not in err


def test_retention_days_must_be_positive_in_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("UNANSWERED_RETENTION_DAYS", "0")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(secrets_dir=tmp_path / "no-secrets")
    assert str(caught.value) == (
        "UNANSWERED_RETENTION_DAYS='0' must be a whole number of days from 1 to 36500"
    )
    monkeypatch.delenv("UNANSWERED_RETENTION_DAYS")
    assert Settings.from_env(secrets_dir=tmp_path / "no-secrets").unanswered_retention_days == 90


# --- schema upgrades ---------------------------------------------------------------------

VERSION_1 = (
    "PRAGMA journal_mode = WAL",
    """CREATE TABLE unanswered (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL,
    asked_at TEXT NOT NULL, score REAL NOT NULL, chat_type TEXT NOT NULL, closest_id TEXT)""",
    "CREATE INDEX unanswered_by_time ON unanswered (asked_at, id)",
    """CREATE TABLE votes (ballot TEXT PRIMARY KEY, entry_id TEXT NOT NULL,
    up INTEGER NOT NULL CHECK (up IN (0, 1))) WITHOUT ROWID""",
    "CREATE INDEX votes_by_entry ON votes (entry_id)",
    "PRAGMA user_version = 1",
)
"""The schema as version 1 shipped it, frozen here: what a deployed bot's file holds."""


def test_a_version_1_database_upgrades_in_place(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db_path)) as conn:
        for statement in VERSION_1:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO unanswered (text, asked_at, score, chat_type) VALUES (?, ?, 30, 'cli')",
            [
                ("who founded isis-k in 2015?", "2024-09-20T12:00:00.000000+00:00"),
                (
                    "text me at +44 20 7946 0958 or jane@example.org",
                    "2024-09-20T12:01:00.000000+00:00",
                ),
            ],
        )
        conn.execute("INSERT INTO votes VALUES ('ballot-1', 'who-founded', 1)")
        conn.commit()

    with SQLiteStore(db_path, vote_key=KEY) as store:
        assert raw_rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert [r.text for r in store.unanswered()] == [
            "text me at [phone] or [email]",
            "who founded isis-k in 2015?",
        ]
        assert store.votes()["who-founded"].up == 1
        assert store.claim_update(1) and not store.claim_update(1)
    assert b"7946" not in raw_bytes(db_path) and b"jane@" not in raw_bytes(db_path)
    with SQLiteStore(db_path, vote_key=KEY) as again:  # a second open runs nothing twice
        assert again.count_unanswered() == 2 and not again.claim_update(1)


def test_a_version_2_database_keeps_its_votes_and_orders_new_clicks(db_path: Path) -> None:
    """Version 2's votes have no update_id: any ordered click replaces them."""
    with SQLiteStore(db_path, vote_key=KEY) as store:
        store.vote("e", message_key="1:1", voter="ann", up=True)
    with closing(sqlite3.connect(db_path)) as conn:  # back to how version 2 left it
        conn.execute("DROP TABLE conversation_context")
        conn.execute("DROP TABLE replicas")
        conn.execute("ALTER TABLE handled_updates DROP COLUMN holder")
        conn.execute("ALTER TABLE handled_updates DROP COLUMN finished_at")
        conn.execute("DROP TABLE claims")
        conn.execute("DROP TABLE knowledge_files")
        conn.execute("DROP TABLE knowledge_versions")
        conn.execute("ALTER TABLE votes DROP COLUMN update_id")
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
    with SQLiteStore(db_path, vote_key=KEY) as store:
        assert raw_rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert raw_rows(db_path, "SELECT update_id FROM votes") == [(None,)]
        assert store.vote("e", message_key="1:1", voter="ann", up=False, update_id=9).changed
        assert store.vote("e", message_key="1:1", voter="ann", up=True, update_id=8).superseded
        assert store.latest_knowledge() is None


def test_a_version_4_databases_claims_count_as_finished(db_path: Path) -> None:
    """Version 4's claims have no holder and no finish: they were handled, never retaken."""
    with SQLiteStore(db_path, vote_key=KEY) as store:
        assert store.claim_update(5)
    with closing(sqlite3.connect(db_path)) as conn:  # back to how version 4 left it
        conn.execute("DROP TABLE conversation_context")
        conn.execute("DROP TABLE replicas")
        conn.execute("ALTER TABLE handled_updates DROP COLUMN holder")
        conn.execute("ALTER TABLE handled_updates DROP COLUMN finished_at")
        conn.execute("PRAGMA user_version = 4")
        conn.commit()
    with SQLiteStore(db_path, vote_key=KEY) as store:
        assert raw_rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        [(holder, finished, claimed)] = raw_rows(
            db_path, "SELECT holder, finished_at, claimed_at FROM handled_updates"
        )
        assert holder is None and finished == claimed
        assert not store.claim_update(5, holder="new") and not store.update_held(5)
