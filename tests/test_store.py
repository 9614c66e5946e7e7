"""The store, on both back ends (a real SQLite file, a real PostgreSQL database): persistence,
privacy, bounds, concurrency, votes in click order, update claims, published knowledge,
the send budget and schema migrations. What only one back end has (the SQLite file's
bytes, its upgrades from version 1; PostgreSQL's NOTIFY and shared budget) is tested on
that one; the masking rules themselves are in test_masking.py."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from helpers.backends import Backend
from helpers.postgres import PostgresServer

from bot.store import (
    HOLDER_TIMEOUT,
    KNOWLEDGE_KEPT,
    MAX_TEXT_CHARS,
    PRUNE_EVERY,
    SCHEMA_VERSION,
    UPDATE_MEMORY,
    SendRates,
    Store,
)

T0 = datetime(2024, 9, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def backend(any_backend: Backend) -> Backend:
    return any_backend


@pytest.fixture
def pg(postgres_server: PostgresServer) -> Backend:
    """A PostgreSQL database alone, for what only that back end does."""
    return Backend("postgres", postgres_server.fresh_database())


def run_threads(target: Callable[..., None], arguments: list[tuple[Any, ...]]) -> None:
    threads = [threading.Thread(target=target, args=args) for args in arguments]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- unanswered questions ----------------------------------------------------------------


def test_unanswered_survive_a_restart(backend: Backend) -> None:
    with backend.open() as store:
        store.record_unanswered("who founded isis-k", score=31.5, chat_type="private", when=T0)
        store.record_unanswered(
            "  what is   the weather  ",
            score=12.25,
            chat_type="group",
            closest_id="article-topic",
            when=T0 + timedelta(minutes=1),
        )
    with backend.open() as reopened:
        rows = reopened.unanswered()
        assert reopened.count_unanswered() == 2
    assert [r.text for r in rows] == ["what is the weather", "who founded isis-k"]
    newest = rows[0]
    assert newest.asked_at == T0 + timedelta(minutes=1)
    assert newest.asked_at.tzinfo == UTC
    assert (newest.score, newest.chat_type, newest.closest_id) == (12.2, "group", "article-topic")
    assert rows[1].closest_id is None


def test_unanswered_table_holds_no_user_identifiers(store: Store, backend: Backend) -> None:
    store.record_unanswered("who founded isis-k", score=30, chat_type="supergroup", when=T0)
    columns = backend.columns("unanswered")
    assert columns == {"id", "text", "asked_at", "score", "chat_type", "closest_id"}
    assert not any(word in c for c in columns for word in ("user", "name", "chat_id", "from"))
    ((text, score, chat_type, closest),) = backend.raw(
        "SELECT text, score, chat_type, closest_id FROM unanswered"
    )
    assert (text, score, chat_type, closest) == ("who founded isis-k", 30.0, "supergroup", None)


def test_text_is_trimmed_and_capped_and_odd_input_is_tamed(store: Store) -> None:
    store.record_unanswered("x" * 600, score=0, chat_type="cli", when=T0)
    store.record_unanswered("   \n ", score=0, chat_type="cli")  # nothing to keep
    store.record_unanswered("hi", score=0, chat_type="sender", when=T0 - DAY)
    naive = datetime(2024, 9, 19, 8, 30)  # taken as UTC
    store.record_unanswered("naive", score=0, chat_type="inline", when=naive)
    rows = store.unanswered()
    assert [r.text for r in rows] == ["x" * 500, "hi", "naive"]
    assert rows[1].chat_type == "other"
    assert rows[2].asked_at == naive.replace(tzinfo=UTC)
    assert [r.text for r in store.unanswered(limit=1)] == ["x" * 500]


def test_only_the_newest_max_rows_are_kept(backend: Backend) -> None:
    with backend.open(max_rows=5) as store:
        for i in range(8):
            store.record_unanswered(f"q{i}", score=i, chat_type="private", when=T0 + timedelta(i))
        assert store.count_unanswered() == 5
        assert [r.text for r in store.unanswered()] == ["q7", "q6", "q5", "q4", "q3"]
        store.record_unanswered("old", score=0, chat_type="private", when=T0 - DAY)
        assert "old" not in {r.text for r in store.unanswered()}  # older than all: dropped


def test_masking_happens_before_storing_and_before_the_length_cap(
    store: Store, backend: Backend
) -> None:
    question = (
        "is jane.roe@example.org right? call me on +44 20 7946 0958 or ask @jane_roe, "
        "https://x.example/a?uid=31337 id 98765432 - how many died in 2021, 170?"
    )
    store.record_unanswered(question, score=20, chat_type="private", when=T0)
    (row,) = store.unanswered()
    assert row.text == (
        "is [email] right? call me on [phone] or ask [user], [url] id [number]"
        " - how many died in 2021, 170?"
    )
    assert backend.raw("SELECT text FROM unanswered") == [(row.text,)]
    store.record_unanswered(
        "x" * (MAX_TEXT_CHARS - 6) + " jane.roe@example.org", score=0, chat_type="cli"
    )
    assert store.unanswered(limit=1)[0].text == "x" * (MAX_TEXT_CHARS - 6)  # no half a mask
    store.record_unanswered("y" * (MAX_TEXT_CHARS - 8) + " a@b.io", score=0, chat_type="cli")
    assert store.unanswered(limit=1)[0].text == "y" * (MAX_TEXT_CHARS - 8) + " [email]"


# --- concurrency -------------------------------------------------------------------------


def _record_many(store: Store, prefix: str, n: int, start: threading.Barrier) -> None:
    start.wait()
    for i in range(n):
        store.record_unanswered(f"{prefix} {i}", score=1, chat_type="group")


def test_two_threads_sharing_one_store_lose_nothing(store: Store) -> None:
    start = threading.Barrier(2)
    run_threads(_record_many, [(store, f"t{i}", 200, start) for i in range(2)])
    assert store.count_unanswered() == 400
    assert len({r.text for r in store.unanswered()}) == 400


def test_two_stores_on_one_database_lose_nothing(backend: Backend) -> None:
    with backend.open() as one, backend.open() as two:
        start = threading.Barrier(2)
        run_threads(_record_many, [(one, "one", 200, start), (two, "two", 200, start)])
        assert one.count_unanswered() == two.count_unanswered() == 400


OPEN_IN_CHILD = """
import sys
from pathlib import Path
spec = sys.argv[1]
if spec.startswith("postgresql://"):
    from bot.store.postgres import PostgresStore
    store = PostgresStore(spec, vote_key=b"k")
