"""The lexicon: its file is checked like the Q&A file, and it merges what people type.

Real files in temporary knowledge folders (the shipped article, a small Q&A file), the
real command line in a subprocess, and the real engine reloading an edited lexicon.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.engine import Engine
from bot.errors import KnowledgeError, Problem
from bot.knowledge import load_knowledge
from bot.lexicon import (
    EMPTY,
    Lexicon,
    LexiconFile,
    Term,
    TermKind,
    lexicon_schema,
    load_lexicon,
    split_words,
)
from bot.text import tokens, words

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"

QA = """\
entries:
  - id: when-formed
    question: When was ISIS-K formed?
    alternates:
      - founding year of isis-k
    answer: In 2014, on the border with Pakistan, by Taliban separatist fighters.
    quote: Formed in 2014, on the border with Pakistan by Taliban separatist fighters
  - id: death-toll
    question: How many people died in the Kabul airport attack?
    alternates:
      - death toll of the airport attack
    answer: At least 170 people, according to local health authorities.
    quote: in which at least 170 people died, according to local health authorities.
  - id: khorasan
    question: What is Khorasan?
    answer: A historical region that included parts of Afghanistan, Iran, Pakistan and Turkmenistan.
    quote: >-
      Khorasan is a historical region that formerly included parts of Afghanistan,
      Iran, Pakistan, and Turkmenistan.
"""

LEXICON = """\
terms:
  - term: isisk
    kind: actor
    says:
      - ISIS-K
      - ISKP
  - term: dead
    says:
      - died
      - killed
