"""Answer quality must not regress: the README's figures are floors.

The figures come from `bench/evaluate.py`; the sets and how each was used are described in
the README. A floor that fails means a change made the bot answer worse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Engine
from bot.evaluation import ANSWERABLE, evaluate, load_cases

ROOT = Path(__file__).resolve().parent.parent

# set: (answered right, ranked first, top 3, off-topic declined, near-domain declined) at
# least, and wrong among asserted at most: the README's figures, rounded down (up for wrong).
FLOORS = {
    "eval_dev": (92.0, 99.0, 100.0, 100.0, 100.0, 0.0),
    "eval_test": (91.0, 97.5, 100.0, 100.0, 100.0, 1.0),
    "eval_holdout": (83.5, 98.0, 100.0, 100.0, 100.0, 0.0),
    "eval_final": (86.5, 99.0, 99.0, 100.0, 100.0, 0.0),
    "eval_blind_dev": (74.0, 98.5, 99.0, 100.0, 96.5, 1.5),
    "eval_blind_check": (61.0, 88.0, 96.0, 98.0, 96.0, 5.0),
    "eval_blind_final": (62.0, 88.0, 97.0, 96.0, 89.0, 9.5),
    "eval_blind_final2": (63.5, 91.5, 97.0, 87.5, 85.5, 12.0),
    "eval_blind_check2": (70.0, 94.5, 99.0, 89.5, 83.5, 9.0),
    "eval_followups_dev": (42.5, 73.5, 80.0, 100.0, 100.0, 0.0),
    "eval_followups_check": (36.0, 57.0, 68.5, 100.0, 94.5, 12.5),
    "eval_es_dev": (67.0, 90.5, 97.0, 93.5, 90.5, 4.0),
    # measured once, at the end of the session that wrote them (see the README)
    "eval_blind_final3": (57.0, 90.0, 96.0, 90.5, 88.0, 9.0),
    "eval_followups_final": (29.5, 55.0, 71.0, 100.0, 97.0, 14.0),
    "eval_es_final": (55.0, 84.0, 93.0, 93.5, 85.5, 9.0),
    "eval_es_final2": (63.0, 89.0, 97.5, 97.0, 95.5, 5.5),
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(ROOT / "knowledge" / "qa.yaml")


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_quality_does_not_fall_below_the_measured_figures(engine: Engine, name: str) -> None:
    cases = load_cases(ROOT / "bench" / f"{name}.yaml")
    assert len(cases) >= 80
    f = evaluate(engine.ask, cases, name).figures
    right, first, top3, off_topic, near, wrong = FLOORS[name]
    assert f["right"] >= right, f
    assert f["first"] >= first, f
    assert f["top3"] >= top3, f
    assert f["off_topic_declined"] >= off_topic, f
    assert f["near_domain_declined"] >= near, f
    assert f["wrong_asserted"] <= wrong, f


def test_every_entry_is_the_target_of_some_labelled_question() -> None:
    ids = {e.id for e in Engine(ROOT / "knowledge" / "qa.yaml").knowledge.entries}
    expected: set[str] = set()
    for name in FLOORS:
        for case in load_cases(ROOT / "bench" / f"{name}.yaml"):
            if case.kind == ANSWERABLE:
                expected |= case.expect
    assert ids <= expected, sorted(ids - expected)