else:
    from bot.store import SQLiteStore
    store = SQLiteStore(Path(spec), vote_key=b"k")
print("ready", flush=True)
sys.stdin.readline()
"""

RECORDING_CHILD = (
    OPEN_IN_CHILD
    + """
for i in range(200):
    store.record_unanswered(f"child {i}", score=1, chat_type="cli")
    store.vote("e", message_key=f"m{i}", voter="child", up=True)
store.close()
"""
)

CLAIMING_CHILD = (
    OPEN_IN_CHILD
    + """
print(*[i for i in range(300) if store.claim_update(i)], flush=True)
store.close()
"""
)


def in_child(code: str, backend: Backend, mine: Callable[[], object]) -> tuple[object, str]:
    """Run `code` in another process at the same moment as `mine` here; both results."""
    with subprocess.Popen(
        [sys.executable, "-c", code, backend.spec],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.close()
        result = mine()
        output = child.stdout.read()
        assert child.wait(timeout=30) == 0
    return result, output


def test_two_processes_at_once_lose_nothing(store: Store, backend: Backend) -> None:
    def record() -> None:
        for i in range(200):
            store.record_unanswered(f"parent {i}", score=1, chat_type="cli")

    in_child(RECORDING_CHILD, backend, record)
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


def test_the_last_click_wins_whichever_replica_commits_last(backend: Backend) -> None:
    """Clicks 👍 (update 10), 👎 (11), 👍 (12) reach two replicas out of order."""
    with backend.open() as one, backend.open() as two:
        late = one.vote("e", message_key="1:5", voter="ann", up=True, update_id=12)
        assert (late.status, late.up, late.down) == ("counted", 1, 0)
        middle = two.vote("e", message_key="1:5", voter="ann", up=False, update_id=11)
        assert (middle.status, middle.superseded, middle.up, middle.down) == (
            "already counted",
            True,
            1,
            0,
        )
        first = one.vote("e", message_key="1:5", voter="ann", up=True, update_id=10)
        assert first.superseded and not first.counted
        again = two.vote("e", message_key="1:5", voter="ann", up=True, update_id=12)
        assert again.status == "already counted" and not again.superseded  # re-delivered
        assert one.votes()["e"] == two.votes()["e"]
        assert (one.votes()["e"].up, one.votes()["e"].down) == (1, 0)

        one.vote("e", message_key="1:5", voter="ann", up=True, update_id=20)
        stale = two.vote("e", message_key="1:5", voter="ann", up=False, update_id=15)
        assert stale.superseded  # a same-way click still moved the order forward
        newest = two.vote("e", message_key="1:5", voter="ann", up=False, update_id=21)
        assert newest.status == "switched" and (newest.up, newest.down) == (0, 1)


def test_a_click_without_an_update_id_counts_as_the_newest(store: Store) -> None:
    store.vote("e", message_key="1:5", voter="ann", up=True, update_id=50)
    assert store.vote("e", message_key="1:5", voter="ann", up=False).status == "switched"
    later = store.vote("e", message_key="1:5", voter="ann", up=True, update_id=7)
    assert later.status == "switched"  # an unordered click gives way to any ordered one
    assert store.vote("e", message_key="1:5", voter="ann", up=False, update_id=6).superseded


def _click(store: Store, clicks: list[tuple[int, bool]], start: threading.Barrier) -> None:
    start.wait()
    for update_id, up in clicks:
        store.vote("e", message_key="9:9", voter=f"v{update_id % 7}", up=up, update_id=update_id)


def test_racing_replicas_keep_each_persons_last_click(backend: Backend) -> None:
    """Seven people click 400 times; two replicas apply the clicks in opposite orders."""
    clicks = [(i, (i * 7919) % 3 == 0) for i in range(1, 401)]
    last = {f"v{v}": up for v in range(7) for i, up in clicks if i % 7 == v}
    with backend.open() as one, backend.open() as two:
        start = threading.Barrier(2)
        run_threads(_click, [(one, clicks, start), (two, clicks[::-1], start)])
        count = one.votes()["e"]
    assert (count.up, count.down) == (sum(last.values()), 7 - sum(last.values()))


def test_the_database_cannot_tell_who_voted(store: Store, backend: Backend) -> None:
    store.vote("who-founded", message_key="chat-4242:10", voter="user-777", up=True, update_id=3)
    assert backend.columns("votes") == {"ballot", "entry_id", "up", "update_id"}
    ((ballot, entry_id, up),) = backend.raw("SELECT ballot, entry_id, up FROM votes")
    assert (entry_id, bool(up)) == ("who-founded", True)
    assert len(ballot) == 64 and int(ballot, 16) >= 0
    assert "777" not in ballot and "4242" not in ballot
    with backend.open(vote_key=b"another key") as other:  # the key is not in the database
        assert other.vote("who-founded", message_key="chat-4242:10", voter="user-777", up=True)


def test_stats_on_an_empty_store(store: Store) -> None:
    assert store.stats()["votes_up"] == 0
    assert store.votes() == {}


# --- retention -----------------------------------------------------------------------------


def test_old_questions_are_deleted_when_recording_at_most_once_a_minute(backend: Backend) -> None:
    def texts() -> list[str]:
        return [row[0] for row in backend.raw("SELECT text FROM unanswered ORDER BY id")]

    with backend.open(retention_days=90) as store:
        store.record_unanswered("old", score=0, chat_type="cli", when=T0)
        store.record_unanswered("b", score=0, chat_type="cli", when=T0 + 90 * DAY)
        assert texts() == ["old", "b"]

        half_a_minute = T0 + 90 * DAY + PRUNE_EVERY / 2  # "old" expired, but pruned just now
        store.record_unanswered("c", score=0, chat_type="cli", when=half_a_minute)
        assert "old" in texts()

        store.record_unanswered("d", score=0, chat_type="cli", when=T0 + 90 * DAY + PRUNE_EVERY)
        assert texts() == ["b", "c", "d"]


def test_reading_never_shows_an_expired_question(backend: Backend) -> None:
    with backend.open(retention_days=30) as store:
        store.record_unanswered("first secret question", score=0, chat_type="cli", when=T0)
        store.record_unanswered("second", score=0, chat_type="cli", when=T0 + 10 * DAY)
        assert store.count_unanswered(now=T0 + 30 * DAY) == 2  # exactly 30 days: kept
        assert [r.text for r in store.unanswered(now=T0 + 31 * DAY)] == ["second"]
        assert store.stats(now=T0 + 41 * DAY)["unanswered"] == 0
        assert store.count_unanswered(now=T0) == 0  # deleted, not hidden
    assert backend.raw("SELECT count(*) FROM unanswered") == [(0,)]


def test_without_a_retention_only_the_count_bounds_the_log(backend: Backend) -> None:
    with backend.open(max_rows=3) as store:
        for i in range(4):
            store.record_unanswered(f"q{i}", score=0, chat_type="cli", when=T0 + i * 365 * DAY)
        assert [r.text for r in store.unanswered(now=T0 + 5000 * DAY)] == ["q3", "q2", "q1"]


def test_a_huge_retention_is_no_retention(backend: Backend) -> None:
    with backend.open(retention_days=10**12) as store:
        store.record_unanswered("ancient", score=0, chat_type="cli", when=datetime(1, 1, 2))
        assert store.count_unanswered() == 1
        assert "retention_days=1000000000000" in repr(store)


def test_bad_limits_are_refused_and_closing_twice_is_fine(backend: Backend) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        backend.open(retention_days=0)
    with pytest.raises(ValueError, match="max_rows"):
        backend.open(max_rows=0)
    with pytest.raises(ValueError, match="vote_key"):
        backend.open(vote_key=b"")
    store = backend.open()
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count_unanswered()


# --- handled updates ---------------------------------------------------------------------


def test_an_update_is_claimed_once_and_can_be_released(backend: Backend) -> None:
    with backend.open() as store:
        assert store.claim_update(1001) is True
        assert store.claim_update(1001) is False  # Telegram re-sent it
        assert store.claim_update(1002) is True
        store.forget_update(1002)  # the handler failed before replying
        store.forget_update(5)  # never claimed: nothing to do
        assert store.claim_update(1002) is True  # the re-delivery is handled
    with backend.open() as reopened:  # a restart remembers
        assert reopened.claim_update(1001) is False
    assert backend.columns("handled_updates") == {  # no chat, no user
        "update_id",
        "claimed_at",
        "holder",
        "finished_at",
    }


def test_claims_are_forgotten_after_a_day(store: Store, backend: Backend) -> None:
    store.claim_update(7, now=T0)
    store.claim_update(8, now=T0 + UPDATE_MEMORY / 2)
    assert store.claim_update(7, now=T0 + UPDATE_MEMORY) is False  # within the day
    assert store.claim_update(9, now=T0 + UPDATE_MEMORY + PRUNE_EVERY) is True  # prunes 7
    assert backend.raw("SELECT update_id FROM handled_updates ORDER BY 1") == [(8,), (9,)]
    assert store.claim_update(7, now=T0 + UPDATE_MEMORY + PRUNE_EVERY) is True


def _claim_all(store: Store, ids: list[int], race: threading.Barrier, won: list[int]) -> None:
    for i in ids:
        race.wait()  # all threads claim this id at the same moment
        if store.claim_update(i):
            won.append(i)


def test_two_stores_claim_each_id_exactly_once(backend: Backend) -> None:
    ids = list(range(1_000, 1_300))
    with backend.open() as one, backend.open() as two:
        race = threading.Barrier(4)
        wins: list[list[int]] = [[] for _ in range(4)]
        run_threads(_claim_all, [((one, two)[n % 2], ids, race, wins[n]) for n in range(4)])
    counts = Counter(i for won in wins for i in won)
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    assert backend.raw("SELECT count(*) FROM handled_updates") == [(len(ids),)]


def test_two_processes_claim_each_id_exactly_once(store: Store, backend: Backend) -> None:
    mine, output = in_child(
        CLAIMING_CHILD, backend, lambda: [i for i in range(300) if store.claim_update(i)]
    )
    theirs = [int(i) for i in output.split()]
    assert isinstance(mine, list) and sorted(mine + theirs) == list(range(300))


def _take_over(
    store: Store, update_id: int, holder: str, race: threading.Barrier, won: list[str]
) -> None:
    race.wait()  # both claim at the same moment
    if store.claim_update(update_id, holder=holder, now=T0 + HOLDER_TIMEOUT * 2):
        won.append(holder)


def test_a_dead_holders_unfinished_claim_is_taken_over_once(backend: Backend) -> None:
    """A SIGKILLed process's claim: its re-delivery is answered, by exactly one replica."""
    later = T0 + HOLDER_TIMEOUT * 2
    with backend.open() as dead, backend.open() as one, backend.open() as two:
        dead.heartbeat("dead", now=T0)  # ...and never again: stale after HOLDER_TIMEOUT
        one.heartbeat("one", now=later)
        two.heartbeat("two", now=later)
        for update_id in range(40, 50):
            assert dead.claim_update(update_id, holder="dead", now=T0) is True
            assert one.update_held(update_id, now=T0 + HOLDER_TIMEOUT / 2)
            race = threading.Barrier(2)
            won: list[str] = []
            run_threads(
                _take_over,
                [(one, update_id, "one", race, won), (two, update_id, "two", race, won)],
            )
            assert len(won) == 1, won
            row = backend.raw(
                f"SELECT holder, finished_at FROM handled_updates WHERE update_id = {update_id}"
            )
            assert row == [(won[0], None)]
            # The new holder is alive: a third look is refused, and told it is held.
            assert not one.claim_update(update_id, holder="three", now=later)
            assert one.update_held(update_id, now=later)


