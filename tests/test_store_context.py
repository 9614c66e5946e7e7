"""Each conversation's last answer (`remember_context`, `recall_context`, `forget_context`),
on both back ends (a real SQLite file, a real PostgreSQL database): recalled within
`max_age` only, the last write wins, keys kept apart, shared by replicas, ids only in the
table, expired rows pruned a bounded batch per write, and the upgrade of a database that
schema version 5 wrote, with its data."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from helpers.backends import Backend

from bot.store import SCHEMA_VERSION, Store
from bot.store.base import CONTEXT_MEMORY, CONTEXT_PRUNE_BATCH
from bot.store.migrations import POSTGRES_STEPS, SQLITE_STEPS

T0 = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
PREVIOUS_VERSION = 5
"""The schema version before conversation context had a table."""


class ContextBackend(Backend):
    """A back end that can also count the context table's rows."""

    def context_rows(self) -> int:
        ((count,),) = self.raw("SELECT count(*) FROM conversation_context")
        return int(count)


@pytest.fixture
def backend(any_backend: Backend) -> ContextBackend:
    return ContextBackend(any_backend.name, any_backend.spec)


# --- remember, recall, forget --------------------------------------------------------------


def test_a_remembered_answer_is_recalled_and_survives_a_restart(backend: Backend) -> None:
    with backend.open() as store:
        assert store.recall_context("chat:123", max_age=MINUTE, now=T0) is None
        store.remember_context("chat:123", "what-is-isis-k", now=T0)
        assert store.recall_context("chat:123", max_age=MINUTE, now=T0) == "what-is-isis-k"
        store.remember_context("chat:8", "naive", now=datetime(2024, 9, 20, 12, 0))  # as UTC
    with backend.open() as restarted:
        assert restarted.recall_context("chat:123", max_age=MINUTE, now=T0) == "what-is-isis-k"
        assert restarted.recall_context("chat:8", max_age=timedelta(0), now=T0) == "naive"
        restarted.remember_context("chat:9", "death-toll")  # `now` left out: the real clock
        assert restarted.recall_context("chat:9", max_age=MINUTE) == "death-toll"
        assert restarted.recall_context("chat:123", max_age=timedelta.max) is None  # pruned


def test_an_answer_older_than_max_age_is_no_context(store: Store) -> None:
    store.remember_context("chat:1", "e", now=T0)
    assert store.recall_context("chat:1", max_age=MINUTE, now=T0 + MINUTE) == "e"  # exactly: kept
    assert store.recall_context("chat:1", max_age=MINUTE, now=T0 + MINUTE + SECOND) is None
    assert store.recall_context("chat:1", max_age=2 * MINUTE, now=T0 + MINUTE + SECOND) == "e"
    assert store.recall_context("chat:1", max_age=MINUTE, now=T0 - SECOND) == "e"  # clock skew
    assert store.recall_context("chat:1", max_age=timedelta.max, now=T0) == "e"  # no limit
    with pytest.raises(ValueError, match="max_age"):
        store.recall_context("chat:1", max_age=-MINUTE, now=T0)


def test_a_later_answer_replaces_the_earlier_and_restarts_the_clock(store: Store) -> None:
    store.remember_context("chat:1", "first", now=T0)
    store.remember_context("chat:1", "second", now=T0 + 5 * MINUTE)
    assert store.recall_context("chat:1", max_age=MINUTE, now=T0 + 6 * MINUTE) == "second"
    store.remember_context("chat:1", "third", now=T0 + 6 * MINUTE)  # the same time: still wins
    assert store.recall_context("chat:1", max_age=MINUTE, now=T0 + 6 * MINUTE) == "third"


def test_forgetting_removes_only_that_conversation(store: Store, backend: Backend) -> None:
    store.remember_context("chat:1", "e", now=T0)
    store.remember_context("chat:2", "f", now=T0)
    store.forget_context("chat:1")
    store.forget_context("chat:1")  # twice: nothing to do
    store.forget_context("chat:never-seen")
    assert store.recall_context("chat:1", max_age=MINUTE, now=T0) is None
    assert store.recall_context("chat:2", max_age=MINUTE, now=T0) == "f"
    assert backend.context_rows() == 1  # deleted, not hidden
    store.remember_context("chat:1", "g", now=T0)  # and remembered again afterwards
    assert store.recall_context("chat:1", max_age=MINUTE, now=T0) == "g"


