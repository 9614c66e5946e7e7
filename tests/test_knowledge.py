"""The loader and checker: the shipped files load, and every bad edit is located."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.errors import KnowledgeError
from bot.knowledge import (
    LABEL_MAX,
    json_schema,
    load_article,
    load_knowledge,
    normalise_text,
    short_label,
)

ROOT = Path(__file__).resolve().parent.parent


def problems_for(qa: Path, text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        qa.write_bytes(text)
    else:
        qa.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(qa)
    return [str(p) for p in caught.value.problems]


def test_shipped_knowledge_loads_and_quotes_are_the_articles_own_words() -> None:
    knowledge = load_knowledge(ROOT / "knowledge" / "qa.yaml")
    assert len(knowledge.entries) >= 40
    text = knowledge.article.text
    for entry in knowledge.entries:
        assert knowledge.quote_of(entry) in text


def test_cleaned_article_has_no_mis_encoding_and_keeps_its_parts() -> None:
    article = load_article(ROOT / "knowledge" / "article.md")
    raw = article.path.read_text(encoding="utf-8")
    assert "‚Ä" not in raw and "\u200b" not in raw
    assert article.title.startswith("What is ISIS-K")
    assert article.date == "Monday, September 20"
    assert "the idea of imposing an Islamic domination" in article.body
    assert "Leave a Reply" not in raw


def test_quotes_match_across_whitespace_and_quote_style(small_kb: Path) -> None:
    text = small_kb.read_text(encoding="utf-8").replace(
        "quote: At least 170 people died,", 'quote: "At  least 170\\n people died,'
    )
    text = text.replace("local health authorities.\n", 'local health authorities."\n')
    small_kb.write_text(text, encoding="utf-8")
    knowledge = load_knowledge(small_kb)
    entry = knowledge.entry("death-toll")
    assert entry is not None
    assert knowledge.quote_of(entry).startswith("At least 170 people died")
    assert normalise_text("“a”  ‘b’") == "\"a\" 'b'"


def test_quote_not_in_article_names_file_line_entry_and_fix(small_kb: Path) -> None:
    text = small_kb.read_text().replace("At least 170 people died", "At least 171 people died")
    (problem,) = problems_for(small_kb, text)
    assert problem.startswith(f"{small_kb}:12:")
    assert "[entry 'death-toll']" in problem
    assert "not in article.md" in problem and "Fix:" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("entries: [\n  - id: x\n", "invalid YAML"),
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- id: a\n", "top level must be a mapping"),
        ("just words\n", "top level must be a mapping"),
        ("entries: []\n", "no entries"),
        ("entries: {}\n", "'entries' has the wrong type"),
        ("entries:\n  - just a string\n", "an entry must be a mapping"),
        ("things: 1\n", "'entries' is missing"),
    ],
)
def test_structural_mistakes_are_explained(small_kb: Path, text: str, expected: str) -> None:
    problems = problems_for(small_kb, text)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(small_kb)) for p in problems)


ENTRY = """entries:
  - id: {id}
    question: {question}
    alternates: {alternates}
    answer: {answer}
    quote: At least 170 people died, according to local health authorities.