def test_a_live_holders_claim_is_not_taken_over(store: Store) -> None:
    store.heartbeat("busy", now=T0)
    assert store.claim_update(7, holder="busy", now=T0) is True
    for beat in range(1, 10):  # it waits for send tokens, beating every second
        at = T0 + timedelta(seconds=beat)
        store.heartbeat("busy", now=at)
        assert store.claim_update(7, holder="other", now=at + HOLDER_TIMEOUT / 2) is False
        assert store.update_held(7, now=at + HOLDER_TIMEOUT / 2)


def test_a_finished_claim_is_never_taken_over(store: Store, backend: Backend) -> None:
    store.heartbeat("done", now=T0)
    assert store.claim_update(8, holder="done", now=T0) is True
    store.finish_update(8, now=T0)
    store.leave("done")  # its holder is gone, and the claim still stands
    later = T0 + HOLDER_TIMEOUT * 10
    assert store.claim_update(8, holder="other", now=later) is False
    assert not store.update_held(8, now=later)
    assert store.claim_update(9, now=T0) is True  # no holder: finished at once
    assert store.claim_update(9, holder="other", now=later) is False
    finished = backend.raw("SELECT update_id FROM handled_updates WHERE finished_at IS NOT NULL")
    assert sorted(finished) == [(8,), (9,)]


