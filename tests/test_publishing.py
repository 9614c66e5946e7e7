"""One knowledge version for every replica: `python -m bot publish`, following the newest
version, a refused version reported once, `/reload` publishing, and the shared send
budget's order of scopes. The replicas themselves are run in tests/test_replicas.py."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.postgres import PostgresServer

from bot.cli import main
from bot.errors import KnowledgeError
from bot.publishing import (
    FORMAT_FILE,
    follow_latest,
    publish_files,
    publish_local,
    read_files,
    start_engine,
)
from bot.store import SQLiteStore, Store
from bot.store.postgres import PostgresStore
from bot.telegram.sending import SharedRateLimiter, send_scopes

KEY = b"test-key"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SQLiteStore(tmp_path / "db" / "bot.sqlite3", vote_key=KEY)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        opened = PostgresStore(server.fresh_database(), vote_key=KEY)
    with opened:
        yield opened


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_publish_prints_the_version_and_stores_every_file(
    small_kb: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "bot.sqlite3"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, out, _ = run_cli(monkeypatch, capsys, "publish", str(small_kb))
    assert code == 0 and out.startswith("Published version 1 (fingerprint "), out
    code, out, _ = run_cli(monkeypatch, capsys, "publish", str(small_kb))
    assert code == 0 and "Unchanged: already published as version 1" in out
    with SQLiteStore(tmp_path / "bot.sqlite3", vote_key=KEY) as store:
        latest = store.latest_knowledge()
    assert latest is not None and latest.version == 1
    assert set(latest.files) == {FORMAT_FILE, "qa.yaml", "article.md"}


def test_a_broken_file_is_not_published(
    small_kb: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "bot.sqlite3"))
    small_kb.write_text(small_kb.read_text().replace("At least 170", "At most 9"))
    code, _, err = run_cli(monkeypatch, capsys, "publish", str(small_kb))
    assert code == 1 and f"{small_kb}:" in err  # located at the real file, not a temp copy
    with SQLiteStore(tmp_path / "bot.sqlite3", vote_key=KEY) as store:
        assert store.latest_knowledge() is None


def test_replicas_follow_the_newest_version(store: Store, small_kb: Path) -> None:
    one, _ = start_engine(small_kb, store)  # nothing published yet: its files are
    two, _ = start_engine(small_kb, store)
    assert one.version == two.version == 1
    small_kb.write_text(small_kb.read_text().replace("died?", "die?"))
    outcome = publish_local(one, store)  # an admin's /reload on replica one
    assert outcome.ok and outcome.changed and outcome.version == 2 == one.version
    followed = follow_latest(two, store)
    assert followed.outcome.changed and two.version == 2
    assert two.knowledge.fingerprint == one.knowledge.fingerprint
    assert not follow_latest(two, store).outcome.changed  # nothing newer


def test_a_refused_version_is_reported_by_one_replica_only(store: Store, small_kb: Path) -> None:
    engines = [start_engine(small_kb, store)[0] for _ in range(3)]
    files = {**read_files(small_kb), FORMAT_FILE: "article-qa/99"}  # a newer bot's layout
    store.publish_knowledge("from-the-future", files)
    followed = [follow_latest(engine, store) for engine in engines]
    assert [f.report for f in followed] == [True, False, False]
    assert all(not f.outcome.ok and f.version == 2 for f in followed)
    assert "layout 'article-qa/99'" in str(followed[0].outcome.problems[0])
    assert all(engine.version == 1 for engine in engines)  # still serving the last good one
    # A replica starting now serves its files and says why; the report is not repeated.
    late, refused = start_engine(small_kb, store)
    assert late.version is None and refused
    assert not follow_latest(late, store).report


def test_publish_files_refuses_and_stores_nothing(store: Store, small_kb: Path) -> None:
    (small_kb.parent / "article.md").unlink()
    with pytest.raises(KnowledgeError, match=r"article\.md"):
        publish_files(store, small_kb)
    assert store.latest_knowledge() is None


def test_send_scopes() -> None:
    assert send_scopes({"chat_id": 42}) == ("chat:42", "global")
    assert send_scopes({"chat_id": "-100123"}) == ("group:-100123", "global")
    assert send_scopes({"chat_id": "@channel"}) == (None, "global")


async def test_the_shared_limiter_waits_for_the_chat_before_taking_a_global_token() -> None:
    taken: list[str] = []

    def take(scope: str) -> float:
        taken.append(scope)
        return 0.0

    async def call() -> bool:
        taken.append("sent")
        return True

    limiter = SharedRateLimiter(take)
    await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 7}, None)
    await limiter.process_request(call, (), {}, "answerCallbackQuery", {}, None)
    assert taken == ["chat:7", "global", "sent", "sent"]
