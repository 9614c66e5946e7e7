"""Shared fixtures: real files in a temporary folder, never the shipped ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"

SMALL_ARTICLE = """# A small article

Monday, September 20

ISIS-K is how the branch of the Islamic State (ISIS) in Afghanistan is known. Formed in 2014, on the border with Pakistan.

At least 170 people died, according to local health authorities.
"""

SMALL_QA = """entries:
  - id: what-is-isis-k
    question: What is ISIS-K?
    alternates: [who are iskp, isis k meaning]
    answer: The Afghan branch of the Islamic State.
    quote: ISIS-K is how the branch of the Islamic State (ISIS) in Afghanistan is known.
    related: [death-toll]
  - id: death-toll
    question: How many people died?
    alternates: [death toll, how many victims]
    answer: At least 170 people.
    quote: At least 170 people died, according to local health authorities.
"""


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A copy of the shipped knowledge folder; returns the path of its qa.yaml."""
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    return folder / "qa.yaml"


@pytest.fixture
def small_kb(tmp_path: Path) -> Path:
    """A two-entry knowledge folder; returns the path of its qa.yaml."""
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "article.md").write_text(SMALL_ARTICLE, encoding="utf-8")
    qa = folder / "qa.yaml"
    qa.write_text(SMALL_QA, encoding="utf-8")
    return qa