def test_leaving_makes_a_holder_dead_at_once(store: Store) -> None:
    store.heartbeat("leaving", now=T0)
    assert store.claim_update(10, holder="leaving", now=T0) is True
    assert store.claim_update(10, holder="other", now=T0) is False
    store.leave("leaving")
    store.leave("never-seen")  # nothing to do
    assert store.claim_update(10, holder="other", now=T0) is True
    assert store.claim_update(11, holder="no-heartbeat", now=T0) is True
    assert store.claim_update(11, holder="other", now=T0) is True  # never alive: dead


def test_claims_from_before_holders_count_as_finished(backend: Backend) -> None:
    with backend.open() as store:
        store.claim_update(12, now=T0)
    sql = "UPDATE handled_updates SET holder = NULL, finished_at = NULL"
    if backend.name == "sqlite":
        with closing(__import__("sqlite3").connect(backend.spec)) as conn:
            conn.execute(sql)
            conn.commit()
    else:
        with psycopg.connect(backend.spec) as conn:
            conn.execute(sql)
    with backend.open() as store:
        assert store.claim_update(12, holder="new", now=T0 + DAY / 2) is False
        assert not store.update_held(12, now=T0 + DAY / 2)


# --- published knowledge -----------------------------------------------------------------

FILES = {"qa.yaml": "entries: []\n", "article.md": "# Title\n\nText ünïcode.\n"}


