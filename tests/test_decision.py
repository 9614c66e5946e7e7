"""The calibrated decision, and the real-word guard that keeps its best tell.

The decision turns the matcher's signals into a probability with coefficients that are
data (`calibration.yaml`); a near-domain question's tell is a real word no entry uses, so
the spelling corrector must never "correct" a real word into an article word.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.decision import (
    DEFAULT,
    FEATURES,
    Calibration,
    Features,
    dump_calibration,
    load_calibration,
)
from bot.errors import KnowledgeError
from bot.knowledge import Knowledge, load_knowledge
from bot.matching import Matcher, Verdict
from bot.text import stem
from bot.wordlist import is_common_word, zipf

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "knowledge"
REGENERATE = "python bench/calibrate.py"

AVERAGE = Features(**{name: 0.5 for name in FEATURES})


def calibration(**changes: Any) -> Calibration:
    """A valid calibration: every feature weighs 1 around mean 0.5, scale 1."""
    data: dict[str, Any] = {
        "intercept": 0.0,
        "weights": {name: 1.0 for name in FEATURES},
        "means": {name: 0.5 for name in FEATURES},
        "scales": {name: 1.0 for name in FEATURES},
        "answer_at": 0.8,
        "suggest_at": 0.3,
    }
    data.update(changes)
    return Calibration.model_validate(data)


@pytest.fixture(scope="module")
def shipped() -> Knowledge:
    return load_knowledge(SHIPPED / "qa.yaml")


@pytest.fixture(scope="module")
def matcher(shipped: Knowledge) -> Matcher:
    return Matcher(shipped)


# --- the model ------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["weights", "means", "scales"])
def test_every_feature_must_have_a_weight_mean_and_scale(table: str) -> None:
    """A missing coefficient would silently drop a signal; refuse the file instead."""
    partial = {name: 1.0 for name in FEATURES if name != "margin"}
    with pytest.raises(ValidationError, match=f"{table} lacks margin"):
        calibration(**{table: partial})


def test_suggest_at_may_not_be_above_answer_at() -> None:
    with pytest.raises(ValidationError, match="suggest_at must not be above answer_at"):
        calibration(answer_at=0.4, suggest_at=0.5)
    same = calibration(answer_at=0.4, suggest_at=0.4)
    assert same.suggest_at == same.answer_at == 0.4


@pytest.mark.parametrize("changes", [{"answer_at": 1.5}, {"suggest_at": -0.1}, {"extra": 1}])
def test_cut_offs_are_probabilities_and_unknown_fields_are_refused(
    changes: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        calibration(**changes)


def test_default_is_the_score_alone_cut_at_56() -> None:
    assert DEFAULT.probability(dataclasses.replace(AVERAGE, score=0.56)) == pytest.approx(0.5)
    assert DEFAULT.probability(dataclasses.replace(AVERAGE, score=0.60)) > DEFAULT.answer_at
    assert DEFAULT.probability(dataclasses.replace(AVERAGE, score=0.50)) < DEFAULT.answer_at
    # no other feature moves it
    assert DEFAULT.probability(
        dataclasses.replace(AVERAGE, score=0.56, foreign=9.0, margin=0.0)
    ) == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["score", "margin", "coverage", "foreign"])
def test_probability_rises_with_a_feature_of_positive_weight(name: str) -> None:
    weights = {n: (2.0 if n == name else 0.0) for n in FEATURES}
    model = calibration(weights=weights)
    values = [-3.0, -0.5, 0.0, 0.2, 0.5, 0.9, 1.0, 4.0]
    probabilities = [model.probability(dataclasses.replace(AVERAGE, **{name: v})) for v in values]
    assert probabilities == sorted(probabilities)
    assert probabilities[0] < 0.01 < 0.99 < probabilities[-1]


def test_probability_falls_with_a_feature_of_negative_weight() -> None:
    model = calibration(weights={n: (-1.5 if n == "name_miss" else 0.0) for n in FEATURES})
    low = model.probability(dataclasses.replace(AVERAGE, name_miss=0.0))
    high = model.probability(dataclasses.replace(AVERAGE, name_miss=2.0))
    assert high < 0.5 < low


def test_scales_normalise_features() -> None:
    """A feature spread wide (scale 4) moves the probability a quarter as much."""
    tight = calibration()
    wide = calibration(scales={n: (4.0 if n == "uncovered" else 1.0) for n in FEATURES})
    step = dataclasses.replace(AVERAGE, uncovered=1.5)
    assert wide.probability(AVERAGE) == tight.probability(AVERAGE) == 0.5
    assert wide.probability(step) == pytest.approx(1 / (1 + math.exp(-0.25)))
    assert tight.probability(step) == pytest.approx(1 / (1 + math.exp(-1.0)))


@pytest.mark.parametrize("extreme", [1e6, -1e6, 1e300, -1e300, float("inf"), float("-inf")])
def test_probability_stays_within_0_and_1_for_extreme_inputs(extreme: float) -> None:
    """math.exp overflows past ~709: the model must clamp, not raise."""
    model = calibration(scales={n: (0.0 if n == "words" else 1.0) for n in FEATURES})
    for name in ("score", "uncovered", "words"):
        p = model.probability(dataclasses.replace(AVERAGE, **{name: extreme}))
        assert 0.0 <= p <= 1.0
        assert (p > 0.5) == (extreme > 0)
    assert 0.0 < DEFAULT.probability(dataclasses.replace(AVERAGE, score=extreme)) < 1.0


# --- the file -------------------------------------------------------------------------


def test_missing_calibration_file_is_the_default(tmp_path: Path) -> None:
    assert load_calibration(tmp_path / "calibration.yaml") is DEFAULT


def test_shipped_calibration_loads_and_round_trips() -> None:
    shipped = load_calibration(SHIPPED / "calibration.yaml")
    assert shipped != DEFAULT
    assert 0 < shipped.suggest_at <= shipped.answer_at < 1
    assert Calibration.model_validate(dump_calibration(shipped)) == shipped


def shipped_text() -> str:
    return (SHIPPED / "calibration.yaml").read_text(encoding="utf-8")


def line_starting(text: str, start: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def test_incomplete_file_is_located_and_the_fix_is_to_regenerate_it(tmp_path: Path) -> None:
    path = tmp_path / "calibration.yaml"
    path.write_text(
        "\n".join(
            line for line in shipped_text().splitlines() if not line.strip().startswith("margin:")
        ),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as caught:
        load_calibration(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.line is not None
    assert problem.message == "weights lacks margin"
    assert REGENERATE in problem.fix
    assert str(problem).startswith(f"{path}:{problem.line}: ")


def test_out_of_range_cut_off_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "calibration.yaml"
    text = "\n".join(
        "answer_at: 1.5" if line.startswith("answer_at:") else line
        for line in shipped_text().splitlines()
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_calibration(path)
    (problem,) = caught.value.problems
    assert problem.line == line_starting(text, "answer_at:")
    assert "answer_at" in problem.message and problem.fix


def test_invalid_yaml_in_calibration_is_a_knowledge_error(tmp_path: Path) -> None:
    path = tmp_path / "calibration.yaml"
    path.write_text("intercept: 1\nweights: [a\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_calibration(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path) and problem.line is not None
    assert problem.message.startswith("invalid YAML")


def test_calibration_that_is_not_a_mapping_says_to_regenerate_it(tmp_path: Path) -> None:
    path = tmp_path / "calibration.yaml"
    path.write_text("- 0.5\n- 0.2\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_calibration(path)
    (problem,) = caught.value.problems
    assert problem.line == 1
    assert REGENERATE in problem.fix
    assert "entry" not in problem.message + problem.fix


# --- the decision in the matcher ------------------------------------------------------


def test_knowledge_carries_its_calibration_unless_told_not_to(shipped: Knowledge) -> None:
    assert shipped.calibration == load_calibration(SHIPPED / "calibration.yaml")
    assert load_knowledge(SHIPPED / "qa.yaml", calibrated=False).calibration is DEFAULT


def test_answer_at_one_never_asserts(shipped: Knowledge, matcher: Matcher) -> None:
    """The probability is clamped below 1, so answer_at 1.0 turns the bot into a
    suggester: every question gets "did you mean" or a decline, never an answer; only a
    maintainer's own phrasing, typed exactly, is still answered."""
    questions = [entry.question.rstrip("?") + " please?" for entry in shipped.entries]
    usual = [matcher.match(q) for q in questions]
    assert sum(r.matched for r in usual) >= len(questions) // 2  # these normally answer

    never = Calibration.model_validate({**dump_calibration(shipped.calibration), "answer_at": 1.0})
    cautious = Matcher(shipped, never)
    results = [cautious.match(q) for q in questions]
    assert not any(r.matched for r in results)
    for was, now in zip(usual, results, strict=True):
        assert now.confidence == was.confidence
        if was.matched:
            assert now.verdict is Verdict.UNSURE
            assert now.best is not None and was.best is not None
            assert now.best.entry.id == was.best.entry.id


