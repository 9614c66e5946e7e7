"""Whether to assert an answer: a calibrated probability that the best entry is right.

The matcher measures a handful of signals about its best entry (how well it scores, how far
ahead of the runner-up, how much of the question it explains, which real words of the
question it never covers, which actors it never mentions...). A logistic model turns them
into the probability that the entry answers the question. Its coefficients and the two
cut-offs are data (`knowledge/calibration.yaml`), fitted on labelled questions by
`bench/calibrate.py`, not constants picked by hand. Nothing here imports `telegram`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.errors import KnowledgeError, Problem
from bot.textfile import read_text
from bot.validation import describe
from bot.yamlfile import line_of, parse_yaml


@dataclass(frozen=True, slots=True)
class Features:
    """What the matcher knows about its best entry for one question."""

    agree: float
    """1 when a second, independent view (character n-grams, `bot.chargrams`) picks the
    same best entry as the word view."""
    char_similarity: float
    """How close the question is to its nearest entry in that second view, 0-1."""
    kind_miss: float
    """1 when the question asks for a number or a time ("how many", "when") and the entry's
    answer states none: "how much money did they lose" against "they lost money"."""
    reversed: float
    """1 when the question names two actors in the opposite order to the entry's closest
    phrasing: "what do B think of A" against "what does A think of B"."""
    score: float
    """The blended match score, 0-1."""
    margin: float
    """How far the best entry is ahead of the runner-up, 0-1."""
    gap_margin: float
    """How far the best entry is ahead of the closest question the article does not
    answer (`not_in_article`), 0-1."""
    phrasing: float
    """Weighted word overlap with the entry's closest phrasing, 0-1."""
    precision: float
    """Share of the question's word weight that the closest phrasing explains."""
    recall: float
    """Share of the closest phrasing's word weight that the question contains."""
    coverage: float
    """Share of the question's word weight that the entry (phrasings, answer, quote) uses."""
    spelling: float
    """Character-level similarity to the closest phrasing, as typed, 0-1."""
    uncovered: float
    """Content words of the question the entry never uses."""
    foreign: float
    """Real words of the language that nothing in the knowledge uses ("weather", "wounded")."""
    miss_rare: float
    """Uncovered words that are rare in the language (salient: "injured", "leader")."""
    miss_common: float
    """Uncovered words that are everyday words ("think", "really"): filler, mostly."""
    focus_miss: float
    """1 when a word right after the question word ("how many *injured*", "who *leads*")
    is one the entry never uses: the question asks for something else."""
    name_miss: float
    """Names and numbers of the question (a province, a year) the entry never mentions."""
    actor_miss: float
    """Actors the question names that the entry never mentions."""
    exact: float
    """1 when the question is one of the entry's phrasings, word for word."""
    lone: float
    """1 when the question is one word that several entries share (a topic, not a question)."""
    words: float
    """How many content words the question has (log scale)."""

    def as_dict(self) -> dict[str, float]:
        """The signals by name (a plain read: `dataclasses.asdict` deep-copies, and this
        runs for every reading of every question)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


FEATURES = tuple(Features.__dataclass_fields__)


class Calibration(BaseModel):
    """The fitted decision: logistic coefficients and where its probability is cut."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intercept: float
    weights: dict[str, float] = Field(description="One coefficient per feature.")
    means: dict[str, float] = Field(description="Feature means the weights were fitted on.")
    scales: dict[str, float] = Field(description="Feature spreads the weights were fitted on.")
    answer_at: float = Field(ge=0, le=1, description="Assert the best entry at or above this.")
    suggest_at: float = Field(
        ge=0, le=1, description="Offer 'did you mean' at or above this (and below answer_at)."
    )
    fitted_on: tuple[str, ...] = Field(default=(), description="The labelled sets used.")

    @model_validator(mode="after")
    def _complete(self) -> Calibration:
        for name in ("weights", "means", "scales"):
            missing = set(FEATURES) - set(getattr(self, name))
            if missing:
                raise ValueError(f"{name} lacks {', '.join(sorted(missing))}")
        if self.suggest_at > self.answer_at:
            raise ValueError("suggest_at must not be above answer_at")
        return self

    def probability(self, features: Features) -> float:
        """P(the best entry answers the question), from the fitted logistic model."""
        z = self.intercept
        for name, value in features.as_dict().items():
            scale = self.scales[name] or 1.0
            z += self.weights[name] * (value - self.means[name]) / scale
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


DEFAULT = Calibration(
    intercept=0.0,
    weights={name: (12.0 if name == "score" else 0.0) for name in FEATURES},
    means={name: (0.56 if name == "score" else 0.0) for name in FEATURES},
    scales={name: 1.0 for name in FEATURES},
    answer_at=0.5,
    suggest_at=0.1,
)
"""Used when a knowledge folder has no calibration yet: the score alone, cut at 56."""

_FIELD_HELP = {
    "intercept": "a number",
    "weights": "a mapping of feature name to number",
    "means": "a mapping of feature name to number",
    "scales": "a mapping of feature name to number",
    "answer_at": "a probability between 0 and 1",
    "suggest_at": "a probability between 0 and 1",
    "fitted_on": "a list of labelled set names",
}


def calibration_path_for(qa_path: Path) -> Path:
    """The calibration sits beside the Q&A file it was fitted for."""
    return Path(qa_path).parent / "calibration.yaml"


def load_calibration(path: Path) -> Calibration:
    """Load the fitted decision; a missing file means the score-only default."""
    if not path.exists():
        return DEFAULT
    name = str(path)
    data, lines = parse_yaml(path, read_text(path))
    if not isinstance(data, dict):
        raise KnowledgeError(
            [
                Problem(
                    name,
                    1 if data is not None else None,
                    "the file must be a mapping of the fitted values",
                    "produce the file again with: python bench/calibrate.py",
                )
            ]
        )
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            what, fix = describe(err, _FIELD_HELP)
            if err["type"] == "value_error":
                fix = "produce the file again with: python bench/calibrate.py"
            problems.append(Problem(name, line_of(lines, err["loc"]), what, fix))
        raise KnowledgeError(problems) from None


def dump_calibration(calibration: Calibration) -> dict[str, Any]:
    """The calibration as plain data, in the order people read it."""
    return calibration.model_dump(mode="json")