def test_published_knowledge_is_versioned_and_read_back(backend: Backend) -> None:
    with backend.open() as store:
        assert store.latest_knowledge() is None
        assert store.wait_for_publish(0) is None
        first = store.publish_knowledge("fp-1", FILES)
        assert store.publish_knowledge("fp-1", FILES) == first  # unchanged: no new version
        second = store.publish_knowledge("fp-2", {**FILES, "lexicon.yaml": "synonyms: {}\n"})
        assert second > first
    with backend.open() as replica:
        latest = replica.latest_knowledge()
        assert latest is not None
        assert (latest.version, latest.fingerprint) == (second, "fp-2")
        assert dict(latest.files) == {**FILES, "lexicon.yaml": "synonyms: {}\n"}
        assert latest.published_at.tzinfo == UTC
        assert abs(latest.published_at - datetime.now(UTC)) < timedelta(minutes=1)
        assert replica.wait_for_publish(0, after=first) == second


def test_only_the_newest_versions_are_kept(store: Store, backend: Backend) -> None:
    versions = [store.publish_knowledge(f"fp-{i}", {"qa.yaml": str(i)}) for i in range(13)]
    kept = backend.raw("SELECT version FROM knowledge_versions ORDER BY version")
    assert [v for (v,) in kept] == versions[-KNOWLEDGE_KEPT:]
    assert backend.raw("SELECT count(*) FROM knowledge_files") == [(KNOWLEDGE_KEPT,)]


