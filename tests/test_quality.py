"""Answer quality must not regress: the figures in the README are floors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bot.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("evaluate", ROOT / "bench" / "evaluate.py")
assert _spec and _spec.loader
evaluate = importlib.util.module_from_spec(_spec)
sys.modules["evaluate"] = evaluate  # dataclasses look their module up there
_spec.loader.exec_module(evaluate)

# (top-1, top-3, off-topic declined, small talk) at least; wrong answers at most: the
# README's figures, rounded down.
FLOORS = {
    "eval_dev": (94.0, 99.5, 96.5, 100.0, 0.5),
    "eval_test": (90.0, 99.0, 96.5, 100.0, 2.0),
    "eval_holdout": (80.5, 98.0, 95.5, 100.0, 1.5),
    "eval_final": (90.5, 99.5, 95.0, 100.0, 2.5),
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(ROOT / "knowledge" / "qa.yaml")


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_quality_does_not_fall_below_the_measured_figures(engine: Engine, name: str) -> None:
    cases = evaluate.load_cases(ROOT / "bench" / f"{name}.yaml")
    assert len(cases) >= 100
    figures = evaluate.evaluate(engine, cases, name).figures
    top1, top3, declined, small_talk, wrong = FLOORS[name]
    assert figures["top1"] >= top1, figures
    assert figures["top3"] >= top3, figures
    assert figures["declined"] >= declined, figures
    assert figures["small_talk"] >= small_talk, figures
    assert figures["wrong"] <= wrong, figures


def test_every_entry_is_the_target_of_some_labelled_question() -> None:
    ids = {e.id for e in Engine(ROOT / "knowledge" / "qa.yaml").knowledge.entries}
    expected: set[str] = set()
    for name in FLOORS:
        for case in evaluate.load_cases(ROOT / "bench" / f"{name}.yaml"):
            expect = case.get("expect")
            if isinstance(expect, str) and expect != "small-talk":
                expected.add(expect)
            elif isinstance(expect, list):
                expected.update(expect)
    assert ids <= expected, sorted(ids - expected)
