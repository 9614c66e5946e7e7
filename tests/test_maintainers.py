"""The maintainers' report and coverage, on real files written to a temporary folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers.postgres import PostgresServer
from pydantic import SecretStr

from bot.cli import print_coverage, print_report
from bot.coverage import coverage, uncovered_sentences
from bot.engine import Engine
from bot.knowledge import load_knowledge
from bot.maintainers import (
    build_report,
    group_unanswered,
)
from bot.settings import Settings
from bot.store import SQLiteStore, Store, UnansweredQuestion
from bot.store.postgres import PostgresStore

T0 = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
"""Recent enough that the unanswered log's retention (90 days by default) keeps it."""
SHIPPED = Path(__file__).resolve().parent.parent / "knowledge"

ARTICLE = """\
# Floods in the Valley

Monday, September 20

The river rose three metres overnight. Farmers moved their cattle to the hills before dawn.

“Nobody knows when the old bridge will reopen,” the mayor said.
"""

S3 = "“Nobody knows when the old bridge will reopen,” the mayor said."

QA = """\
entries:
  - id: article-date
    question: When was the article published?
    alternates: [article date, publication date]
    answer: The article is dated Monday, September 20.
    quote: Monday, September 20
    tags: [article]

  - id: river-rise
    question: How much did the river rise?
    alternates: [river level, how high is the river]
    answer: Three metres overnight.
    quote: The river rose three metres overnight.
    related: [cattle]

  - id: cattle
    question: Where did the farmers move their cattle?
    alternates: [cattle, where are the cows]
    answer: To the hills, before dawn.
    quote: Farmers moved their cattle to the hills before dawn.

  - id: bridge
    question: When will the old bridge reopen?
    alternates: [bridge reopening, is the bridge open]
    answer: Nobody knows yet, according to the mayor.
    quote: >-
      {bridge_quote}
"""


def write_knowledge(folder: Path, bridge_quote: str = "the old bridge") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "article.md").write_text(ARTICLE, encoding="utf-8")
    qa = folder / "qa.yaml"
    qa.write_text(QA.format(bridge_quote=bridge_quote), encoding="utf-8")
    return qa


@pytest.fixture
def qa_path(tmp_path: Path) -> Path:
    return write_knowledge(tmp_path / "knowledge")


