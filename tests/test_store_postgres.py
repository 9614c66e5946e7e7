"""What only the PostgreSQL back end has: `open_store` choosing it from DATABASE_URL, its
errors (never showing the password), NOTIFY on publish, and a send budget that replicas
share. The behaviour both back ends share is tested on both in test_store.py."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import psycopg
import pytest
from helpers.postgres import PostgresServer, free_port
from pydantic import SecretStr

from bot.settings import Settings
from bot.store import (
    KNOWLEDGE_CHANNEL,
    SCHEMA_VERSION,
    Rate,
    SendRates,
    SQLiteStore,
    StoreError,
    open_store,
)
from bot.store.postgres import PostgresStore

KEY = b"test-vote-key-0123456789"


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    return postgres_server.fresh_database()


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, database_path=tmp_path / "bot.sqlite3", **values)  # type: ignore[arg-type]


# --- choosing the back end -----------------------------------------------------------------


def test_database_url_selects_postgresql_and_its_absence_sqlite(url: str, tmp_path: Path) -> None:
    chosen = settings(tmp_path, database_url=SecretStr(url), vote_key=SecretStr("k"))
    with open_store(chosen) as store:
        assert isinstance(store, PostgresStore)
        assert store.max_rows == 10_000
    with open_store(settings(tmp_path, vote_key=SecretStr("k"))) as store:
        assert isinstance(store, SQLiteStore)
    assert (tmp_path / "bot.sqlite3").is_file()


def test_the_settings_read_database_url_as_a_secret(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    read = Settings.from_env(secrets_dir=tmp_path / "none")
    assert read.database_url.get_secret_value() == url and url not in repr(read)
    with open_store(read, vote_key=KEY) as store:
        assert isinstance(store, PostgresStore)


def test_a_url_that_is_not_postgresql_is_refused(tmp_path: Path) -> None:
    wrong = settings(tmp_path, database_url=SecretStr("mysql://u:p@h/db"), vote_key=SecretStr("k"))
    with pytest.raises(StoreError, match="DATABASE_URL must be a PostgreSQL URL"):
        open_store(wrong)


def test_an_unreachable_server_is_one_clear_error_without_the_password() -> None:
    dead = f"postgresql://bot:s3cret-pw@127.0.0.1:{free_port()}/bot?connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        PostgresStore(dead, vote_key=KEY)
    message = str(caught.value)
    assert "bot@127.0.0.1:" in message and "Fix:" in message
    assert "s3cret-pw" not in message
    assert caught.value.__cause__ is None


def test_a_newer_schema_is_refused(url: str) -> None:
    PostgresStore(url, vote_key=KEY).close()
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE bot_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this bot"):
        PostgresStore(url, vote_key=KEY)


# --- published knowledge -------------------------------------------------------------------


def test_a_publish_is_announced_by_notify_at_once(url: str) -> None:
    with (
        PostgresStore(url, vote_key=KEY) as publisher,
        PostgresStore(url, vote_key=KEY) as replica,
        psycopg.connect(url, autocommit=True) as listener,
    ):
        listener.execute(f"LISTEN {KNOWLEDGE_CHANNEL}")
        assert replica.wait_for_publish(0.05) is None  # now listening
        woke: list[float] = []

        def watch() -> None:
            assert replica.wait_for_publish(10) is not None
            woke.append(time.monotonic())

        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.3)
        sent = time.monotonic()
        version = publisher.publish_knowledge("fp", {"qa.yaml": "x"})
        watcher.join(timeout=5)
        assert woke and woke[0] - sent < 0.5  # woken by NOTIFY, not by a poll
        (notice,) = listener.notifies(timeout=2, stop_after=1)
        assert (notice.channel, notice.payload) == (KNOWLEDGE_CHANNEL, str(version))
        assert publisher.publish_knowledge("fp", {"qa.yaml": "x"}) == version
        assert list(listener.notifies(timeout=0.3)) == []  # unchanged: no announcement


def test_a_waiting_replica_can_be_closed(url: str) -> None:
    store = PostgresStore(url, vote_key=KEY)
    results: list[int | None] = []
    watcher = threading.Thread(target=lambda: results.append(store.wait_for_publish(0.5)))
    watcher.start()
    time.sleep(0.1)
    store.close()
    watcher.join(timeout=5)
    assert results == [None]


# --- the shared send budget ------------------------------------------------------------------


def _hammer(store: PostgresStore, n: int, start: threading.Barrier, sends: list[float]) -> None:
    start.wait()
    for _ in range(n):
        now = time.time()
        sends.append(now + store.take_send_tokens("global", now=now))


def test_replicas_together_never_exceed_the_rate(url: str) -> None:
    """Two replicas, two threads each, take 240 tokens as fast as they can; the send times
    they are given, taken together, are never closer than the rate allows."""
    rate = 60.0
    rates = SendRates(overall=Rate(rate))
    with (
        PostgresStore(url, vote_key=KEY, send_rates=rates) as one,
        PostgresStore(url, vote_key=KEY, send_rates=rates) as two,
    ):
        start = threading.Barrier(4)
        sends: list[list[float]] = [[] for _ in range(4)]
        threads = [
            threading.Thread(target=_hammer, args=((one, two)[i % 2], 60, start, sends[i]))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    times = sorted(t for per_thread in sends for t in per_thread)
    assert len(times) == 240
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1 / rate - 1e-6
    for i, first in enumerate(times):  # any one-second window holds at most `rate` sends
        assert sum(1 for t in times[i:] if t < first + 1.0) <= rate
    assert times[-1] - times[0] == pytest.approx(239 / rate, abs=0.5)  # and no slower


def test_the_database_clock_times_the_budget(url: str) -> None:
    """Without `now`, every replica reads the server's clock: one timeline for machines
    whose clocks differ."""
    with PostgresStore(url, vote_key=KEY) as one, PostgresStore(url, vote_key=KEY) as two:
        waits = [(one, two)[i % 2].take_send_tokens("chat:7") for i in range(4)]
    assert waits[0] == 0
    assert waits[1:] == pytest.approx([1.0, 2.0, 3.0], abs=0.2)
