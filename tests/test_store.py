"""The store on a real SQLite file: persistence, privacy, bounds, concurrency, votes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import BotError
from bot.store import SCHEMA_VERSION, Store, StoreError

KEY = b"test-vote-key-0123456789"
T0 = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path, vote_key=KEY) as opened:
        yield opened


def raw_rows(path: Path, sql: str) -> list[tuple]:
    """Read the file directly, as someone holding only the database would."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


# --- unanswered questions ----------------------------------------------------------------


def test_unanswered_survive_a_restart(db_path: Path) -> None:
    with Store(db_path, vote_key=KEY) as store:
        store.record_unanswered("who founded isis-k", score=31.5, chat_type="private", when=T0)
        store.record_unanswered(
            "  what is   the weather  ",
            score=12.25,
            chat_type="group",
            closest_id="article-topic",
            when=T0 + timedelta(minutes=1),
        )
    assert db_path.is_file()  # the folder was created too
    with Store(db_path, vote_key=KEY) as reopened:
        rows = reopened.unanswered()
        assert reopened.count_unanswered() == 2
    assert [r.text for r in rows] == ["what is the weather", "who founded isis-k"]
    newest = rows[0]
    assert newest.asked_at == T0 + timedelta(minutes=1)
    assert newest.asked_at.tzinfo is not None
    assert (newest.score, newest.chat_type, newest.closest_id) == (12.2, "group", "article-topic")
    assert rows[1].closest_id is None


def test_unanswered_table_holds_no_user_identifiers(store: Store, db_path: Path) -> None:
    store.record_unanswered("who founded isis-k", score=30, chat_type="supergroup", when=T0)
    columns = {row[1] for row in raw_rows(db_path, "PRAGMA table_info(unanswered)")}
    assert columns == {"id", "text", "asked_at", "score", "chat_type", "closest_id"}
    assert not any(word in c for c in columns for word in ("user", "name", "chat_id", "from"))
    ((_, text, asked_at, score, chat_type, closest),) = raw_rows(
        db_path, "SELECT * FROM unanswered"
    )
    assert (text, score, chat_type, closest) == ("who founded isis-k", 30.0, "supergroup", None)
    assert asked_at == "2024-09-20T12:00:00.000000+00:00"


def test_text_is_trimmed_and_capped_and_odd_input_is_tamed(store: Store) -> None:
    store.record_unanswered("x" * 600, score=0, chat_type="cli", when=T0)
    store.record_unanswered("   \n ", score=0, chat_type="cli")  # nothing to keep
    store.record_unanswered("hi", score=0, chat_type="sender", when=T0 - timedelta(days=1))
    naive = datetime(2024, 9, 19, 8, 30)  # taken as UTC
    store.record_unanswered("naive", score=0, chat_type="inline", when=naive)
    rows = store.unanswered()
    assert [r.text for r in rows] == ["x" * 500, "hi", "naive"]
    assert rows[1].chat_type == "other"
    assert rows[2].asked_at == naive.replace(tzinfo=UTC)
    assert [r.text for r in store.unanswered(limit=1)] == ["x" * 500]


def test_only_the_newest_max_rows_are_kept(db_path: Path) -> None:
    with Store(db_path, max_rows=5, vote_key=KEY) as store:
        for i in range(8):
            store.record_unanswered(f"q{i}", score=i, chat_type="private", when=T0 + timedelta(i))
        assert store.count_unanswered() == 5
        assert [r.text for r in store.unanswered()] == ["q7", "q6", "q5", "q4", "q3"]
        store.record_unanswered("old", score=0, chat_type="private", when=T0 - timedelta(1))
        assert "old" not in {r.text for r in store.unanswered()}  # older than all: dropped


# --- concurrency -------------------------------------------------------------------------


def _record_many(store: Store, prefix: str, n: int, start: threading.Barrier) -> None:
    start.wait()
    for i in range(n):
        store.record_unanswered(f"{prefix} {i}", score=1, chat_type="group")