"""

MODEL = LexiconFile.model_validate(
    {
        "terms": [
            {"term": "isis", "kind": "actor", "says": ["Islamic State", "ISIL"]},
            {
                "term": "isisk",
                "kind": "actor",
                "says": ["ISIS-K", "isis k", "ISKP"],
                "says_exactly": ["IS-K"],
            },
            {
                "term": "usa",
                "kind": "actor",
                "says": ["United States"],
                "says_exactly": ["US"],
                "says_before": {"us": ["troops", "forces"]},
            },
            {"term": "kabul", "kind": "name", "says": ["Kaboul"]},
            {"term": "khorasan", "kind": "name", "says": ["Jorasan"]},
            {"term": "dead", "says": ["died", "death toll"]},
        ],
        "shorthand": {"ppl": "people", "pls": "", "wanna": "want to"},
        "filler": ["quick question", "i was reading", "i want to know"],
    }
)
LEX = Lexicon.build(MODEL)


def merged(text: str, lexicon: Lexicon = LEX) -> list[str]:
    return lexicon.merge(split_words(text))


def knowledge_folder(tmp_path: Path, lexicon: str | None = LEXICON, qa: str = QA) -> Path:
    """A knowledge folder with the shipped article; returns the path of its qa.yaml."""
    shutil.copy(KNOWLEDGE / "article.md", tmp_path / "article.md")
    (tmp_path / "qa.yaml").write_text(qa, encoding="utf-8")
    if lexicon is not None:
        (tmp_path / "lexicon.yaml").write_text(lexicon, encoding="utf-8")
    return tmp_path / "qa.yaml"


def lexicon_problems(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_lexicon(path)
    return caught.value.problems


# --- the file model -------------------------------------------------------------------


def test_term_defaults_to_a_word_and_is_frozen() -> None:
    term = Term(term="casualties")
    assert term.kind is TermKind.WORD
    assert term.says == () and term.says_exactly == () and term.says_before == {}
    with pytest.raises(ValidationError):
        term.term = "dead"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["ISIS-K", "isis k", "", "x" * 33])
def test_term_token_must_be_one_lowercase_token(bad: str) -> None:
    """The term is what the matcher compares: one token, or merging makes two words."""
    with pytest.raises(ValidationError):
        Term(term=bad)


def test_lexicon_file_forbids_unknown_fields_and_strips_phrases() -> None:
    with pytest.raises(ValidationError):
        LexiconFile.model_validate({"terms": [], "synonyms": {}})
    term = Term(term="isisk", says=("  ISKP  ",))
    assert term.says == ("ISKP",)


# --- loading: every mistake located ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message", "fix"),
    [
        (
            "terms:\n  - term: ISIS-K\n",
            2,
            "'term' value 'ISIS-K' is not a valid term",
            "lowercase letters and digits",
        ),
        (
            "terms:\n  - term: isisk\n    sayz: [ISKP]\n",
            3,
            "unknown field 'sayz'",
            "term, kind, says, says_exactly, says_before",
        ),
        ("synonyms:\n  ppl: people\n", 1, "unknown field 'synonyms'", "terms, shorthand, filler"),
        ("terms:\n  - term: isisk\n    kind: group\n", 3, "'kind' value 'group'", "use one of"),
        (
            "terms:\n  - term: isisk\n  - term: isisk\n",
            3,
            "the term 'isisk' is already defined on line 2",
            "merge the two",
        ),
        (
            "terms:\n  - term: isisk\n    says: [ISKP]\n  - term: isis\n    says:\n      - iskp\n",
            6,
            "the phrase 'iskp' already means 'isisk'",
            "one term only",
        ),
        (
            "terms:\n  - term: dead\n    says: [died]\nfiller:\n  - Died\n",
            5,
            "the filler 'Died' is also a phrase of the term 'dead'",
            "remove it",
        ),
        (
            "terms:\n  - term: dead\n    says:\n      - " + " ".join("abcdefghi") + "\n",
            4,
            "is over 8 words",
            "keep phrases",
        ),
        (
            "terms:\n  - term: dead\n    says:\n      - '--'\n",
            4,
            "has no letters or digits",
            "write",
        ),
        ("- term: isisk\n", 1, "the top level must be a mapping", "terms:"),
        ("terms:\n  - term: isisk\n     says: [ISKP]\n", 3, "invalid YAML", "indentation"),
    ],
)
def test_each_mistake_is_reported_with_file_line_and_fix(
    tmp_path: Path, text: str, line: int, message: str, fix: str
) -> None:
    (problem,) = lexicon_problems(tmp_path, text)
    assert problem.file == str(tmp_path / "lexicon.yaml")
    assert problem.line == line
    assert message in problem.message
    assert fix in problem.fix
    assert str(problem).startswith(f"{tmp_path / 'lexicon.yaml'}:{line}:")


def test_every_cross_term_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    """One validate run lists every mistake, not only the first."""
    text = (
        "terms:\n"
        "  - term: isisk\n"
        "    says: [ISKP]\n"
        "  - term: isis\n"
        "    says:\n"
        "      - ISKP\n"
        "  - term: isisk\n"
    )
    problems = lexicon_problems(tmp_path, text)
    assert [p.line for p in problems] == [6, 7]
    assert "already means 'isisk'" in problems[0].message
    assert "already defined on line 2" in problems[1].message


def test_missing_lexicon_is_the_empty_lexicon_and_an_empty_file_loads(tmp_path: Path) -> None:
    """The lexicon is optional: a knowledge folder without one still works."""
    assert load_lexicon(tmp_path / "lexicon.yaml") is EMPTY
    (tmp_path / "lexicon.yaml").write_text("# nothing yet\n", encoding="utf-8")
    empty = load_lexicon(tmp_path / "lexicon.yaml")
    assert empty.phrases == {} and empty.fingerprint


def test_fingerprint_changes_with_the_file(tmp_path: Path) -> None:
    """The knowledge fingerprint includes it, so a lexicon edit alone triggers a reload."""
    path = tmp_path / "lexicon.yaml"
    path.write_text(LEXICON, encoding="utf-8")
    before = load_lexicon(path).fingerprint
    path.write_text(LEXICON + "      - perished\n", encoding="utf-8")
    after = load_lexicon(path)
    assert before != after.fingerprint
    assert after.phrases[("perished",)] == "dead"


def test_shipped_lexicon_loads() -> None:
    lexicon = load_lexicon(KNOWLEDGE / "lexicon.yaml")
    assert "isisk" in lexicon.actors
    assert lexicon.phrases[("iskp",)] == "isisk"
    assert lexicon.exact[("US",)] == "usa"


# --- compiling and merging ------------------------------------------------------------


def test_build_compiles_tables_and_kinds() -> None:
    assert LEX.phrases[("islamic", "state")] == "isis"
    assert LEX.phrases[("isisk",)] == "isisk"  # the term itself is a phrase of itself
    assert LEX.phrases[("quick", "question")] == ""  # filler: replaced by nothing
    assert LEX.exact == {("IS", "K"): "isisk", ("US",): "usa"}
    assert LEX.before == {"us": ("usa", frozenset({"troops", "forces"}))}
    assert LEX.actors == {"isis", "isisk", "usa"}
    assert LEX.names == {"isis", "isisk", "usa", "kabul", "khorasan"}
    assert {"islamic", "troops", "jorasan"} <= LEX.words  # spared by the spelling corrector
    assert LEX.longest == 4  # "i want to know"
    assert LEX.shorthand["pls"] == () and LEX.shorthand["wanna"] == ("want", "to")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Who leads ISIS-K?", ["who", "leads", "isisk"]),  # longest first: not isis + k
        ("Islamic State K", ["isisk"]),  # phrases compose: islamic state -> isis -> isisk
        ("the ISIL k fighters", ["the", "isisk", "fighters"]),
        ("United States and Kaboul", ["usa", "and", "kabul"]),
        ("Jorasán", ["khorasan"]),  # accents folded
        ("death-toll", ["dead"]),  # hyphens ignored
        ("Quick question: how many died?", ["how", "many", "dead"]),  # filler dropped
    ],
)
def test_merge_replaces_every_way_of_writing_a_term(text: str, expected: list[str]) -> None:
    assert merged(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what did the US do", ["what", "did", "the", "usa", "do"]),
        ("tell us more", ["tell", "us", "more"]),  # the pronoun
        ("Tell Us More", ["tell", "us", "more"]),  # title case is no capitalisation
        ("who is IS-K", ["who", "is", "isisk"]),
        ("who is is k", ["who", "is", "is", "k"]),
    ],
)
def test_says_exactly_counts_only_in_its_capitalisation(text: str, expected: list[str]) -> None:
    assert merged(text) == expected


def test_says_exactly_does_not_count_when_the_message_is_shouted() -> None:
    """In capitals, case says nothing: "TELL US ABOUT IT" is the pronoun."""
    assert merged("TELL US ABOUT IT") == ["tell", "us", "about", "it"]
    assert merged("WHO IS IS-K") == ["who", "is", "is", "k"]
    assert merged("tell US about it") == ["tell", "usa", "about", "it"]
    assert merged("US ARMY") == ["usa", "army"]  # two words is too short to be shouting


def test_says_before_makes_a_short_form_count_only_before_its_words() -> None:
    assert merged("why did us troops leave") == ["why", "did", "usa", "troops", "leave"]
    assert merged("WHY DID US FORCES LEAVE") == ["why", "did", "usa", "forces", "leave"]
    assert merged("it worries us troopers") == ["it", "worries", "us", "troopers"]
    assert merged("tell us") == ["tell", "us"]  # last word: nothing follows


def test_empty_lexicon_only_lowercases() -> None:
    assert EMPTY.merge(["Who", "leads", "ISIS", "K"]) == ["who", "leads", "isis", "k"]


# --- the text pipeline with a lexicon -------------------------------------------------


def test_words_expands_shorthand_drops_filler_and_stop_words() -> None:
    assert words("pls, what do ppl think of the Taliban?", LEX) == [
        "what",
        "people",
        "think",
        "taliban",
    ]
    assert words("i wanna know who founded ISKP", LEX) == ["who", "founded", "isisk"]


def test_words_keeps_question_words_that_tell_facts_apart() -> None:
    assert words("When was ISIS-K formed?", LEX) == ["when", "isisk", "formed"]
    assert words("Where was ISIS-K formed?", LEX) == ["where", "isisk", "formed"]


def test_typos_are_fixed_before_phrases_are_merged() -> None:
    """A corrected word can complete a phrase: "Islamc State" is still ISIS."""
    fixes = {"islamc": "islamic"}
    assert words("Islamc State", LEX, lambda w: fixes.get(w, w)) == ["isis"]
    assert words("Islamc State", LEX) == ["islamc", "state"]


def test_tokens_are_stems_with_terms_kept_whole() -> None:
    assert tokens("How many were killed by ISIS-K fighters", LEX) == [
        "how",
        "mani",
        "kill",
        "isisk",
        "fighter",
    ]
    assert tokens("how many died", LEX) == ["how", "mani", "dead"]


def test_shouted_message_with_shorthand_still_ignores_capitalisation() -> None:
    assert words("WHAT DO PEOPLE THINK OF US", LEX) == ["what", "people", "think"]
    assert words("WHAT DO PPL THINK OF US", LEX) == ["what", "people", "think"]


def test_phrase_that_is_another_terms_token_is_a_problem(tmp_path: Path) -> None:
    text = "terms:\n  - term: isis\n    says: [Islamic State]\n  - term: isisk\n    says:\n"
    text += "      - isis\n"
    problems = lexicon_problems(tmp_path, text)
    assert [p.line for p in problems] == [6]


# --- the schema and the command line --------------------------------------------------


def test_schema_is_generated_from_the_model() -> None:
    schema = lexicon_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["properties"]) == {"terms", "shorthand", "filler"}
    assert schema["additionalProperties"] is False
    term = schema["$defs"]["Term"]
    assert term["properties"]["term"]["pattern"] == "^[a-z0-9]+$"
    assert set(schema["$defs"]["TermKind"]["enum"]) == {"actor", "name", "word"}


def run_cli(*args: str, cwd: Path, qa_file: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"QA_FILE", "TELEGRAM_BOT_TOKEN"}}
    env["PYTHONPATH"] = str(ROOT)
    if qa_file is not None:
        env["QA_FILE"] = str(qa_file)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_shipped_lexicon_schema_is_not_stale(tmp_path: Path) -> None:
    """knowledge/lexicon.schema.json must be regenerated when the model changes:
    python -m bot schema lexicon > knowledge/lexicon.schema.json"""
    done = run_cli("schema", "lexicon", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shipped = (KNOWLEDGE / "lexicon.schema.json").read_text(encoding="utf-8")
    assert done.stdout == shipped
    assert json.loads(shipped) == lexicon_schema()


def test_shipped_lexicon_points_editors_at_its_schema() -> None:
    first = (KNOWLEDGE / "lexicon.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=lexicon.schema.json"


def test_validate_reports_a_broken_lexicon_without_a_traceback(tmp_path: Path) -> None:
    qa = knowledge_folder(tmp_path, LEXICON.replace("term: dead", "term: Dead"))
    done = run_cli("validate", cwd=tmp_path, qa_file=qa)
    assert done.returncode == 1
    assert "lexicon.yaml:7:" in done.stderr
    assert "'Dead' is not a valid term" in done.stderr
    assert "Fix:" in done.stderr
    assert "1 problem found." in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# --- the knowledge folder and live reload ---------------------------------------------


def test_knowledge_uses_the_lexicon_beside_the_qa_file(tmp_path: Path) -> None:
    knowledge = load_knowledge(knowledge_folder(tmp_path))
    assert knowledge.lexicon.phrases[("iskp",)] == "isisk"
    assert len(knowledge.entries) == 3


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    """A bad lexicon must not hide a bad qa.yaml (nor the other way round)."""
    bad_qa = QA.replace("at least 170 people died", "at least 171 people died")
    qa = knowledge_folder(tmp_path, LEXICON.replace("kind: actor", "kind: group"), bad_qa)
    (tmp_path / "calibration.yaml").write_text("intercept: 1\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(qa)
    by_file = {(Path(p.file).name, p.line) for p in caught.value.problems}
    assert ("lexicon.yaml", 3) in by_file
    assert ("qa.yaml", 13) in by_file
    assert "calibration.yaml" in {name for name, _ in by_file}
    quote = next(p for p in caught.value.problems if p.file.endswith("qa.yaml"))
    assert quote.entry_id == "death-toll"


def test_reload_picks_up_a_new_synonym(tmp_path: Path) -> None:
    qa = knowledge_folder(tmp_path)
    engine = Engine(qa, settle=0.01)
    question = "how many fatalities were there"
    before = engine.ask(question)
    assert not before.matched
    assert not engine.changed_on_disk()

    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text(LEXICON + "      - fatalities\n", encoding="utf-8")
    assert engine.changed_on_disk()
    outcome = engine.reload()
    assert outcome.ok and outcome.changed and outcome.entries == 3
    assert not engine.changed_on_disk()

    after = engine.ask(question)
    assert after.matched and after.best is not None
    assert after.best.entry.id == "death-toll"
    assert after.confidence > before.confidence


def test_broken_lexicon_edit_keeps_the_old_knowledge(tmp_path: Path) -> None:
    qa = knowledge_folder(tmp_path)
    engine = Engine(qa, settle=0.01)
    served = engine.knowledge
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text(LEXICON + "  - term: ISKP\n", encoding="utf-8")
    assert engine.changed_on_disk()

    outcome = engine.reload()
    assert not outcome.ok and not outcome.changed
    assert outcome.entries == 3
    assert [(Path(p.file).name, p.line) for p in outcome.problems] == [("lexicon.yaml", 11)]
    assert engine.knowledge is served
    assert engine.ask("When was ISKP formed?").matched  # still served, synonyms and all
    assert not engine.changed_on_disk()  # reported once, not on every poll
