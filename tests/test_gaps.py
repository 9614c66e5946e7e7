"""Questions the article does not answer (`not_in_article`): checked like entries, matched
like entries, and declined by name instead of answered with the nearest entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.errors import KnowledgeError
from bot.knowledge import json_schema, load_knowledge
from bot.matching import Matcher, Verdict
from bot.replies import result_reply

ROOT = Path(__file__).resolve().parent.parent
GAPS = """
not_in_article:
  - id: isis-k-leader
    topic: who leads ISIS-K
    phrasings:
      - who is the leader of isis-k
      - isis k boss
      - who runs isis k
  - id: attack-wounded
    topic: how many people were wounded in the attack
    phrasings:
      - how many were injured in the kabul attack
      - how many wounded at the airport
"""


def _folder(tmp_path: Path, extra: str) -> Path:
    for name in ("article.md", "lexicon.yaml", "calibration.yaml"):
        shutil.copy(ROOT / "knowledge" / name, tmp_path / name)
    qa = tmp_path / "qa.yaml"
    shipped = (ROOT / "knowledge" / "qa.yaml").read_text(encoding="utf-8")
    head, _, _ = shipped.partition("\nnot_in_article:")  # the shipped gaps, if any, replaced
    qa.write_text(head.rstrip("\n") + "\n" + extra, encoding="utf-8")
    return qa


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    return Matcher(load_knowledge(_folder(tmp_path_factory.mktemp("gaps"), GAPS)))


@pytest.mark.parametrize(
    ("question", "gap_id"),
    [
        ("who is the boss of isis k", "isis-k-leader"),
        ("how many people were injured in the kabul airport attack", "attack-wounded"),
    ],
)
def test_a_known_gap_is_declined_by_name(matcher: Matcher, question: str, gap_id: str) -> None:
    result = matcher.match(question)
    assert result.verdict is Verdict.NONE
    assert result.gap is not None and result.gap.id == gap_id
    reply = result_reply(matcher.knowledge, result)
    assert reply.plain.startswith(f"The article doesn't say {result.gap.topic}")


def test_the_answered_neighbour_of_a_gap_is_still_answered(matcher: Matcher) -> None:
    """'How many died' is answered even though 'how many were injured' is a gap."""
    result = matcher.match("how many people died in the kabul attack")
    assert result.gap is None
    assert result.best is not None and result.best.entry.id == "attack-death-toll"


def test_gaps_never_appear_among_ranked_entries(matcher: Matcher) -> None:
    ids = {e.id for e in matcher.knowledge.entries}
    result = matcher.match("who is the leader of isis-k")
    assert all(c.entry.id in ids for c in result.ranking)
    assert all(c.entry.id in ids for c in matcher.rank(matcher.query_tokens("isis k boss")))


def _problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(_folder(tmp_path, extra))
    return [str(p) for p in caught.value.problems]


def test_a_gap_id_may_not_reuse_an_entry_id(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, "not_in_article:\n  - id: what-is-isis-k\n    topic: x\n    phrasings: [y]\n"
    )
    assert len(problems) == 1
    assert "the id 'what-is-isis-k' is already used" in problems[0]
    assert "qa.yaml:" in problems[0] and "Fix:" in problems[0]


def test_a_gap_may_not_claim_an_entry_phrasing(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        "not_in_article:\n  - id: odd\n    topic: odd\n    phrasings:\n      - What is ISIS-K?\n",
    )
    assert len(problems) == 1
    assert "'What is ISIS-K?' is also 'what-is-isis-k's" in problems[0]


def test_a_malformed_gap_names_its_line_and_spares_the_others(tmp_path: Path) -> None:
    extra = (
        "not_in_article:\n"
        "  - id: fine\n    topic: fine\n    phrasings: [a fine question]\n"
        "  - id: broken\n    topic: broken\n    phrasing: [typo in the field name]\n"
    )
    problems = _problems(tmp_path, extra)
    text = (tmp_path / "qa.yaml").read_text(encoding="utf-8").splitlines()
    line = next(i for i, row in enumerate(text, 1) if "phrasing: [typo" in row)
    assert any(f"qa.yaml:{line}:" in p and "unknown field 'phrasing'" in p for p in problems)
    assert any("'phrasings' is missing" in p for p in problems)
    assert not any("'fine'" in p for p in problems)


def test_the_schema_describes_the_gaps() -> None:
    schema = json_schema()
    assert "not_in_article" in schema["properties"]
    assert set(schema["$defs"]["Gap"]["required"]) == {"id", "topic", "phrasings"}