def test_another_replica_sees_a_publish_within_two_seconds(backend: Backend) -> None:
    with backend.open() as publisher, backend.open() as replica:
        before = publisher.publish_knowledge("fp-a", FILES)
        assert replica.wait_for_publish(0.1, after=before) is None  # nothing new: times out
        seen: list[tuple[int | None, float]] = []

        def watch() -> None:
            started = time.monotonic()
            seen.append((replica.wait_for_publish(5, after=before), time.monotonic() - started))

        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.3)  # the watcher is waiting
        published_at = time.monotonic()
        version = publisher.publish_knowledge("fp-b", FILES)
        watcher.join()
        ((got, _),) = seen
        assert got == version
        assert time.monotonic() - published_at < 2.0


# --- send budget ---------------------------------------------------------------------------


def test_a_token_bucket_spaces_sends_at_its_rate(store: Store) -> None:
    t = 1_700_000_000.0
    assert store.take_send_tokens("chat:42", now=t) == 0  # a full bucket: go
    assert store.take_send_tokens("chat:42", now=t) == pytest.approx(1.0)  # 1 a second
    assert store.take_send_tokens("chat:42", now=t) == pytest.approx(2.0)
    assert store.take_send_tokens("chat:43", now=t) == 0  # another chat: its own bucket
    assert store.take_send_tokens("group:-100", now=t) == 0
    assert store.take_send_tokens("group:-100", now=t + 1) == pytest.approx(2.0)  # 20/min
    assert store.take_send_tokens("chat:42", now=t + 10) == 0  # refilled after a pause
    with pytest.raises(ValueError, match="scope"):
        store.take_send_tokens("everyone", now=t)


def test_a_lifted_overall_limit_never_waits(backend: Backend) -> None:
    with backend.open(send_rates=SendRates(overall=None)) as store:
        assert {store.take_send_tokens("global") for _ in range(50)} == {0.0}
        assert store.take_send_tokens("chat:1") == 0 and store.take_send_tokens("chat:1") > 0


# --- schema --------------------------------------------------------------------------------


def test_an_empty_database_is_migrated_once_and_reopens_unchanged(backend: Backend) -> None:
    with backend.open() as store:
        store.record_unanswered("kept?", score=1, chat_type="cli", when=T0)
        store.vote("e", message_key="1:1", voter="a", up=True, update_id=1)
        store.claim_update(5)
        store.publish_knowledge("fp", FILES)
    assert backend.schema_version() == SCHEMA_VERSION
    with backend.open() as again, backend.open() as third:  # nothing runs twice
        assert again.count_unanswered() == 1 and again.votes()["e"].up == 1
        assert not third.claim_update(5)
        latest = third.latest_knowledge()
        assert latest is not None and latest.fingerprint == "fp"
    assert backend.schema_version() == SCHEMA_VERSION


def test_replicas_starting_together_migrate_once(backend: Backend) -> None:
    opened: list[Store] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        opened.append(backend.open())

    run_threads(open_one, [() for _ in range(4)])
    try:
        assert len(opened) == 4 and backend.schema_version() == SCHEMA_VERSION
    finally:
        for store in opened:
            store.close()


def test_a_notice_is_claimed_once_by_all_replicas_for_ever(backend: Backend) -> None:
    """A refused knowledge version is reported by one replica, once (even after restarts)."""
    with backend.open() as one, backend.open() as two:
        assert one.claim_once("knowledge-refused:7") is True
        assert two.claim_once("knowledge-refused:7") is False
        assert two.claim_once("knowledge-refused:8") is True
    with backend.open() as restarted:
        assert restarted.claim_once("knowledge-refused:7") is False
