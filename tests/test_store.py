"""The store on a real SQLite file: persistence, privacy, bounds, concurrency, votes,
update claims, masking and schema upgrades."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import main
from bot.errors import BotError, ConfigError
from bot.settings import Settings
from bot.store import (
    MAX_TEXT_CHARS,
    PRUNE_EVERY,
    SCHEMA_VERSION,
    UPDATE_MEMORY,
    Store,
    StoreError,
    mask_personal_data,
)

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


def raw_bytes(path: Path) -> bytes:
    """Every byte on disk for this database: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


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


def test_retention_days_must_be_positive(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        Store(db_path, retention_days=0, vote_key=KEY)
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("UNANSWERED_RETENTION_DAYS", "0")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(secrets_dir=tmp_path / "no-secrets")
    assert str(caught.value) == (
        "UNANSWERED_RETENTION_DAYS='0' must be a whole number of days from 1 to 36500"
    )
    monkeypatch.delenv("UNANSWERED_RETENTION_DAYS")
    assert Settings.from_env(secrets_dir=tmp_path / "no-secrets").unanswered_retention_days == 90


# --- masking personal data ---------------------------------------------------------------

MASKED = [
    # e-mail addresses, also inside text, with odd local parts and in other scripts
    ("my email is john.doe@example.com", "my email is [email]"),
    ("Write to JOHN_DOE+news@mail.example.co.uk.", "Write to [email]."),
    ("contact: иван.петров@пример.рф please", "contact: [email] please"),
    ("x(jane@ex.org)", "x([email])"),
    ("email:a@b.io,thanks", "email:[email],thanks"),
    ("mailto:bob@example.org", "mailto:[email]"),
    ("two: a@x.com b%c@y.org", "two: [email] [email]"),
    # phone numbers: international and local, spaces, dashes, dots, parentheses
    ("call +44 20 7946 0958 now", "call [phone] now"),
    ("+1 (555) 123-4567", "[phone]"),
    ("(555) 123-4567", "[phone]"),
    ("(555)123-4567", "[phone]"),
    ("555-123-4567", "[phone]"),
    ("555.123.4567", "[phone]"),
    ("123-4567", "[phone]"),
    ("+7 912 345-67-89", "[phone]"),
    ("+49 (0)30 1234567", "[phone]"),
    ("+93 70 123 4567", "[phone]"),
    ("0093 70 123 4567", "[phone]"),
    ("+33 6 12 34 56 78", "[phone]"),
    ("06 12 34 56 78", "[phone]"),
    ("(0791) 234567", "[phone]"),
    ("+12345678", "[phone]"),
    ("tel.+44 20 7946 0958", "tel.[phone]"),
    ("Tel:555-123-4567!", "Tel:[phone]!"),
    ("+1 555 123 4567 or +1 555 765 4321", "[phone] or [phone]"),
    ("+٩٣ ٧٠ ١٢٣ ٤٥٦٧", "[phone]"),  # Arabic-Indic digits
    ("شماره من ۰۷۹ ۱۲۳ ۴۵۶۷ است", "شماره من [phone] است"),  # Persian digits
    # @usernames
    ("ask @john_doe about it", "ask [user] about it"),
    ("@Durov?", "[user]?"),
    ("cc @user1, @user2", "cc [user], [user]"),
    ("medium.com/@someone/post", "medium.com/[user]/post"),
    # links that carry a query, a fragment or a password
    ("https://example.com/page?id=42&token=abc", "[url]"),
    ("see www.example.com/a?ref=me.", "see [url]."),
    ("(https://t.co/x?s=20)", "([url])"),
    ("https://example.com/#access_token=xyz", "[url]"),
    ("https://user:pw@example.com/", "[url]"),
    ("tg://resolve?domain=somebody", "[url]"),
    # long digit runs and long digit groups
    ("my id is 123456789", "my id is [number]"),
    ("1234567", "[number]"),
    ("id12345678", "id[number]"),
    ("card 4111 1111 1111 1111", "card [number]"),
    ("۰۷۹۱۲۳۴۵۶۷", "[number]"),
    ("ｔｅｓｔ１２３４５６７", "ｔｅｓｔ[number]"),  # fullwidth digits
    ("2015 1234567", "2015 [number]"),
    ("https://bbc.com/news/world-asia-58333533", "https://bbc.com/news/world-asia-[number]"),
]

KEPT = [
    "what happened in 2014?",
    "how many died, 170 or 13?",
    "13 US troops and 170 Afghans",
    "15 august 2021",
    "on 26 August 2021 at 18:00",
    "between 2014-2015",
    "2014–2015",
    "1996-2001",
    "2014 2015 2016",
    "on 26.08.2021",
    "2021-08-26",
    "26/08/2021",
    "26 08 2021",
    "9/11",
    "at 15:00",
    "123456",
    "1,000,000 dollars",
    "1 000 000 people",
    "1.000.000",
    "2 500 000",
    "in 2014 170 people died",
    "(2014) 170 died",
    "ISIS-K 2015 10000 fighters",
    "covid-19 2020 2021",
    "K2 3000",
    "ISIS-K vs al-Qaeda?",
    "what is isis-k?",
    "C++ a+b=7 + 5",
    "email me",
    "meet @ 5pm",
    "price @1.5",
    "isis@kabul",
    "https://www.bbc.com/news/world-asia",
    "what is https://x.com?",
    "Wie viele Menschen starben 2021?",
    "داعش خراسان ۲۰۱۵",
    "۲۰۱۴-۲۰۱۵",
    "x²³⁴⁵⁶⁷⁸",
    "",
]


@pytest.mark.parametrize(("text", "masked"), MASKED)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked
    assert mask_personal_data(masked) == masked


@pytest.mark.parametrize("text", KEPT)
def test_what_people_ask_about_is_kept(text: str) -> None:
    assert mask_personal_data(text) == text


@given(st.text(alphabet=st.sampled_from("ab1٣@.-+ ()?#/:_é]x0"), max_size=40) | st.text())
def test_masking_is_idempotent_and_leaves_no_long_digit_run(text: str) -> None:
    masked = mask_personal_data(text)
    assert mask_personal_data(masked) == masked
    assert not re.search(r"\d{7}", masked)


def test_masking_stays_linear_on_hostile_input() -> None:
    """A guard against catastrophic backtracking: each takes ~5 ms; 1 s would be a bug."""
    hostile = ["1-" * 2000, "a@" * 2000, "+1 " * 1400, "a." * 2000 + "@", "(1)" * 1300]
    hostile += ["1 " * 2000 + "x", "www." + "a" * 4000, "x@" + "a." * 2000, "a-" * 2000 + "://"]
    started = time.perf_counter()
    for text in hostile:
        mask_personal_data(text)
    assert time.perf_counter() - started < 1.0


def test_personal_data_never_reaches_the_file(store: Store, db_path: Path) -> None:
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
    on_disk = raw_bytes(db_path)
    for secret in (b"jane.roe", b"example.org", b"7946", b"jane_roe", b"31337", b"98765432"):
        assert secret not in on_disk
    store.close()
    assert b"jane.roe" not in raw_bytes(db_path)


def test_masking_happens_before_the_length_cap(store: Store) -> None:
    question = "x" * (MAX_TEXT_CHARS - 6) + " jane.roe@example.org"  # straddles the cut
    store.record_unanswered(question, score=0, chat_type="cli", when=T0)
    (row,) = store.unanswered()
    assert row.text == "x" * (MAX_TEXT_CHARS - 6)  # neither half an address nor half a mask
    store.record_unanswered("y" * (MAX_TEXT_CHARS - 8) + " a@b.io", score=0, chat_type="cli")
    assert store.unanswered(limit=1)[0].text == "y" * (MAX_TEXT_CHARS - 8) + " [email]"


# --- retention -----------------------------------------------------------------------------

DAY = timedelta(days=1)


def test_old_questions_are_deleted_when_recording_at_most_once_a_minute(db_path: Path) -> None:
    with Store(db_path, retention_days=90, vote_key=KEY) as store:
        store.record_unanswered("old", score=0, chat_type="cli", when=T0)
        store.record_unanswered("b", score=0, chat_type="cli", when=T0 + 90 * DAY)
        assert [r[0] for r in raw_rows(db_path, "SELECT text FROM unanswered")] == ["old", "b"]

        half_a_minute = T0 + 90 * DAY + PRUNE_EVERY / 2  # "old" expired, but pruned just now
        store.record_unanswered("c", score=0, chat_type="cli", when=half_a_minute)
        assert "old" in {r[0] for r in raw_rows(db_path, "SELECT text FROM unanswered")}

        later = T0 + 90 * DAY + PRUNE_EVERY
        store.record_unanswered("d", score=0, chat_type="cli", when=later)
        assert [r[0] for r in raw_rows(db_path, "SELECT text FROM unanswered")] == [
            "b",
            "c",
            "d",
        ]


def test_reading_never_shows_an_expired_question(db_path: Path) -> None:
    with Store(db_path, retention_days=30, vote_key=KEY) as store:
        store.record_unanswered("first secret question", score=0, chat_type="cli", when=T0)
        store.record_unanswered("second", score=0, chat_type="cli", when=T0 + 10 * DAY)
        assert store.count_unanswered(now=T0 + 30 * DAY) == 2  # exactly 30 days: kept
        assert [r.text for r in store.unanswered(now=T0 + 31 * DAY)] == ["second"]
        assert store.stats(now=T0 + 41 * DAY)["unanswered"] == 0
        assert store.count_unanswered(now=T0) == 0  # deleted, not hidden
    assert b"first secret question" not in raw_bytes(db_path)  # zeroed, not left in free pages


def test_without_a_retention_only_the_count_bounds_the_log(db_path: Path) -> None:
    with Store(db_path, max_rows=3, vote_key=KEY) as store:
        for i in range(4):
            store.record_unanswered(f"q{i}", score=0, chat_type="cli", when=T0 + i * 365 * DAY)
        assert [r.text for r in store.unanswered(now=T0 + 5000 * DAY)] == ["q3", "q2", "q1"]


def test_a_huge_retention_is_no_retention(db_path: Path) -> None:
    with Store(db_path, retention_days=10**12, vote_key=KEY) as store:
        store.record_unanswered("ancient", score=0, chat_type="cli", when=datetime(1, 1, 2))
        assert store.count_unanswered() == 1
        assert "retention_days=1000000000000" in repr(store)


# --- handled updates ---------------------------------------------------------------------


def test_an_update_is_claimed_once_and_can_be_released(db_path: Path) -> None:
    with Store(db_path, vote_key=KEY) as store:
        assert store.claim_update(1001) is True
        assert store.claim_update(1001) is False  # Telegram re-sent it
        assert store.claim_update(1002) is True
        store.forget_update(1002)  # the handler failed before replying
        store.forget_update(5)  # never claimed: nothing to do
        assert store.claim_update(1002) is True  # the re-delivery is handled
    with Store(db_path, vote_key=KEY) as reopened:  # a restart remembers
        assert reopened.claim_update(1001) is False
    columns = {row[1] for row in raw_rows(db_path, "PRAGMA table_info(handled_updates)")}
    assert columns == {"update_id", "claimed_at"}  # no chat, no user


def test_claims_are_forgotten_after_a_day(store: Store, db_path: Path) -> None:
    store.claim_update(7, now=T0)
    store.claim_update(8, now=T0 + UPDATE_MEMORY / 2)
    assert store.claim_update(7, now=T0 + UPDATE_MEMORY) is False  # within the day
    assert store.claim_update(9, now=T0 + UPDATE_MEMORY + PRUNE_EVERY) is True  # prunes 7
    assert raw_rows(db_path, "SELECT update_id FROM handled_updates ORDER BY 1") == [(8,), (9,)]
    assert store.claim_update(7, now=T0 + UPDATE_MEMORY + PRUNE_EVERY) is True


def _claim_all(store: Store, ids: list[int], race: threading.Barrier, won: list[int]) -> None:
    for i in ids:
        race.wait()  # all threads claim this id at the same moment
        if store.claim_update(i):
            won.append(i)


def test_two_stores_on_one_file_claim_each_id_exactly_once(db_path: Path) -> None:
    ids = list(range(1_000, 1_300))
    with Store(db_path, vote_key=KEY) as one, Store(db_path, vote_key=KEY) as two:
        race = threading.Barrier(4)
        wins: list[list[int]] = [[] for _ in range(4)]
        threads = [
            threading.Thread(target=_claim_all, args=((one, two)[n % 2], ids, race, wins[n]))
            for n in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    counts = Counter(i for won in wins for i in won)
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    assert raw_rows(db_path, "SELECT COUNT(*) FROM handled_updates") == [(len(ids),)]


CLAIMING_CHILD = """
import sys
from pathlib import Path
from bot.store import Store
with Store(Path(sys.argv[1]), vote_key=b"k") as store:
    print("ready", flush=True)
    sys.stdin.readline()
    print(*[i for i in range(300) if store.claim_update(i)], flush=True)
"""


def test_two_processes_claim_each_id_exactly_once(store: Store, db_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CLAIMING_CHILD, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.close()
        mine = [i for i in range(300) if store.claim_update(i)]
        theirs = [int(i) for i in child.stdout.read().split()]
        assert child.wait(timeout=20) == 0
    assert sorted(mine + theirs) == list(range(300))


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

    with Store(db_path, vote_key=KEY) as store:
        assert raw_rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert [r.text for r in store.unanswered()] == [
            "text me at [phone] or [email]",
            "who founded isis-k in 2015?",
        ]
        assert store.votes()["who-founded"].up == 1
        assert store.claim_update(1) and not store.claim_update(1)
    assert b"7946" not in raw_bytes(db_path) and b"jane@" not in raw_bytes(db_path)
    with Store(db_path, vote_key=KEY) as again:  # a second open runs nothing twice
        assert again.count_unanswered() == 2 and not again.claim_update(1)