def _run_threads(*stores: Store, n: int = 200) -> None:
    start = threading.Barrier(2)
    threads = [
        threading.Thread(target=_record_many, args=(stores[i % len(stores)], f"t{i}", n, start))
        for i in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_two_threads_sharing_one_store_lose_nothing(store: Store) -> None:
    _run_threads(store)
    assert store.count_unanswered() == 400
    assert len({r.text for r in store.unanswered()}) == 400


def test_two_stores_on_one_file_lose_nothing(db_path: Path) -> None:
    with Store(db_path, vote_key=KEY) as one, Store(db_path, vote_key=KEY) as two:
        _run_threads(one, two)
        assert one.count_unanswered() == two.count_unanswered() == 400


CHILD = """
import sys
from pathlib import Path
from bot.store import Store
with Store(Path(sys.argv[1]), vote_key=b"k") as store:
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(200):
        store.record_unanswered(f"child {i}", score=1, chat_type="cli")
        store.vote("e", message_key=f"m{i}", voter="child", up=True)
"""


def test_two_processes_at_once_lose_nothing(store: Store, db_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.close()
        for i in range(200):
            store.record_unanswered(f"parent {i}", score=1, chat_type="cli")
        assert child.wait(timeout=20) == 0
    assert store.count_unanswered() == 400
    assert store.votes()["e"].up == 200


# --- votes -------------------------------------------------------------------------------


def test_one_vote_per_person_per_message(store: Store) -> None:
    first = store.vote("who-founded", message_key="chat1:10", voter="alice", up=True)
    assert (first.counted, first.changed, first.up, first.down) == (True, False, 1, 0)
    assert first.status == "counted"

    again = store.vote("who-founded", message_key="chat1:10", voter="alice", up=True)
    assert (again.counted, again.changed, again.up, again.down) == (False, False, 1, 0)
    assert again.status == "already counted"

    switched = store.vote("who-founded", message_key="chat1:10", voter="alice", up=False)
    assert (switched.counted, switched.changed, switched.up, switched.down) == (True, True, 0, 1)
    assert switched.status == "switched"

    other = store.vote("who-founded", message_key="chat1:10", voter="bob", up=False)
    assert (other.counted, other.up, other.down) == (True, 0, 2)

    elsewhere = store.vote("who-founded", message_key="chat2:99", voter="alice", up=True)
    assert (elsewhere.counted, elsewhere.up, elsewhere.down) == (True, 1, 2)

    store.vote("article-date", message_key="chat1:11", voter="alice", up=True)
    votes = store.votes()
    assert {k: (v.up, v.down) for k, v in votes.items()} == {
        "article-date": (1, 0),
        "who-founded": (1, 2),
    }
    assert votes["who-founded"].weak and not votes["article-date"].weak
    assert store.stats() == {
        "unanswered": 0,
        "max_rows": 10_000,
        "votes_up": 2,
        "votes_down": 2,
        "entries_voted": 2,
    }


def test_the_database_cannot_tell_who_voted(store: Store, db_path: Path) -> None:
    store.vote("who-founded", message_key="chat-4242:10", voter="user-777", up=True)
    columns = {row[1] for row in raw_rows(db_path, "PRAGMA table_info(votes)")}
    assert columns == {"ballot", "entry_id", "up"}
    ((ballot, entry_id, up),) = raw_rows(db_path, "SELECT ballot, entry_id, up FROM votes")
    assert (entry_id, up) == ("who-founded", 1)
    assert len(ballot) == 64 and int(ballot, 16) >= 0
    assert "777" not in ballot and "4242" not in ballot
    with open(db_path, "rb") as raw:  # nowhere in the file either
        assert b"user-777" not in raw.read()
    with Store(db_path, vote_key=b"another key") as other:  # the key is not in the file
        assert other.vote("who-founded", message_key="chat-4242:10", voter="user-777", up=True)


def test_stats_on_an_empty_store(store: Store) -> None:
    assert store.stats()["votes_up"] == 0
    assert store.votes() == {}


# --- errors ------------------------------------------------------------------------------


def test_a_folder_as_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder") as caught:
        Store(tmp_path, vote_key=KEY)
    assert str(tmp_path) in str(caught.value) and "Fix:" in str(caught.value)
    assert isinstance(caught.value, BotError)


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="not a database") as caught:
        Store(path, vote_key=KEY)
    message = str(caught.value)
    assert str(path) in message and "move the file aside" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    Store(db_path, vote_key=KEY).close()
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this bot"):
        Store(db_path, vote_key=KEY)


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


def test_closing_twice_is_fine_and_use_after_close_is_a_bug(db_path: Path) -> None:
    store = Store(db_path, vote_key=KEY)
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count_unanswered()
    with pytest.raises(ValueError):
        Store(db_path, vote_key=b"")