@pytest.fixture
def settings(tmp_path: Path, qa_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        qa_file=qa_path,
        database_path=tmp_path / "data" / "bot.sqlite3",
        unanswered_max_rows=100,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with SQLiteStore(settings.database_path, vote_key=b"bot key") as opened:
        yield opened


def row(text: str, minutes: int = 0, closest: str | None = None) -> UnansweredQuestion:
    return UnansweredQuestion(text, T0 + timedelta(minutes=minutes), 20.0, "private", closest)


# --- grouping ------------------------------------------------------------------------------


def test_near_duplicates_group_together() -> None:
    rows = [
        row("who founded isis-k", 0),
        row("Who founded ISIS-K?", 1),
        row("when was isis-k formed", 2),
        row("who founded isis k ??", 3, closest="who-founded"),
    ]
    groups = group_unanswered(rows)
    assert [g.count for g in groups] == [3, 1]
    first = groups[0]
    wordings = {"who founded isis-k", "Who founded ISIS-K?", "who founded isis k ??"}
    assert {first.text, *first.examples} == wordings
    assert first.last_asked == T0 + timedelta(minutes=3)
    assert groups[1].text == "when was isis-k formed"


def test_the_most_frequent_wording_represents_and_typos_join() -> None:
    rows = [
        row("Who founded ISIS-K?", 0),
        row("who founded isis-k", 1),
        row("who founded isis-k", 2),
        row("who fonded isis k", 3),
        row("founded isis-k who", 4),  # same words, other order
    ]
    (group,) = group_unanswered(rows)
    assert (group.text, group.count) == ("who founded isis-k", 5)
    # wordings that differ in more than case and punctuation are shown first
    assert group.examples[:2] == ("founded isis-k who", "who fonded isis k")
    assert len(group.examples) == 3


def test_groups_are_ordered_by_count_then_recency() -> None:
    rows = [
        row("what is the weather in kabul", 0),
        row("how many fighters does isis-k have", 1),
        row("how many fighters does isis-k have", 2),
        row("who is the leader of the taliban", 3),
        row("who is the leader of the taliban?", 4),
        row("who is the leader of the taliban", 5),
        row("is the airport open", 6),
    ]
    groups = group_unanswered(rows)
    assert [(g.count, g.text) for g in groups] == [
        (3, "who is the leader of the taliban"),
        (2, "how many fighters does isis-k have"),
        (1, "is the airport open"),  # more recent than the weather
        (1, "what is the weather in kabul"),
    ]
    assert group_unanswered([]) == []


def test_a_stricter_similarity_splits_groups() -> None:
    rows = [row("who fonded isis k"), row("who founded isis-k")]
    assert len(group_unanswered(rows)) == 1
    assert len(group_unanswered(rows, similarity=99)) == 2


# --- the report ----------------------------------------------------------------------------


def fill(store: Store) -> None:
    for i, text in enumerate(
        ["when will the bridge reopen", "When will the bridge reopen?", "what is the weather"]
    ):
        store.record_unanswered(text, score=30, chat_type="group", when=T0 + timedelta(i))
    for voter in ("a", "b"):
        store.vote("cattle", message_key="1:1", voter=voter, up=False)
    store.vote("cattle", message_key="1:1", voter="c", up=True)
    store.vote("river-rise", message_key="1:2", voter="a", up=True)
    store.vote("gone-entry", message_key="1:3", voter="a", up=False)


def test_build_report_adds_todays_closest_entry_and_weak_votes(store: Store, qa_path: Path) -> None:
    fill(store)
    report = build_report(store, Engine(qa_path), limit=10)
    assert (report.unanswered_total, report.groups_total) == (3, 2)
    bridge = report.groups[0]
    assert (bridge.count, bridge.closest and bridge.closest.entry_id) == (2, "bridge")
    assert bridge.closest is not None and bridge.closest.question == (
        "When will the old bridge reopen?"
    )
    assert [(v.entry_id, v.down, v.up, v.weak) for v in report.votes] == [
        ("cattle", 2, 1, True),
        ("gone-entry", 1, 0, True),
        ("river-rise", 0, 1, False),
    ]
    assert report.votes[1].question is None  # no longer in the Q&A file
    assert len(build_report(store, None, limit=1).groups) == 1


def test_print_report_json_shape(
    store: Store, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    assert print_report(settings, as_json=True, limit=20) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"unanswered", "votes"} <= data.keys()
    first = data["unanswered"][0]
    assert set(first) == {"question", "count", "examples", "last_asked", "closest", "now_answered"}
    assert first["count"] == 2 and first["closest"]["id"] == "bridge"
    assert isinstance(first["closest"]["score"], float)
    assert datetime.fromisoformat(first["last_asked"]) == T0 + timedelta(1)
    assert set(data["votes"][0]) == {"id", "question", "up", "down", "weak"}
    assert data["votes"][0] == {
        "id": "cattle",
        "question": "Where did the farmers move their cattle?",
        "up": 1,
        "down": 2,
        "weak": True,
    }


def test_print_report_text(
    store: Store, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    assert print_report(settings, as_json=False, limit=20) == 0
    out = capsys.readouterr().out
    assert "Unanswered questions: 3 recorded in 2 group(s)" in out
    # a tie between wordings goes to the most recent one
    assert "When will the bridge reopen?" in out and "bridge (" in out
    assert "also: “when will the bridge reopen”" in out
    assert "now answered" in out  # the knowledge has an entry for it today
    lines = out.splitlines()
    weak = [line for line in lines if line.endswith("WEAK")]
    assert len(weak) == 2 and "cattle" in weak[0]


def test_report_without_a_database_creates_none(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert print_report(settings, as_json=False, limit=20) == 0
    path = settings.database_path
    assert capsys.readouterr().out == f"No questions recorded yet (database: {path}).\n"
    assert print_report(settings, as_json=True, limit=20) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["unanswered"] == []
    assert "No questions recorded yet" in captured.err
    assert not path.exists() and not path.parent.exists()


def test_report_survives_a_broken_qa_file(
    store: Store, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    store.record_unanswered("bridge?", score=42, chat_type="cli", closest_id="bridge", when=T0)
    settings.qa_file.write_text("entries: []\n", encoding="utf-8")
    assert print_report(settings, as_json=True, limit=20) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["unanswered"][0]["closest"] == {
        "id": "bridge",
        "question": None,
        "score": 42.0,
    }
    assert "closest entries are shown as recorded" in captured.err


# --- coverage ------------------------------------------------------------------------------


def test_coverage_lists_the_unquoted_sentence(qa_path: Path) -> None:
    result = coverage(load_knowledge(qa_path))
    assert (result.total, result.covered) == (3, 2)
    assert result.percent == pytest.approx(200 / 3)
    (sentence,) = result.uncovered
    assert (sentence.text, sentence.paragraph) == (S3, 2)  # the article's own quote marks
    assert uncovered_sentences(load_knowledge(qa_path)) == [S3]


@pytest.mark.parametrize(
    ("bridge_quote", "covered"),
    [
        ("the old bridge", False),  # three words of a long sentence
        ("knows when the old bridge", True),  # five words inside it
        ("before dawn. “Nobody knows when the old bridge will reopen,”", True),  # ≥ 60 %
        (S3, True),
    ],
)
def test_what_counts_as_covered(tmp_path: Path, bridge_quote: str, covered: bool) -> None:
    knowledge = load_knowledge(write_knowledge(tmp_path / "k", bridge_quote))
    assert (S3 not in uncovered_sentences(knowledge)) is covered


def test_print_coverage(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert print_coverage(settings) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Coverage: 2 of 3 sentences quoted (67 %)."
    assert out[-1] == f"1. [paragraph 2] {S3}"


def test_full_coverage_prints_only_the_figure(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    qa = write_knowledge(tmp_path / "full", S3)
    assert print_coverage(settings.model_copy(update={"qa_file": qa})) == 0
    assert capsys.readouterr().out == "Coverage: 3 of 3 sentences quoted (100 %).\n"


def test_coverage_of_the_shipped_knowledge(tmp_path: Path) -> None:
    copy = shutil.copytree(SHIPPED, tmp_path / "knowledge")  # read a copy, never the original
    result = coverage(load_knowledge(copy / "qa.yaml"))
    assert result.total > 20
    assert result.covered + len(result.uncovered) == result.total
    assert all(s.paragraph >= 1 for s in result.uncovered)


def test_report_with_a_shared_database_reads_what_every_replica_recorded(
    settings: Settings, postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_server.fresh_database()
    shared = settings.model_copy(update={"database_url": SecretStr(url)})
    assert print_report(shared, as_json=False, limit=20) == 0
    assert "No questions recorded yet (database: the shared database" in capsys.readouterr().out
    for replica in range(2):  # two replicas, one database
        with PostgresStore(url, vote_key=b"bot key") as store:
            store.record_unanswered(
                "When will the bridge reopen?", score=40, chat_type="private", when=T0
            )
            store.vote("cattle", message_key="1:1", voter=f"user-{replica}", up=False)
    assert print_report(shared, as_json=True, limit=20) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["database"] == "the shared database (DATABASE_URL)"
    assert data["unanswered"][0]["count"] == 2
    assert data["votes"][0]["down"] == 2
    assert not settings.database_path.exists(), "the SQLite file is neither read nor made"