"""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"answer": '""'}, "'answer' is empty"),
        ({"question": "[1, 2]"}, "'question' has the wrong type"),
        ({"alternates": "just one string"}, "'alternates' has the wrong type"),
        ({"id": "Bad Id"}, "is not a valid id"),
        ({"id": "null"}, "'id' has the wrong type"),
    ],
)
def test_field_mistakes_name_the_field_and_line(
    small_kb: Path, fields: dict[str, str], expected: str
) -> None:
    values = {"id": "toll", "question": "How many?", "alternates": "[]", "answer": "170."}
    problems = problems_for(small_kb, ENTRY.format(**{**values, **fields}))
    assert any(expected in p for p in problems), problems
    assert any(":" in p.split(" ", 1)[0] for p in problems)


def test_missing_field_and_unknown_field(small_kb: Path) -> None:
    text = "entries:\n  - id: a\n    question: Q?\n    answr: typo\n"
    problems = "\n".join(problems_for(small_kb, text))
    assert "'answer' is missing" in problems
    assert "'quote' is missing" in problems
    assert f"{small_kb}:4: [entry 'a'] unknown field 'answr'" in problems


def test_duplicates_and_unknown_related_ids(small_kb: Path) -> None:
    text = small_kb.read_text()
    text = text.replace("id: death-toll", "id: what-is-isis-k")
    text = text.replace("related: [death-toll]", "related: [nowhere]")
    text = text.replace("How many people died?", "What is ISIS-K?")
    problems = "\n".join(problems_for(small_kb, text))
    assert "duplicate id 'what-is-isis-k' (first used on line 2)" in problems
    assert "the same question is already entry 'what-is-isis-k'" in problems
    assert "related id 'nowhere' is not an entry's id" in problems


def test_same_alternate_in_two_entries(small_kb: Path) -> None:
    text = small_kb.read_text().replace("[death toll,", "[WHO are  ISKP,")
    problems = "\n".join(problems_for(small_kb, text))
    assert "is used by another entry too" in problems


def test_non_utf8_bytes_name_the_line(small_kb: Path) -> None:
    (problem,) = problems_for(small_kb, b"entries:\n  - id: a\n    question: caf\xe9?\n")
    assert f"{small_kb}:3:" in problem and "not UTF-8" in problem


def test_alias_bomb_is_refused_without_expanding(small_kb: Path) -> None:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(8):
        name, previous = chr(98 + i), chr(97 + i)
        bomb += f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    (problem,) = problems_for(small_kb, bomb)
    assert f"{small_kb}:2:" in problem and "aliases" in problem


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="no such file"):
        load_knowledge(tmp_path / "nope.yaml")
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "article.md").write_text("# T\n\nDate\n\nBody.\n")
    with pytest.raises(KnowledgeError, match="folder, not a file"):
        load_knowledge(tmp_path / "dir.yaml")


def test_missing_or_empty_article(tmp_path: Path) -> None:
    qa = tmp_path / "qa.yaml"
    qa.write_text("entries: []\n")
    with pytest.raises(KnowledgeError, match="no such file"):
        load_knowledge(qa)
    (tmp_path / "article.md").write_text("no title here\n")
    with pytest.raises(KnowledgeError, match="Title"):
        load_knowledge(qa)


def test_schema_file_is_generated_from_the_model() -> None:
    shipped = json.loads((ROOT / "knowledge" / "qa.schema.json").read_text(encoding="utf-8"))
    assert shipped == json_schema(), "stale: run python -m bot schema > knowledge/qa.schema.json"


def test_qa_file_points_editors_at_the_schema() -> None:
    first = (ROOT / "knowledge" / "qa.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=qa.schema.json"


def test_button_labels_fit_a_phone() -> None:
    """Every entry's button text is at most LABEL_MAX characters and never cuts a word."""
    knowledge = load_knowledge(ROOT / "knowledge" / "qa.yaml")
    for entry in knowledge.entries:
        label = entry.button_label
        assert 0 < len(label) <= LABEL_MAX, label
        stem = label.removesuffix("…")
        assert stem == entry.question[: len(stem)] or entry.label == label, label


def test_a_made_up_label_is_cut_at_a_word() -> None:
    assert short_label("Short question?") == "Short question?"
    long = "What is the ultimate dispute between the two groups, according to the article?"
    assert short_label(long) == "What is the ultimate dispute…"
    assert len(short_label(long)) <= LABEL_MAX


def test_a_label_over_the_limit_is_refused_with_its_line(tmp_path: Path) -> None:
    shutil.copy(ROOT / "knowledge" / "article.md", tmp_path / "article.md")
    qa = tmp_path / "qa.yaml"
    qa.write_text(
        "entries:\n"
        "  - id: what-is-isis-k\n"
        "    question: What is ISIS-K?\n"
        f"    label: {'x' * (LABEL_MAX + 1)}\n"
        "    answer: The Afghan branch of the Islamic State.\n"
        "    quote: ISIS-K is how the branch of the Islamic State (ISIS) in Afghanistan\n"
        "      is known.\n",
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(qa)
    (problem,) = caught.value.problems
    assert problem.line == 4
    assert f"'label' is too long (over {LABEL_MAX} characters)" in str(problem)