def test_keys_are_kept_apart(store: Store) -> None:
    keys = {
        "chat:123": "a",
        "chat:-100:user:7:thread:0": "b",
        "chat:-100:user:8:thread:0": "c",
        "chat:-100:user:7:thread:5": "d",
        "chat:-100": "e",
        "CHAT:123": "f",  # opaque: no folding of case
    }
    for key, entry in keys.items():
        store.remember_context(key, entry, now=T0)
    assert {k: store.recall_context(k, max_age=MINUTE, now=T0) for k in keys} == keys
    store.remember_context("chat:-100:user:7:thread:0", "z", now=T0)
    store.forget_context("chat:123")
    assert store.recall_context("chat:-100:user:7:thread:5", max_age=MINUTE, now=T0) == "d"
    assert store.recall_context("chat:-100:user:7:thread:0", max_age=MINUTE, now=T0) == "z"
    assert store.recall_context("CHAT:123", max_age=MINUTE, now=T0) == "f"
    assert store.recall_context("chat:12", max_age=MINUTE, now=T0) is None  # no prefix match


def test_replicas_share_each_conversations_context(backend: Backend) -> None:
    with backend.open() as one, backend.open() as two:
        one.remember_context("chat:5", "what-is-isis-k", now=T0)
        assert two.recall_context("chat:5", max_age=MINUTE, now=T0) == "what-is-isis-k"
        two.remember_context("chat:5", "death-toll", now=T0 + SECOND)
        assert one.recall_context("chat:5", max_age=MINUTE, now=T0 + SECOND) == "death-toll"
        one.forget_context("chat:5")
        assert two.recall_context("chat:5", max_age=MINUTE, now=T0 + SECOND) is None


def test_the_table_holds_ids_and_a_utc_time_only(store: Store, backend: Backend) -> None:
    store.remember_context("chat:-100:user:7:thread:0", "what-is-isis-k", now=T0)
    assert backend.columns("conversation_context") == {"key", "entry_id", "answered_at"}
    ((key, entry, at),) = backend.raw("SELECT key, entry_id, answered_at FROM conversation_context")
    assert (key, entry) == ("chat:-100:user:7:thread:0", "what-is-isis-k")
    stored = datetime.fromisoformat(at) if isinstance(at, str) else at
    assert stored == T0


def test_a_closed_store_refuses(backend: Backend) -> None:
    store = backend.open()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.remember_context("chat:1", "e", now=T0)
    with pytest.raises(RuntimeError, match="closed"):
        store.recall_context("chat:1", max_age=MINUTE, now=T0)


# --- pruning -------------------------------------------------------------------------------


def keys_left(backend: Backend) -> list[str]:
    return [k for (k,) in backend.raw("SELECT key FROM conversation_context ORDER BY key")]


def test_old_rows_are_pruned_oldest_first_a_bounded_batch_per_write(
    store: Store, backend: Backend
) -> None:
    old = CONTEXT_PRUNE_BATCH + 5
    for i in range(old):  # one a second, the oldest first
        store.remember_context(f"old:{i:04d}", "e", now=T0 + i * SECOND)
    assert backend.context_rows() == old

    store.remember_context("new:a", "e", now=T0 + CONTEXT_MEMORY)  # "old:0000" a day old: kept
    assert backend.context_rows() == old + 1

    store.remember_context("new:b", "e", now=T0 + CONTEXT_MEMORY + 3 * SECOND)
    assert keys_left(backend)[:2] == ["new:a", "new:b"]
    assert "old:0002" not in keys_left(backend) and "old:0003" in keys_left(backend)

    later = T0 + CONTEXT_MEMORY + old * SECOND  # every old row has expired now
    store.remember_context("new:c", "e", now=later)
    assert backend.context_rows() == old - 3 - CONTEXT_PRUNE_BATCH + 3  # a batch at most
    assert keys_left(backend)[3:] == [f"old:{i:04d}" for i in range(3 + CONTEXT_PRUNE_BATCH, old)]

    store.remember_context("new:c", "f", now=later)  # a rewrite of the same key prunes too
    assert keys_left(backend) == ["new:a", "new:b", "new:c"]
    assert store.recall_context("new:c", max_age=MINUTE, now=later) == "f"


def test_an_old_row_is_never_recalled_and_a_rewrite_outlives_pruning(store: Store) -> None:
    store.remember_context("chat:1", "stale", now=T0)
    store.remember_context("chat:2", "e", now=T0)
    day_later = T0 + CONTEXT_MEMORY + SECOND
    assert store.recall_context("chat:1", max_age=MINUTE, now=day_later) is None
    store.remember_context("chat:1", "fresh", now=day_later)  # expired itself: rewritten, kept
    assert store.recall_context("chat:1", max_age=MINUTE, now=day_later) == "fresh"
    assert store.recall_context("chat:2", max_age=2 * CONTEXT_MEMORY, now=day_later) is None


