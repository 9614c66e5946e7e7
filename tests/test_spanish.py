"""Spanish: questions in Spanish read with Spanish rules, answered in Spanish, quoted in the
article's own (English) words; the Q&A file and the messages catalogue checked for it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.running import BotUnderTest

from bot.engine import Engine
from bot.errors import KnowledgeError
from bot.evaluation import load_cases
from bot.inline import inline_entries
from bot.knowledge import load_knowledge
from bot.language import SPANISH, detect_language, pick_language
from bot.lexicon import lexicon_path_for, load_language_lexicon
from bot.messages import available, check_catalogue, say
from bot.replies import answer_reply
from bot.text import words

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_QA = ROOT / "knowledge" / "qa.yaml"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(SHIPPED_QA)


# --- reading Spanish -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("¿Quién reivindicó el ataque del aeropuerto?", "attack-claimed-by"),
        ("En que año nacio el ISIS-K?", "isis-k-founded-when"),
        ("cuantos muertos hubo en kabul", "attack-death-toll"),
        ("decime quien fundo el isis k", "isis-k-founders"),
        ("q es isis k", "what-is-isis-k"),
    ],
)
def test_spanish_questions_get_the_right_spanish_answer(
    engine: Engine, question: str, entry_id: str
) -> None:
    result = engine.ask(question)
    assert result.matched and result.best is not None, result
    assert result.best.entry.id == entry_id
    spanish = engine.knowledge.in_language("es").entry(entry_id)
    assert spanish is not None and result.best.entry.answer == spanish.answer


def test_the_spanish_lexicon_has_spanish_names_and_no_english_shorthand() -> None:
    lexicon = load_language_lexicon(lexicon_path_for(SHIPPED_QA), SPANISH)
    assert "unitednations" in words("¿Qué dijo la ONU sobre el grupo?", lexicon)
    assert "unitednations" not in words("es un grupo yihadista", lexicon)  # "un" is "a"
    assert "khorasan" in words("que regiones abarcaba Jorasán", lexicon)
    assert "why" not in words("isis k y los talibanes", lexicon)  # English "y" = why
    assert words("¿Por qué?", lexicon) == ["why"]


def test_the_language_of_a_message_is_told_from_its_words() -> None:
    assert detect_language("¿Quién reivindicó el ataque?") == "es"
    assert detect_language("who claimed the attack") == "en"
    assert detect_language("al qaeda vs isis k") is None  # names only: no evidence
    assert pick_language("al qaeda vs isis k", "es-AR", ("en", "es")) == "es"
    assert pick_language("al qaeda vs isis k", "de", ("en", "es")) == "en"


def test_no_english_labelled_question_is_taken_for_spanish() -> None:
    english = [
        c.question
        for path in sorted((ROOT / "bench").glob("eval_*.yaml"))
        if "_es_" not in path.name
        for c in load_cases(path)
    ]
    assert len(english) > 2000
    assert [q for q in english if detect_language(q) == "es"] == []
    spanish = [c.question for c in load_cases(ROOT / "bench" / "eval_es_dev.yaml")]
    detected = sum(detect_language(q) == "es" for q in spanish)
    assert detected / len(spanish) >= 0.9  # the rest: the asker's language decides


# --- checking the files ----------------------------------------------------------------


def knowledge_copy(tmp_path: Path) -> Path:
    folder = Path(shutil.copytree(SHIPPED_QA.parent, tmp_path / "knowledge"))
    return folder / "qa.yaml"


def test_a_missing_or_untranslated_spanish_entry_is_named_with_its_line(tmp_path: Path) -> None:
    qa = knowledge_copy(tmp_path)
    text = qa.read_text(encoding="utf-8")
    start = text.index("    translations:\n      es:\n")
    end = text.index("\n  - id:", start)
    text = text[:start] + text[end + 1 :]  # the first entry loses its translation
    answer = '        answer: "Explica qué es ISIS-K'
    assert answer in text
    at = text.index(answer)
    line_end = text.index("\n", at)
    english = load_knowledge(SHIPPED_QA).by_id["article-topic"].answer
    text = text[:at] + f"        answer: {json.dumps(english)}" + text[line_end:]
    qa.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(qa)
    messages = [str(p) for p in caught.value.problems]
    assert any("entry 'article-date' has no Spanish translation" in m for m in messages)
    assert any("'article-topic': the Spanish answer is the English one" in m for m in messages)
    assert all(f"{qa}:" in m for m in messages)  # every problem names file and line


def test_an_unknown_language_is_refused_with_what_the_bot_reads(tmp_path: Path) -> None:
    qa = knowledge_copy(tmp_path)
    qa.write_text(qa.read_text().replace("languages: [es]", "languages: [es, xx]"))
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(qa)
    (problem,) = caught.value.problems
    assert "cannot read the language 'xx'" in str(problem) and "use one of: es" in str(problem)


def test_every_catalogue_has_every_text_with_the_same_placeholders() -> None:
    assert {"en", "es"} <= set(available())
    for language in available():
        assert check_catalogue(language) == [], language


def test_a_translators_mistakes_are_named(tmp_path: Path) -> None:
    draft = tmp_path / "fr.yaml"
    text = (ROOT / "bot" / "locales" / "es.yaml").read_text(encoding="utf-8")
    text = text.replace("«{title}» ({date})", "«{titulo}»").replace("  gone:", "  gonne:")
    draft.write_text(text, encoding="utf-8")
    problems = [str(p) for p in check_catalogue("fr", draft)]
    assert any("'welcome.hello' has other placeholders" in p for p in problems)
    assert any("'chat.gone' is missing" in p for p in problems)
    assert any("'chat.gonne' is not one the bot uses" in p for p in problems)


# --- in Telegram and the terminal ------------------------------------------------------


async def test_a_spanish_question_is_answered_in_spanish_with_the_articles_quote(
    shared_bot: BotUnderTest,
) -> None:
    knowledge = shared_bot.engine.knowledge
    spanish = knowledge.in_language("es")
    entry = spanish.entry("attack-claimed-by")
    assert entry is not None
    first = await shared_bot.ask("¿Quién reivindicó el ataque del aeropuerto?", user_id=3001)
    assert first["text"] == answer_reply(spanish, entry, note=True).html
    assert say("es", "answer.quote_note") in first["text"]  # said once, on the first answer
    assert knowledge.quote_of(entry) in first["text"]  # the article's own English words
    then = await shared_bot.ask("¿y cuántos murieron?", user_id=3001)
    assert say("es", "answer.quote_note") not in then["text"]
    assert "170" in then["text"]
    shared_bot.api.assert_no_errors()


async def test_commands_speak_the_askers_language(shared_bot: BotUnderTest) -> None:
    shared_bot.api.user_languages[3011] = "es-MX"
    welcome = await shared_bot.ask("/start", user_id=3011)
    assert welcome["text"].startswith("¡Hola! Respondo preguntas sobre el artículo")
    unknown = await shared_bot.ask("/foo", user_id=3011)
    assert unknown["text"].startswith("No conozco el comando /foo.")
    english = await shared_bot.ask("/start", user_id=3012)
    assert english["text"].startswith("Hi! I answer questions about the article")
    shared_bot.api.assert_no_errors()


def test_ask_json_reports_the_language_and_lang_forces_one() -> None:
    def ask(*args: str) -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, "-m", "bot", "ask", "--json", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        loaded: dict[str, object] = json.loads(out.stdout)
        return loaded

    spanish = ask("quien fundo isis k")
    assert spanish["language"] == "es" and spanish["id"] == "isis-k-founders"
    assert ask("ezequiel kopel")["language"] == "en"  # names only: the default
    forced = ask("--lang", "es", "ezequiel kopel")
    assert forced["language"] == "es" and "periodista" in str(forced["answer"])


def test_inline_typing_in_spanish_narrows_with_spanish_words(engine: Engine) -> None:
    spanish = engine.matcher.in_language("es")
    assert "attack-claimed-by" in [e.id for e in inline_entries(spanish, "quien rei")]
    assert "attack-death-toll" in [e.id for e in inline_entries(spanish, "cuantos mu")]