# --- real words are no typos ----------------------------------------------------------


def test_word_list_knows_common_english_words() -> None:
    assert is_common_word("weather") and is_common_word("wounded")
    assert not is_common_word("talibn") and not is_common_word("khorasn")
    assert zipf("talibn") == 0.0
    assert zipf("the") > zipf("weather") > 3.0


@pytest.mark.parametrize("word", ["weather", "wounded", "funding", "wealth", "killer"])
def test_a_real_word_is_never_corrected_into_a_knowledge_word(matcher: Matcher, word: str) -> None:
    """Without the word-list guard "wounded" and "funding" become "founded", "wealth"
    "health": the question would lose the one word that says it asks something else."""
    assert matcher.query_tokens(word) == [stem(word)]


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("khorasn", "khorasan"), ("talibn", "taliban"), ("afganistan", "afghanistan")],
)
def test_a_typo_is_corrected_into_the_knowledge_word(
    matcher: Matcher, typo: str, meant: str
) -> None:
    assert matcher.query_tokens(typo) == matcher.query_tokens(meant)
    assert matcher.query_tokens(typo) != [typo]


def test_a_real_word_no_entry_uses_is_counted_as_foreign(matcher: Matcher) -> None:
    """That count is what lets the decision decline "the price of bread in Kabul"."""
    result = matcher.match("What is the price of bread in Kabul?")
    assert result.features is not None
    assert result.features.foreign == 2.0  # "price" and "bread"
    assert not result.matched