def test_replicas_remembering_and_pruning_at_once_neither_fail_nor_wait(backend: Backend) -> None:
    """Four threads on two stores write shared and own keys while expired rows are pruned
    (on PostgreSQL each write locks its row, then prunes with SKIP LOCKED)."""
    with backend.open() as one, backend.open() as two:
        for i in range(2 * CONTEXT_PRUNE_BATCH):
            one.remember_context(f"old:{i}", "e", now=T0)
        now = T0 + 2 * CONTEXT_MEMORY
        start = threading.Barrier(4)
        failures: list[BaseException] = []

        def write(store: Store, thread: int) -> None:
            try:
                start.wait()
                for i in range(40):
                    store.remember_context("chat:shared", f"t{thread}-{i}", now=now)
                    store.remember_context(f"chat:{thread}:{i % 5}", f"t{thread}-{i}", now=now)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=write, args=((one, two)[t % 2], t)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads) and failures == []
        assert two.recall_context("chat:shared", max_age=MINUTE, now=now) in {
            f"t{t}-39" for t in range(4)
        }
        for t in range(4):
            assert one.recall_context(f"chat:{t}:4", max_age=MINUTE, now=now) == f"t{t}-39"
        assert not any(k.startswith("old:") for k in keys_left(backend))
        assert backend.context_rows() == 1 + 4 * 5


# --- migration -----------------------------------------------------------------------------


def build_previous_version(backend: Backend) -> None:
    """A database as a bot on schema version 5 left it: steps 1 to 5, run as that bot ran
    them (the steps never change once shipped), with rows in every table it had."""
    data = (
        "INSERT INTO unanswered (text, asked_at, score, chat_type) VALUES"
        " ('who founded isis-k?', '2024-09-20T12:00:00.000000+00:00', 30, 'cli')",
        "INSERT INTO votes (ballot, entry_id, up, update_id) VALUES ('ballot-1', 'e', %s, 7)",
        "INSERT INTO handled_updates (update_id, claimed_at, finished_at) VALUES"
        " (5, '2024-09-20T12:00:00.000000+00:00', '2024-09-20T12:00:00.000000+00:00')",
        "INSERT INTO claims (key, claimed_at) VALUES"
        " ('knowledge-refused:7', '2024-09-20T12:00:00.000000+00:00')",
        "INSERT INTO knowledge_versions (fingerprint, published_at) VALUES"
        " ('fp', '2024-09-20T12:00:00.000000+00:00')",
        "INSERT INTO knowledge_files (version, name, content) VALUES (1, 'qa.yaml', 'x')",
    )
    steps = range(1, PREVIOUS_VERSION + 1)
    if backend.name == "sqlite":
        Path(backend.spec).parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(backend.spec, isolation_level=None)) as conn:
            conn.execute("BEGIN")
            for statement in (s for step in steps for s in SQLITE_STEPS[step]):
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
            for sql in data:
                conn.execute(sql.replace("%s", "?"), (1,) if "%s" in sql else ())
            conn.execute(f"PRAGMA user_version = {PREVIOUS_VERSION}")
            conn.execute("COMMIT")
        return
    with psycopg.connect(backend.spec) as conn:
        conn.execute("CREATE TABLE bot_schema (version integer NOT NULL)")
        for step in steps:
            for statement in POSTGRES_STEPS[step]:
                conn.execute(statement)
        for sql in data:
            conn.execute(sql.encode(), (True,) if "%s" in sql else None)
        conn.execute("INSERT INTO bot_schema (version) VALUES (%s)", (PREVIOUS_VERSION,))


def test_the_new_version_is_the_one_after_the_previous() -> None:
    assert SCHEMA_VERSION == PREVIOUS_VERSION + 1
    assert set(SQLITE_STEPS) == set(POSTGRES_STEPS) == set(range(1, SCHEMA_VERSION + 1))


def test_a_version_5_database_with_data_upgrades_in_place(backend: Backend) -> None:
    build_previous_version(backend)
    assert backend.schema_version() == PREVIOUS_VERSION
    assert backend.columns("conversation_context") == set()

    with backend.open() as store:
        assert backend.schema_version() == SCHEMA_VERSION
        assert [q.text for q in store.unanswered()] == ["who founded isis-k?"]
        assert store.votes()["e"].up == 1
        assert not store.claim_update(5, holder="new", now=T0 + MINUTE)  # finished before
        assert store.claim_once("knowledge-refused:7") is False
        latest = store.latest_knowledge()
        assert latest is not None and dict(latest.files) == {"qa.yaml": "x"}
        store.remember_context("chat:1", "e", now=T0)

    with backend.open() as one, backend.open() as two:  # a second open runs nothing twice
        assert backend.schema_version() == SCHEMA_VERSION
        assert two.recall_context("chat:1", max_age=MINUTE, now=T0) == "e"
        assert one.count_unanswered() == 1
    assert backend.columns("conversation_context") == {"key", "entry_id", "answered_at"}
